"""Command handlers of the advisory service (`async def verb(command, deps) -> Change`), one
module per part (catalogue, sessions, visits, factory records), and their registries: the
service definition's `commands`, and the reactions to upstream events by event name."""

from __future__ import annotations

from typing import Any

from libs.servicekit.service import CommandHandler
from services.advisory import commands
from services.advisory.handlers import catalogue, factories, sessions, visits
from services.advisory.handlers.factories import REACTIONS

COMMAND_HANDLERS: dict[type[Any], CommandHandler] = {
    commands.DefineCourse: catalogue.define_course,
    commands.ReviseCourse: catalogue.revise_course,
    commands.RetireCourse: catalogue.retire_course,
    commands.PublishSurvey: catalogue.publish_survey,
    commands.ReviseSurvey: catalogue.revise_survey,
    commands.ScheduleSession: sessions.schedule_session,
    commands.RescheduleSession: sessions.reschedule_session,
    commands.RecordAttendance: sessions.record_attendance,
    commands.RecordSurveyResponses: sessions.record_survey_responses,
    commands.DeliverSession: sessions.deliver_session,
    commands.CancelSession: sessions.cancel_session,
    commands.PlanVisit: visits.plan_visit,
    commands.CompleteVisit: visits.complete_visit,
    commands.CancelVisit: visits.cancel_visit,
    commands.RecordFactory: factories.record_factory,
    commands.RecordAssessmentCycle: factories.record_assessment_cycle,
}

EVENT_HANDLERS = REACTIONS
"""The assessment service's events this service reacts to (consumers.py subscribes them)."""

__all__ = ["COMMAND_HANDLERS", "EVENT_HANDLERS"]

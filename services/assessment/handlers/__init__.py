"""Command handlers of the assessment service (`async def verb(command, deps) -> Change`), one
module per aggregate, and their registry: the service definition's `commands`."""

from __future__ import annotations

from typing import Any

from libs.servicekit.service import CommandHandler
from services.assessment import commands
from services.assessment.handlers import assessments, factories

COMMAND_HANDLERS: dict[type[Any], CommandHandler] = {
    commands.RegisterFactory: factories.register_factory,
    commands.UpdateFactory: factories.update_factory,
    commands.ScheduleAssessment: assessments.schedule_assessment,
    commands.RecordFinding: assessments.record_finding,
    commands.RecordFindings: assessments.record_findings,
    commands.CompleteAssessment: assessments.complete_assessment,
    commands.CorrectFinding: assessments.correct_finding,
    commands.RespondToFinding: assessments.respond_to_finding,
}

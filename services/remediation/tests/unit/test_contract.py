"""The public contract: what leaves the service, typed, and what never does."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.remediation.contract import CONTRACT, PUBLIC_EVENTS, translate
from services.remediation.domain.committee import COMMITTEE, CommitteeUpdated
from services.remediation.domain.plan_events import AssessmentReportReceived, ImprovementPlanUpdated
from services.remediation.domain.plan_state import PLAN


def test_older_summaries_and_the_report_publish_nothing() -> None:
    report = AssessmentReportReceived(
        factory_id="f", assessment_id="a", cycle=1, report_date=date(2024, 3, 1)
    )
    legacy_plan = ImprovementPlanUpdated(
        factory_id="f", plan_version=2, change="item_added", item={}, progress={}
    )
    legacy_committee = CommitteeUpdated(
        factory_id="f", committee_version=2, change="members_changed", members=[]
    )
    assert translate(report, PLAN.fold([report])) == []
    assert translate(legacy_plan, PLAN.fold([report, legacy_plan])) == []
    assert translate(legacy_committee, COMMITTEE.fold([legacy_committee])) == []


def test_an_event_without_its_state_is_refused_rather_than_guessed() -> None:
    report = AssessmentReportReceived(
        factory_id="f", assessment_id="a", cycle=1, report_date=date(2024, 3, 1)
    )
    with pytest.raises(TypeError):
        translate(report, None)


def _untyped(schema: dict[str, Any]) -> list[str]:
    """Properties of a JSON schema that are free-form objects (`dict[str, Any]`)."""
    found = []
    for definition in [schema, *schema.get("$defs", {}).values()]:
        for name, field in definition.get("properties", {}).items():
            if field.get("type") == "object" and "properties" not in field:
                found.append(name)
    return found


@pytest.mark.parametrize("event_class", PUBLIC_EVENTS, ids=lambda cls: cls.__name__)
def test_every_public_event_is_registered_documented_and_typed(event_class: Any) -> None:
    assert CONTRACT.registry.knows(f"org.betterwork.remediation.{event_class.__name__}.v1")
    assert event_class.__doc__
    assert _untyped(event_class.model_json_schema()) == []

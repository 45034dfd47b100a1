"""A non-compliance as the assessment service reports it: the eleven fields every shape of an
improvement item carries (the upstream message, the internal event, the plan's state, the command,
the API's item and the public event), declared once here."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict


class Finding(BaseModel):
    """Which question of which assessment was found not compliant, and how severe it is."""

    model_config = ConfigDict(frozen=True)

    assessment_id: str
    cycle: int
    report_date: date
    cluster_id: str
    cluster_name: str
    compliance_point_id: str
    compliance_point_name: str
    question_id: str
    question_text: str
    critical: bool
    zero_tolerance: bool

    def finding_fields(self) -> dict[str, Any]:
        """The finding's fields of any model that carries them (an event, an item)."""
        return {name: getattr(self, name) for name in FINDING_FIELDS}


FINDING_FIELDS: tuple[str, ...] = tuple(Finding.model_fields)


class ReportedFinding(Finding):
    """A finding as a message or a stored event carries it: what a writer left out reads as empty
    (the names) or not severe."""

    cluster_name: str = ""
    compliance_point_name: str = ""
    question_text: str = ""
    critical: bool = False
    zero_tolerance: bool = False

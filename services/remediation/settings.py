"""Settings of the remediation service: the shared ones plus deadlines and the scheduler's pace."""

from __future__ import annotations

from pydantic import Field

from libs.servicekit.settings import ServiceSettings
from services.remediation.domain.policy import DueDatePolicy


class RemediationSettings(ServiceSettings):
    service_name: str = "remediation"
    port: int = Field(8002, validation_alias="PORT")
    zero_tolerance_days: int = Field(7, gt=0, validation_alias="BW_REMEDIATION_ZERO_TOLERANCE_DAYS")
    critical_days: int = Field(30, gt=0, validation_alias="BW_REMEDIATION_CRITICAL_DAYS")
    other_days: int = Field(90, gt=0, validation_alias="BW_REMEDIATION_OTHER_DAYS")
    publication_days: int = Field(30, gt=0, validation_alias="BW_REMEDIATION_PUBLICATION_DAYS")
    deadline_check_seconds: float = Field(
        300.0, gt=0, validation_alias="BW_REMEDIATION_DEADLINE_CHECK_SECONDS"
    )
    scheduler_enabled: bool = Field(True, validation_alias="BW_REMEDIATION_SCHEDULER_ENABLED")

    def due_date_policy(self) -> DueDatePolicy:
        return DueDatePolicy(
            zero_tolerance_days=self.zero_tolerance_days,
            critical_days=self.critical_days,
            other_days=self.other_days,
            publication_days=self.publication_days,
        )

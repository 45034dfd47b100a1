"""The assessment service's settings, read from the environment once when its app is built."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from libs.servicekit.settings import ServiceSettings
from services.assessment.compliance_catalogue import DEFAULT_CATALOGUE_DIRECTORY


class AssessmentSettings(ServiceSettings):
    service_name: str = "assessment"
    port: int = Field(8001, validation_alias="PORT")
    catalogue_directory: Path = Field(
        DEFAULT_CATALOGUE_DIRECTORY, validation_alias="ASSESSMENT_CATALOGUE_DIRECTORY"
    )

"""Settings of the advisory service: the shared ones, its port, the minimum counts below which
public figures and survey results are withheld, and the course seeding at start."""

from __future__ import annotations

from pydantic import Field

from libs.servicekit.settings import ServiceSettings


class AdvisorySettings(ServiceSettings):
    service_name: str = "advisory"
    port: int = Field(8005, validation_alias="PORT")
    # a public figure counts at least this many participants, from at least this many factories
    figures_min_participants: int = Field(
        10, ge=1, validation_alias="BW_ADVISORY_FIGURES_MIN_PARTICIPANTS"
    )
    figures_min_factories: int = Field(
        3, ge=1, validation_alias="BW_ADVISORY_FIGURES_MIN_FACTORIES"
    )
    # a survey result (mean change) is shown for at least this many participants' pairs
    survey_min_pairs: int = Field(5, ge=2, validation_alias="BW_ADVISORY_SURVEY_MIN_PAIRS")
    # how long shared caches may keep the public figures
    figures_max_age_seconds: int = Field(
        300, ge=0, validation_alias="BW_ADVISORY_FIGURES_MAX_AGE_SECONDS"
    )
    # define the programme's courses that are missing from the catalogue when the service starts
    seed_courses: bool = Field(True, validation_alias="BW_ADVISORY_SEED_COURSES")

"""The words of the advisory domain: participants' roles and genders, the compliance clusters a
course helps with, languages, visit purposes and survey phases, as request types (pure)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints


class ParticipantRole(StrEnum):
    """Who a participant is at the factory (also a course's audience)."""

    WORKER = "worker"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    COMMITTEE_MEMBER = "committee_member"


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNDISCLOSED = "undisclosed"


class Cluster(StrEnum):
    """The compliance catalogue's clusters (the assessment service's ids)."""

    CHILD_LABOUR = "CHL"
    DISCRIMINATION = "DIS"
    FORCED_LABOUR = "FOR"
    FREEDOM_OF_ASSOCIATION = "FOA"
    COMPENSATION = "COM"
    CONTRACTS = "CON"
    OSH = "OSH"
    WORKING_TIME = "WT"


class VisitPurpose(StrEnum):
    COMMITTEE_SUPPORT = "committee_support"
    IMPROVEMENT_PLAN = "improvement_plan"
    MANAGEMENT_SYSTEMS = "management_systems"
    TRAINING_FOLLOW_UP = "training_follow_up"
    OTHER = "other"


class Phase(StrEnum):
    """A survey response is taken before the training or after it."""

    PRE = "pre"
    POST = "post"


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class VisitStatus(StrEnum):
    PLANNED = "planned"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


COURSE_CODE_PATTERN = r"^[A-Z][A-Z0-9-]{1,19}$"
CourseCode = Annotated[str, StringConstraints(pattern=COURSE_CODE_PATTERN)]
"""A course's code: upper-case letters, digits and hyphens, 2 to 20 characters (`SST`)."""

LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
"""An ISO 639-1 language code (`km`)."""

ItemId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
"""A survey item's id within its instrument (`communication-1`)."""

"""The assessment service's own domain errors, on the bases of `libs.domain.errors` (DomainError
422, NotFound 404, Conflict 409, AlreadyExists 409); service.py maps those that need their own
problem type. A rule that fits no named error raises a base directly."""

from __future__ import annotations

from collections.abc import Sequence

from libs.domain.errors import AlreadyExists, Conflict, DomainError


class UnknownQuestion(DomainError):
    """The question is not in the catalogue the assessment pins (own problem type)."""

    def __init__(self, question_id: str, catalogue_version: str, country: str) -> None:
        super().__init__(
            f"question {question_id!r} is not in catalogue {catalogue_version} for {country}",
            question_id=question_id,
        )


class EvidenceRequired(DomainError):
    """A non-compliant finding without evidence text."""


class NoFindingForQuestion(DomainError):
    def __init__(self, question_id: str) -> None:
        super().__init__(
            f"no finding was recorded for question {question_id!r}", question_id=question_id
        )


class NothingToCorrect(DomainError):
    """A correction identical to the finding it corrects."""


class CriticalQuestionsUnanswered(DomainError):
    """Completion refused: the client learns which critical questions still lack a finding."""

    def __init__(self, question_ids: Sequence[str]) -> None:
        super().__init__(
            f"{len(question_ids)} critical question(s) have no finding yet",
            unanswered_critical_questions=list(question_ids),
        )
        self.question_ids = list(question_ids)


class InvalidFactory(DomainError):
    """A factory's details, once an update is applied to them, break the registration rules."""


class LimitReached(DomainError):
    """A bounded collection is full (e.g. the responses to one finding)."""

    def __init__(self, what: str, limit: int, question_id: str) -> None:
        super().__init__(
            f"{what} is limited to {limit} per finding", limit=limit, question_id=question_id
        )


class AssessmentAlreadyCompleted(Conflict):
    def __init__(self, assessment_id: str) -> None:
        super().__init__(
            f"assessment {assessment_id} is completed; findings can only be corrected",
            assessment_id=assessment_id,
        )


class AssessmentNotCompleted(Conflict):
    def __init__(self, assessment_id: str) -> None:
        super().__init__(
            f"assessment {assessment_id} is not completed yet", assessment_id=assessment_id
        )


class OsIdTaken(AlreadyExists):
    """The Open Supply Hub ID is another factory's (own problem type, `os-id-taken`)."""

    def __init__(self, os_id: str) -> None:
        super().__init__(f"OS ID {os_id} belongs to another factory", os_id=os_id)


class OutsideCountryProgramme(DomainError):
    """A staff member asked for a factory in a country they do not work in (own problem type,
    403 `outside-country-programme`): registering one there, or moving one of theirs there. What
    exists in another country is 'not found' instead, as another tenant's."""

    def __init__(self, country: str) -> None:
        super().__init__(
            f"you do not work for the {country} country programme", country=country.upper()
        )

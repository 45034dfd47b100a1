"""Domain errors of the assessment service: plain exceptions with a `detail` and, where the client
needs more, `extensions` members; app.py maps them to problem+json in one place."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """A command broke a rule; nothing was changed."""

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class InvalidCommand(DomainError):
    """The command cannot be carried out as asked (HTTP 422)."""


class StateConflict(DomainError):
    """The command conflicts with the aggregate's current state (HTTP 409)."""


class NotFoundError(DomainError):
    """No such aggregate, or one the caller may not know exists (HTTP 404)."""


class UnknownQuestion(InvalidCommand):
    def __init__(self, question_id: str, catalogue_version: str, country: str) -> None:
        super().__init__(
            f"question {question_id!r} is not in catalogue {catalogue_version} for {country}",
            question_id=question_id,
        )


class EvidenceRequired(InvalidCommand):
    pass


class NoFindingForQuestion(InvalidCommand):
    def __init__(self, question_id: str) -> None:
        super().__init__(
            f"no finding was recorded for question {question_id!r}", question_id=question_id
        )


class NothingToCorrect(InvalidCommand):
    pass


class CriticalQuestionsUnanswered(InvalidCommand):
    def __init__(self, question_ids: Sequence[str]) -> None:
        super().__init__(
            f"{len(question_ids)} critical question(s) have no finding yet",
            unanswered_critical_questions=list(question_ids),
        )
        self.question_ids = list(question_ids)


class InvalidFactory(InvalidCommand):
    pass


class LimitReached(InvalidCommand):
    """A bounded collection is full (e.g. the responses to one finding)."""

    def __init__(self, what: str, limit: int, question_id: str) -> None:
        super().__init__(
            f"{what} is limited to {limit} per finding", limit=limit, question_id=question_id
        )


class AssessmentAlreadyCompleted(StateConflict):
    def __init__(self, assessment_id: str) -> None:
        super().__init__(
            f"assessment {assessment_id} is completed; findings can only be corrected",
            assessment_id=assessment_id,
        )


class AssessmentNotCompleted(StateConflict):
    def __init__(self, assessment_id: str) -> None:
        super().__init__(
            f"assessment {assessment_id} is not completed yet", assessment_id=assessment_id
        )


class OsIdTaken(StateConflict):
    def __init__(self, os_id: str) -> None:
        super().__init__(f"OS ID {os_id} belongs to another factory", os_id=os_id)

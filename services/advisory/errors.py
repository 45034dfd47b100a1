"""The advisory service's domain errors, on the shared bases of `libs.domain.errors` (mapped to
problem+json once, by the library's defaults and service.py's PROBLEMS). A resource the caller may
not know of (another factory's session, a factory outside the caller's country programmes) is
always a `NotFound` (404), never a 403."""

from __future__ import annotations

from libs.domain.errors import Conflict, DomainError, NotFound


class NoSuchCourse(NotFound):
    """No course with that code (404)."""


class NoSuchSurvey(NotFound):
    """No survey instrument with that id (404)."""


class NoSuchSession(NotFound):
    """No training session with that id that the caller may see (404)."""


class NoSuchVisit(NotFound):
    """No advisory visit with that id that the caller may see (404)."""


class UnknownFactory(NotFound):
    """A factory this service has not learnt of, or one outside the caller's country programmes:
    the same answer for both, so a caller cannot probe other programmes' factories (404)."""


class UnknownCourse(DomainError):
    """A body names a course the catalogue does not have (422 `unknown-course`)."""


class UnknownSurvey(DomainError):
    """A body names a survey instrument, or a version of one, that does not exist or does not
    belong to the session's course (422 `unknown-survey`)."""


class RetiredCourse(DomainError):
    """The course was retired: no new sessions, surveys or revisions (422 `course-retired`)."""


class NotResponsible(DomainError):
    """The caller may see the resource but is not its trainer or advisor (403 `not-responsible`)."""


class DateOutOfRange(DomainError):
    """A date outside what the domain allows (422 `date-out-of-range`)."""


class InvalidSession(DomainError):
    """A session that cannot be: mixed countries, a language the course is not given in, several
    factories in a session that is not open (422 `invalid-session`)."""


class OverCapacity(Conflict):
    """The sheet would take the session past its capacity (409 `over-capacity`)."""


class DuplicateAttendance(Conflict):
    """A participant signed twice for one day of a session (409 `duplicate-attendance`)."""


class ParticipantOfAnotherFactory(DomainError):
    """An attendee or response names a factory that is not in the session
    (422 `participant-of-another-factory`)."""


class ParticipantMismatch(DomainError):
    """A participant already recorded with another role or gender (422 `participant-mismatch`)."""


class NotAnAttendee(DomainError):
    """A survey response of someone who has not attended the session (422 `not-an-attendee`)."""


class DuplicateResponse(Conflict):
    """A participant's pre or post response was recorded already (409 `duplicate-response`)."""


class InvalidAnswers(DomainError):
    """Answers that do not fit the instrument's version (422 `invalid-answers`)."""


class NoAttendance(DomainError):
    """A session cannot be delivered without attendance (422 `no-attendance`)."""


class SessionClosed(Conflict):
    """The session was delivered or cancelled; it changes no more (409 `session-closed`)."""


class AttendanceAlreadyRecorded(Conflict):
    """The session has attendance: its dates stay, and it can no longer be cancelled
    (409 `attendance-recorded`)."""


class VisitClosed(Conflict):
    """The visit was completed or cancelled; it changes no more (409 `visit-closed`)."""

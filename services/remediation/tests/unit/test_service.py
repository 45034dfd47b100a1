"""The service's declaration (no I/O): every command has its handler, every domain error the
problem type clients know, and the app accepts only the test seams the service has."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import date
from typing import Any

import pytest

from libs.domain.aggregate import VersionMismatch
from libs.domain.errors import DomainError
from libs.events.store import ConcurrencyConflict
from libs.servicekit.problems import default_problems
from services.remediation import commands, errors
from services.remediation.domain.plan_events import ItemStatus
from services.remediation.scheduler import DeadlineScheduler
from services.remediation.service import SERVICE
from services.remediation.settings import RemediationSettings

OPEN, DONE = ItemStatus.OPEN, ItemStatus.DONE
DAY = date(2024, 3, 1)


def test_every_command_has_a_handler() -> None:
    declared = {
        value
        for value in vars(commands).values()
        if inspect.isclass(value)
        and dataclasses.is_dataclass(value)
        and value.__module__ == commands.__name__
        and value is not commands.NewMember  # a part of SetCommitteeMembers
    }
    assert set(SERVICE.commands) == declared


def problem_of(error: Exception) -> dict[str, Any]:
    """The problem document the app answers with when a command raises `error`."""
    mapping = default_problems().merged(SERVICE.problems).mapping_for(error)
    assert mapping is not None
    return mapping.problem(error).to_document()


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (errors.ItemNotFound("i"), 404, "item-not-found"),
        (errors.NoSuchPlan("f"), 404, "improvement-plan-not-found"),
        (errors.TransitionNotAllowed(OPEN, DONE, []), 409, "transition-not-allowed"),
        (errors.ItemNotEditable(DONE), 409, "item-not-editable"),
        (errors.ItemIncomplete(["root_cause"]), 409, "item-incomplete"),
        (errors.NothingToPublish(), 409, "nothing-to-publish"),
        (errors.EndorsementRequired(), 409, "committee-endorsement-required"),
        (errors.ReasonRequired(), 422, "reason-required"),
        (errors.DueDateOutsideWindow(DAY, DAY), 422, "due-date-outside-the-allowed-window"),
        (errors.CommitteeUnbalanced(1, 0), 422, "committee-unbalanced"),
        (errors.UnknownAttendee(["x"]), 422, "unknown-attendee"),
        (errors.MeetingInFuture(), 422, "meeting-in-the-future"),
        (errors.MeetingLimitReached(600), 422, "meeting-limit-reached"),
        # the library's: a failed If-Match is precondition-failed in every service (it was
        # version-mismatch here before)
        (VersionMismatch(1, 2), 412, "precondition-failed"),
        (ConcurrencyConflict("improvement-plan-f", 1, 2), 409, "concurrency-conflict"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_each_error_is_the_problem_clients_know(error: Exception, status: int, slug: str) -> None:
    document = problem_of(error)
    assert (document["status"], document["type"]) == (
        status,
        f"https://betterwork.example/problems/{slug}",
    )
    assert document["detail"] == str(error)


def test_domain_errors_have_the_one_base() -> None:
    raised = [
        value
        for value in vars(errors).values()
        if inspect.isclass(value)
        and issubclass(value, Exception)
        and value.__module__ == errors.__name__
    ]
    assert raised and all(issubclass(error, DomainError) for error in raised)


def test_a_refused_transition_names_what_is_allowed() -> None:
    error = errors.TransitionNotAllowed(OPEN, DONE, [ItemStatus.IN_PROGRESS])
    document = problem_of(error)
    assert {key: document[key] for key in ("current_status", "requested_status", "allowed")} == {
        "current_status": "open",
        "requested_status": "done",
        "allowed": ["in_progress"],
    }


@pytest.mark.parametrize("enabled", [True, False])
def test_the_deadline_scheduler_is_a_component_only_where_enabled(enabled: bool) -> None:
    settings = RemediationSettings(environment="development", scheduler_enabled=enabled)
    service = SERVICE.app(settings).state.service
    if enabled:
        scheduler = service.component(DeadlineScheduler)
        assert scheduler.remediation is service.deps
        assert scheduler.supervisor is service.runtime.supervisor
    else:
        with pytest.raises(LookupError):
            service.component(DeadlineScheduler)


def test_the_app_refuses_a_test_seam_it_does_not_have() -> None:
    settings = RemediationSettings(environment="development", scheduler_enabled=False)
    with pytest.raises(TypeError, match="resolver"):
        SERVICE.app(settings, resolver=object())

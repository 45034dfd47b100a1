"""Given a pair's history, when a record of the programme's past, then the events the live
commands would have appended, each at its business time (domain/history.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from libs.domain.history.bundle import at_noon
from libs.domain.history.buyer_sharing import BuyerRecord, GrantRecord, RelianceRecord
from services.buyer_sharing.domain import buyer, history, sharing
from services.buyer_sharing.errors import RejectedRecord

TODAY = date(2025, 6, 2)
PAIR = {"factory_id": "f1", "buyer_id": "b1"}


def grant_record(granted_on: str, **values: Any) -> GrantRecord:
    return GrantRecord(source_id="g", buyer="B1", factory="F1", granted_on=granted_on, **values)


def granted(state: sharing.Sharing, record: GrantRecord) -> sharing.Sharing:
    steps = history.grant(
        state, record, **PAIR, buyer_joined=date(2001, 1, 1), by="admin", today=TODAY
    )
    return sharing.SHARING.fold((event for step in steps for event in step.events), state)


def reliance_record(declared_on: str, **values: Any) -> RelianceRecord:
    return RelianceRecord(
        **{
            "source_id": "r",
            "buyer": "B1",
            "factory": "F1",
            "assessment": "A1",
            "declared_on": declared_on,
            "period_start": declared_on,
            "period_end": values.pop("period_end", "2003-12-31"),
            **values,
        }
    )


def declare(
    state: sharing.Sharing,
    record: RelianceRecord,
    assessment: tuple[str, date] | None = ("f1", date(2001, 3, 1)),
) -> list[history.Dated]:
    return history.declare_reliance(
        state,
        record,
        reliance_id="r1",
        **PAIR,
        assessment_id="a1",
        assessment=assessment,
        by="admin",
        today=TODAY,
    )


def rejected(call: Any) -> str:
    with pytest.raises(RejectedRecord) as caught:
        call()
    return caught.value.field


class TestBuyers:
    def test_a_buyer_registers_on_the_day_it_joined(self) -> None:
        record = BuyerRecord(
            source_id="B1",
            name="Brand",
            country="SE",
            contact_name="Anna",
            contact_email="anna@brand.example",
            joined_on=date(2001, 6, 1),
        )
        (step,) = history.register_buyer(
            buyer.Buyer(), record, buyer_id="b1", by="admin", today=TODAY
        )
        (event,) = step.events
        assert step.at == at_noon(date(2001, 6, 1))
        assert isinstance(event, buyer.BuyerRegistered) and event.registered_at == step.at
        assert (
            rejected(
                lambda: history.register_buyer(
                    buyer.Buyer(registered=True), record, buyer_id="b1", by="a", today=TODAY
                )
            )
            == "source_id"
        )


class TestGrants:
    def test_a_past_end_date_is_history_and_a_revocation_has_its_own_day(self) -> None:
        steps = history.grant(
            sharing.Sharing(),
            grant_record("2001-07-01", ends_on="2002-12-31", revoked_on="2002-06-30"),
            **PAIR,
            buyer_joined=date(2001, 1, 1),
            by="admin",
            today=TODAY,
        )
        assert [(step.at, [type(e) for e in step.events]) for step in steps] == [
            (at_noon(date(2001, 7, 1)), [sharing.SharingGranted]),
            (at_noon(date(2002, 6, 30)), [sharing.SharingRevoked]),
        ]

    def test_periods_in_time_are_grants_again_and_overlaps_or_the_past_are_refused(
        self,
    ) -> None:
        state = granted(sharing.Sharing(), grant_record("2001-07-01", ends_on="2002-12-31"))
        assert rejected(lambda: granted(state, grant_record("2002-12-31"))) == "granted_on"
        state = granted(state, grant_record("2003-01-01", revoked_on="2004-06-30"))
        assert rejected(lambda: granted(state, grant_record("2004-06-29"))) == "granted_on"
        state = granted(state, grant_record("2004-06-30"))  # again on the revocation's day
        assert [(p.granted_at.date(), p.revoked) for p in state.periods] == [
            (date(2001, 7, 1), False),
            (date(2003, 1, 1), True),
            (date(2004, 6, 30), False),
        ]
        assert state.in_force(TODAY)

    def test_a_grant_is_not_older_than_its_buyer_nor_in_the_future(self) -> None:
        def before_joining() -> object:
            return history.grant(
                sharing.Sharing(),
                grant_record("2001-07-01"),
                **PAIR,
                buyer_joined=date(2002, 1, 1),
                by="admin",
                today=TODAY,
            )

        assert rejected(before_joining) == "granted_on"
        assert rejected(lambda: granted(sharing.Sharing(), grant_record("2026-01-01"))) == (
            "granted_on"
        )
        future_revocation = grant_record("2025-01-01", revoked_on="2025-06-03")
        assert rejected(lambda: granted(sharing.Sharing(), future_revocation)) == "revoked_on"


class TestReliances:
    def test_a_declaration_rests_on_the_grant_in_force_on_its_day(self) -> None:
        state = granted(sharing.Sharing(), grant_record("2001-07-01", ends_on="2003-12-31"))
        steps = declare(state, reliance_record("2002-01-10", period_end="2003-12-31"))
        assert [step.at for step in steps] == [at_noon(date(2002, 1, 10))]
        assert rejected(lambda: declare(state, reliance_record("2001-06-30"))) == "declared_on"
        after_the_end = reliance_record("2004-01-01", period_end="2004-06-30")
        assert rejected(lambda: declare(state, after_the_end)) == "declared_on"
        too_late = reliance_record("2002-01-10", period_end="2004-01-01")  # past the grant
        assert rejected(lambda: declare(state, too_late)) == "period_end"

    def test_the_live_period_rules_and_a_completed_assessment_reported_by_then(self) -> None:
        state = granted(sharing.Sharing(), grant_record("2001-07-01"))
        too_long = reliance_record("2002-01-01", period_end="2004-01-04")  # 733 days
        assert rejected(lambda: declare(state, too_long)) == "period_end"
        longest = reliance_record("2002-01-01", period_end="2004-01-03")
        assert len(declare(state, longest)) == 1
        record = reliance_record("2002-01-10")
        # unknown, another factory's, reported after the declaration
        for assessment in (None, ("f2", date(2001, 3, 1)), ("f1", date(2002, 3, 1))):
            with pytest.raises(RejectedRecord) as caught:
                declare(state, record, assessment)
            assert caught.value.field == "assessment"

    def test_it_ends_on_its_withdrawal_or_when_the_consent_would_have_ended_it(self) -> None:
        state = granted(sharing.Sharing(), grant_record("2001-07-01"))
        # granted again with an earlier end date, live (an import refuses overlapping periods)
        regranted = sharing.grant(
            state, **PAIR, by="f1-user", at=at_noon(date(2003, 1, 1)), ends_on=date(2003, 6, 30)
        )
        state = sharing.SHARING.fold(regranted, state)
        record = reliance_record("2002-01-10", period_end="2003-12-31")
        (_, ended) = declare(state, record)
        (withdrawn,) = ended.events
        assert isinstance(withdrawn, sharing.AuditRelianceWithdrawn)
        assert ended.at == at_noon(date(2003, 1, 1))
        assert withdrawn.reason.startswith("sharing now ends on 2003-06-30")
        earlier = reliance_record("2002-01-10", period_end="2003-12-31", withdrawn_on="2002-05-01")
        (_, own) = declare(state, earlier)
        assert (own.at, own.events[0].reason) == (at_noon(date(2002, 5, 1)), "withdrawn")  # type: ignore[attr-defined]

    def test_a_revocation_ends_it_and_an_open_grant_keeps_it(self) -> None:
        state = granted(sharing.Sharing(), grant_record("2001-07-01", revoked_on="2002-07-01"))
        (_, ended) = declare(state, reliance_record("2002-01-10", withdrawn_on="2003-01-01"))
        assert (ended.at, ended.events[0].reason) == (  # type: ignore[attr-defined]
            at_noon(date(2002, 7, 1)),
            "sharing revoked",
        )
        state = granted(sharing.Sharing(), grant_record("2001-07-01"))
        assert len(declare(state, reliance_record("2002-01-10"))) == 1

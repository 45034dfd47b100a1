"""Given events, when a command, then events: the aggregates of buyer sharing, the public
contract, the portfolio's risk order and the transparency rules at their edges."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from libs.domain.errors import NotFound
from services.buyer_sharing import contract
from services.buyer_sharing.domain import access_request, portfolio, sharing, transparency
from services.buyer_sharing.errors import AlreadyDecided, InvalidPeriod

AT = datetime(2025, 6, 2, 9, tzinfo=UTC)


def granted(ends_on: date | None = None) -> sharing.Sharing:
    events = sharing.grant(
        sharing.Sharing(), factory_id="f1", buyer_id="b1", by="u", at=AT, ends_on=ends_on
    )
    return sharing.SHARING.fold(events)


class TestSharing:
    def test_a_grant_is_in_force_until_its_end_date(self) -> None:
        state = granted(date(2025, 6, 30))
        assert state.in_force(date(2025, 6, 30)) and not state.in_force(date(2025, 7, 1))

    def test_an_end_date_in_the_past_is_refused(self) -> None:
        with pytest.raises(InvalidPeriod):
            granted(date(2025, 6, 1))

    def test_revoking_ends_every_reliance_in_force(self) -> None:
        state = granted()
        state = sharing.SHARING.fold(
            sharing.declare_reliance(
                state,
                reliance_id="r1",
                factory_id="f1",
                buyer_id="b1",
                assessment_id="a1",
                assessment_completed=True,
                period_start=date(2025, 1, 1),
                period_end=date(2025, 12, 31),
                by="u",
                at=AT,
            ),
            state,
        )
        events = sharing.revoke(state, factory_id="f1", buyer_id="b1", by="u", at=AT, reason="r")
        assert [type(e) for e in events] == [sharing.SharingRevoked, sharing.AuditRelianceWithdrawn]
        after = sharing.SHARING.fold(events, state)
        assert not after.active and after.reliances == {}

    def test_a_grant_again_with_an_earlier_end_withdraws_only_the_reliances_past_it(self) -> None:
        state = granted()
        for reliance_id, period_end in (
            ("r-long", date(2025, 12, 31)),
            ("r-short", date(2025, 7, 31)),
        ):
            state = sharing.SHARING.fold(
                sharing.declare_reliance(
                    state,
                    reliance_id=reliance_id,
                    factory_id="f1",
                    buyer_id="b1",
                    assessment_id="a1",
                    assessment_completed=True,
                    period_start=date(2025, 6, 1),
                    period_end=period_end,
                    by="u",
                    at=AT,
                ),
                state,
            )
        events = sharing.grant(
            state, factory_id="f1", buyer_id="b1", by="u", at=AT, ends_on=date(2025, 8, 31)
        )
        assert [type(e) for e in events] == [sharing.SharingGranted, sharing.AuditRelianceWithdrawn]
        assert events[1].reliance_id == "r-long"  # type: ignore[attr-defined]
        after = sharing.SHARING.fold(events, state)
        assert after.reliances == {"r-short": date(2025, 7, 31)}
        # a later end date, or none, withdraws nothing
        for ends_on in (date(2026, 1, 31), None):
            again = sharing.grant(
                after, factory_id="f1", buyer_id="b1", by="u", at=AT, ends_on=ends_on
            )
            assert [type(e) for e in again] == [sharing.SharingGranted]

    def test_revoking_what_was_never_granted_is_not_found(self) -> None:
        with pytest.raises(NotFound):
            sharing.revoke(
                sharing.Sharing(), factory_id="f1", buyer_id="b1", by="u", at=AT, reason="r"
            )

    def test_reliance_needs_a_grant_in_force_and_a_sane_period(self) -> None:
        arguments = {
            "reliance_id": "r1",
            "factory_id": "f1",
            "buyer_id": "b1",
            "assessment_id": "a1",
            "assessment_completed": True,
            "by": "u",
            "at": AT,
        }
        with pytest.raises(NotFound):
            sharing.declare_reliance(
                sharing.Sharing(),
                period_start=date(2025, 1, 1),
                period_end=date(2025, 2, 1),
                **arguments,  # type: ignore[arg-type]
            )
        with pytest.raises(InvalidPeriod):
            sharing.declare_reliance(
                granted(),
                period_start=date(2025, 2, 1),
                period_end=date(2025, 1, 1),
                **arguments,  # type: ignore[arg-type]
            )


class TestAccessRequests:
    def requested(self, factory_id: str | None, os_id: str | None) -> access_request.AccessRequest:
        return access_request.ACCESS_REQUEST.fold(
            access_request.request_access(
                access_request.AccessRequest(),
                request_id="q1",
                buyer_id="b1",
                factory_id=factory_id,
                os_id=os_id,
                message="",
                by="u",
                at=AT,
            )
        )

    def test_a_request_by_os_id_is_addressed_to_the_factory_with_that_os_id(self) -> None:
        state = self.requested(None, "KH2019257Q2JMGF")
        assert access_request.addressed_to(state, "f1", "KH2019257Q2JMGF")
        assert not access_request.addressed_to(state, "f2", None)

    def test_a_decided_request_cannot_be_decided_again(self) -> None:
        state = self.requested("f1", None)
        state = access_request.ACCESS_REQUEST.fold(
            access_request.decline(
                state, request_id="q1", factory_id="f1", by="u", at=AT, reason="no"
            ),
            state,
        )
        with pytest.raises(AlreadyDecided):
            access_request.approve(
                state, request_id="q1", factory_id="f1", by="u", at=AT, ends_on=None
            )


class TestContract:
    def test_an_approval_is_published_as_its_grant_only(self) -> None:
        approved = access_request.AccessApproved(
            request_id="q1", factory_id="f1", buyer_id="b1", approved_by="u", approved_at=AT
        )
        assert contract.translate(approved) == []

    def test_a_buyer_registration_leaves_its_contact_inside(self) -> None:
        from services.buyer_sharing.domain.buyer import BuyerRegistered

        event = BuyerRegistered(
            buyer_id="b1",
            name="Brand",
            country="US",
            contact_name="Ann",
            contact_email="ann@brand.example",
            registered_by="admin",
            registered_at=AT,
        )
        (public,) = contract.translate(event)
        assert "contact_email" not in public.model_dump()


class TestPortfolioOrder:
    def entry(
        self, factory_id: str, zt: int, crit: int, overdue: int, rate: float
    ) -> portfolio.Entry:
        return portfolio.Entry(factory_id, "KH", zt, crit, overdue, rate, {})

    def test_risk_is_zero_tolerance_then_critical_then_overdue_then_rate(self) -> None:
        entries = [
            self.entry("a", 0, 0, 0, 0.9),
            self.entry("b", 0, 0, 3, 0.1),
            self.entry("c", 0, 2, 0, 0.1),
            self.entry("d", 1, 0, 0, 0.0),
            self.entry("e", 0, 0, 0, 0.9),
        ]
        ordered, _ = portfolio.select(entries)
        assert [e.factory_id for e in ordered] == ["d", "c", "b", "a", "e"]

    def test_pages_follow_each_other_without_gaps_or_repeats(self) -> None:
        entries = [self.entry(f"f{n}", n % 2, n % 3, 0, n / 10) for n in range(7)]
        seen: list[str] = []
        after = None
        while True:
            page, last = portfolio.select(entries, after=after, limit=3)
            seen += [e.factory_id for e in page]
            if last is None:
                break
            after = last.position("risk")
        assert sorted(seen) == sorted(e.factory_id for e in entries) and len(seen) == 7


def report(
    factory_id: str, n: int, compliant: int, answered: int = 10, year: int = 2024
) -> transparency.CompletedReport:
    return transparency.CompletedReport(
        factory_id, "KH", f"{factory_id}-a{n}", n, date(year - 3 + n, 3, 1), compliant, answered
    )


class TestTransparencyRules:
    def test_a_factory_is_published_from_its_second_completed_assessment(self) -> None:
        assert not transparency.published(1) and transparency.published(2)

    def history(
        self, factory_id: str, assessments: int, compliant_last: int
    ) -> list[transparency.CompletedReport]:
        # earlier cycles in earlier years; the last one in 2024
        return [report(factory_id, n, 10) for n in range(4 - assessments, 3)] + [
            report(factory_id, 3, compliant_last)
        ]

    def test_exactly_two_standard_deviations_below_is_not_listed(self) -> None:
        # four factories at 1.0 and one at 0.0: the low one is exactly two deviations below
        reports = [r for f in "abcd" for r in self.history(f, 3, 10)] + self.history("low", 3, 0)
        assert transparency.low_compliance(reports, year=2024) == []

    def test_more_than_two_standard_deviations_below_is_listed(self) -> None:
        reports = [r for f in "abcde" for r in self.history(f, 3, 10)] + self.history("low", 3, 0)
        listed = transparency.low_compliance(reports, year=2024)
        assert [(e.factory_id, e.year) for e in listed] == [("low", 2024)]

    def test_two_completed_assessments_are_not_enough_for_the_list(self) -> None:
        reports = [r for f in "abcde" for r in self.history(f, 3, 10)] + self.history("low", 2, 0)
        assert transparency.low_compliance(reports, year=2024) == []

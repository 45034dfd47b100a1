"""Given / when / then: a plan is published to buyers after a new two-sided committee endorsement,
late when the first publication comes after its due date (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.remediation.domain import plan as plans
from services.remediation.domain.committee import (
    CommitteeMeeting,
    Side,
)
from services.remediation.domain.plan_events import (
    ImprovementPlanPublished,
)
from services.remediation.domain.plan_state import PLAN
from services.remediation.errors import (
    EndorsementRequired,
    NothingToPublish,
)
from services.remediation.tests.unit.domain_givens import (
    NOW,
    POLICY,
    finding,
    meeting,
    plan_given,
    then,
)


class TestPublication:
    def test_published_on_time_after_a_two_sided_endorsement(self) -> None:
        plan = plan_given(finding("q1"))
        [published] = plans.publish(plan, meeting(), now=NOW, policy=POLICY)
        assert isinstance(published, ImprovementPlanPublished)
        assert published.late is False
        assert published.endorsed_at_meeting == "mt1"
        assert published.plan_version == plan.version + 1

    def test_first_publication_after_thirty_days_is_late(self) -> None:
        plan = plan_given(finding("q1"))
        [published] = plans.publish(
            plan, meeting(), now=datetime(2024, 4, 1, tzinfo=UTC), policy=POLICY
        )
        assert isinstance(published, ImprovementPlanPublished) and published.late

    @pytest.mark.parametrize(
        "endorsement", [None, meeting(endorses=False), meeting(sides=(Side.WORKER,))]
    )
    def test_publication_needs_a_two_sided_endorsement(
        self, endorsement: CommitteeMeeting | None
    ) -> None:
        with pytest.raises(EndorsementRequired):
            plans.publish(plan_given(finding("q1")), endorsement, now=NOW, policy=POLICY)

    def test_each_publication_needs_a_new_endorsement(self) -> None:
        plan = plan_given(finding("q1"))
        plan = then(plan, plans.publish(plan, meeting(), now=NOW, policy=POLICY))
        with pytest.raises(EndorsementRequired):
            plans.publish(plan, meeting(), now=NOW, policy=POLICY)
        [again] = plans.publish(
            plan, meeting("mt2"), now=datetime(2024, 6, 1, tzinfo=UTC), policy=POLICY
        )
        assert isinstance(again, ImprovementPlanPublished)
        assert again.late is False  # only the first publication has a deadline

    def test_an_empty_plan_cannot_be_published(self) -> None:
        with pytest.raises(NothingToPublish):
            plans.publish(PLAN.initial, meeting(), now=NOW, policy=POLICY)

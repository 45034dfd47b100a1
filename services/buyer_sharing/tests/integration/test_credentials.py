"""Issue 20, buyer sharing's part: the assessment service's `ReportCredentialIssued` becomes the
report's credential a buyer with a grant in force downloads (the compact vc+jwt, and the offline
bundle byte for byte as issued); anyone else gets the 404 every other read gives, before the
ETag's shortcut; a correction's credential supersedes the earlier one; redelivered and reordered
events store each credential once; the rebuild gives the same rows."""

from __future__ import annotations

import json
import random
from datetime import date
from typing import Any

import httpx
import pytest

from libs.domain.envelope import Envelope
from libs.servicekit.auth import Role
from libs.servicekit.service import RebuildContext
from services.buyer_sharing import rebuild
from services.buyer_sharing.tests.integration.conftest import Service, Upstream, poll
from services.buyer_sharing.tests.integration.credential_events import (
    credential_id,
    credential_issued,
    served_bytes,
)
from services.buyer_sharing.tests.integration.test_portfolio import snapshot

NC, OK = "non_compliant", "compliant"
JWT = "application/vc+jwt"
BUNDLE = "application/vnd.betterwork.credential-bundle+json"
REPORTS = "/v1/buyers/brand-a/factories/f1/reports"
CREDENTIAL = f"{REPORTS}/f1-a1/credential"


def completed(
    upstream: Upstream, factory_id: str = "f1", assessment: str = "f1-a1"
) -> list[Envelope]:
    """A factory's completed report and its first credential, as the assessment service publishes
    them (the credential after the completion's events, on the same stream)."""
    return [
        *upstream.assessment(
            factory_id,
            assessment,
            1,
            date(2025, 3, 1),
            [("Q1", True, False, NC), ("Q2", False, False, OK)],
        ),
        credential_issued(upstream, factory_id, assessment),
    ]


def corrected(upstream: Upstream, assessment: str = "f1-a1") -> list[Envelope]:
    """Q1 corrected to compliant, and the report's credential issued again (revision 1)."""
    return [
        upstream.finding_event(
            "FindingCorrected",
            "f1",
            assessment,
            {"question_id": "Q1", "result_before": NC, "result_after": OK, "reason": "fitted"},
        ),
        credential_issued(upstream, "f1", assessment, revision=1),
    ]


async def shared(service: Service, upstream: Upstream, *buyers: str) -> list[Envelope]:
    """f1 (KH) shares with brand-a; its report and first credential arrive."""
    for buyer in ("brand-a", *buyers):
        await service.register_buyer(buyer)
    envelopes = [upstream.factory("f1"), *completed(upstream)]
    await service.feed(envelopes)
    assert (await service.grant("f1", "brand-a")).status_code == 201
    return envelopes


async def report_links(service: Service, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await service.client.get(REPORTS, headers=headers or service.buyer("brand-a"))
    assert response.status_code == 200, response.text
    (report,) = response.json()
    return {"credential": report["credential"], "credentials": report["credentials"]}


def is_not_found(response: httpx.Response) -> bool:
    return (
        response.status_code == 404
        and response.headers["content-type"] == "application/problem+json"
        and "urn:uuid" not in response.text
        and "credential" not in response.headers.get("content-disposition", "")
    )


class TestABuyerWithAGrant:
    async def test_gets_the_credential_and_the_bundle_as_issued(
        self, service: Service, upstream: Upstream
    ) -> None:
        envelopes = await shared(service, upstream)
        issued = envelopes[-1]
        links = await report_links(service)
        link = links["credential"]
        assert link == {
            "id": credential_id("f1-a1", 0),
            "revision": 0,
            "supersedes": None,
            "issued_at": "2025-03-02T08:00:00Z",
            "superseded": False,
            "href": f"{CREDENTIAL}?revision=0",
            "bundle_href": f"{CREDENTIAL}?revision=0&format=bundle",
        }
        assert links["credentials"] == [link]

        as_jwt = await service.client.get(link["href"], headers=service.buyer("brand-a"))
        assert as_jwt.status_code == 200
        assert as_jwt.headers["content-type"] == JWT
        assert as_jwt.text == issued.data["bundle"]["credential"]
        assert "content-disposition" not in as_jwt.headers

        download = await service.client.get(link["bundle_href"], headers=service.buyer("brand-a"))
        assert download.status_code == 200
        assert download.headers["content-type"] == BUNDLE
        assert download.headers["content-disposition"] == (
            'attachment; filename="credential-f1-a1-0.json"'
        )
        # the bundle's bytes as they stand in the message the assessment service published
        assert download.content == served_bytes(issued)
        assert download.content in issued.to_json()
        assert download.json() == issued.data["bundle"]

    async def test_the_latest_credential_is_served_without_a_revision(
        self, service: Service, upstream: Upstream
    ) -> None:
        envelopes = await shared(service, upstream)
        latest = await service.client.get(CREDENTIAL, headers=service.buyer("brand-a"))
        assert latest.text == envelopes[-1].data["bundle"]["credential"]
        bundle = await service.client.get(
            f"{CREDENTIAL}?format=bundle", headers=service.buyer("brand-a")
        )
        assert bundle.content == served_bytes(envelopes[-1])

    async def test_a_client_holding_it_gets_304_while_the_grant_is_in_force(
        self, service: Service, upstream: Upstream
    ) -> None:
        await shared(service, upstream)
        first = await service.client.get(CREDENTIAL, headers=service.buyer("brand-a"))
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "private, no-cache"
        again = await service.client.get(
            CREDENTIAL, headers={**service.buyer("brand-a"), "If-None-Match": etag}
        )
        assert again.status_code == 304
        assert again.content == b""
        bundle = await service.client.get(
            f"{CREDENTIAL}?format=bundle",
            headers={**service.buyer("brand-a"), "If-None-Match": etag},
        )
        assert bundle.status_code == 200  # another representation, another ETag

        revoked = await service.client.post(
            "/v1/sharing-grants/f1/brand-a/revoke",
            json={"reason": "contract ended"},
            headers=service.factory("f1"),
        )
        assert revoked.status_code == 200
        # consent before the shortcut: the ETag it holds no longer gets a 304
        after = await service.client.get(
            CREDENTIAL, headers={**service.buyer("brand-a"), "If-None-Match": etag}
        )
        assert is_not_found(after)

    async def test_an_admin_of_the_factorys_country_reads_it_another_countrys_does_not(
        self, service: Service, upstream: Upstream
    ) -> None:
        envelopes = await shared(service, upstream)
        cambodia = service.token(Role.ADMIN, subject="kh-admin", countries=["KH"])
        vietnam = service.token(Role.ADMIN, subject="vn-admin", countries=["VN"])
        answer = await service.client.get(f"{CREDENTIAL}?format=bundle", headers=cambodia)
        assert answer.content == served_bytes(envelopes[-1])
        assert (await report_links(service, cambodia))["credential"]["revision"] == 0
        assert is_not_found(await service.client.get(CREDENTIAL, headers=vietnam))
        # factory users read theirs on the assessment service, not here
        refused = await service.client.get(CREDENTIAL, headers=service.factory("f1"))
        assert refused.status_code == 403


class TestAnyoneElse:
    async def test_a_buyer_without_a_grant_gets_404_on_its_own_path_and_on_anothers(
        self, service: Service, upstream: Upstream
    ) -> None:
        await shared(service, upstream, "brand-b")
        other = service.buyer("brand-b")
        own_path = "/v1/buyers/brand-b/factories/f1/reports/f1-a1/credential"
        for path in (own_path, f"{own_path}?format=bundle", CREDENTIAL, f"{CREDENTIAL}?revision=0"):
            assert is_not_found(await service.client.get(path, headers=other)), path
        # the same answer as for a factory that does not exist
        nowhere = "/v1/buyers/brand-b/factories/f9/reports/f9-a1/credential"
        unknown = await service.client.get(nowhere, headers=other)
        assert is_not_found(unknown)

    async def test_after_a_revocation_or_past_the_end_date_the_download_is_404(
        self, service: Service, upstream: Upstream
    ) -> None:
        await shared(service, upstream)
        assert (await service.grant("f1", "brand-a", ends_on="2025-06-30")).status_code == 201
        buyer = service.buyer("brand-a")
        assert (await service.client.get(CREDENTIAL, headers=buyer)).status_code == 200
        service.clock.now = service.clock.now.replace(month=7, day=1)
        assert is_not_found(await service.client.get(CREDENTIAL, headers=buyer))
        service.clock.now = service.clock.now.replace(month=6, day=2)
        await service.client.post(
            "/v1/sharing-grants/f1/brand-a/revoke",
            json={"reason": "contract ended"},
            headers=service.factory("f1"),
        )
        for path in (CREDENTIAL, f"{CREDENTIAL}?format=bundle&revision=0"):
            assert is_not_found(await service.client.get(path, headers=buyer))

    async def test_another_factorys_report_through_a_shared_factory_is_404(
        self, service: Service, upstream: Upstream
    ) -> None:
        await shared(service, upstream)
        await service.feed([upstream.factory("f2"), *completed(upstream, "f2", "f2-a1")])
        buyer = service.buyer("brand-a")
        through_f1 = f"{REPORTS}/f2-a1/credential"
        assert is_not_found(await service.client.get(through_f1, headers=buyer))
        missing = await service.client.get(f"{CREDENTIAL}?revision=5", headers=buyer)
        assert is_not_found(missing)

    @pytest.mark.parametrize(
        "query",
        ["format=xml", "format=", "revision=-1", "revision=2147483648", "revision=1e3",
         "revision=9223372036854775808", "revision=%00"],
    )  # fmt: skip
    async def test_bad_parameters_are_a_422_problem(
        self, service: Service, upstream: Upstream, query: str
    ) -> None:
        await shared(service, upstream)
        answer = await service.client.get(f"{CREDENTIAL}?{query}", headers=service.buyer("brand-a"))
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"


class TestACorrection:
    async def test_its_credential_supersedes_the_earlier_one(
        self, service: Service, upstream: Upstream
    ) -> None:
        envelopes = await shared(service, upstream)
        later = corrected(upstream)
        await service.feed(later)
        links = await report_links(service)
        first, second = credential_id("f1-a1", 0), credential_id("f1-a1", 1)
        assert [(c["id"], c["revision"], c["superseded"]) for c in links["credentials"]] == [
            (second, 1, False),
            (first, 0, True),
        ]
        assert links["credential"] == links["credentials"][0]
        assert links["credential"]["supersedes"] == first

        buyer = service.buyer("brand-a")
        latest = await service.client.get(CREDENTIAL, headers=buyer)
        assert latest.text == later[-1].data["bundle"]["credential"]
        assert "link" not in latest.headers
        earlier = await service.client.get(f"{CREDENTIAL}?revision=0&format=bundle", headers=buyer)
        assert earlier.content == served_bytes(envelopes[-1])  # never changed
        assert earlier.headers["link"] == f'<{CREDENTIAL}>; rel="successor-version"'


class TestRedeliveryAndRebuild:
    async def test_redelivered_and_reordered_events_store_each_credential_once(
        self, service: Service, upstream: Upstream
    ) -> None:
        envelopes = [*completed(upstream), *corrected(upstream)]
        await service.feed(envelopes)
        expected = await snapshot(service)
        shuffled = envelopes + envelopes
        random.Random(20).shuffle(shuffled)
        await service.feed(shuffled)
        assert await snapshot(service) == expected
        assert len(expected["report_credential"]) == 2

    async def test_a_later_revision_arriving_first_still_supersedes(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.register_buyer("brand-a")
        envelopes = [upstream.factory("f1"), *completed(upstream), *corrected(upstream)]
        await service.feed([*envelopes[-1:], *envelopes[:-1]])
        assert (await service.grant("f1", "brand-a")).status_code == 201
        links = await report_links(service)
        assert [(c["revision"], c["superseded"]) for c in links["credentials"]] == [
            (1, False),
            (0, True),
        ]

    async def test_through_nats_redelivered_stored_once_and_rebuilt_row_by_row(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.register_buyer("brand-a")
        envelopes = [upstream.factory("f1"), *completed(upstream), *corrected(upstream)]
        # the credential again under another message id: JetStream delivers it twice
        again = envelopes[3].model_copy(update={"id": "redelivered-credential"})
        await service.publish([*envelopes, again])
        assert (await service.grant("f1", "brand-a")).status_code == 201

        async def consumed() -> bool:
            reports = await service.client.get(REPORTS, headers=service.buyer("brand-a"))
            issued = [c for report in reports.json() for c in report["credentials"]]
            return len(issued) == 2 and await service.caught_up()

        await poll(consumed)
        live = await snapshot(service)
        assert len(live["report_credential"]) == 2
        assembled = service.assembled
        report = await rebuild.rebuild(
            RebuildContext(service.settings, assembled.engine, assembled.registry, lambda *_: None)
        )
        assert report.upstream_events["assessment"] == len(envelopes) + 1
        assert await snapshot(service) == live
        stored = await service.client.get(
            f"{CREDENTIAL}?revision=0&format=bundle", headers=service.buyer("brand-a")
        )
        assert json.loads(stored.content) == envelopes[3].data["bundle"]

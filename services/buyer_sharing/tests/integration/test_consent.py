"""Consent on real PostgreSQL and NATS: buyers, grants, access requests by factory id or OS ID,
approval, decline, revocation that takes effect at once, and tenant isolation."""

from __future__ import annotations

import asyncio

from libs.servicekit.auth import Role
from services.buyer_sharing.tests.integration.conftest import Service, Upstream


class TestBuyers:
    async def test_an_admin_registers_a_buyer_its_users_see_it_others_do_not(
        self, service: Service
    ) -> None:
        await service.register_buyer("brand-a")
        own = await service.client.get("/v1/buyers/brand-a", headers=service.buyer("brand-a"))
        assert own.status_code == 200 and own.json()["name"] == "Brand brand-a"
        assert own.headers["ETag"] == '"1"'
        other = await service.client.get("/v1/buyers/brand-a", headers=service.buyer("brand-b"))
        assert other.status_code == 404
        factory = await service.client.get("/v1/buyers/brand-a", headers=service.factory("f1"))
        assert factory.status_code == 403

    async def test_registering_a_buyer_twice_is_a_conflict(self, service: Service) -> None:
        await service.register_buyer("brand-a")
        again = await service.client.post(
            "/v1/buyers",
            json={
                "buyer_id": "brand-a",
                "name": "Other",
                "country": "FR",
                "contact_name": "x",
                "contact_email": "x@y.example",
            },
            headers=service.admin,
        )
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"


class TestGrants:
    async def test_a_grant_shows_the_factory_to_that_buyer_only(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.register_buyer("brand-a")
        await service.register_buyer("brand-b")
        await service.feed([upstream.factory("f1")])
        granted = await service.grant("f1", "brand-a", reason="our main buyer")
        assert granted.status_code == 201, granted.text
        assert granted.json()["active"] is True

        mine = await service.client.get(
            "/v1/buyers/brand-a/factories", headers=service.buyer("brand-a")
        )
        assert [item["factory_id"] for item in mine.json()["items"]] == ["f1"]
        theirs = await service.client.get(
            "/v1/buyers/brand-b/factories", headers=service.buyer("brand-b")
        )
        assert theirs.json()["items"] == []
        for path in ("/v1/buyers/brand-b/factories/f1", "/v1/buyers/brand-b/factories/f1/reports"):
            response = await service.client.get(path, headers=service.buyer("brand-b"))
            assert response.status_code == 404, path
        # a buyer user cannot read another buyer's portfolio by naming it
        stolen = await service.client.get(
            "/v1/buyers/brand-a/factories", headers=service.buyer("brand-b")
        )
        assert stolen.status_code == 404

    async def test_a_factory_user_sees_only_its_own_grants(self, service: Service) -> None:
        await service.register_buyer("brand-a")
        assert (await service.grant("f1", "brand-a")).status_code == 201
        assert (await service.grant("f2", "brand-a")).status_code == 201
        listed = await service.client.get("/v1/sharing-grants", headers=service.factory("f1"))
        assert [(g["factory_id"], g["buyer_id"]) for g in listed.json()["items"]] == [
            ("f1", "brand-a")
        ]
        # even when it asks for another factory's
        asked = await service.client.get(
            "/v1/sharing-grants?factory_id=f2", headers=service.factory("f1")
        )
        assert [g["factory_id"] for g in asked.json()["items"]] == ["f1"]
        other = await service.client.get(
            "/v1/sharing-grants/f2/brand-a", headers=service.factory("f1")
        )
        assert other.status_code == 404
        # and cannot grant for another factory
        forged = await service.client.post(
            "/v1/sharing-grants",
            json={"buyer_id": "brand-a", "factory_id": "f2"},
            headers=service.factory("f1"),
        )
        assert forged.status_code == 404
        buyer_view = await service.client.get(
            "/v1/sharing-grants", headers=service.buyer("brand-a")
        )
        assert len(buyer_view.json()["items"]) == 2

    async def test_granting_to_an_unknown_buyer_is_a_404_and_records_nothing(
        self, service: Service
    ) -> None:
        before = await service.count_events()
        response = await service.grant("f1", "nobody")
        assert response.status_code == 404
        assert await service.count_events() == before

    async def test_revocation_takes_effect_on_the_next_request_and_is_kept_as_history(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.register_buyer("brand-a")
        await service.feed([upstream.factory("f1")])
        await service.grant("f1", "brand-a", reason="season 2025")
        reports = "/v1/buyers/brand-a/factories/f1/reports"
        assert (
            await service.client.get(reports, headers=service.buyer("brand-a"))
        ).status_code == 200

        revoked = await service.client.post(
            "/v1/sharing-grants/f1/brand-a/revoke",
            json={"reason": "contract ended"},
            headers=service.factory("f1"),
        )
        assert revoked.status_code == 200 and revoked.json()["active"] is False
        for path in (reports, "/v1/buyers/brand-a/factories/f1"):
            assert (
                await service.client.get(path, headers=service.buyer("brand-a"))
            ).status_code == 404
        portfolio = await service.client.get(
            "/v1/buyers/brand-a/factories", headers=service.buyer("brand-a")
        )
        assert portfolio.json()["items"] == []

        history = await service.client.get(
            "/v1/sharing-grants/f1/brand-a/history", headers=service.factory("f1")
        )
        assert [(h["action"], h["actor"], h["reason"]) for h in history.json()] == [
            ("granted", "f1-manager", "season 2025"),
            ("revoked", "f1-manager", "contract ended"),
        ]

    async def test_a_read_racing_a_revocation_never_returns_data_after_it_committed(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.register_buyer("brand-a")
        await service.feed([upstream.factory("f1")])
        await service.grant("f1", "brand-a")
        headers = service.buyer("brand-a")
        revoked_at: list[float] = []
        outcomes: list[tuple[float, int]] = []
        loop = asyncio.get_running_loop()

        async def read_repeatedly() -> None:
            for _ in range(40):
                started = loop.time()
                response = await service.client.get(
                    "/v1/buyers/brand-a/factories/f1/reports", headers=headers
                )
                outcomes.append((started, response.status_code))

        async def revoke() -> None:
            await asyncio.sleep(0.05)
            response = await service.client.post(
                "/v1/sharing-grants/f1/brand-a/revoke",
                json={"reason": "race"},
                headers=service.factory("f1"),
            )
            assert response.status_code == 200
            revoked_at.append(loop.time())

        await asyncio.gather(read_repeatedly(), read_repeatedly(), revoke())
        after = [status for started, status in outcomes if started > revoked_at[0]]
        assert after, "no read started after the revocation: the test proves nothing"
        assert set(after) == {404}
        assert {status for _, status in outcomes} <= {200, 404}

    async def test_a_grant_past_its_end_date_shows_nothing(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.register_buyer("brand-a")
        await service.feed([upstream.factory("f1")])
        assert (await service.grant("f1", "brand-a", ends_on="2025-06-30")).status_code == 201
        path = "/v1/buyers/brand-a/factories/f1"
        assert (await service.client.get(path, headers=service.buyer("brand-a"))).status_code == 200
        service.clock.now = service.clock.now.replace(month=7, day=1)
        assert (await service.client.get(path, headers=service.buyer("brand-a"))).status_code == 404


class TestAccessRequests:
    async def test_the_answer_is_the_same_whether_or_not_the_factory_exists(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.register_buyer("brand-a")
        await service.feed([upstream.factory("f1", os_id="KH2019257Q2JMGF")])
        headers = service.buyer("brand-a")
        answers = []
        for body in (
            {"factory_id": "f1"},
            {"factory_id": "no-such-factory"},
            {"os_id": "KH2019257Q2JMGF"},
            {"os_id": "BD2019257Q2JMGX"},
        ):
            response = await service.client.post("/v1/access-requests", json=body, headers=headers)
            assert response.status_code == 202, response.text
            answer = response.json()
            answers.append(
                (
                    sorted(answer),
                    answer["status"],
                    sorted(k for k in response.headers if k != "content-length"),
                )
            )
        assert len(set(map(repr, answers))) == 1
        listed = await service.client.get("/v1/access-requests", headers=headers)
        # the buyer sees what it named, never what an OS ID was resolved to
        assert {(r["factory_id"], r["os_id"]) for r in listed.json()["items"]} == {
            ("f1", None),
            ("no-such-factory", None),
            (None, "KH2019257Q2JMGF"),
            (None, "BD2019257Q2JMGX"),
        }

    async def test_the_factory_approves_a_request_by_os_id_and_the_buyer_gets_access(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.register_buyer("brand-a")
        await service.feed([upstream.factory("f1", os_id="KH2019257Q2JMGF")])
        asked = await service.client.post(
            "/v1/access-requests",
            json={"os_id": "kh-2019257-q2jmgf", "message": "we source from you"},
            headers=service.buyer("brand-a"),
        )
        request_id = asked.json()["request_id"]
        pending = await service.client.get(
            "/v1/access-requests?status=pending", headers=service.factory("f1")
        )
        assert [r["request_id"] for r in pending.json()["items"]] == [request_id]
        elsewhere = await service.client.get("/v1/access-requests", headers=service.factory("f2"))
        assert elsewhere.json()["items"] == []
        stranger = await service.client.post(
            f"/v1/access-requests/{request_id}/approve", json={}, headers=service.factory("f2")
        )
        assert stranger.status_code == 404

        approved = await service.client.post(
            f"/v1/access-requests/{request_id}/approve",
            json={"reason": "welcome"},
            headers=service.factory("f1"),
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["buyer_id"] == "brand-a"
        seen = await service.client.get(
            "/v1/buyers/brand-a/factories/f1", headers=service.buyer("brand-a")
        )
        assert seen.status_code == 200
        history = await service.client.get(
            "/v1/sharing-grants/f1/brand-a/history", headers=service.buyer("brand-a")
        )
        assert history.json()[0]["access_request_id"] == request_id
        again = await service.client.post(
            f"/v1/access-requests/{request_id}/decline",
            json={"reason": "changed my mind"},
            headers=service.factory("f1"),
        )
        assert again.status_code == 409

    async def test_the_factory_declines_with_a_reason_the_buyer_sees(
        self, service: Service
    ) -> None:
        await service.register_buyer("brand-a")
        asked = await service.client.post(
            "/v1/access-requests", json={"factory_id": "f1"}, headers=service.buyer("brand-a")
        )
        request_id = asked.json()["request_id"]
        declined = await service.client.post(
            f"/v1/access-requests/{request_id}/decline",
            json={"reason": "not a customer"},
            headers=service.factory("f1"),
        )
        assert declined.status_code == 200
        seen = await service.client.get(
            f"/v1/access-requests/{request_id}", headers=service.buyer("brand-a")
        )
        assert (seen.json()["status"], seen.json()["decision_reason"]) == (
            "declined",
            "not a customer",
        )
        assert (
            await service.client.get(
                f"/v1/access-requests/{request_id}", headers=service.buyer("brand-b")
            )
        ).status_code == 404
        assert (
            await service.client.get(
                "/v1/buyers/brand-a/factories/f1", headers=service.buyer("brand-a")
            )
        ).status_code == 404


class TestBadInput:
    async def test_bad_input_is_a_clear_problem_and_changes_nothing(self, service: Service) -> None:
        await service.register_buyer("brand-a")
        before = await service.count_events()
        cases = [
            (
                "post",
                "/v1/sharing-grants",
                {"buyer_id": "brand-a", "ends_on": "2020-01-01"},
                service.factory("f1"),
                422,
            ),
            (
                "post",
                "/v1/sharing-grants",
                {"buyer_id": "brand-a", "colour": "red"},
                service.factory("f1"),
                422,
            ),
            ("post", "/v1/sharing-grants", {"buyer_id": "bad id!"}, service.factory("f1"), 422),
            ("post", "/v1/sharing-grants", {"buyer_id": "brand-a"}, service.admin, 422),
            (
                "post",
                "/v1/access-requests",
                {"factory_id": "f1", "os_id": "KH2019257Q2JMGF"},
                service.buyer("brand-a"),
                422,
            ),
            ("post", "/v1/access-requests", {}, service.buyer("brand-a"), 422),
            (
                "post",
                "/v1/access-requests",
                {"factory_id": "f1", "message": "a\x00b"},
                service.buyer("brand-a"),
                422,
            ),
            (
                "post",
                "/v1/sharing-grants/f1/brand-a/revoke",
                {"reason": ""},
                service.factory("f1"),
                422,
            ),
            (
                "post",
                "/v1/sharing-grants/f1/brand-a/revoke",
                {"reason": "never granted"},
                service.factory("f1"),
                404,
            ),
            (
                "post",
                "/v1/buyers",
                {"name": "x", "country": "usa", "contact_name": "y", "contact_email": "z@z.z"},
                service.admin,
                422,
            ),
            (
                "post",
                "/v1/buyers",
                {"name": "x", "country": "US", "contact_name": "y", "contact_email": "z@z.z"},
                service.buyer("brand-a"),
                403,
            ),
            (
                "post",
                "/v1/audit-reliance",
                {
                    "factory_id": "f1",
                    "assessment_id": "f1-a1",
                    "period_start": "2025-01-01",
                    "period_end": "2025-12-31",
                },
                service.buyer("brand-a"),
                404,
            ),
            ("get", "/v1/buyers/brand-a/factories?cursor=abc", None, service.buyer("brand-a"), 400),
            (
                "get",
                "/v1/buyers/brand-a/factories?sort=colour",
                None,
                service.buyer("brand-a"),
                422,
            ),
        ]
        for method, path, body, headers, status in cases:
            response = await service.client.request(method, path, json=body, headers=headers)
            assert response.status_code == status, (path, body, response.text)
            assert response.headers["content-type"] == "application/problem+json", path
            assert response.json()["status"] == status
        assert await service.count_events() == before
        grants = await service.client.get("/v1/sharing-grants", headers=service.admin)
        assert grants.json()["items"] == []

    async def test_an_unauthenticated_caller_gets_a_401_problem(self, service: Service) -> None:
        response = await service.client.get("/v1/sharing-grants")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        token = service.token(Role.ASSESSOR)
        assert (await service.client.get("/v1/sharing-grants", headers=token)).status_code == 403

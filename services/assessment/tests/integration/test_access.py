"""Roles and tenants on the assessment API: a factory user sees only its own factory and completed
reports (anything else is a 404 problem), buyers get 403, and each role writes only what it may."""

from __future__ import annotations

import httpx
import pytest

from libs.servicekit.auth import Role
from services.assessment.tests.integration.conftest import Headers
from services.assessment.tests.integration.steps import (
    PROBLEM,
    completed_assessment,
    record,
    register,
    schedule,
)

pytestmark = pytest.mark.integration


class TestAccess:
    async def test_roles_and_tenants(self, client: httpx.AsyncClient, auth: Headers) -> None:
        own = await register(client, auth)
        other = await register(client, auth, name="Other")
        own_report = await completed_assessment(client, auth, own)
        own_open = await schedule(client, auth, own)
        other_report = await completed_assessment(client, auth, other)
        factory_user = auth(Role.FACTORY, "fu", factory_id=own)
        buyer = auth(Role.BUYER, "b", buyer_id="buyer-1")

        assert (await client.get("/v1/factories")).status_code == 401
        assert (await client.get(f"/v1/factories/{own}", headers=buyer)).status_code == 403
        assert (await client.get(f"/v1/assessments/{own_report}", headers=buyer)).status_code == 403
        assert (await client.get(f"/v1/factories/{own}", headers=factory_user)).status_code == 200
        assert (await client.get(f"/v1/factories/{other}", headers=factory_user)).status_code == 404
        listed = (await client.get("/v1/factories", headers=factory_user)).json()["items"]
        assert [f["factory_id"] for f in listed] == [own]

        assert (
            await client.get(f"/v1/assessments/{own_report}", headers=factory_user)
        ).status_code == 200
        for hidden in (own_open, other_report):
            for suffix in ("", "/report", "/history"):
                response = await client.get(
                    f"/v1/assessments/{hidden}{suffix}", headers=factory_user
                )
                assert response.status_code == 404, (hidden, suffix)
                assert response.headers["content-type"] == PROBLEM
        mine = (await client.get("/v1/assessments", headers=factory_user)).json()["items"]
        assert [a["assessment_id"] for a in mine] == [own_report]
        response_to_other = await client.post(
            f"/v1/assessments/{other_report}/findings/OSH-EMP-03/responses",
            json={"text": "not ours"},
            headers=factory_user,
        )
        assert response_to_other.status_code == 404

        # factory users do not write assessments or factories; assessors do not respond for factories
        assert (
            await record(client, lambda: factory_user, own_open, "OSH-EMP-01")
        ).status_code == 403
        assert (
            await client.patch(f"/v1/factories/{own}", json={"name": "x"}, headers=factory_user)
        ).status_code == 403
        assert (
            await client.post(
                f"/v1/assessments/{own_report}/findings/OSH-EMP-03/responses",
                json={"text": "x"},
                headers=auth(),
            )
        ).status_code == 403
        assert (
            await client.get("/v1/assessments/synthesis?country=KH&year=2025", headers=factory_user)
        ).status_code == 403

"""Each service's `/docs` in a real headless Chromium that cannot reach the internet: the page lists
every operation of the service's OpenAPI document, and "Try it out" on an admin-only GET answers
401 before "Authorize" and 200 after a bearer token is typed into the Authorize dialog. ReDoc
renders too. Every request the page makes goes to the service itself."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from libs.servicekit.auth import Role, mint_token
from tests.browser import DevToolsPage, find_chromium, headless_chromium
from tools.embedded import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SECRET = "docs-in-browser-tests-secret-of-32-bytes"
CHROMIUM = find_chromium()
# `.ci/run` installs chromium and sets this: there, a missing browser fails instead of skipping.
REQUIRED = os.environ.get("BW_REQUIRE_BROWSER") == "1"
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
TRY_IT_OUT = "#operations-operations-list_dead_letters_ops_dead_letters_get"

if CHROMIUM is None and not REQUIRED:
    pytest.skip("no chromium on PATH (apt-get install chromium)", allow_module_level=True)


async def _run_module(arguments: list[str], environment: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *arguments,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(process.wait(), timeout=120) == 0, arguments


@pytest.fixture(params=["assessment", "remediation", "buyer_sharing", "notifications"])
async def service_url(
    request: pytest.FixtureRequest, database_url: str, nats_url: str, subject_prefix: str
) -> AsyncIterator[str]:
    """The service as its own process (`python -m services.<name> serve`), ready."""
    name: str = request.param
    port = free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": subject_prefix,
        "BW_JWT_SECRET": SECRET,
        "BW_ENVIRONMENT": "development",
        "BW_REMEDIATION_SCHEDULER_ENABLED": "false",
        "PORT": str(port),
    }
    await _run_module([f"services.{name}", "migrate"], environment)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"services.{name}",
        "serve",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client, asyncio.timeout(60):
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.returncode is None, f"{name} exited"
                await asyncio.sleep(0.2)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture
async def page() -> AsyncIterator[DevToolsPage]:
    assert CHROMIUM is not None, "chromium is required here (BW_REQUIRE_BROWSER=1)"
    async with headless_chromium(CHROMIUM, offline=True) as browser_page:
        yield browser_page


def _documented_operations(openapi: dict[str, Any]) -> set[str]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    return {
        f"{method.upper()} {path}"
        for path, operations in openapi["paths"].items()
        for method in operations
        if method in methods
    }


async def _navigate(page: DevToolsPage, url: str) -> None:
    await page.send("Page.navigate", url=url)
    await page.wait_for("document.readyState === 'complete'")


async def _status_after_execute(page: DevToolsPage, previous: str | None) -> str:
    """Click Execute in the expanded operation and wait for a new live response's status."""
    await page.evaluate(f"document.querySelector('{TRY_IT_OUT} .execute').click()")
    expression = (
        f"(() => {{ const cell = document.querySelector('{TRY_IT_OUT} .live-responses-table tbody "
        ".response-col_status'); const text = cell && cell.innerText.trim(); "
        f"return text && text !== {json.dumps(previous)} ? text : null; }})()"
    )
    status: str = await page.wait_for(expression, timeout=20)
    return status


async def test_swagger_ui_lists_operations_and_try_it_out_works_with_a_bearer_token(
    service_url: str, page: DevToolsPage
) -> None:
    async with httpx.AsyncClient(base_url=service_url) as client:
        openapi = (await client.get("/openapi.json")).json()
    admin_token = mint_token(SECRET, "docs-tester", Role.ADMIN)

    await _navigate(page, f"{service_url}/docs")
    await page.wait_for("document.querySelectorAll('.opblock').length > 0")
    listed = await page.evaluate(
        "[...document.querySelectorAll('.opblock')].map(block => "
        "block.querySelector('.opblock-summary-method').innerText.trim() + ' ' + "
        "block.querySelector('.opblock-summary-path').getAttribute('data-path'))"
    )
    assert set(listed) == _documented_operations(openapi)
    assert len(listed) == len(set(listed))

    # Try it out without a token: the service refuses.
    await page.evaluate(f"document.querySelector('{TRY_IT_OUT} .opblock-summary-control').click()")
    await page.wait_for(f"!!document.querySelector('{TRY_IT_OUT} .try-out__btn')")
    await page.evaluate(f"document.querySelector('{TRY_IT_OUT} .try-out__btn').click()")
    await page.wait_for(f"!!document.querySelector('{TRY_IT_OUT} .execute')")
    assert await _status_after_execute(page, None) == "401"

    # Authorize: open the dialog, type the token as keystrokes, confirm, close.
    await page.evaluate("document.querySelector('.auth-wrapper .authorize').click()")
    await page.wait_for("!!document.querySelector('.modal-ux input')")
    await page.evaluate("document.querySelector('.modal-ux input').focus()")
    await page.send("Input.insertText", text=admin_token)
    await page.evaluate("document.querySelector('.modal-ux .auth-btn-wrapper .authorize').click()")
    await page.wait_for("!!document.querySelector('.modal-ux .auth-btn-wrapper .btn-done')")
    await page.evaluate("document.querySelector('.modal-ux .auth-btn-wrapper .btn-done').click()")

    assert await _status_after_execute(page, "401") == "200"
    body = await page.evaluate(
        f"document.querySelector('{TRY_IT_OUT} .live-responses-table tbody .response-col_description "
        "pre').innerText"
    )
    assert json.loads(body) == []
    sent = [
        request
        for request in page.requests()
        if request["url"].startswith(f"{service_url}/ops/dead-letters")
    ]
    assert [request["headers"].get("Authorization") for request in sent] == [
        None,
        f"Bearer {admin_token}",
    ]

    # Offline: the page loaded everything from the service, and nothing failed to load.
    urls = [request["url"] for request in page.requests()]
    assert f"{service_url}/docs/static/swagger-ui-bundle.js" in urls
    foreign = [url for url in urls if not url.startswith((service_url, "data:", "blob:"))]
    assert foreign == []
    failed = [event for event in page.events if event["method"] == "Network.loadingFailed"]
    assert failed == []


# ReDoc is wired by the same code for every service: one is enough.
@pytest.mark.parametrize("service_url", ["assessment"], indirect=True)
async def test_redoc_renders_the_operations_offline(service_url: str, page: DevToolsPage) -> None:
    async with httpx.AsyncClient(base_url=service_url) as client:
        openapi = (await client.get("/openapi.json")).json()
    summaries = {
        operation["summary"]
        for operations in openapi["paths"].values()
        for operation in operations.values()
        if isinstance(operation, dict) and "summary" in operation
    }

    await _navigate(page, f"{service_url}/redoc")
    text = await page.wait_for(
        "document.querySelector('.api-content') && document.body.innerText", timeout=30
    )
    missing = [summary for summary in summaries if summary not in text]
    assert summaries and missing == []
    urls = [request["url"] for request in page.requests()]
    assert f"{service_url}/docs/static/redoc.standalone.js" in urls
    # ReDoc's only outside reference: the "API docs by Redocly" logo, an <img> that removes itself
    # when it cannot load (its onError), as here, where the host does not resolve.
    foreign = [url for url in urls if not url.startswith((service_url, "data:", "blob:"))]
    assert set(foreign) <= {REDOCLY_LOGO}

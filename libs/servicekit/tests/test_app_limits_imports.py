"""An import request may be larger than any other request (MAX_IMPORT_REQUEST_BYTES), and only it."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from libs.servicekit.app import RequestSizeLimitMiddleware


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/imports/things")
    async def imports(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/v1/things")
    async def things(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.add_middleware(RequestSizeLimitMiddleware, max_bytes=1_000, import_max_bytes=10_000)
    return app


@pytest.mark.parametrize(
    ("path", "size", "status"),
    [
        ("/v1/things", 1_000, 200),
        ("/v1/things", 1_001, 413),
        ("/v1/imports/things", 1_001, 200),
        ("/v1/imports/things", 10_000, 200),
        ("/v1/imports/things", 10_001, 413),
    ],
)
async def test_the_import_limit_applies_to_import_paths_only(
    path: str, size: int, status: int
) -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.post(path, content=b"x" * size)
    assert answer.status_code == status
    if status == 413:
        assert answer.headers["content-type"].startswith("application/problem+json")
    else:
        assert answer.json() == {"bytes": size}

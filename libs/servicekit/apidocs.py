"""Swagger UI (`/docs`) and ReDoc (`/redoc`) served entirely by the service itself.

FastAPI's defaults load their scripts, styles and favicon from public CDNs, so on a machine or a
cluster without internet egress `/docs` is a blank page. The assets come instead from the pinned
`fastapi-offline` package (Swagger UI 5 and ReDoc standalone builds), mounted under `/docs/static`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
STATIC_PATH = "/docs/static"

# Only what a browser on the page can reach without leaving the service: no validator badge (it
# would fetch https://validator.swagger.io), and the token entered in "Authorize" survives a reload.
SWAGGER_UI_PARAMETERS = {
    "validatorUrl": None,
    "persistAuthorization": True,
    "displayRequestDuration": True,
}


def static_directory() -> Path:
    """The packaged asset directory (swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js,
    favicon.png)."""
    return Path(str(files("fastapi_offline") / "static"))


def install_offline_docs(app: FastAPI) -> None:
    """Add `/docs`, `/redoc` and their static assets to an app created with `docs_url=None` and
    `redoc_url=None`."""
    app.mount(STATIC_PATH, StaticFiles(directory=static_directory()), name="docs-static")

    def _prefix(request: Request) -> str:
        # Behind a proxy that strips a path prefix, the browser still needs the full path.
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        prefix = _prefix(request)
        return get_swagger_ui_html(
            openapi_url=f"{prefix}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{prefix}{STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}{STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{prefix}{STATIC_PATH}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        prefix = _prefix(request)
        return get_redoc_html(
            openapi_url=f"{prefix}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{prefix}{STATIC_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{prefix}{STATIC_PATH}/favicon.png",
            with_google_fonts=False,
        )

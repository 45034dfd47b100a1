"""FastAPI plumbing shared by every service: settings, auth, problem+json errors, idempotency,
ETags and cursors, telemetry, migrations and the app factory.

Names are imported on first use, so that importing `libs.servicekit.types` (as pure domain modules
do) loads neither FastAPI's app machinery nor the database drivers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Lifecycle": "libs.servicekit.app",
    "create_app": "libs.servicekit.app",
    "database_check": "libs.servicekit.app",
    "nats_check": "libs.servicekit.app",
    "run": "libs.servicekit.app",
    "CurrentPrincipal": "libs.servicekit.auth",
    "Principal": "libs.servicekit.auth",
    "Role": "libs.servicekit.auth",
    "TokenVerifier": "libs.servicekit.auth",
    "get_principal": "libs.servicekit.auth",
    "mint_token": "libs.servicekit.auth",
    "require_roles": "libs.servicekit.auth",
    "CorrelationId": "libs.servicekit.http",
    "IdempotencyKey": "libs.servicekit.http",
    "IfMatch": "libs.servicekit.http",
    "Page": "libs.servicekit.http",
    "PageParams": "libs.servicekit.http",
    "Pagination": "libs.servicekit.http",
    "decode_cursor": "libs.servicekit.http",
    "encode_cursor": "libs.servicekit.http",
    "next_page": "libs.servicekit.http",
    "etag_for": "libs.servicekit.http",
    "parse_if_match": "libs.servicekit.http",
    "set_etag": "libs.servicekit.http",
    "BadRequest": "libs.servicekit.problems",
    "Conflict": "libs.servicekit.problems",
    "Forbidden": "libs.servicekit.problems",
    "NotFound": "libs.servicekit.problems",
    "PreconditionFailed": "libs.servicekit.problems",
    "PreconditionRequired": "libs.servicekit.problems",
    "ProblemError": "libs.servicekit.problems",
    "Unauthorized": "libs.servicekit.problems",
    "UnprocessableEntity": "libs.servicekit.problems",
    "install_problem_handlers": "libs.servicekit.problems",
    "register_exception": "libs.servicekit.problems",
    "ServiceSettings": "libs.servicekit.settings",
    "async_database_url": "libs.servicekit.settings",
    "PathId": "libs.servicekit.types",
    "PlausibleDate": "libs.servicekit.types",
    "ResourceId": "libs.servicekit.types",
    "SafeLine": "libs.servicekit.types",
    "SafeText": "libs.servicekit.types",
    "Token": "libs.servicekit.types",
}

if TYPE_CHECKING:
    from libs.servicekit.app import Lifecycle, create_app, database_check, nats_check, run
    from libs.servicekit.auth import (
        CurrentPrincipal,
        Principal,
        Role,
        TokenVerifier,
        get_principal,
        mint_token,
        require_roles,
    )
    from libs.servicekit.http import (
        CorrelationId,
        IdempotencyKey,
        IfMatch,
        Page,
        PageParams,
        Pagination,
        decode_cursor,
        encode_cursor,
        etag_for,
        next_page,
        parse_if_match,
        set_etag,
    )
    from libs.servicekit.problems import (
        BadRequest,
        Conflict,
        Forbidden,
        NotFound,
        PreconditionFailed,
        PreconditionRequired,
        ProblemError,
        Unauthorized,
        UnprocessableEntity,
        install_problem_handlers,
        register_exception,
    )
    from libs.servicekit.settings import ServiceSettings, async_database_url
    from libs.servicekit.types import PathId, PlausibleDate, ResourceId, SafeLine, SafeText, Token


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BadRequest",
    "Conflict",
    "CorrelationId",
    "CurrentPrincipal",
    "Forbidden",
    "IdempotencyKey",
    "IfMatch",
    "Lifecycle",
    "NotFound",
    "Page",
    "PageParams",
    "Pagination",
    "PathId",
    "PlausibleDate",
    "PreconditionFailed",
    "PreconditionRequired",
    "Principal",
    "ProblemError",
    "ResourceId",
    "Role",
    "SafeLine",
    "SafeText",
    "ServiceSettings",
    "Token",
    "TokenVerifier",
    "Unauthorized",
    "UnprocessableEntity",
    "async_database_url",
    "create_app",
    "database_check",
    "decode_cursor",
    "encode_cursor",
    "etag_for",
    "get_principal",
    "install_problem_handlers",
    "mint_token",
    "nats_check",
    "next_page",
    "parse_if_match",
    "register_exception",
    "require_roles",
    "run",
    "set_etag",
]

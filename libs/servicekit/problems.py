"""RFC 9457 `application/problem+json` errors: the exception services raise, and the handlers that
turn it, validation errors, unknown routes and unexpected failures into problem documents."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://betterwork.example/problems/"

logger = logging.getLogger("libs.servicekit.problems")


def problem_type_uri(slug: str | None) -> str:
    """The problem type URI for a slug; `about:blank` when the HTTP status says it all."""
    return f"{PROBLEM_TYPE_BASE}{slug}" if slug else "about:blank"


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ProblemError(Exception):
    """An error the client should see, rendered as a problem document.

    Subclasses set `status`, `title` and `type_slug`; instances may override any of them and add
    `extensions` (extra members of the document) and response `headers`.
    """

    status: int = 500
    title: str | None = None
    type_slug: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        type: str | None = None,
        type_slug: str | None = None,
        extensions: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # `type` is the RFC 9457 member name, so the class is reached through __class__ here.
        cls = self.__class__
        self.status = status if status is not None else cls.status
        self.title = title or cls.title or _status_phrase(self.status)
        self.detail = detail
        self.type = type or problem_type_uri(type_slug or cls.type_slug)
        self.extensions: dict[str, Any] = dict(extensions or {})
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(detail or self.title)

    def to_document(self, instance: str | None = None) -> dict[str, Any]:
        """The problem as a JSON object; extension members never replace the standard ones."""
        document: dict[str, Any] = dict(self.extensions)
        document.update(type=self.type, title=self.title, status=self.status)
        if self.detail:
            document["detail"] = self.detail
        if instance:
            document["instance"] = instance
        return document


class BadRequest(ProblemError):
    status = 400
    type_slug = "bad-request"


class Unauthorized(ProblemError):
    """401; carries the `WWW-Authenticate: Bearer` challenge of RFC 6750."""

    status = 401
    type_slug = "unauthorized"

    def __init__(self, detail: str | None = None, *, invalid_token: bool = False, **kwargs: Any):
        challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
        headers = {"WWW-Authenticate": challenge, **kwargs.pop("headers", {})}
        super().__init__(detail, headers=headers, **kwargs)


class Forbidden(ProblemError):
    status = 403
    type_slug = "forbidden"


class NotFound(ProblemError):
    status = 404
    type_slug = "not-found"


class Conflict(ProblemError):
    status = 409
    type_slug = "conflict"


class PreconditionFailed(ProblemError):
    status = 412
    type_slug = "precondition-failed"


class PayloadTooLarge(ProblemError):
    status = 413
    title = "Content Too Large"
    type_slug = "payload-too-large"


class UnprocessableEntity(ProblemError):
    status = 422
    type_slug = "unprocessable-entity"


class PreconditionRequired(ProblemError):
    status = 428
    type_slug = "precondition-required"


class ServiceUnavailable(ProblemError):
    status = 503
    type_slug = "service-unavailable"


class ProblemDocument(BaseModel):
    """The shape of every error body (RFC 9457), for the OpenAPI description."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="URI identifying the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="The request path.")
    errors: list[dict[str, str]] | None = Field(
        None, description="Validation errors: `location`, `message` and `type` of each."
    )


# For `responses=`: documents that any status not listed otherwise is a problem document.
PROBLEM_OPENAPI_RESPONSE: dict[str, Any] = {
    "description": "An error, as an RFC 9457 problem document.",
    "content": {PROBLEM_CONTENT_TYPE: {"schema": ProblemDocument.model_json_schema()}},
}


def problem_response(
    problem: ProblemError, *, instance: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """The HTTP response for a problem."""
    return JSONResponse(
        problem.to_document(instance),
        status_code=problem.status,
        headers={**problem.headers, **(headers or {})},
        media_type=PROBLEM_CONTENT_TYPE,
    )


def internal_error_response(instance: str | None = None) -> Response:
    """A 500 that says nothing about the failure: details go to the log, never to the client."""
    return problem_response(
        ProblemError("The server failed to handle the request.", status=500), instance=instance
    )


def _location(loc: tuple[int | str, ...] | list[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def validation_problem(exc: RequestValidationError) -> ProblemError:
    """422 with an `errors` list; input values are left out, as they may hold secrets."""
    errors = [
        {
            "location": _location(error.get("loc", ())),
            "message": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]
    return UnprocessableEntity(
        "The request is not valid.",
        title="Validation failed",
        type_slug="validation-error",
        extensions={"errors": errors},
    )


async def _handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc, instance=request.url.path)


async def _handle_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(validation_problem(exc), instance=request.url.path)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path.

    Starlette's own 405 names only the methods of the first route that matched the path, while a
    path often has one route per method; RFC 9110 wants them all in `Allow`. Each method is tried
    against the routes' public `matches`, which also looks inside included routers.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    phrase = _status_phrase(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    problem = ProblemError(detail, status=exc.status_code, title=phrase)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    return problem_response(problem, instance=request.url.path, headers=headers)


async def _handle_unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return internal_error_response(request.url.path)


def _slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@dataclass(frozen=True)
class ProblemMapping:
    """How one kind of domain error is shown: status, title, type slug, and extension members."""

    status: int
    title: str
    type_slug: str
    extensions: Callable[[Exception], Mapping[str, Any]] | None = None

    def problem(self, exc: Exception) -> ProblemError:
        detail = getattr(exc, "detail", None) or str(exc) or None
        members = (
            self.extensions(exc)
            if self.extensions is not None
            else getattr(exc, "extensions", None) or {}
        )
        return ProblemError(
            detail,
            status=self.status,
            title=self.title,
            type_slug=self.type_slug,
            extensions=members,
        )


class ProblemRegistry:
    """The one place where a service says which of its domain errors are which problems.

    Domain errors stay plain exceptions (the domain knows nothing of HTTP); the detail is the
    error's `detail` attribute or its message, and extension members (e.g. the allowed
    transitions, the unanswered questions) come from `extensions=` or the error's own
    `extensions` mapping. Lookup follows the exception's MRO: a base class covers its subclasses
    unless a subclass has its own entry.
    """

    def __init__(self) -> None:
        self._mappings: dict[type[Exception], ProblemMapping] = {}

    def add(
        self,
        exc_type: type[Exception],
        status: int,
        title: str,
        type_slug: str | None = None,
        *,
        extensions: Callable[[Exception], Mapping[str, Any]] | None = None,
    ) -> ProblemRegistry:
        self._mappings[exc_type] = ProblemMapping(
            status, title, type_slug or _slugify(title), extensions
        )
        return self

    def mapping_for(self, exc: Exception) -> ProblemMapping | None:
        for cls in type(exc).__mro__:
            mapping = self._mappings.get(cls)
            if mapping is not None:
                return mapping
        return None

    def install(self, app: FastAPI) -> None:
        async def handle(request: Request, exc: Exception) -> Response:
            mapping = self.mapping_for(exc)
            assert mapping is not None  # only registered types reach this handler
            return problem_response(mapping.problem(exc), instance=request.url.path)

        for exc_type in self._mappings:
            app.add_exception_handler(exc_type, handle)

    def merged(self, other: ProblemRegistry) -> ProblemRegistry:
        """A registry with this one's mappings and `other`'s, `other` winning for a type both
        name (a service's own mappings over the defaults)."""
        registry = ProblemRegistry()
        registry._mappings = {**self._mappings, **other._mappings}
        return registry

    @classmethod
    def from_map(
        cls,
        exception_map: Mapping[type[Exception], tuple[int, str] | tuple[int, str, str]],
    ) -> ProblemRegistry:
        registry = cls()
        for exc_type, (status, title, *slug) in exception_map.items():
            registry.add(exc_type, status, title, slug[0] if slug else None)
        return registry


def register_exception(
    app: FastAPI,
    exc_type: type[Exception],
    status: int,
    title: str,
    type_slug: str | None = None,
) -> None:
    """Map a domain exception to a problem: its `str()` becomes the detail.

    Lookup follows the exception's MRO, so registering a base class covers its subclasses.
    """
    ProblemRegistry().add(exc_type, status, title, type_slug).install(app)


def install_problem_handlers(
    app: FastAPI,
    exception_map: Mapping[type[Exception], tuple[int, str] | tuple[int, str, str]] | None = None,
    problems: ProblemRegistry | None = None,
) -> None:
    """Make every error response of `app` a problem document.

    `problems` maps the service's domain errors (see `ProblemRegistry`); `exception_map` is the
    short form, exception → `(status, title)` or `(status, title, type_slug)`.
    """
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    # Last resort: Starlette's outermost error middleware calls this for anything uncaught.
    app.add_exception_handler(Exception, _handle_unexpected)
    if exception_map:
        ProblemRegistry.from_map(exception_map).install(app)
    if problems is not None:
        problems.install(app)


def default_problems() -> ProblemRegistry:
    """The mappings every service has: the domain error bases of `libs.domain.errors` and the
    event library's own errors. A service adds only its own errors (`ProblemRegistry.merged`).

    A failed `If-Match` is `precondition-failed` in every service (remediation said
    `version-mismatch` before; docs/changelog.md)."""
    from asyncpg.exceptions import DeadlockDetectedError, SerializationError

    from libs.domain.aggregate import VersionMismatch
    from libs.domain.errors import AlreadyExists, Conflict, DomainError, NotFound
    from libs.events.store import ConcurrencyConflict

    return (
        ProblemRegistry()
        .add(DomainError, 422, "Unprocessable Entity", "unprocessable-entity")
        .add(NotFound, 404, "Not Found", "not-found")
        .add(Conflict, 409, "Conflict", "conflict")
        .add(AlreadyExists, 409, "Already exists", "already-exists")
        .add(
            VersionMismatch,
            412,
            "Precondition Failed",
            "precondition-failed",
            extensions=lambda error: {"current_version": getattr(error, "actual", None)},
        )
        .add(ConcurrencyConflict, 409, "Concurrent modification", "concurrency-conflict")
        # PostgreSQL broke a deadlock or a serialization conflict by aborting this transaction:
        # nothing was written, and the same request may simply be sent again
        .add(DeadlockDetectedError, 409, "Concurrent modification", "concurrency-conflict")
        .add(SerializationError, 409, "Concurrent modification", "concurrency-conflict")
    )

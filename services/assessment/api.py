"""FastAPI routers of the assessment service: authorize the path, build a command, run its handler,
shape the answer. No transaction and no SQL here: reads go through `queries` on `store.reading()`.

Access: admins and assessors write and read everything; a factory user reads only its own factory
and its completed reports (anything else is a 404), and responds to findings; buyers get 403.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.aggregate import Change
from libs.domain.envelope import event_context
from libs.domain.types import ResourceId
from libs.events.store import EventStore
from libs.servicekit.auth import Principal, Role, require_roles
from libs.servicekit.http import (
    CURSOR_PATTERN,
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    Pagination,
    decode_cursor,
    encode_cursor,
    next_page,
    parse_if_match,
    set_etag,
)
from libs.servicekit.problems import NotFound, UnprocessableEntity
from libs.servicekit.types import PathId
from services.assessment import queries
from services.assessment.commands import (
    CompleteAssessment,
    CorrectFinding,
    RecordFinding,
    RecordFindings,
    RegisterFactory,
    RespondToFinding,
    ScheduleAssessment,
    UpdateFactory,
)
from services.assessment.compliance_catalogue import Catalogue, CatalogueLibrary
from services.assessment.domain.assessment_state import ASSESSMENT
from services.assessment.domain.factory import FactoryDetails
from services.assessment.errors import NotFoundError
from services.assessment.schemas import (
    AssessmentCreate,
    AssessmentDetail,
    AssessmentPage,
    CatalogueVersion,
    FactoryPage,
    FactoryPublic,
    FactoryUpdate,
    FindingCorrection,
    FindingInput,
    FindingResponseInput,
    FindingsInput,
    HistoryEntry,
)

Staff = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.ASSESSOR))]
Reader = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.ASSESSOR, Role.FACTORY))]
FactoryUser = Annotated[Principal, Depends(require_roles(Role.FACTORY))]
Country = Annotated[
    str | None, Query(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$", examples=["KH"])
]

RunCommand = Callable[[object], Awaitable[Change[Any]]]
"""Runs a command through its handler (app.py builds it from handlers.COMMAND_HANDLERS)."""


def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


def _catalogues(request: Request) -> CatalogueLibrary:
    catalogues: CatalogueLibrary = request.app.state.catalogues
    return catalogues


@asynccontextmanager
async def _read(request: Request) -> AsyncIterator[AsyncConnection]:
    async with _store(request).reading() as connection:
        yield connection


async def _run(
    request: Request, principal: Principal, correlation_id: str | None, command: object
) -> Change[Any]:
    run_command: RunCommand = request.app.state.run_command
    with event_context(correlation_id=correlation_id, actor=principal.subject):
        return await run_command(command)


# --- factories -------------------------------------------------------------------------------

factories = APIRouter(prefix="/v1/factories", tags=["factories"])


async def _factory_or_404(request: Request, principal: Principal, factory_id: str) -> Any:
    if principal.role is Role.FACTORY and principal.factory_id != factory_id:
        raise NotFound(f"factory {factory_id} does not exist")
    async with _read(request) as connection:
        row = await queries.get_factory(connection, factory_id)
    if row is None:
        raise NotFound(f"factory {factory_id} does not exist")
    return row


@factories.post("", status_code=201, response_model=FactoryPublic)
async def register_factory(
    body: FactoryDetails,
    request: Request,
    response: Response,
    principal: Staff,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Register a factory."""
    factory_id = str(uuid.uuid4())
    await _run(request, principal, correlation_id, RegisterFactory(factory_id, body))
    row = await _factory_or_404(request, principal, factory_id)
    response.headers["Location"] = f"/v1/factories/{factory_id}"
    set_etag(response, row["version"])
    return queries.factory_view(row)


@factories.get("", response_model=FactoryPage)
async def list_factories(
    request: Request,
    principal: Reader,
    pagination: Pagination,
    country: Country = None,
) -> dict[str, Any]:
    """List factories (a factory user sees only its own), optionally by country."""
    position = pagination.position(after=str)
    async with _read(request) as connection:
        rows = await queries.list_factories(
            connection,
            country=country.upper() if country else None,
            only_factory=principal.factory_id if principal.role is Role.FACTORY else None,
            after=position["after"] if position else None,
            limit=pagination.limit + 1,
        )
    page, next_cursor = next_page(rows, pagination.limit, lambda row: {"after": row["factory_id"]})
    return {"items": [queries.factory_view(row) for row in page], "next_cursor": next_cursor}


@factories.get("/{factory_id}", response_model=FactoryPublic)
async def get_factory(
    factory_id: PathId, request: Request, response: Response, principal: Reader
) -> dict[str, Any]:
    """A factory; its version is the ETag."""
    row = await _factory_or_404(request, principal, factory_id)
    set_etag(response, row["version"])
    return queries.factory_view(row)


@factories.patch("/{factory_id}", response_model=FactoryPublic)
async def update_factory(
    factory_id: PathId,
    body: FactoryUpdate,
    request: Request,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Change a factory's details (send If-Match to avoid overwriting a concurrent change)."""
    changes = body.model_dump(exclude_unset=True)
    command = UpdateFactory(factory_id, changes, parse_if_match(if_match))
    await _run(request, principal, correlation_id, command)
    row = await _factory_or_404(request, principal, factory_id)
    set_etag(response, row["version"])
    return queries.factory_view(row)


@factories.get("/{factory_id}/compliance-trend")
async def compliance_trend(
    factory_id: PathId, request: Request, principal: Reader
) -> dict[str, Any]:
    """The factory's completed assessments by cycle, with the change in non-compliance."""
    await _factory_or_404(request, principal, factory_id)
    async with _read(request) as connection:
        cycles = await queries.compliance_trend(connection, factory_id)
    return {"factory_id": factory_id, "cycles": cycles}


# --- compliance catalogue --------------------------------------------------------------------

catalogue_router = APIRouter(prefix="/v1/compliance-catalogue", tags=["compliance catalogue"])


def catalogue_view(catalogue: Catalogue) -> dict[str, Any]:
    return {
        "version": catalogue.version,
        "country": catalogue.country,
        "description": catalogue.description,
        "clusters": [cluster.model_dump() for cluster in catalogue.clusters],
    }


@catalogue_router.get("")
async def get_catalogue(
    request: Request,
    principal: Reader,
    country: Country = None,
    version: Annotated[CatalogueVersion | None, Query()] = None,
) -> dict[str, Any]:
    """The catalogue for a country (its variant, or the base one) and version (default: latest)."""
    library = _catalogues(request)
    chosen = version or library.latest_version
    catalogue = library.resolve(chosen, country.upper() if country else None)
    if catalogue is None:
        raise NotFound(f"catalogue version {chosen} does not exist")
    return catalogue_view(catalogue)


@catalogue_router.get("/versions")
async def catalogue_versions(request: Request, principal: Reader) -> dict[str, Any]:
    """The catalogue versions and the countries each has a variant for."""
    library = _catalogues(request)
    return {
        "latest": library.latest_version,
        "versions": [
            {"version": version, "countries": library.countries(version)}
            for version in library.versions
        ],
    }


# --- assessments -----------------------------------------------------------------------------

assessments = APIRouter(prefix="/v1/assessments", tags=["assessments"])


async def _assessment_or_404(request: Request, principal: Principal, assessment_id: str) -> Any:
    async with _read(request) as connection:
        row = await queries.get_assessment(connection, assessment_id)
    hidden = principal.role is Role.FACTORY and (
        row is None or row["factory_id"] != principal.factory_id or row["status"] != "completed"
    )
    if row is None or hidden:
        raise NotFound(f"assessment {assessment_id} does not exist")
    return row


async def _assessment_detail(
    request: Request, response: Response, principal: Principal, assessment_id: str
) -> dict[str, Any]:
    row = await _assessment_or_404(request, principal, assessment_id)
    async with _read(request) as connection:
        findings = await queries.findings_of(connection, assessment_id)
    set_etag(response, row["version"])
    return {**queries.assessment_view(row), "findings": findings}


_DETAIL = TypeAdapter(AssessmentDetail)
_ANSWER_HEADERS = ("etag", "location")


async def _changed_assessment(
    request: Request,
    response: Response,
    principal: Principal,
    change: Change[Any],
    status_code: int = 200,
) -> Response:
    """The answer of a command on an assessment: the assessment as the command's own transaction
    left it (`change.answer`), validated against `AssessmentDetail` and encoded once, by pydantic,
    instead of FastAPI's validate, `jsonable_encoder` and `json.dumps` passes."""
    detail = change.answer
    if detail is None:  # a store without read models in the command's transaction
        detail = await _assessment_detail(request, response, principal, change.before.aggregate_id)
    set_etag(response, detail["version"])
    return Response(
        _DETAIL.dump_json(_DETAIL.validate_python(detail)),
        status_code=status_code,
        media_type="application/json",
        headers={
            name: response.headers[name] for name in _ANSWER_HEADERS if name in response.headers
        },
    )


@assessments.post("", status_code=201, response_model=AssessmentDetail)
async def schedule_assessment(
    body: AssessmentCreate,
    request: Request,
    response: Response,
    principal: Staff,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Schedule a factory's next assessment; its cycle follows from the factory's history."""
    command = ScheduleAssessment(
        assessment_id=str(uuid.uuid4()),
        factory_id=body.factory_id,
        scheduled_for=body.scheduled_for,
        assessors=tuple(body.assessors),
        catalogue_version=body.catalogue_version,
    )
    try:
        await _run(request, principal, correlation_id, command)
    except NotFoundError as error:
        # the factory named in the body: the request is wrong, not the URL
        raise UnprocessableEntity(
            error.detail, extensions={"factory_id": body.factory_id}
        ) from error
    response.headers["Location"] = f"/v1/assessments/{command.assessment_id}"
    return await _assessment_detail(request, response, principal, command.assessment_id)


@assessments.get("", response_model=AssessmentPage)
async def list_assessments(
    request: Request,
    principal: Reader,
    pagination: Pagination,
    factory_id: Annotated[ResourceId | None, Query()] = None,
    status: Literal["scheduled", "completed"] | None = None,
) -> dict[str, Any]:
    """List assessments; a factory user sees only its own completed ones."""
    if principal.role is Role.FACTORY:
        if factory_id not in (None, principal.factory_id):
            return {"items": [], "next_cursor": None}
        factory_id, status = principal.factory_id, "completed"
    position = pagination.position(after=str)
    async with _read(request) as connection:
        rows = await queries.list_assessments(
            connection,
            factory_id=factory_id,
            status=status,
            after=position["after"] if position else None,
            limit=pagination.limit + 1,
        )
    page, next_cursor = next_page(
        rows, pagination.limit, lambda row: {"after": row["assessment_id"]}
    )
    return {"items": [queries.assessment_view(row) for row in page], "next_cursor": next_cursor}


@assessments.get("/synthesis")
async def yearly_synthesis(
    request: Request,
    principal: Staff,
    country: Annotated[str, Query(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")],
    year: Annotated[int, Query(ge=2000, le=2100)],
) -> dict[str, Any]:
    """Non-compliance rates per cluster and compliance point for a country and year.

    Computed once per change of the country's completed assessments: each process keeps the
    answer until a completion or a correction moves the country's synthesis version."""
    country = country.upper()
    kept: queries.SynthesisCache = request.app.state.synthesis_cache
    async with _read(request) as connection:
        version = await queries.synthesis_version(connection, country)
        synthesis = kept.get(country, year, version)
        if synthesis is None:
            synthesis = await queries.yearly_synthesis(
                connection, _catalogues(request), country=country, year=year
            )
            kept.put(country, year, version, synthesis)
    return synthesis


@assessments.get("/{assessment_id}", response_model=AssessmentDetail)
async def get_assessment(
    assessment_id: PathId, request: Request, response: Response, principal: Reader
) -> dict[str, Any]:
    """An assessment with its findings; its version is the ETag."""
    return await _assessment_detail(request, response, principal, assessment_id)


@assessments.put("/{assessment_id}/findings/{question_id}", response_model=AssessmentDetail)
async def record_finding(
    assessment_id: PathId,
    question_id: PathId,
    body: FindingInput,
    request: Request,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record (or, before completion, re-record) the finding for one question."""
    command = RecordFinding(
        assessment_id=assessment_id,
        question_id=question_id,
        facts=body.facts(),
        recorded_by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(request, principal, correlation_id, command)
    return await _changed_assessment(request, response, principal, change)


@assessments.post("/{assessment_id}/findings", response_model=AssessmentDetail)
async def record_findings(
    assessment_id: PathId,
    body: FindingsInput,
    request: Request,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record many findings at once (up to 500; a whole assessment from the site): one append,
    all or nothing. Each is checked as a single recording would be; a question may appear once."""
    command = RecordFindings(
        assessment_id=assessment_id,
        findings=tuple((finding.question_id, finding.facts()) for finding in body.findings),
        recorded_by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(request, principal, correlation_id, command)
    return await _changed_assessment(request, response, principal, change)


@assessments.post("/{assessment_id}/complete", response_model=AssessmentDetail)
async def complete_assessment(
    assessment_id: PathId,
    request: Request,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Complete the assessment: refused while a critical question is unanswered."""
    command = CompleteAssessment(assessment_id, principal.subject, parse_if_match(if_match))
    change = await _run(request, principal, correlation_id, command)
    return await _changed_assessment(request, response, principal, change)


@assessments.post(
    "/{assessment_id}/findings/{question_id}/corrections",
    status_code=201,
    response_model=AssessmentDetail,
)
async def correct_finding(
    assessment_id: PathId,
    question_id: PathId,
    body: FindingCorrection,
    request: Request,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Correct a finding of a completed assessment (attributed, with a reason)."""
    command = CorrectFinding(
        assessment_id=assessment_id,
        question_id=question_id,
        facts=body.facts(),
        reason=body.reason,
        corrected_by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(request, principal, correlation_id, command)
    return await _changed_assessment(request, response, principal, change, status_code=201)


@assessments.post("/{assessment_id}/findings/{question_id}/responses", status_code=201)
async def respond_to_finding(
    assessment_id: PathId,
    question_id: PathId,
    body: FindingResponseInput,
    request: Request,
    response: Response,
    principal: FactoryUser,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """The factory responds to, or disputes, a finding of its report."""
    if body.kind == "dispute" and not (body.reason or "").strip():
        raise UnprocessableEntity("a dispute needs a reason")
    assert principal.factory_id is not None  # guaranteed for the factory role
    command = RespondToFinding(
        assessment_id=assessment_id,
        question_id=question_id,
        text=body.text,
        responded_by=principal.subject,
        factory_id=principal.factory_id,
        dispute_reason=body.reason if body.kind == "dispute" else None,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(request, principal, correlation_id, command)
    set_etag(response, change.version)
    return {"assessment_id": assessment_id, "question_id": question_id, "kind": body.kind}


HISTORY_PAGE = 100
HISTORY_MAX_PAGE = 500


@assessments.get(
    "/{assessment_id}/history",
    response_model=list[HistoryEntry],
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": 'The next page, when there is one: `<…?cursor=…>; rel="next"`.',
                    "schema": {"type": "string"},
                }
            }
        }
    },
)
async def assessment_history(
    assessment_id: PathId,
    request: Request,
    response: Response,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=HISTORY_MAX_PAGE, description="Page size.")] = (
        HISTORY_PAGE
    ),
    cursor: Annotated[
        str | None,
        Query(
            description="From the `Link` header of the previous page. A cursor this API did not "
            "issue is a 400 problem.",
            json_schema_extra={"pattern": CURSOR_PATTERN, "minLength": 1, "maxLength": 2048},
        ),
    ] = None,
) -> list[dict[str, Any]]:
    """The assessment's events in order: version, type, when, who and what, a page at a time.

    The body stays a list; the next page, when there is one, is the `Link` header's `rel="next"`.
    """
    position = decode_cursor(cursor, {"after_version": int}) if cursor is not None else None
    after_version = position["after_version"] if position else 0
    await _assessment_or_404(request, principal, assessment_id)
    registry = _store(request).registry
    async with _read(request) as connection:
        rows = await queries.history_page(
            connection, ASSESSMENT.stream_id(assessment_id), after_version, limit + 1
        )
    entries = [
        {
            "version": row["version"],
            "event_type": row["event_type"],
            "event_id": row["event_id"],
            "recorded_at": row["recorded_at"],
            "actor": row["actor"],
            "data": registry.decode_json(row["event_type"], row["data"]).model_dump(mode="json"),
        }
        for row in rows[:limit]
    ]
    if len(rows) > limit:
        next_cursor = encode_cursor({"after_version": entries[-1]["version"]})
        next_url = request.url.include_query_params(cursor=next_cursor, limit=limit)
        response.headers["Link"] = f'<{next_url.path}?{next_url.query}>; rel="next"'
    return entries


@assessments.get("/{assessment_id}/report")
async def assessment_report(
    assessment_id: PathId, request: Request, response: Response, principal: Reader
) -> dict[str, Any]:
    """The report: findings by cluster and point, rates, critical issues first, responses."""
    row = await _assessment_or_404(request, principal, assessment_id)
    catalogue = _catalogues(request).resolve(row["catalogue_version"], row["country"])
    assert catalogue is not None
    async with _read(request) as connection:
        report = await queries.assessment_report(connection, row, catalogue)
    set_etag(response, row["version"])
    return report


ROUTERS = (factories, catalogue_router, assessments)

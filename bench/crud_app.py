"""The baseline of the service benchmark: the assessment service's record-finding contract as a plain
FastAPI + SQLAlchemy CRUD endpoint, the design a team could pick instead of event sourcing.

Same contract as `PUT /v1/assessments/{id}/findings/{question_id}`: the same house app (JWT auth,
problem+json, size limit, idempotency, metrics), the same body validation, the same checks (the
assessment exists and is not completed, the question is in its catalogue, If-Match), the same write
(the assessment's version bumped, the finding upserted, one transaction) and the same answer (the
assessment with all its findings). Run as its own process: `python -m bench.crud_app serve|migrate`.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.domain.types import SafeText, Token
from libs.servicekit.app import create_app, run
from libs.servicekit.auth import Principal, Role, require_roles
from libs.servicekit.database import EngineLifecycle, create_engine
from libs.servicekit.http import IfMatch, parse_if_match, set_etag
from libs.servicekit.idempotency import define_idempotency_table
from libs.servicekit.problems import Conflict, NotFound, PreconditionFailed, UnprocessableEntity
from libs.servicekit.settings import ServiceSettings
from libs.servicekit.types import PathId
from services.assessment.compliance_catalogue import CatalogueLibrary, load_library

# The assessment service's limits on a finding (kept here rather than imported: the service's
# modules are its own to reorganise, and the baseline must not break when they move).
MAX_EVIDENCE_LENGTH = 10_000
MAX_EVIDENCE_REFS = 50
MAX_REFERENCE_LENGTH = 500

SCHEMA = "crud"
metadata = MetaData(schema=SCHEMA)
assessment = Table(
    "assessment",
    metadata,
    Column("assessment_id", String(64), primary_key=True),
    Column("factory_id", String(64), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("country", String(2), nullable=False),
    Column("catalogue_version", String(20), nullable=False),
    Column("scheduled_for", Date, nullable=False),
    Column("assessors", ARRAY(String), nullable=False),
    Column("status", String(20), nullable=False),
    Column("report_date", Date),
    Column("completed_by", String(200)),
    Column("version", Integer, nullable=False),
)
finding = Table(
    "finding",
    metadata,
    Column("assessment_id", String(64), ForeignKey(assessment.c.assessment_id), primary_key=True),
    Column("question_id", String(20), primary_key=True),
    Column("cluster_id", String(10), nullable=False),
    Column("compliance_point_id", String(20), nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("zero_tolerance", Boolean, nullable=False),
    Column("result", String(20), nullable=False),
    Column("evidence", Text, nullable=False),
    Column("evidence_refs", ARRAY(String), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("corrected", Boolean, nullable=False),
)
define_idempotency_table(metadata)

Staff = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.ASSESSOR))]


class CrudSettings(ServiceSettings):
    service_name: str = "crud-baseline"
    port: int = Field(8090, validation_alias="PORT")


class FindingInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: Literal["compliant", "non_compliant", "not_applicable"]
    evidence: SafeText = Field("", max_length=MAX_EVIDENCE_LENGTH)
    evidence_refs: list[Annotated[Token, Field(max_length=MAX_REFERENCE_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_EVIDENCE_REFS
    )


class FindingPublic(BaseModel):
    question_id: str
    cluster_id: str
    compliance_point_id: str
    critical: bool
    zero_tolerance: bool
    result: str
    evidence: str
    evidence_refs: list[str]
    recorded_by: str
    recorded_at: datetime
    corrected: bool


class AssessmentDetail(BaseModel):
    assessment_id: str
    factory_id: str
    cycle: int
    country: str
    catalogue_version: str
    scheduled_for: date
    assessors: list[str]
    status: Literal["scheduled", "completed"]
    report_date: date | None
    completed_by: str | None
    summary: None = None
    version: int
    findings: list[FindingPublic]


router = APIRouter(prefix="/v1/assessments", tags=["assessments"])


@router.put("/{assessment_id}/findings/{question_id}", response_model=AssessmentDetail)
async def record_finding(
    assessment_id: PathId,
    question_id: PathId,
    body: FindingInput,
    request: Request,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Record (or re-record) the finding for one question: one transaction, row versioned."""
    engine: AsyncEngine = request.app.state.db_engine
    catalogues: CatalogueLibrary = request.app.state.catalogues
    expected = parse_if_match(if_match)
    async with engine.begin() as connection:
        row = (
            (
                await connection.execute(
                    select(assessment)
                    .where(assessment.c.assessment_id == assessment_id)
                    .with_for_update()
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"assessment {assessment_id} does not exist")
        if expected is not None and expected != row["version"]:
            raise PreconditionFailed(f"the assessment is at version {row['version']}")
        if row["status"] == "completed":
            raise Conflict("the assessment is completed; correct its findings instead")
        catalogue = catalogues.resolve(row["catalogue_version"], row["country"])
        question = catalogue.question(question_id) if catalogue is not None else None
        if question is None:
            raise UnprocessableEntity(f"question {question_id} is not in the catalogue")
        values = {
            "cluster_id": question.cluster.id,
            "compliance_point_id": question.point.id,
            "critical": question.question.critical,
            "zero_tolerance": question.question.zero_tolerance,
            "result": body.result,
            "evidence": body.evidence,
            "evidence_refs": list(body.evidence_refs),
            "recorded_by": principal.subject,
            "recorded_at": datetime.now(UTC),
            "corrected": False,
        }
        await connection.execute(
            insert(finding)
            .values(assessment_id=assessment_id, question_id=question_id, **values)
            .on_conflict_do_update(index_elements=["assessment_id", "question_id"], set_=values)
        )
        version = (
            await connection.execute(
                update(assessment)
                .where(assessment.c.assessment_id == assessment_id)
                .values(version=assessment.c.version + 1)
                .returning(assessment.c.version)
            )
        ).scalar_one()
        findings = (
            (
                await connection.execute(
                    select(finding)
                    .where(finding.c.assessment_id == assessment_id)
                    .order_by(finding.c.question_id)
                )
            )
            .mappings()
            .all()
        )
    set_etag(response, version)
    return {
        **{key: row[key] for key in AssessmentDetail.model_fields if key in row},
        "version": version,
        "findings": [dict(item) for item in findings],
    }


def create_crud_app(settings: CrudSettings | None = None) -> Any:
    settings = settings or CrudSettings()
    engine = create_engine(settings)
    app = create_app(
        settings=settings,
        title="CRUD baseline",
        description="The record-finding contract as plain CRUD (benchmark baseline).",
        version="1.0.0",
        routers=[router],
        lifecycle=[EngineLifecycle(engine)],
        db_engine=engine,
        db_schema=SCHEMA,
    )
    app.state.catalogues = load_library()
    return app


async def migrate(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
            await connection.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.crud_app")
    parser.add_argument("command", choices=["serve", "migrate"])
    arguments = parser.parse_args()
    settings = CrudSettings()
    if arguments.command == "migrate":
        url = settings.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        asyncio.run(migrate(url))
    else:
        run(create_crud_app, settings)


if __name__ == "__main__":
    main()

"""A buyer's portfolio: the factories shared with it (riskiest first, or by factory id), the same
view as CSV, one shared factory (with its training and advisory work by year), and its reports;
404 for whatever is not shared with it now."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from libs.domain.errors import NotFound
from libs.servicekit.auth import Principal
from libs.servicekit.http import Page, Pagination, encode_cursor
from libs.servicekit.types import PathId
from services.buyer_sharing.api import credentials
from services.buyer_sharing.api.common import (
    AdminOrBuyer,
    CountryFilter,
    Deps,
    own_buyer,
    staff_countries,
    within_programme,
)
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.domain import portfolio
from services.buyer_sharing.queries import consent, reports, training_advisory
from services.buyer_sharing.queries.portfolio import portfolio_page
from services.buyer_sharing.schemas import PortfolioFactory, PortfolioFactoryDetail, ReportPublic

router = APIRouter(prefix="/v1/buyers", tags=["buyers"])

SortParam = Annotated[Literal["risk", "factory_id"], Query(description="Risk: see the docs.")]


async def _portfolio(
    deps: Dependencies,
    principal: Principal,
    buyer_id: str,
    *,
    country: str | None,
    has_open_critical_issues: bool | None,
    overdue: bool | None,
    sort: portfolio.SortOrder,
    after: dict[str, Any] | None,
    limit: int | None,
) -> tuple[list[portfolio.Entry], portfolio.Entry | None]:
    own_buyer(principal, buyer_id)
    today = deps.clock().date()
    async with deps.store.reading() as connection:
        return await portfolio_page(
            connection,
            buyer_id,
            today,
            country=country,
            open_critical=has_open_critical_issues,
            overdue=overdue,
            order=sort,
            after=after,
            limit=limit,
            countries=staff_countries(principal),
        )


@router.get("/{buyer_id}/factories", response_model=Page[PortfolioFactory])
async def buyer_portfolio(
    buyer_id: PathId,
    deps: Deps,
    principal: AdminOrBuyer,
    page: Pagination,
    country: CountryFilter = None,
    has_open_critical_issues: bool | None = None,
    overdue: bool | None = None,
    sort: SortParam = "risk",
) -> dict[str, Any]:
    """The factories shared with the buyer, riskiest first (or by factory id)."""
    position = page.position(**portfolio.position_fields(sort))
    entries, last = await _portfolio(
        deps,
        principal,
        buyer_id,
        country=country,
        has_open_critical_issues=has_open_critical_issues,
        overdue=overdue,
        sort=sort,
        after=position,
        limit=page.limit,
    )
    return {
        "items": [entry.row for entry in entries],
        "next_cursor": encode_cursor(last.position(sort)) if last is not None else None,
    }


CSV_COLUMNS = (
    "factory_id",
    "name",
    "country",
    "os_id",
    "report_date",
    "non_compliance_rate",
    "non_compliance_rate_change",
    "critical_issues_found",
    "zero_tolerance_issues_found",
    "open_zero_tolerance_issues",
    "open_critical_issues",
    "plan_open",
    "plan_in_progress",
    "plan_done",
    "plan_verified",
    "plan_overdue",
    "plan_published",
    "plan_publication_late",
    "training_sessions",
    "training_participants",
    "training_completions",
    "training_days",
    "advisory_visits",
    "advisory_days",
)


def _csv_row(row: Mapping[str, Any]) -> list[Any]:
    latest = row["latest_report"] or {}
    change = row["change_since_previous"] or {}
    plan = row["improvement_plan"] or {}
    training = row["training_and_advisory"]["training"]
    advisory = row["training_and_advisory"]["advisory"]
    values = [
        row["factory_id"],
        row["name"],
        row["country"],
        row["os_id"],
        latest.get("report_date"),
        latest.get("non_compliance_rate"),
        change.get("non_compliance_rate_change"),
        latest.get("critical_issues_found"),
        latest.get("zero_tolerance_issues_found"),
        row["open_zero_tolerance_issues"],
        row["open_critical_issues"],
        plan.get("open"),
        plan.get("in_progress"),
        plan.get("done"),
        plan.get("verified"),
        plan.get("overdue"),
        plan.get("published"),
        plan.get("publication_late"),
        training["sessions"],
        training["participants"],
        training["completions"],
        training["training_days"],
        advisory["visits"],
        advisory["advisory_days"],
    ]
    # a leading =, +, - or @ would be a formula in a spreadsheet (CSV injection)
    return [
        f"'{value}" if isinstance(value, str) and value[:1] in "=+-@" else value for value in values
    ]


@router.get(
    "/{buyer_id}/factories.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def buyer_portfolio_csv(
    buyer_id: PathId,
    deps: Deps,
    principal: AdminOrBuyer,
    country: CountryFilter = None,
    has_open_critical_issues: bool | None = None,
    overdue: bool | None = None,
    sort: SortParam = "risk",
) -> Response:
    """The same view as CSV, every row, for sourcing teams (training and advisory as totals)."""
    entries, _ = await _portfolio(
        deps,
        principal,
        buyer_id,
        country=country,
        has_open_critical_issues=has_open_critical_issues,
        overdue=overdue,
        sort=sort,
        after=None,
        limit=None,
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(_csv_row(entry.row))
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="portfolio-{buyer_id}.csv"'},
    )


@router.get("/{buyer_id}/factories/{factory_id}", response_model=PortfolioFactoryDetail)
async def portfolio_factory(
    buyer_id: PathId, factory_id: PathId, deps: Deps, principal: AdminOrBuyer
) -> dict[str, Any]:
    """One shared factory of the portfolio, with its training by year and course and its advisory
    visits by year (404 unless shared with the buyer now)."""
    own_buyer(principal, buyer_id)
    today = deps.clock().date()
    async with deps.store.reading() as connection:
        await within_programme(connection, principal, factory_id)
        entries, _ = await portfolio_page(connection, buyer_id, today, factory_id=factory_id)
        if not entries:
            raise NotFound(f"factory {factory_id} not found")
        # consent checked again in these statements: nothing of a grant revoked meanwhile
        by_year = await training_advisory.by_course_and_year(
            connection, buyer_id, factory_id, today
        )
    row = dict(entries[0].row)
    row["training_and_advisory"] = {**row["training_and_advisory"], **by_year}
    return row


@router.get("/{buyer_id}/factories/{factory_id}/reports", response_model=list[ReportPublic])
async def factory_reports(
    buyer_id: PathId, factory_id: PathId, deps: Deps, principal: AdminOrBuyer
) -> list[dict[str, Any]]:
    """Every completed report of a shared factory, newest first, with findings, responses,
    disputes, corrections, remediation status and its verifiable credentials (404 unless shared
    with the buyer now)."""
    own_buyer(principal, buyer_id)
    today = deps.clock().date()
    async with deps.store.reading() as connection:
        # consent first, on the same connection: nothing is read for an unshared factory
        await within_programme(connection, principal, factory_id)
        if not await consent.grant_in_force(connection, factory_id, buyer_id, today):
            raise NotFound(f"factory {factory_id} not found")
        found = await reports.factory_reports(connection, factory_id)
    return [credentials.links(buyer_id, factory_id, report) for report in found]

"""Read-model updates of buyer sharing.

`project_own` runs in the command's transaction (Repository(project=...)), so the consent a read
checks is the consent committed with the command. `project_upstream_batch` applies upstream public
events set-based (`project_upstream`: one); each update is idempotent and order-safe (guarded by
the version it reflects, or keyed by the event's id), so redelivered and reordered events leave the
same rows, and the derived rows (factory summaries, report tallies) are recomputed from those rows
in the same transaction. The rebuild (consumers.rebuild) uses the same row building.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import asyncpg
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent, Envelope
from libs.events.store import driver_connection
from services.buyer_sharing import upstream
from services.buyer_sharing.domain import access_request as requests
from services.buyer_sharing.domain import buyer as buyers
from services.buyer_sharing.domain import sharing
from services.buyer_sharing.tables import (
    SCHEMA,
    access_request,
    audit_reliance,
    buyer,
    metadata,
    sharing_grant,
    sharing_history,
)

__all__ = [
    "SCHEMA",
    "metadata",
    "project_event",
    "project_own",
    "project_upstream",
    "project_upstream_batch",
    "refresh_derived",
]


async def project_own(unit: Any, change: Change[Any]) -> None:
    """Repository hook: project the command's events in its transaction (none in memory)."""
    connection: AsyncConnection | None = unit.connection
    if connection is None:
        return
    for event, envelope in zip(change.events, change.envelopes, strict=True):
        await project_event(connection, event, envelope.streamversion)


async def project_event(connection: AsyncConnection, event: DomainEvent, version: int) -> None:
    """One internal event of this service into the own read models."""
    if isinstance(event, buyers.BuyerRegistered):
        await connection.execute(
            insert(buyer)
            .values(
                buyer_id=event.buyer_id,
                name=event.name,
                country=event.country,
                contact_name=event.contact_name,
                contact_email=event.contact_email,
                registered_by=event.registered_by,
                registered_at=event.registered_at,
                version=version,
            )
            .on_conflict_do_nothing()
        )
    elif isinstance(event, sharing.SharingGranted):
        values = {
            "active": True,
            "granted_at": event.granted_at,
            "ends_on": event.ends_on,
            "revoked_at": None,
            "version": version,
        }
        statement = insert(sharing_grant).values(
            factory_id=event.factory_id, buyer_id=event.buyer_id, **values
        )
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[sharing_grant.c.factory_id, sharing_grant.c.buyer_id],
                set_=values,
                where=sharing_grant.c.version < version,
            )
        )
        await _history(
            connection,
            event.factory_id,
            event.buyer_id,
            version,
            action="granted",
            actor=event.granted_by,
            at=event.granted_at,
            reason=event.reason,
            ends_on=event.ends_on,
            access_request_id=event.access_request_id,
        )
    elif isinstance(event, sharing.SharingRevoked):
        await connection.execute(
            update(sharing_grant)
            .where(
                sharing_grant.c.factory_id == event.factory_id,
                sharing_grant.c.buyer_id == event.buyer_id,
                sharing_grant.c.version < version,
            )
            .values(active=False, revoked_at=event.revoked_at, version=version)
        )
        await _history(
            connection,
            event.factory_id,
            event.buyer_id,
            version,
            action="revoked",
            actor=event.revoked_by,
            at=event.revoked_at,
            reason=event.reason,
        )
    elif isinstance(event, sharing.AuditRelianceDeclared | sharing.AuditRelianceWithdrawn):
        # A reliance is on the pair's stream: the grant's version (its ETag) moves with it.
        await connection.execute(
            update(sharing_grant)
            .where(
                sharing_grant.c.factory_id == event.factory_id,
                sharing_grant.c.buyer_id == event.buyer_id,
                sharing_grant.c.version < version,
            )
            .values(version=version)
        )
        await _project_reliance(connection, event)
    else:
        await _project_requests(connection, event, version)


async def _project_reliance(
    connection: AsyncConnection,
    event: sharing.AuditRelianceDeclared | sharing.AuditRelianceWithdrawn,
) -> None:
    if isinstance(event, sharing.AuditRelianceDeclared):
        await connection.execute(
            insert(audit_reliance)
            .values(
                reliance_id=event.reliance_id,
                factory_id=event.factory_id,
                buyer_id=event.buyer_id,
                assessment_id=event.assessment_id,
                period_start=event.period_start,
                period_end=event.period_end,
                note=event.note,
                declared_by=event.declared_by,
                declared_at=event.declared_at,
            )
            .on_conflict_do_nothing()
        )
    else:
        await connection.execute(
            update(audit_reliance)
            .where(audit_reliance.c.reliance_id == event.reliance_id)
            .values(
                withdrawn_by=event.withdrawn_by,
                withdrawn_at=event.withdrawn_at,
                withdrawal_reason=event.reason,
            )
        )


async def _project_requests(connection: AsyncConnection, event: DomainEvent, version: int) -> None:
    if isinstance(event, requests.AccessRequested):
        await connection.execute(
            insert(access_request)
            .values(
                request_id=event.request_id,
                buyer_id=event.buyer_id,
                factory_id=event.factory_id,
                os_id=event.os_id,
                message=event.message,
                status="pending",
                requested_by=event.requested_by,
                requested_at=event.requested_at,
                version=version,
            )
            .on_conflict_do_nothing()
        )
    elif isinstance(event, requests.AccessApproved):
        await _decided(
            connection,
            event.request_id,
            version,
            "approved",
            event.factory_id,
            event.approved_by,
            event.approved_at,
            event.reason,
        )
    elif isinstance(event, requests.AccessDeclined):
        await _decided(
            connection,
            event.request_id,
            version,
            "declined",
            event.factory_id,
            event.declined_by,
            event.declined_at,
            event.reason,
        )


async def _decided(
    connection: AsyncConnection,
    request_id: str,
    version: int,
    status: str,
    factory_id: str,
    by: str,
    at: datetime,
    reason: str,
) -> None:
    await connection.execute(
        update(access_request)
        .where(access_request.c.request_id == request_id, access_request.c.version < version)
        .values(
            status=status,
            factory_id=factory_id,
            decided_by=by,
            decided_at=at,
            decision_reason=reason,
            version=version,
        )
    )


async def _history(
    connection: AsyncConnection, factory_id: str, buyer_id: str, version: int, **values: Any
) -> None:
    values.setdefault("ends_on", None)
    values.setdefault("access_request_id", None)
    await connection.execute(
        insert(sharing_history)
        .values(factory_id=factory_id, buyer_id=buyer_id, version=version, **values)
        .on_conflict_do_nothing()
    )


# --- upstream -----------------------------------------------------------------------------------
#
# Upstream events are applied set-based: a batch (one event live, a fetched batch in the consumers,
# thousands in the rebuild) is sorted into rows per table, each table written by one statement
# (arrays through `unnest`, on the driver connection). Every statement keeps the per-event rule
# (insert once, or the newest version wins), and rows of one key are merged in Python first (a
# statement may not touch a row twice), so a batch leaves the rows the events one by one would.
# Then what is derived from those rows is recomputed for the factories and reports the batch
# touched: the factory summaries, the reports' tallies, and the public pages' version counter.


class Meta(Protocol):
    """What a projection reads of an upstream envelope (an `Envelope`, or the rebuild's own
    narrow parse of one)."""

    @property
    def id(self) -> str: ...

    @property
    def time(self) -> datetime: ...

    @property
    def streamversion(self) -> int: ...


S = f'"{SCHEMA}"'
FACTORY_SQL = f"""
INSERT INTO {S}.factory AS t (factory_id, name, country, os_id, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
ON CONFLICT (factory_id) DO UPDATE SET name = excluded.name, country = excluded.country,
    os_id = excluded.os_id, version = excluded.version
WHERE t.version < excluded.version
"""
REPORT_SQL = f"""
INSERT INTO {S}.report (assessment_id, factory_id, cycle, country, catalogue_version, report_date,
    non_compliance_count, summary)
SELECT a, f, c, co, v, d, n, s::jsonb
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::date[], $7::int[],
    $8::text[]) AS u(a, f, c, co, v, d, n, s)
ON CONFLICT (assessment_id) DO NOTHING
"""
# a correction that arrived first keeps its result
RESULT_SQL = f"""
INSERT INTO {S}.report_result AS t (assessment_id, question_id, factory_id, cluster_id,
    compliance_point_id, critical, zero_tolerance, result, result_version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[],
    $7::bool[], $8::text[], $9::int[])
ON CONFLICT (assessment_id, question_id) DO UPDATE SET cluster_id = excluded.cluster_id,
    compliance_point_id = excluded.compliance_point_id, critical = excluded.critical,
    zero_tolerance = excluded.zero_tolerance,
    result = CASE WHEN t.result_version < excluded.result_version THEN excluded.result
        ELSE t.result END,
    result_version = greatest(t.result_version, excluded.result_version)
"""
CORRECTION_SQL = f"""
INSERT INTO {S}.report_result AS t (assessment_id, question_id, factory_id, result, result_version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
ON CONFLICT (assessment_id, question_id) DO UPDATE SET result = excluded.result,
    result_version = excluded.result_version
WHERE t.result_version < excluded.result_version
"""
FINDING_SQL = f"""
INSERT INTO {S}.finding (assessment_id, question_id, factory_id, cluster_id, cluster_name,
    compliance_point_id, compliance_point_name, question_text, critical, zero_tolerance, evidence)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::bool[], $10::bool[], $11::text[])
ON CONFLICT (assessment_id, question_id) DO NOTHING
"""
NOTE_SQL = f"""
INSERT INTO {S}.finding_note (event_id, assessment_id, question_id, factory_id, stream_version,
    kind, text, reason, result_before, result_after, actor, at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[])
ON CONFLICT (event_id) DO NOTHING
"""
ITEM_SQL = f"""
INSERT INTO {S}.plan_item AS t (item_id, factory_id, assessment_id, question_id, critical,
    zero_tolerance, status, overdue, due_date, plan_version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[],
    $7::text[], $8::bool[], $9::date[], $10::int[])
ON CONFLICT (item_id) DO UPDATE SET factory_id = excluded.factory_id,
    assessment_id = excluded.assessment_id, question_id = excluded.question_id,
    critical = excluded.critical, zero_tolerance = excluded.zero_tolerance,
    status = excluded.status, overdue = excluded.overdue, due_date = excluded.due_date,
    plan_version = excluded.plan_version
WHERE t.plan_version < excluded.plan_version
"""
# a publication seen at a later version is not undone by an older summary
PROGRESS_SQL = f"""
INSERT INTO {S}.plan_progress AS t (factory_id, total, open, in_progress, done, verified, overdue,
    published, publication_late, publication_due_date, plan_version)
SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[],
    $7::int[], $8::bool[], $9::bool[], $10::date[], $11::int[])
ON CONFLICT (factory_id) DO UPDATE SET total = excluded.total, open = excluded.open,
    in_progress = excluded.in_progress, done = excluded.done, verified = excluded.verified,
    overdue = excluded.overdue, published = t.published OR excluded.published,
    publication_late = excluded.publication_late,
    publication_due_date = excluded.publication_due_date, plan_version = excluded.plan_version
WHERE t.plan_version < excluded.plan_version
"""
PUBLISHED_SQL = f"""
UPDATE {S}.plan_progress AS t SET published = true
FROM unnest($1::text[], $2::int[]) AS u(factory_id, plan_version)
WHERE t.factory_id = u.factory_id AND t.plan_version <= u.plan_version AND NOT t.published
"""

# --- derived ------------------------------------------------------------------------------------

_TALLY = f"""
UPDATE {S}.report AS r SET compliant = t.compliant, answered = t.answered
FROM (
    SELECT rr.assessment_id,
        count(*) FILTER (WHERE rr.result = 'compliant') AS compliant,
        count(*) FILTER (WHERE rr.result IN ('compliant', 'non_compliant')) AS answered
    FROM {S}.report_result rr {{where}}
    GROUP BY rr.assessment_id
) AS t
WHERE r.assessment_id = t.assessment_id
  AND (r.compliant <> t.compliant OR r.answered <> t.answered)
"""
TALLY_SQL = _TALLY.format(where="WHERE rr.assessment_id = ANY($1::text[])")
TALLY_ALL_SQL = _TALLY.format(where="")

# Summaries are recomputed from the rows (so they are as order-safe as the rows). Two consumers
# (assessment, remediation) may touch one factory at once: each takes the factory's transaction
# lock first, in key order, and computes in a statement that starts after it has it, so the later
# one sees what the earlier one committed.
LOCK_SQL = """
SELECT pg_advisory_xact_lock(key) FROM (
    SELECT DISTINCT hashtextextended('buyer_sharing.factory_summary:' || id, 0) AS key
    FROM unnest($1::text[]) AS id ORDER BY 1
) AS keys
"""
_SUMMARY = f"""
WITH ids AS ({{ids}}),
ranked AS (
    SELECT r.factory_id, r.assessment_id, r.country, r.summary,
        row_number() OVER (
            PARTITION BY r.factory_id
            ORDER BY r.report_date DESC, r.cycle DESC, r.assessment_id DESC) AS n,
        count(*) OVER (PARTITION BY r.factory_id) AS assessments
    FROM {S}.report r JOIN ids ON ids.factory_id = r.factory_id
),
latest AS (SELECT * FROM ranked WHERE n = 1),
previous AS (SELECT factory_id, assessment_id FROM ranked WHERE n = 2),
issues AS (
    SELECT l.factory_id,
        count(*) FILTER (WHERE rr.critical) AS critical_found,
        count(*) FILTER (WHERE rr.zero_tolerance) AS zero_tolerance_found,
        count(*) FILTER (WHERE rr.critical AND NOT coalesce(v.verified, false)) AS open_critical,
        count(*) FILTER (WHERE rr.zero_tolerance AND NOT coalesce(v.verified, false))
            AS open_zero_tolerance
    FROM latest l
    JOIN {S}.report_result rr
        ON rr.assessment_id = l.assessment_id AND rr.result = 'non_compliant'
    LEFT JOIN LATERAL (
        SELECT bool_or(p.status = 'verified') AS verified FROM {S}.plan_item p
        WHERE p.assessment_id = rr.assessment_id AND p.question_id = rr.question_id
    ) v ON true
    GROUP BY l.factory_id
),
rates AS (
    SELECT l.factory_id, sum((c ->> 'non_compliant')::int) AS non_compliant,
        sum((c ->> 'questions')::int) AS questions
    FROM latest l CROSS JOIN LATERAL jsonb_array_elements(l.summary) AS c
    GROUP BY l.factory_id
)
INSERT INTO {S}.factory_summary AS t (factory_id, country, assessments, latest_assessment_id,
    previous_assessment_id, critical_found, zero_tolerance_found, open_critical,
    open_zero_tolerance, overdue, rate_ppm)
SELECT ids.factory_id, coalesce(f.country, l.country), coalesce(l.assessments, 0),
    l.assessment_id, p.assessment_id, coalesce(i.critical_found, 0),
    coalesce(i.zero_tolerance_found, 0), coalesce(i.open_critical, 0),
    coalesce(i.open_zero_tolerance, 0), coalesce(pp.overdue, 0),
    -- float8 division, product and round-half-even: what Python's round(rate * 1e6) gives
    CASE WHEN ra.questions > 0
        THEN round(ra.non_compliant::float8 / ra.questions::float8 * 1000000::float8)::int
        ELSE 0 END
FROM ids
LEFT JOIN {S}.factory f ON f.factory_id = ids.factory_id
LEFT JOIN latest l ON l.factory_id = ids.factory_id
LEFT JOIN previous p ON p.factory_id = ids.factory_id
LEFT JOIN issues i ON i.factory_id = ids.factory_id
LEFT JOIN rates ra ON ra.factory_id = ids.factory_id
LEFT JOIN {S}.plan_progress pp ON pp.factory_id = ids.factory_id
ON CONFLICT (factory_id) DO UPDATE SET country = excluded.country,
    assessments = excluded.assessments, latest_assessment_id = excluded.latest_assessment_id,
    previous_assessment_id = excluded.previous_assessment_id,
    critical_found = excluded.critical_found, zero_tolerance_found = excluded.zero_tolerance_found,
    open_critical = excluded.open_critical, open_zero_tolerance = excluded.open_zero_tolerance,
    overdue = excluded.overdue, rate_ppm = excluded.rate_ppm
"""
SUMMARY_SQL = _SUMMARY.format(ids="SELECT DISTINCT unnest($1::text[]) AS factory_id")
# every factory something is known of (the rebuild; the migration that adds the table)
SUMMARY_ALL_SQL = _SUMMARY.format(
    ids=" UNION ".join(
        f"SELECT factory_id FROM {S}.{name}"
        for name in ("factory", "report", "report_result", "plan_item", "plan_progress")
    )
)
TRANSPARENCY = "transparency"
BUMP_SQL = f"""
INSERT INTO {S}.read_model_version AS t (name, version) VALUES ($1, 1)
ON CONFLICT (name) DO UPDATE SET version = t.version + 1
"""


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _newer(rows: dict[Any, tuple[Any, ...]], key: Any, row: tuple[Any, ...]) -> None:
    """Keep the row with the highest version (its last member) for `key`."""
    current = rows.get(key)
    if current is None or current[-1] < row[-1]:
        rows[key] = row


@dataclass
class UpstreamRows:
    """A batch of upstream events as rows per table, merged per key as the events one by one
    would leave them."""

    factories: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    reports: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    results: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    corrections: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    findings: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    notes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    items: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    progress: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    published: dict[str, int] = field(default_factory=dict)
    # what the derived rows must be recomputed for
    summaries: set[str] = field(default_factory=set)
    tallies: set[str] = field(default_factory=set)
    public: bool = False
    events: int = 0

    def add(self, meta: Meta, event: DomainEvent) -> None:
        self.events += 1
        version = meta.streamversion
        if isinstance(event, upstream.ImprovementPlanUpdated):
            self._plan_updated(event)
            return
        if isinstance(event, upstream.ImprovementPlanPublished):
            current = self.published.get(event.factory_id, 0)
            self.published[event.factory_id] = max(current, event.plan_version)
            return
        self.public = True  # every assessment event may change a public page
        if isinstance(event, upstream.NonComplianceFound):
            self.findings[(event.assessment_id, event.question_id)] = (
                event.assessment_id,
                event.question_id,
                event.factory_id,
                event.cluster_id,
                event.cluster_name,
                event.compliance_point_id,
                event.compliance_point_name,
                event.question_text,
                event.critical,
                event.zero_tolerance,
                event.evidence,
            )
        elif isinstance(event, upstream.AssessmentCompleted):
            self._completed(event, version)
        elif isinstance(event, upstream.FactoryRegistered | upstream.FactoryUpdated):
            _newer(
                self.factories,
                event.factory_id,
                (event.factory_id, event.name, event.country, event.os_id, version),
            )
            self.summaries.add(event.factory_id)
        elif isinstance(event, upstream.FindingCorrected):
            self._note(meta, event, "correction", event.evidence, event.reason, event.corrected_by)
            key = (event.assessment_id, event.question_id)
            _newer(self.corrections, key, (*key, event.factory_id, event.result_after, version))
            self.summaries.add(event.factory_id)
            self.tallies.add(event.assessment_id)
        elif isinstance(event, upstream.FactoryResponded):
            self._note(meta, event, "response", event.text)
        elif isinstance(event, upstream.FindingDisputed):
            self._note(meta, event, "dispute", event.text, event.reason)

    def _completed(self, event: upstream.AssessmentCompleted, version: int) -> None:
        summary = [cluster.model_dump(mode="json") for cluster in event.summary]
        self.reports[event.assessment_id] = (
            event.assessment_id,
            event.factory_id,
            event.cycle,
            event.country,
            event.catalogue_version,
            _date(event.report_date),
            event.non_compliance_count,
            json.dumps(summary),
        )
        for result in event.results:
            key = (event.assessment_id, result.question_id)
            _newer(
                self.results,
                key,
                (
                    *key,
                    event.factory_id,
                    result.cluster_id,
                    result.compliance_point_id,
                    result.critical,
                    result.zero_tolerance,
                    result.result,
                    version,
                ),
            )
        self.summaries.add(event.factory_id)
        self.tallies.add(event.assessment_id)

    def _note(
        self,
        meta: Meta,
        event: upstream.FindingCorrected | upstream.FactoryResponded | upstream.FindingDisputed,
        kind: str,
        text: str,
        reason: str = "",
        actor: str = "factory",
    ) -> None:
        before = after = None
        if isinstance(event, upstream.FindingCorrected):
            before, after = event.result_before, event.result_after
        self.notes[meta.id] = (
            meta.id,
            event.assessment_id,
            event.question_id,
            event.factory_id,
            meta.streamversion,
            kind,
            text,
            reason,
            before,
            after,
            actor or "unknown",
            meta.time,
        )

    def _plan_updated(self, event: upstream.ImprovementPlanUpdated) -> None:
        item, progress = event.item, event.progress
        _newer(
            self.items,
            item.item_id,
            (
                item.item_id,
                event.factory_id,
                item.assessment_id,
                item.question_id,
                item.critical,
                item.zero_tolerance,
                item.status,
                item.overdue,
                _date(item.due_date),
                event.plan_version,
            ),
        )
        _newer(
            self.progress,
            event.factory_id,
            (
                event.factory_id,
                progress.total,
                progress.open,
                progress.in_progress,
                progress.done,
                progress.verified,
                progress.overdue,
                progress.published,
                progress.publication_late,
                progress.publication_due_date,
                event.plan_version,
            ),
        )
        self.summaries.add(event.factory_id)

    async def write(self, driver: asyncpg.Connection) -> None:
        """Every table's rows, one statement each; completions before corrections and plan
        updates before publications (each is order-safe, so this order is as good as any)."""
        for sql, rows in (
            (FACTORY_SQL, self.factories),
            (REPORT_SQL, self.reports),
            (RESULT_SQL, self.results),
            (CORRECTION_SQL, self.corrections),
            (FINDING_SQL, self.findings),
            (NOTE_SQL, self.notes),
            (ITEM_SQL, self.items),
            (PROGRESS_SQL, self.progress),
        ):
            if rows:
                await driver.execute(
                    sql, *(list(column) for column in zip(*rows.values(), strict=True))
                )
        if self.published:
            await driver.execute(PUBLISHED_SQL, list(self.published), list(self.published.values()))


async def project_upstream(
    connection: AsyncConnection, envelope: Envelope, event: DomainEvent
) -> None:
    """One upstream public event into the upstream read models (idempotent, order-safe)."""
    await project_upstream_batch(connection, [(envelope, event)])


async def project_upstream_batch(
    connection: AsyncConnection, items: Sequence[tuple[Meta, DomainEvent]]
) -> None:
    """A batch of upstream public events, set-based, with the derived rows they change (the
    consumers' batch handler; the same effect as `project_upstream` on each in turn)."""
    rows = UpstreamRows()
    for meta, event in items:
        rows.add(meta, event)
    driver = await driver_connection(connection)
    await rows.write(driver)
    await refresh_derived(driver, rows)


async def refresh_derived(driver: asyncpg.Connection, rows: UpstreamRows | None) -> None:
    """Recompute the reports' tallies and the factory summaries the batch touched (`None`: all of
    them, as the rebuild does once at its end), and move the public pages' version."""
    if rows is None:
        await driver.execute(TALLY_ALL_SQL)
        await driver.execute(SUMMARY_ALL_SQL)
        await driver.execute(BUMP_SQL, TRANSPARENCY)
        return
    if rows.tallies:
        await driver.execute(TALLY_SQL, sorted(rows.tallies))
    if rows.summaries:
        factory_ids = sorted(rows.summaries)
        await driver.execute(LOCK_SQL, factory_ids)
        await driver.execute(SUMMARY_SQL, factory_ids)
    if rows.public:
        await driver.execute(BUMP_SQL, TRANSPARENCY)

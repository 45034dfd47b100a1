"""Read-model updates from the upstream public events (assessment, remediation, advisory),
set-based.

A batch (one event live, a fetched batch in the consumers, thousands in the rebuild) is sorted into
rows per table (`UpstreamRows`), merged per key in Python first (a statement may not touch a row
twice), and each table is written by one statement (statements.py), so a batch leaves the rows the
events one by one would: every update is idempotent and order-safe (guarded by the version it
reflects, or keyed by the event's id). Then what is derived from those rows is recomputed for the
factories and reports the batch touched: the factory summaries, the reports' tallies, the
training and advisory summaries (training_advisory.py), the programme results' rows per
assessment and per factory and year (results.py, which also keeps the workforce facts), and the
public pages' version counter."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import asyncpg
import pydantic_core
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.envelope import DomainEvent, Envelope
from libs.events.store import driver_connection
from services.buyer_sharing import upstream
from services.buyer_sharing.projections.results import ResultsRows, refresh_results
from services.buyer_sharing.projections.statements import (
    BUMP_SQL,
    CORRECTION_SQL,
    CREDENTIAL_SQL,
    FACTORY_SQL,
    FINDING_SQL,
    ITEM_SQL,
    LOCK_SQL,
    NOTE_SQL,
    PROGRESS_SQL,
    PUBLISHED_SQL,
    REPORT_SQL,
    RESULT_SQL,
    SUMMARY_ALL_SQL,
    SUMMARY_SQL,
    TALLY_ALL_SQL,
    TALLY_SQL,
)
from services.buyer_sharing.projections.training_advisory import (
    TrainingAdvisoryRows,
    refresh_summaries,
)
from services.buyer_sharing.tables import RESULTS, TRANSPARENCY


class Meta(Protocol):
    """What a projection reads of an upstream envelope (an `Envelope`, or the rebuild's own
    narrow parse of one)."""

    @property
    def id(self) -> str: ...

    @property
    def time(self) -> datetime: ...

    @property
    def streamversion(self) -> int: ...


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
    credentials: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    training_advisory: TrainingAdvisoryRows = field(default_factory=TrainingAdvisoryRows)
    programme: ResultsRows = field(default_factory=ResultsRows)  # the programme results' facts
    # what the derived rows must be recomputed for
    summaries: set[str] = field(default_factory=set)
    tallies: set[str] = field(default_factory=set)
    public: bool = False
    events: int = 0

    def add(self, meta: Meta, event: DomainEvent) -> None:
        self.events += 1
        version = meta.streamversion
        self.programme.add(meta, event)
        if self.training_advisory.add(version, event):
            return  # no public page shows training or advisory work
        if isinstance(event, upstream.ImprovementPlanUpdated):
            self._plan_updated(event)
            return
        if isinstance(event, upstream.ImprovementPlanPublished):
            current = self.published.get(event.factory_id, 0)
            self.published[event.factory_id] = max(current, event.plan_version)
            return
        if isinstance(event, upstream.ReportCredentialIssued):
            self._credential(event)
            return  # no public page shows a credential
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

    def _credential(self, event: upstream.ReportCredentialIssued) -> None:
        # the bundle as received, serialized as the producer's relay serialized it (members in
        # their order, numbers and strings as pydantic writes them): buyers download these bytes
        bundle = pydantic_core.to_json(event.bundle).decode()
        self.credentials[event.credential_id] = (
            event.credential_id,
            event.assessment_id,
            event.factory_id,
            event.revision,
            event.supersedes,
            event.issued_at,
            bundle,
        )

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
            (CREDENTIAL_SQL, self.credentials),
        ):
            if rows:
                await driver.execute(
                    sql, *(list(column) for column in zip(*rows.values(), strict=True))
                )
        if self.published:
            await driver.execute(PUBLISHED_SQL, list(self.published), list(self.published.values()))
        await self.training_advisory.write(driver)
        await self.programme.write(driver)


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
    """Recompute the reports' tallies, the factory summaries and the training and advisory
    summaries the batch touched (`None`: all of them, as the rebuild does once at its end), and
    move the public pages' version."""
    if rows is None:
        await driver.execute(TALLY_ALL_SQL)
        await driver.execute(SUMMARY_ALL_SQL)
        await refresh_summaries(driver, None)
        await refresh_results(driver, None)
        await driver.execute(BUMP_SQL, TRANSPARENCY)
        await driver.execute(BUMP_SQL, RESULTS)
        return
    if rows.training_advisory.factories:
        await refresh_summaries(driver, rows.training_advisory.factories)
        await driver.execute(BUMP_SQL, RESULTS)
    if rows.tallies:
        await driver.execute(TALLY_SQL, sorted(rows.tallies))
    await refresh_results(driver, rows.programme)
    if rows.summaries:
        factory_ids = sorted(rows.summaries)
        await driver.execute(LOCK_SQL, factory_ids)
        await driver.execute(SUMMARY_SQL, factory_ids)
    if rows.public:
        await driver.execute(BUMP_SQL, TRANSPARENCY)

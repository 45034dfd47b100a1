"""The import of a programme's history into buyer sharing: its three kinds of the history
bundle, `buyers`, `grants` and `reliances` (`POST /v1/imports/<kind>`, libs/servicekit/imports.py).

A request's records are checked a batch at a time against the read models (one statement per
question: the buyers, factories, reports and existing grant streams they name), decided on each
aggregate's state by the history rules (domain/history.py, on the live rules), and appended one
stream at a time (one factory-buyer pair's grants or declarations together, in the order of their
days), each event at its business time and attributed to its record, in the request's one
transaction; the events are projected as a live command's are. Only the headquarters' admin or an
admin of the factory's country programme imports a factory's grants and declarations (another
country's factory is as unknown as one that does not exist); buyers are the programme's, as live.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent, EventContext, current_context
from libs.domain.history.bundle import imported_id
from libs.domain.history.buyer_sharing import BuyerRecord, GrantRecord, RelianceRecord
from libs.events.store import UnitOfWork
from libs.servicekit.imports import ImportBatch, ImportKind, Numbered
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.domain import buyer, history, sharing
from services.buyer_sharing.errors import RejectedRecord
from services.buyer_sharing.ids import pair_id
from services.buyer_sharing.projections.own import project_events
from services.buyer_sharing.queries import history as lookups

S = TypeVar("S")
Pair = tuple[str, str]  # (factory id, buyer id)


@dataclass
class Stream(Generic[S]):
    """One stream's new events, each with its context (business time, record), decided on the
    state loaded at `version`."""

    aggregate: AggregateType[S]
    aggregate_id: str
    subject: str
    state: S
    version: int = 0
    events: list[DomainEvent] = field(default_factory=list)
    contexts: list[EventContext] = field(default_factory=list)
    states: list[S] = field(default_factory=list)

    def add(self, context: EventContext, events: Iterable[DomainEvent]) -> None:
        for event in events:
            self.state = self.aggregate.evolve(self.state, event)
            self.events.append(event)
            self.contexts.append(context)
            self.states.append(self.state)

    async def append(self, unit: UnitOfWork) -> list[tuple[DomainEvent, int]]:
        """Append the stream's new events: each with its stream version."""
        if not self.events:
            return []
        envelopes = await unit.append(
            self.aggregate.stream_id(self.aggregate_id),
            stream_type=self.aggregate.stream_type,
            expected_version=self.version,
            events=self.events,
            subject=self.subject,
            states=self.states,
            contexts=self.contexts,
        )
        return [
            (event, envelope.streamversion)
            for event, envelope in zip(self.events, envelopes, strict=True)
        ]


def _context(batch: ImportBatch[Any], item: Numbered[Any], at: datetime) -> EventContext:
    """The context of `item`'s events that happened at `at`."""
    with batch.at(at, item):
        return current_context()


def _decided(
    batch: ImportBatch[Any],
    item: Numbered[Any],
    stream: Stream[Any],
    steps: Sequence[history.Dated],
) -> None:
    for step in steps:
        stream.add(_context(batch, item, step.at), step.events)


async def _write(batch: ImportBatch[Any], unit: UnitOfWork, streams: Iterable[Stream[Any]]) -> None:
    """Append every stream and project the events as a live command's are, unless a record was
    rejected (the request then imports nothing)."""
    if batch.errors:
        return
    appended: list[tuple[DomainEvent, int]] = []
    for stream in streams:
        appended += await stream.append(unit)
    await project_events(unit.connection, appended)
    batch.appended(len(appended))


async def import_buyers(deps: Dependencies, batch: ImportBatch[BuyerRecord]) -> None:
    """Each buyer registered on the day it joined the programme."""
    today = deps.clock().date()
    ids = {
        item.record.source_id: imported_id("buyers", item.record.source_id)
        for item in batch.records
    }
    async with deps.store.unit_of_work(connection=batch.connection) as unit:
        registered = await lookups.buyers_joined(unit.connection, set(ids.values()))
        streams = []
        for item in batch.records:
            buyer_id = ids[item.record.source_id]
            state = buyer.Buyer(registered=buyer_id in registered)
            stream = Stream(buyer.BUYER, buyer_id, buyer_id, state)
            try:
                steps = history.register_buyer(
                    state, item.record, buyer_id=buyer_id, by=batch.principal.subject, today=today
                )
            except RejectedRecord as error:
                batch.reject(item, error.field, error.detail)
                continue
            _decided(batch, item, stream, steps)
            streams.append(stream)
        await _write(batch, unit, streams)


def _known_factory(
    batch: ImportBatch[Any], item: Numbered[Any], countries: dict[str, str], factory_id: str
) -> bool:
    """The factory is registered here, in a country the caller works in (else rejected)."""
    country = countries.get(factory_id)
    if country is not None and batch.principal.works_in(country):
        batch.scope(item, country)
        return True
    batch.reject(item, "factory", f"factory {item.record.factory} is not known here")
    return False


def _known_buyer(
    batch: ImportBatch[Any], item: Numbered[Any], joined: dict[str, Any], buyer_id: str
) -> bool:
    if buyer_id in joined:
        return True
    batch.reject(
        item, "buyer", f"buyer {item.record.buyer} is not known here (import the buyers first)"
    )
    return False


async def _pair_streams(
    deps: Dependencies, unit: UnitOfWork, pairs: Iterable[Pair]
) -> dict[Pair, Stream[sharing.Sharing]]:
    """Each pair's stream as it stands: loaded when it exists, else new."""
    wanted = set(pairs)
    existing = await lookups.granted_pairs(unit.connection, wanted)
    streams = {}
    for factory_id, buyer_id in sorted(wanted):
        aggregate_id = pair_id(factory_id, buyer_id)
        stream = Stream(sharing.SHARING, aggregate_id, factory_id, sharing.SHARING.initial)
        if (factory_id, buyer_id) in existing:
            loaded = await deps.sharing.load(unit, aggregate_id)
            stream.state, stream.version = loaded.state, loaded.version
        streams[(factory_id, buyer_id)] = stream
    return streams


@lru_cache(maxsize=65_536)
def _imported_id(kind: str, source_id: str) -> str:
    """`imported_id`, kept: one buyer or factory is named by many records (a name-based UUID
    costs tens of microseconds)."""
    return imported_id(kind, source_id)


def _pair(record: GrantRecord | RelianceRecord) -> Pair:
    return _imported_id("factories", record.factory), _imported_id("buyers", record.buyer)


async def import_grants(deps: Dependencies, batch: ImportBatch[GrantRecord]) -> None:
    """Each grant on its day with its end date, revoked on its day; one pair's grants in the
    order of their days."""
    today = deps.clock().date()
    async with deps.store.unit_of_work(connection=batch.connection) as unit:
        pairs = {_pair(item.record) for item in batch.records}
        countries = await lookups.factory_countries(unit.connection, {f for f, _ in pairs})
        joined = await lookups.buyers_joined(unit.connection, {b for _, b in pairs})
        by_pair: dict[Pair, list[Numbered[GrantRecord]]] = defaultdict(list)
        for item in batch.records:
            factory_id, buyer_id = _pair(item.record)
            if _known_factory(batch, item, countries, factory_id) and _known_buyer(
                batch, item, joined, buyer_id
            ):
                by_pair[(factory_id, buyer_id)].append(item)
        streams = await _pair_streams(deps, unit, by_pair)
        for pair, items in by_pair.items():
            stream = streams[pair]
            for item in sorted(items, key=lambda item: (item.record.granted_on, item.line)):
                try:
                    steps = history.grant(
                        stream.state,
                        item.record,
                        factory_id=pair[0],
                        buyer_id=pair[1],
                        buyer_joined=joined[pair[1]],
                        by=batch.principal.subject,
                        today=today,
                    )
                except RejectedRecord as error:
                    batch.reject(item, error.field, error.detail)
                    continue
                _decided(batch, item, stream, steps)
        await _write(batch, unit, streams.values())


async def import_reliances(deps: Dependencies, batch: ImportBatch[RelianceRecord]) -> None:
    """Each declaration on its day, on the grant in force then, withdrawn on its day or when the
    consent it rests on ended."""
    today = deps.clock().date()
    async with deps.store.unit_of_work(connection=batch.connection) as unit:
        pairs = {_pair(item.record) for item in batch.records}
        countries = await lookups.factory_countries(unit.connection, {f for f, _ in pairs})
        joined = await lookups.buyers_joined(unit.connection, {b for _, b in pairs})
        reports = await lookups.reports(
            unit.connection,
            {_imported_id("assessments", item.record.assessment) for item in batch.records},
        )
        by_pair: dict[Pair, list[Numbered[RelianceRecord]]] = defaultdict(list)
        for item in batch.records:
            factory_id, buyer_id = _pair(item.record)
            if _known_factory(batch, item, countries, factory_id) and _known_buyer(
                batch, item, joined, buyer_id
            ):
                by_pair[(factory_id, buyer_id)].append(item)
        streams = await _pair_streams(deps, unit, by_pair)
        for (factory_id, buyer_id), items in by_pair.items():
            stream = streams[(factory_id, buyer_id)]
            for item in sorted(items, key=lambda item: (item.record.declared_on, item.line)):
                assessment_id = _imported_id("assessments", item.record.assessment)
                try:
                    steps = history.declare_reliance(
                        stream.state,
                        item.record,
                        reliance_id=imported_id("reliances", item.record.source_id),
                        factory_id=factory_id,
                        buyer_id=buyer_id,
                        assessment_id=assessment_id,
                        assessment=reports.get(assessment_id),
                        by=batch.principal.subject,
                        today=today,
                    )
                except RejectedRecord as error:
                    batch.reject(item, error.field, error.detail)
                    continue
                _decided(batch, item, stream, steps)
        await _write(batch, unit, streams.values())


IMPORTS: Sequence[ImportKind[Dependencies]] = (
    ImportKind(
        "buyers",
        BuyerRecord,
        import_buyers,
        "Import buyers of the programme's history",
        "Each buyer is registered on the day it joined the programme (`joined_on`), with the id "
        "derived from its source id. Any admin imports buyers, as any admin registers them.",
    ),
    ImportKind(
        "grants",
        GrantRecord,
        import_grants,
        "Import sharing grants of the programme's history",
        "Each grant is given on `granted_on` with its end date (an end date before today is "
        "history's normal case) and revoked on `revoked_on`; one factory's grants to one buyer "
        "do not overlap and are imported in the order of their days (a re-grant after a "
        "revocation or an expiry is a new grant). The buyer and the factory must be known "
        "(the factory from the assessment service's events); an admin imports only its country "
        "programmes' factories' grants.",
    ),
    ImportKind(
        "reliances",
        RelianceRecord,
        import_reliances,
        "Import audit-reliance declarations of the programme's history",
        "Each declaration is made on `declared_on`, on the grant in force that day, naming a "
        "completed assessment of the factory reported by then, with the live period rules (it "
        f"ends after it starts, spans at most {sharing.MAX_RELIANCE_DAYS} days, and ends by the "
        "grant's end date); it is "
        "withdrawn on `withdrawn_on`, or earlier when the grant's revocation (or a new grant "
        "ending before its period) ended it, as it would have live.",
    ),
)

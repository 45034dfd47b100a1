"""The import of a programme's history (issue 19): the kinds of the history bundle this service
owns, `committees` and `plan-items` (libs/domain/history/remediation.py), as the bulk endpoints
`POST /v1/imports/<kind>` (libs/servicekit/imports.py), and the handlers of their commands.

Each record becomes commands of this service's own aggregates, through their own rules
(domain/history.py), in the request's one transaction: a plan item's details on its report date
and each status change on its day, a committee's members on the day it was established and each
meeting on its day, every event at its business time and attributed to its record. The records
of one factory are decided on its plan (or committee) loaded once and appended in one statement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent, EventContext, ImportOrigin, current_context
from libs.domain.errors import DomainError
from libs.domain.history.bundle import imported_id
from libs.domain.history.remediation import CommitteeRecord, PlanItemRecord
from libs.domain.types import LINE_PATTERN, TEXT_PATTERN
from libs.events.repository import Repository
from libs.servicekit.imports import ImportBatch, ImportKind, Numbered
from services.remediation import queries
from services.remediation.commands import ImportCommittee, ImportItemHistories
from services.remediation.domain.committee import Committee, CommitteeMember, Side
from services.remediation.domain.history import (
    ItemHistory,
    MeetingHistory,
    StatusEntry,
    Step,
    committee_steps,
    item_steps,
)
from services.remediation.domain.plan_events import ItemStatus
from services.remediation.domain.plan_state import Plan
from services.remediation.errors import HistoryEntryRefused, HistoryRefused
from services.remediation.handlers import CONFLICT_RETRIES, Remediation
from services.remediation.ids import item_id_for

UNKNOWN_NON_COMPLIANCE = (
    "unknown non-compliance (not imported, or not yet received from the assessment service: "
    "retry once the assessments' events have reached remediation)"
)
UNKNOWN_FACTORY = (
    "unknown factory (no assessment of it has reached remediation: import its assessments, and "
    "retry once their events have reached remediation)"
)

_LINE = re.compile(LINE_PATTERN)
_TEXT = re.compile(TEXT_PATTERN)


# the commands' handlers --------------------------------------------------------------------------


async def _run_steps(
    repository: Repository[Any, Any],
    aggregate_id: str,
    entries: Sequence[list[Step]],
    origins: Sequence[ImportOrigin],
    refused: dict[int, tuple[str, str]],
    connection: Any,
) -> Change[Any]:
    """Every entry's steps on the aggregate, loaded once, each step's events at its business time
    and attributed to its entry's record, appended in one statement. A step the rules refuse
    refuses its entry (its later steps decide nothing); if any entry is refused (`refused`: those
    refused before), nothing is appended and HistoryRefused names them all."""
    outer = current_context()
    failed: dict[int, tuple[str, str]] = {}

    def start(_state: Any) -> list[DomainEvent]:
        failed.clear()  # a retry after a concurrent append decides everything again
        failed.update(refused)
        return []

    def guarded(index: int, step: Step) -> Any:
        def decide(state: Any) -> Sequence[DomainEvent]:
            if index in failed:
                return []
            try:
                return step.decide(state)
            except HistoryEntryRefused as error:
                failed[index] = (error.field, error.detail)
            except DomainError as error:
                failed[index] = (step.field, error.detail)
            return []

        return decide

    def finish(_state: Any) -> list[DomainEvent]:
        if failed:
            raise HistoryRefused(
                [(index, field, reason) for index, (field, reason) in sorted(failed.items())]
            )
        return []

    decisions: list[tuple[EventContext, Any]] = [(outer, start)]
    for index, (steps, origin) in enumerate(zip(entries, origins, strict=True)):
        for step in steps:
            context = EventContext(
                outer.correlation_id, outer.causation_id, origin.imported_by, step.at, origin
            )
            decisions.append((context, guarded(index, step)))
    decisions.append((outer, finish))
    return await repository.execute_each(
        aggregate_id, decisions, conflict_retries=CONFLICT_RETRIES, connection=connection
    )


async def import_item_histories(
    command: ImportItemHistories, deps: Remediation, *, connection: Any = None
) -> Change[Plan]:
    """The items' histories on the factory's plan; raises HistoryRefused (nothing appended)."""
    now = deps.clock()
    entries: list[list[Step]] = []
    refused: dict[int, tuple[str, str]] = {}
    for index, history in enumerate(command.histories):
        try:
            entries.append(item_steps(history, today=now.date(), now=now))
        except HistoryEntryRefused as error:
            refused[index] = (error.field, error.detail)
            entries.append([])
    return await _run_steps(
        deps.plans, command.factory_id, entries, command.origins, refused, connection
    )


async def import_committee(
    command: ImportCommittee, deps: Remediation, *, connection: Any = None
) -> Change[Committee]:
    """The committee and its meetings; raises HistoryRefused (nothing appended)."""
    try:
        steps = committee_steps(
            command.factory_id,
            command.members,
            command.established_on,
            command.meetings,
            today=deps.clock().date(),
        )
    except HistoryEntryRefused as error:
        raise HistoryRefused([(0, error.field, error.detail)]) from error
    return await _run_steps(
        deps.committees, command.factory_id, [steps], [command.origin], {}, connection
    )


IMPORT_HANDLERS: dict[type[Any], Any] = {
    ImportItemHistories: import_item_histories,
    ImportCommittee: import_committee,
}


# the records: checked, translated into commands, rejected with the rules' reasons ----------------


def _unsafe_text(fields: Sequence[tuple[str, str | None, re.Pattern[str]]]) -> str | None:
    """The first field holding a control character its kind of text may not (PostgreSQL cannot
    store NUL, and nothing legitimate needs the others)."""
    for name, value, allowed in fields:
        if value is not None and not allowed.fullmatch(value):
            return name
    return None


def _item_history(record: PlanItemRecord, item: queries.ItemToImport) -> ItemHistory:
    due_date = record.due_date or item.due_date
    return ItemHistory(
        item_id=item.item_id,
        opened_on=item.report_date,
        # a draft is held to the programme's deadline, a published item to the factory's own
        binding_due_date=due_date if item.published_in is not None else item.latest_due_date,
        root_cause=record.root_cause,
        planned_action=record.planned_action,
        responsible_person=record.responsible_person,
        due_date=record.due_date,
        changes=tuple(
            StatusEntry(ItemStatus(change.status), change.on, change.by, change.reason)
            for change in record.status_history
        ),
        next_cycle_opened_on=item.next_cycle_report_date,
    )


async def apply_plan_items(deps: Remediation, batch: ImportBatch[PlanItemRecord]) -> None:
    """Plan items: the item of (assessment, question) must be here already (the consumer added it
    from the imported NonComplianceFound) and of the importer's country programmes."""
    item_ids = {
        entry.record.source_id: item_id_for(
            imported_id("assessments", entry.record.assessment), entry.record.question_id
        )
        for entry in batch.records
    }
    found = await queries.items_to_import(batch.connection, item_ids.values())
    visible = {key: item for key, item in found.items() if batch.principal.works_in(item.country)}
    unknown = [entry for entry in batch.records if item_ids[entry.record.source_id] not in visible]
    if unknown:
        assessments = await queries.assessments_with_items(
            batch.connection, [imported_id("assessments", e.record.assessment) for e in unknown]
        )
        for entry in unknown:
            assessment_id = imported_id("assessments", entry.record.assessment)
            known = assessment_id in assessments and batch.principal.works_in(
                assessments[assessment_id]
            )
            batch.reject(entry, "question_id" if known else "assessment", UNKNOWN_NON_COMPLIANCE)
    by_factory: dict[str, list[tuple[Numbered[PlanItemRecord], ItemHistory]]] = {}
    first_line: dict[str, int] = {}
    for entry in batch.records:
        item = visible.get(item_ids[entry.record.source_id])
        if item is None:
            continue
        batch.scope(entry, item.country)
        if item.item_id in first_line:
            batch.reject(
                entry,
                "question_id",
                f"the same non-compliance as line {first_line[item.item_id]}: an item has one "
                "history",
            )
            continue
        first_line[item.item_id] = entry.line
        record = entry.record
        unsafe = _unsafe_text(
            [
                ("root_cause", record.root_cause, _TEXT),
                ("planned_action", record.planned_action, _TEXT),
                ("responsible_person", record.responsible_person, _LINE),
                *(
                    (f"status_history.{index}.reason", change.reason, _TEXT)
                    for index, change in enumerate(record.status_history)
                ),
            ]
        )
        if unsafe is not None:
            batch.reject(entry, unsafe, "control characters are not allowed here")
            continue
        by_factory.setdefault(item.factory_id, []).append((entry, _item_history(record, item)))
    for factory_id, entries in by_factory.items():
        command = ImportItemHistories(
            factory_id,
            tuple(history for _, history in entries),
            tuple(batch.origin(entry) for entry, _ in entries),
        )
        try:
            change = await import_item_histories(command, deps, connection=batch.connection)
        except HistoryRefused as refused:
            for index, field, reason in refused.refusals:
                batch.reject(entries[index][0], field, reason)
            continue
        batch.appended(len(change.events))


def _committee_command(
    entry: Numbered[CommitteeRecord], factory_id: str, origin: ImportOrigin
) -> ImportCommittee:
    record = entry.record
    return ImportCommittee(
        factory_id=factory_id,
        members=tuple(
            CommitteeMember(
                member_id=imported_id("committee-members", f"{record.source_id}/{index}"),
                name=member.name,
                side=Side(member.side),
                position=member.position,
            )
            for index, member in enumerate(record.members)
        ),
        established_on=record.established_on,
        meetings=tuple(
            MeetingHistory(
                meeting_id=imported_id("committee-meetings", f"{record.source_id}/{index}"),
                held_on=meeting.held_on,
                decisions=meeting.decisions,
                endorses_plan=meeting.endorses_plan,
            )
            for index, meeting in enumerate(record.meetings)
        ),
        origin=origin,
    )


async def apply_committees(deps: Remediation, batch: ImportBatch[CommitteeRecord]) -> None:
    """Committees: of a factory this service knows (an assessment of it reached remediation) in
    the importer's country programmes, and that has no committee here yet."""
    factory_ids = {
        entry.record.source_id: imported_id("factories", entry.record.factory)
        for entry in batch.records
    }
    countries = await queries.plan_countries(batch.connection, factory_ids.values())
    for entry in batch.records:
        record = entry.record
        factory_id = factory_ids[record.source_id]
        if factory_id not in countries or not batch.principal.works_in(countries[factory_id]):
            batch.reject(entry, "factory", UNKNOWN_FACTORY)
            continue
        batch.scope(entry, countries[factory_id])
        unsafe = _unsafe_text(
            [
                *(
                    (f"members.{index}.{name}", value, _LINE)
                    for index, member in enumerate(record.members)
                    for name, value in (("name", member.name), ("position", member.position))
                ),
                *(
                    (f"meetings.{index}.decisions", decision, _TEXT)
                    for index, meeting in enumerate(record.meetings)
                    for decision in meeting.decisions
                ),
            ]
        )
        if unsafe is not None:
            batch.reject(entry, unsafe, "control characters are not allowed here")
            continue
        command = _committee_command(entry, factory_id, batch.origin(entry))
        try:
            change = await import_committee(command, deps, connection=batch.connection)
        except HistoryRefused as refused:
            for _, field, reason in refused.refusals:
                batch.reject(entry, field, reason)
            continue
        batch.appended(len(change.events))


IMPORTS: list[ImportKind[Remediation]] = [
    ImportKind(
        name="committees",
        record=CommitteeRecord,
        apply=apply_committees,
        summary="Import committees (PICC) of a programme's history",
        description="Each committee is set up with its members on the day it was established, "
        "then each meeting is logged on its day, attended by its members (an endorsing meeting "
        "endorses the plan as a live one does). The factory must be known here (an assessment "
        "of it imported and received from the assessment service) and have no committee yet; "
        "only admins of its country programme import it.",
    ),
    ImportKind(
        name="plan-items",
        record=PlanItemRecord,
        apply=apply_plan_items,
        summary="Import improvement plan items' details and status histories",
        description="The item of the record's assessment and question must be here already "
        "(added from the imported assessment's non-compliance). Its details are set on the "
        "report date and each status change is made on its day, through the plan's own rules "
        "(a transition they refuse rejects the record); a deadline passed before a change or "
        "still unverified is flagged overdue on the day after it. Only admins of the factory's "
        "country programme import it.",
    ),
]

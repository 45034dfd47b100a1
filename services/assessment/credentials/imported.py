"""Credentials of imported reports: a report of the programme's past is issued now, once, as it
was imported (its corrections included: revision 0), in the import's transaction. The credential
is valid from its issuance; the report's date is in its subject. Its event is attributed to the
import (imported from the record's bundle, at the time of issuance), so buyers are sent no
webhook of the past, and its row is written with the others by COPY."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import update

from libs.domain.envelope import current_context
from libs.events.history import copy_rows
from libs.events.store import UnitOfWork
from libs.servicekit.imports import ImportBatch, Numbered
from services.assessment.compliance_catalogue import Catalogue
from services.assessment.credentials.issuing import CredentialIssuer, Issuance
from services.assessment.credentials.rows import credential_row
from services.assessment.domain.assessment_events import AssessmentCompleted, FindingCorrected
from services.assessment.domain.assessment_state import ASSESSMENT, Assessment
from services.assessment.domain.credential import FactoryNamed, changes_report
from services.assessment.domain.factory import Factory
from services.assessment.tables import assessment, credential


@dataclass(frozen=True)
class ImportedReport:
    """A record just appended: its item, the assessment as imported, its catalogue and factory,
    and its events with their versions."""

    item: Numbered[Any]
    assessment: Assessment
    catalogue: Catalogue
    factory: Factory
    versions: Sequence[tuple[Any, int]]


def attested(versions: Sequence[tuple[Any, int]]) -> int:
    """The version of the last event that made or changed the report."""
    found = [
        version
        for event, version in versions
        if isinstance(event, AssessmentCompleted)
        or (isinstance(event, FindingCorrected) and changes_report(event.before, event.after))
    ]
    if not found:
        raise ValueError("an imported assessment without its completion")
    return found[-1]


async def issue_imported(
    issuer: CredentialIssuer,
    unit: UnitOfWork,
    batch: ImportBatch[Any],
    reports: Sequence[ImportedReport],
    *,
    effective_from: Callable[[str], date | None],
    issued_at: datetime,
) -> None:
    """Issue each report's credential: one event appended to its stream, its row by COPY.
    `effective_from(version)` is the day a catalogue version took effect."""
    if not reports:
        return
    issuances = [
        Issuance(
            report.assessment,
            report.catalogue,
            effective_from(report.assessment.catalogue_version),
            FactoryNamed(
                report.factory.factory_id,
                report.factory.name,
                report.factory.country,
                report.factory.os_id,
            ),
            attested(report.versions),
        )
        for report in reports
    ]
    events = await issuer.issue(unit.connection, issuances, issued_at)
    for report, event in zip(reports, events, strict=True):
        with batch.at(event.issued_at, report.item):
            context = current_context()
        await unit.append(
            ASSESSMENT.stream_id(report.assessment.assessment_id),
            stream_type=ASSESSMENT.stream_type,
            expected_version=report.versions[-1][1],
            events=[event],
            subject=report.assessment.factory_id,
            contexts=[context],
        )
    batch.appended(len(events))
    await copy_rows(unit.connection, credential, [credential_row(event) for event in events])
    # the read model shows the stream's version: the credential's event is its last
    await unit.connection.execute(
        update(assessment)
        .where(assessment.c.assessment_id.in_([event.assessment_id for event in events]))
        .values(version=assessment.c.version + 1, updated_at=issued_at)
    )

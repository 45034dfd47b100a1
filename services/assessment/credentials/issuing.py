"""Issuing a report's credential, in the unit of work that completed or corrected the report (or
imported it): the report document, its place in a status list, the hash of the event it attests
(read back from the hash-chained store in the same transaction), the credential signed with the
active key, and the offline bundle's other parts, all carried by one `ReportCredentialIssued`
event. Signing takes about a tenth of a millisecond; the rest is three or four statements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.credentials import jose
from libs.credentials.bundle import history_position
from libs.credentials.dcc import (
    Issuer,
    Superseded,
    conformity_credential,
    credential_id,
)
from libs.credentials.did import did_document
from libs.credentials.status_list import status_entry
from services.assessment.compliance_catalogue import Catalogue
from services.assessment.credentials.keys import IssuerKeys
from services.assessment.credentials.status import SignedLists, next_places, read_lists
from services.assessment.domain.assessment_events import ReportCredentialIssued
from services.assessment.domain.assessment_state import ASSESSMENT, Assessment
from services.assessment.domain.credential import FactoryNamed, next_revision, report_document
from services.assessment.tables import SCHEMA, credential, factory

SERVICE = "assessment"
STATUS_PATH = "/v1/credentials/status"

_EVENT_HASHES = text(
    f"""
    SELECT e.stream_id, e.version, e.hash
    FROM {SCHEMA}.event e
    JOIN unnest(CAST(:streams AS text[]), CAST(:versions AS integer[])) AS k(stream_id, version)
      ON e.stream_id = k.stream_id AND e.version = k.version
    """
)


@dataclass(frozen=True)
class Issuance:
    """One report to issue: the assessment as the change left it, the catalogue it pins (and the
    day that version took effect), the factory as the report names it, and the version of the
    event the credential attests (the AssessmentCompleted, or the FindingCorrected)."""

    assessment: Assessment
    catalogue: Catalogue
    catalogue_effective_from: date | None
    factory: FactoryNamed
    attested_version: int


def base_url_of(did: str) -> str:
    """The service's public URL from its did:web DID (https; http for a local host)."""
    host = unquote(did.removeprefix("did:web:").split(":", 1)[0])
    local = host.split(":")[0] in {"localhost", "127.0.0.1"}
    return f"{'http' if local else 'https'}://{host}"


@dataclass
class CredentialIssuer:
    """The programme as issuer: its DID and name, the service's public URL, its keys."""

    did: str
    name: str
    base_url: str
    keys: IssuerKeys
    lists: SignedLists = field(default_factory=SignedLists)

    @property
    def issuer(self) -> Issuer:
        return Issuer(did=self.did, name=self.name, base_url=self.base_url)

    def did_document(self) -> dict[str, Any]:
        return did_document(self.did, self.keys.ring)

    def list_url(self, status_list: int) -> str:
        return f"{self.base_url.rstrip('/')}{STATUS_PATH}/{status_list}"

    async def issue(
        self, connection: AsyncConnection, issuances: Sequence[Issuance], issued_at: datetime
    ) -> list[ReportCredentialIssued]:
        """The events that issue each report's next credential (in the order given)."""
        if not issuances:
            return []
        places = await next_places(connection, len(issuances))
        hashes = await _event_hashes(connection, issuances)
        superseded = await _tokens(
            connection,
            [i.assessment.credential_id for i in issuances if i.assessment.credential_id],
        )
        lists = await read_lists(connection, {status_list for status_list, _ in places})
        ring = self.keys.ring
        document = did_document(self.did, ring)
        events = []
        for issuance, (status_list, index) in zip(issuances, places, strict=True):
            state = issuance.assessment
            assert state.report_date is not None  # only completed reports are issued
            revision = next_revision(state)
            issued_id = credential_id(state.assessment_id, revision)
            report = report_document(
                state,
                issuance.catalogue,
                catalogue_effective_from=issuance.catalogue_effective_from,
                factory=issuance.factory,
                revision=revision,
            )
            previous = state.credential_id
            payload = conformity_credential(
                report,
                issuer=self.issuer,
                credential_id=issued_id,
                issued_at=issued_at,
                status=status_entry(self.list_url(status_list), index),
                supersedes=Superseded(previous, superseded[previous]) if previous else None,
            )
            stream = ASSESSMENT.stream_id(state.assessment_id)
            events.append(
                ReportCredentialIssued(
                    assessment_id=state.assessment_id,
                    factory_id=state.factory_id,
                    credential_id=issued_id,
                    revision=revision,
                    supersedes=previous,
                    report_date=state.report_date,
                    issued_at=issued_at,
                    status_list=status_list,
                    status_list_index=index,
                    credential=jose.sign(payload, ring.active, self.did),
                    report=report,
                    did_document=document,
                    status_list_credential=self.lists.token(
                        lists[status_list], ring, self.did, self.list_url(status_list)
                    ),
                    history=history_position(
                        SERVICE,
                        stream,
                        issuance.attested_version,
                        hashes[(stream, issuance.attested_version)],
                    ),
                )
            )
        return events


async def _event_hashes(
    connection: AsyncConnection, issuances: Sequence[Issuance]
) -> dict[tuple[str, int], str]:
    keys = [
        (ASSESSMENT.stream_id(i.assessment.assessment_id), i.attested_version) for i in issuances
    ]
    rows = await connection.execute(
        _EVENT_HASHES,
        {"streams": [stream for stream, _ in keys], "versions": [v for _, v in keys]},
    )
    found = {(row.stream_id, row.version): row.hash for row in rows}
    missing = [key for key in keys if key not in found]
    if missing:
        raise RuntimeError(f"no stored event to attest at {missing[:3]}")
    return found


async def _tokens(connection: AsyncConnection, credential_ids: list[str]) -> dict[str, str]:
    if not credential_ids:
        return {}
    rows = await connection.execute(
        select(credential.c.credential_id, credential.c.token).where(
            credential.c.credential_id.in_(credential_ids)
        )
    )
    return {row.credential_id: row.token for row in rows}


async def factory_named(connection: AsyncConnection, factory_id: str) -> FactoryNamed:
    """The factory as its read model has it now (in the command's transaction)."""
    row = (
        await connection.execute(
            select(factory.c.factory_id, factory.c.name, factory.c.country, factory.c.os_id).where(
                factory.c.factory_id == factory_id
            )
        )
    ).one()
    return FactoryNamed(row.factory_id, row.name, row.country, row.os_id)

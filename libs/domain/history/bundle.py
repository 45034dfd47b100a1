"""The bundle's manifest, its kinds in import order, and the identifiers derived from source ids."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.domain.identifiers import name_id

FORMAT = "betterwork-history/1"
# the namespace of identifiers derived from source ids (a fixed, random UUID)
HISTORY_NAMESPACE = "6f1c3a52-8d0e-4f7b-9a61-2b5e0c7d4e18"

SOURCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,119}$"
BUNDLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"


class Record(BaseModel):
    """Every record: its source id (the id in the system the programme comes from)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    source_id: str = Field(
        pattern=SOURCE_ID_PATTERN,
        description="The record's id in the system the programme comes from; unique in its kind.",
    )


@dataclass(frozen=True)
class Kind:
    """A kind of record: its file, the service that owns and imports it, and its phase (a phase
    starts once the events of the phases before it have reached every service)."""

    name: str
    service: str
    phase: int
    record: type[Record]

    @property
    def file(self) -> str:
        return f"{self.name.replace('-', '_')}.jsonl"


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str = Field(pattern=r"^[a-z_]+\.jsonl$")
    records: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    """`manifest.json`: what the bundle is and which files it holds, with their checksums."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["betterwork-history/1"]
    bundle_id: str = Field(pattern=BUNDLE_ID_PATTERN)
    programme: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    created_at: datetime
    description: str = ""
    kinds: dict[str, FileEntry] = Field(description="Kind name -> its file.")

    def checksum(self) -> str:
        """The bundle's checksum: SHA-256 of the canonical manifest (which holds every file's)."""
        return "sha256:" + hashlib.sha256(canonical(self.model_dump(mode="json"))).hexdigest()


def canonical(value: Any) -> bytes:
    """Canonical JSON (sorted keys, no spaces, UTF-8): what digests are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(record: BaseModel) -> str:
    """A record's digest: importing the same source id with another digest is a conflict."""
    return hashlib.sha256(canonical(record.model_dump(mode="json"))).hexdigest()


def imported_id(kind: str, source_id: str) -> str:
    """The internal identifier of the record `source_id` of `kind` (a version 5 UUID): every
    service derives the same one, and importing again finds it again."""
    return name_id(HISTORY_NAMESPACE, f"{kind}:{source_id}")


def at_noon(day: date) -> datetime:
    """Business time of a fact known only by its day: noon UTC of that day (so it is that day in
    every country programme's time zone)."""
    return datetime.combine(day, time(12), tzinfo=UTC)


def kinds() -> list[Kind]:
    """Every kind, in import order."""
    from libs.domain.history import advisory, assessment, buyer_sharing, remediation

    return [
        Kind("factories", "assessment", 1, assessment.FactoryRecord),
        Kind("assessments", "assessment", 2, assessment.AssessmentRecord),
        Kind("buyers", "buyer_sharing", 1, buyer_sharing.BuyerRecord),
        Kind("committees", "remediation", 3, remediation.CommitteeRecord),
        Kind("plan-items", "remediation", 3, remediation.PlanItemRecord),
        Kind("grants", "buyer_sharing", 3, buyer_sharing.GrantRecord),
        Kind("reliances", "buyer_sharing", 3, buyer_sharing.RelianceRecord),
        Kind("training-sessions", "advisory", 3, advisory.TrainingSessionRecord),
        Kind("advisory-visits", "advisory", 3, advisory.AdvisoryVisitRecord),
    ]


def kind(name: str) -> Kind:
    for candidate in kinds():
        if candidate.name == name:
            return candidate
    raise KeyError(name)

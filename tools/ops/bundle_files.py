"""A history bundle on disk, read and checked before anything is sent: its manifest, each file's
SHA-256 and record count, and every line validated against its kind's record model (the same
pydantic models the services validate with, `libs.domain.history`)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from libs.domain.history.bundle import Kind, Manifest, kinds

MANIFEST = "manifest.json"


class BundleError(Exception):
    """The bundle itself cannot be imported (manifest, a missing file, a checksum or a count):
    nothing is sent."""


@dataclass(frozen=True)
class RowProblem:
    """Why one line of a bundle's file was not imported; a line of the import report."""

    kind: str
    file: str
    line: int
    source_id: str | None
    field: str
    reason: str
    stage: str  # "bundle" (found before sending), "service" (the owning service's answer)

    def document(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "line": self.line,
            "source_id": self.source_id,
            "field": self.field,
            "reason": self.reason,
            "stage": self.stage,
        }


@dataclass
class KindFile:
    """One kind's file: its lines (file numbering from 1), which are valid, and the problems of
    the others."""

    kind: Kind
    path: Path
    lines: list[bytes]
    valid: list[int] = field(default_factory=list)
    source_ids: dict[int, str] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def records(self) -> int:
        return len(self.valid) + len({problem.line for problem in self.problems})

    def body(self, numbers: list[int]) -> tuple[bytes, int]:
        """The request body holding lines `numbers` (ascending) and its first line's number: the
        lines between them are sent empty, so the service numbers every line as the file does."""
        first, last = numbers[0], numbers[-1]
        chosen = set(numbers)
        parts = [self.lines[n - 1] if n in chosen else b"" for n in range(first, last + 1)]
        return b"\n".join(parts) + b"\n", first


@dataclass
class Bundle:
    directory: Path
    manifest: Manifest
    files: list[KindFile]

    @property
    def checksum(self) -> str:
        return self.manifest.checksum()

    def phases(self) -> list[list[KindFile]]:
        """The bundle's kinds grouped by phase, in import order."""
        grouped: dict[int, list[KindFile]] = {}
        for kind_file in self.files:
            grouped.setdefault(kind_file.kind.phase, []).append(kind_file)
        return [grouped[phase] for phase in sorted(grouped)]


def _field(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "record"


def _named_field(kind: Kind, location: tuple[int | str, ...], message: str) -> str:
    """The error's field; for a rule over the whole record (no location), the first of the
    record's fields its message names ("period_end is before period_start": period_end)."""
    if location:
        return _field(location)
    named = {
        name: match.start()
        for name in kind.record.model_fields
        if (match := re.search(rf"\b{name}\b", message)) is not None
    }
    return min(named, key=named.__getitem__) if named else "record"


def validate_lines(kind: Kind, path: Path, lines: list[bytes]) -> KindFile:
    """Every non-empty line against the kind's record model; a source id given twice in the
    file is a problem of its second line."""
    checked = KindFile(kind, path, lines)
    seen: dict[str, int] = {}

    def problem(line: int, source_id: str | None, where: str, reason: str) -> None:
        checked.problems.append(
            RowProblem(kind.name, path.name, line, source_id, where, reason, "bundle")
        )

    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            problem(number, None, "record", f"not a JSON document: {error}")
            continue
        source_id = value.get("source_id") if isinstance(value, dict) else None
        source_id = source_id if isinstance(source_id, str) else None
        try:
            record = kind.record.model_validate(value)
        except ValidationError as error:
            for detail in error.errors(include_url=False):
                where = _named_field(kind, tuple(detail["loc"]), detail["msg"])
                problem(number, source_id, where, detail["msg"])
            continue
        if record.source_id in seen:
            problem(
                number,
                record.source_id,
                "source_id",
                f"given twice in {path.name} (first on line {seen[record.source_id]})",
            )
            continue
        seen[record.source_id] = number
        checked.valid.append(number)
        checked.source_ids[number] = record.source_id
    return checked


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    if not directory.is_dir():
        raise BundleError(f"{directory} is not a directory")
    if not path.is_file():
        raise BundleError(f"{directory} has no {MANIFEST}")
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as error:
        details = "; ".join(
            f"{_field(tuple(detail['loc']))}: {detail['msg']}"
            for detail in error.errors(include_url=False)
        )
        raise BundleError(f"{MANIFEST} is not a valid manifest: {details}") from None


def load_bundle(directory: Path) -> Bundle:
    """Read and check the bundle in `directory` (raises BundleError; row problems are kept)."""
    manifest = read_manifest(directory)
    known = {kind.name: kind for kind in kinds()}
    unknown = sorted(set(manifest.kinds) - set(known))
    if unknown:
        raise BundleError(f"{MANIFEST} names kinds this system does not import: {unknown}")
    files: list[KindFile] = []
    for kind in kinds():  # import order
        entry = manifest.kinds.get(kind.name)
        if entry is None:
            continue
        if entry.file != kind.file:
            raise BundleError(f"{kind.name}: the file is {kind.file}, not {entry.file}")
        path = directory / entry.file
        if not path.is_file():
            raise BundleError(f"{kind.name}: {entry.file} is missing")
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != entry.sha256:
            raise BundleError(f"{entry.file}: its SHA-256 is not the manifest's (changed?)")
        lines = content.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()  # the newline that ends the last line
        records = sum(1 for line in lines if line.strip())
        if records != entry.records:
            raise BundleError(f"{entry.file}: {records} records, the manifest says {entry.records}")
        files.append(validate_lines(kind, path, lines))
    return Bundle(directory, manifest, files)

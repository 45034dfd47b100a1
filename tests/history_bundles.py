"""History bundles for tests: write one from records (a record may be a raw line, to be malformed
on purpose), and read a bundle's files back, change some lines and write a consistent manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from libs.domain.history.bundle import FORMAT, Manifest, kind

Line = Mapping[str, Any] | str


def line_of(record: Line) -> str:
    return record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)


def write_bundle(
    directory: Path,
    records: Mapping[str, Sequence[Line]],
    *,
    bundle_id: str = "test-bundle-1",
    country: str = "KH",
    programme: str = "Test programme",
) -> Manifest:
    """`records`: kind name -> its lines (a mapping is written as JSON, a string as is)."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, lines in records.items():
        file = kind(name).file
        content = "".join(line_of(record) + "\n" for record in lines).encode()
        (directory / file).write_bytes(content)
        entries[name] = {
            "file": file,
            "records": len(lines),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
    manifest = Manifest.model_validate(
        {
            "format": FORMAT,
            "bundle_id": bundle_id,
            "programme": programme,
            "country": country,
            "created_at": datetime(2011, 1, 15, tzinfo=UTC).isoformat(),
            "kinds": entries,
        }
    )
    (directory / "manifest.json").write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    return manifest


def read_records(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Every kind's records of the bundle in `directory`, in file order."""
    manifest = Manifest.model_validate_json((directory / "manifest.json").read_bytes())
    return {
        name: [
            json.loads(line)
            for line in (directory / entry.file).read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        for name, entry in manifest.kinds.items()
    }


def altered_copy(
    source: Path,
    target: Path,
    change: Callable[[dict[str, list[Line]]], None],
    *,
    bundle_id: str,
) -> Manifest:
    """A copy of the bundle in `source` with `change` applied to its records (in place), written
    to `target` with its own id and a manifest that matches the files."""
    manifest = Manifest.model_validate_json((source / "manifest.json").read_bytes())
    records: dict[str, list[Line]] = {
        name: list(lines) for name, lines in read_records(source).items()
    }
    change(records)
    if target.exists():
        shutil.rmtree(target)
    return write_bundle(
        target,
        records,
        bundle_id=bundle_id,
        country=manifest.country,
        programme=manifest.programme,
    )

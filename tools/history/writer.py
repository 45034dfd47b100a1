"""Writes a bundle: one JSON Lines file per kind, streamed, each file's SHA-256 and record count
kept as it is written, and `manifest.json` at the end."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from libs.domain.history.bundle import FORMAT, FileEntry, Manifest, kinds


class KindFile:
    """One kind's file, open for writing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self._hash = hashlib.sha256()
        self._file: IO[bytes] = path.open("wb")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        self._hash.update(line)
        self._file.write(line)
        self.records += 1

    def close(self) -> FileEntry:
        self._file.close()
        return FileEntry(file=self.path.name, records=self.records, sha256=self._hash.hexdigest())


class BundleWriter:
    """`with BundleWriter(directory) as bundle: bundle["factories"].write({...})`; the manifest
    is written by `finish`."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.files = {kind.name: KindFile(directory / kind.file) for kind in kinds()}
        self.manifest: Manifest | None = None

    def __getitem__(self, kind: str) -> KindFile:
        return self.files[kind]

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for file in self.files.values():
            if not file._file.closed:
                file._file.close()

    def finish(
        self,
        *,
        bundle_id: str,
        programme: str,
        country: str,
        created_at: datetime,
        description: str,
    ) -> Manifest:
        entries = {name: file.close() for name, file in self.files.items()}
        manifest = Manifest(
            format=FORMAT,
            bundle_id=bundle_id,
            programme=programme,
            country=country,
            created_at=created_at,
            description=description,
            kinds=entries,
        )
        text = json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False)
        (self.directory / "manifest.json").write_text(text + "\n", encoding="utf-8")
        self.manifest = manifest
        return manifest

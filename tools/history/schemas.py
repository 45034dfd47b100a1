"""The bundle's JSON Schemas, committed under `docs/history-bundle/` so that a programme's
integrators can check their export without running anything: one per kind (a line of its JSON
Lines file) and one for `manifest.json`, generated from the record models
(`libs/domain/history`). `python -m tools.history schemas` writes them; `--check` fails when one
is not what the models say (a test runs the same check)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from libs.domain.history.bundle import FORMAT, Manifest, kinds

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = ROOT / "docs" / "history-bundle"
BASE_URI = "https://betterwork.example/schemas/history-bundle/1/"
SERVICES = {
    "assessment": "the assessment service",
    "remediation": "the remediation service",
    "buyer_sharing": "the buyer sharing service",
    "advisory": "the advisory service",
}


def _schema(model: type[BaseModel], name: str, title: str, description: str) -> dict[str, Any]:
    generated = model.model_json_schema()
    generated.pop("title", None)
    generated.pop("description", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{BASE_URI}{name}.schema.json",
        "title": title,
        "description": description,
        **generated,
    }


def documents() -> dict[str, dict[str, Any]]:
    """Every schema by its file name."""
    result = {
        "manifest.schema.json": _schema(
            Manifest,
            "manifest",
            f"{FORMAT}: manifest.json",
            "What the bundle is (its id, the programme and its country) and the file of each "
            "kind with its record count and SHA-256. The bundle's checksum is the SHA-256 of "
            "the canonical manifest (sorted keys, no spaces, UTF-8). See docs/history-bundle.md.",
        )
    }
    for kind in kinds():
        summary = (kind.record.__doc__ or "").strip().split("\n\n")[0]
        summary = " ".join(summary.split())
        result[f"{kind.name}.schema.json"] = _schema(
            kind.record,
            kind.name,
            f"{FORMAT}: {kind.name} ({kind.file})",
            (f"{summary} " if summary else "")
            + f"One line of {kind.file}, imported by {SERVICES.get(kind.service, kind.service)} "
            f"(POST /v1/imports/{kind.name}) in phase {kind.phase}. The schema checks each "
            "record's shape; the rules across its fields (dates in order, references among its "
            "entries) are the record model's, and the references to other records the owning "
            "service's. See docs/history-bundle.md.",
        )
    return result


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(directory: Path = DIRECTORY) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents().items():
        path = directory / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def check(directory: Path = DIRECTORY) -> list[Path]:
    """The schema files that are missing or not what the models say."""
    return [
        directory / name
        for name, document in documents().items()
        if not (directory / name).exists()
        or (directory / name).read_text(encoding="utf-8") != render(document)
    ]

"""The committed JSON Schemas (docs/history-bundle/) are what the record models say, and a bundle's
records validate against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from libs.domain.history.bundle import kinds
from tools.history.__main__ import main
from tools.history.generate import Generated
from tools.history.schemas import BASE_URI, DIRECTORY, check, documents, write


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((DIRECTORY / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def test_the_committed_schemas_are_current() -> None:
    """CI's check: regenerate from the models and compare (python -m tools.history schemas)."""
    assert check() == [], "stale: run python -m tools.history schemas"
    assert main(["schemas", "--check"]) == 0


def test_every_kind_and_the_manifest_have_a_schema_with_an_id_and_a_title() -> None:
    names = {f"{kind.name}.schema.json" for kind in kinds()} | {"manifest.schema.json"}
    assert set(documents()) == names
    for name, document in documents().items():
        assert document["$id"] == BASE_URI + name
        assert document["title"].startswith("betterwork-history/1")
        assert document["description"]
        assert document["type"] == "object"


def test_the_check_finds_a_stale_or_missing_schema(tmp_path: Path) -> None:
    write(tmp_path)
    assert check(tmp_path) == []
    (tmp_path / "grants.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "reliances.schema.json").unlink()
    assert sorted(path.name for path in check(tmp_path)) == [
        "grants.schema.json",
        "reliances.schema.json",
    ]


def test_every_record_of_a_generated_history_validates_against_its_schema(
    small_history: tuple[Path, Generated],
) -> None:
    directory, generated = small_history
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert list(validator("manifest").iter_errors(manifest)) == []
    for kind in kinds():
        check_record = validator(kind.name)
        lines = (directory / kind.file).read_text(encoding="utf-8").splitlines()
        assert len(lines) == generated.records[kind.name] > 0, kind.name
        for number, line in enumerate(lines, start=1):
            errors = [error.message for error in check_record.iter_errors(json.loads(line))]
            assert errors == [], f"{kind.file}:{number}: {errors}"


@pytest.mark.parametrize(
    ("name", "record", "field"),
    [
        ("factories", {"source_id": "KH-F-1", "name": "x"}, "country"),
        (
            "advisory-visits",
            {
                "source_id": "KH-V-1",
                "factory": "KH-F-1",
                "visited_on": "2004-02-30",
                "duration_days": 1,
                "purpose": "other",
            },
            "visited_on",
        ),
        (
            "advisory-visits",
            {
                "source_id": "KH-V-1",
                "factory": "KH-F-1",
                "visited_on": "2004-02-03",
                "duration_days": 0.7,
                "purpose": "other",
            },
            "duration_days",
        ),
        (
            "grants",
            {
                "source_id": "KH-G-1",
                "buyer": "B",
                "factory": "F",
                "granted_on": "2004-01-01",
                "extra": 1,
            },
            "extra",
        ),
    ],
)
def test_a_schema_refuses_a_bad_record(name: str, record: dict[str, Any], field: str) -> None:
    errors = list(validator(name).iter_errors(record))
    assert errors, f"{name} accepted {record}"
    assert any(field in (error.message + "".join(map(str, error.path))) for error in errors)

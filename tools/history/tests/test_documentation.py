"""docs/history-bundle.md shows a valid example of every kind: each validates against its record
model and its JSON Schema, and they refer to each other as a bundle's records do."""

from __future__ import annotations

import json
import re
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

from libs.domain.history.bundle import kinds
from tools.history.schemas import DIRECTORY

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "history-bundle.md"
EXAMPLE = re.compile(
    r"^#### `(?P<file>[a-z_]+\.jsonl)`\n\n```json\n(?P<lines>.*?)\n```", re.M | re.S
)


def examples() -> dict[str, list[str]]:
    return {
        match["file"]: match["lines"].splitlines()
        for match in EXAMPLE.finditer(DOCUMENT.read_text(encoding="utf-8"))
    }


def test_every_kind_has_an_example_that_its_model_and_its_schema_accept() -> None:
    found = examples()
    assert set(found) == {kind.file for kind in kinds()}
    for kind in kinds():
        schema = json.loads((DIRECTORY / f"{kind.name}.schema.json").read_text(encoding="utf-8"))
        validator = Draft202012Validator(schema, format_checker=FormatChecker())
        for line in found[kind.file]:
            kind.record.model_validate_json(line)
            assert [error.message for error in validator.iter_errors(json.loads(line))] == []


def test_the_examples_refer_to_each_other() -> None:
    records = {kind.name: [json.loads(line) for line in examples()[kind.file]] for kind in kinds()}
    factories = {record["source_id"] for record in records["factories"]}
    assessments = {record["source_id"]: record for record in records["assessments"]}
    buyers = {record["source_id"] for record in records["buyers"]}
    for name in ("assessments", "committees", "grants", "reliances", "advisory-visits"):
        assert all(record["factory"] in factories for record in records[name]), name
    for record in records["plan-items"] + records["reliances"]:
        assert record["assessment"] in assessments
    for record in records["grants"] + records["reliances"]:
        assert record["buyer"] in buyers
    for item in records["plan-items"]:
        assessment = assessments[item["assessment"]]
        found = {f["question_id"]: f["compliant"] for f in assessment["findings"]}
        found |= {c["question_id"]: c["compliant"] for c in assessment["corrections"]}
        assert found[item["question_id"]] is False, "an item of a standing non-compliance"

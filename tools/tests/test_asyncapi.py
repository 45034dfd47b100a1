"""The AsyncAPI document: generated from the public contracts, complete, and committed up to date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import Field

from libs.domain.contract import PublicContract
from libs.domain.envelope import DomainEvent, EventRegistry
from tools.asyncapi import DOCUMENT, build_document, producer_contracts, render


class Summary(DomainEvent):
    cluster_id: str
    rate: float = Field(ge=0, le=1)


class ReportIssued(DomainEvent):
    """A report was issued.

    Longer description of the fact."""

    factory_id: str = Field(description="The factory the report is about.")
    report_date: date
    summary: tuple[Summary, ...]


class ReportIssuedV2(ReportIssued):
    """A report was issued (with the issuing office)."""

    event_name = "ReportIssued"
    schema_version = 2
    office: str


def example_contract() -> PublicContract:
    registry = EventRegistry("example")
    registry.register_all(ReportIssuedV2, Summary)

    def translate(event: DomainEvent, _state: object) -> Sequence[DomainEvent]:
        return [event]

    return PublicContract(registry, translate)


def resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/")
    node: Any = document
    for part in reference[2:].split("/"):
        node = node[part]
    return node


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def test_each_event_version_is_a_channel_with_its_typed_envelope() -> None:
    document = build_document({"example": example_contract()})
    assert document["asyncapi"] == "3.0.0"
    # A registry holds the current version of each event (older ones are upcast on reading).
    assert set(document["channels"]) == {"example.ReportIssued.v2", "example.Summary.v1"}
    channel = document["channels"]["example.ReportIssued.v2"]
    assert channel["address"] == "example.ReportIssued.v2"
    message = document["components"]["messages"]["example.ReportIssued.v2"]
    assert message["summary"] == "A report was issued (with the issuing office)."
    envelope = message["payload"]
    assert envelope["properties"]["type"] == {"const": "org.betterwork.example.ReportIssued.v2"}
    data = resolve(document, envelope["properties"]["data"]["$ref"])
    assert data["properties"]["factory_id"]["description"] == "The factory the report is about."
    assert set(data["required"]) == {"factory_id", "report_date", "summary", "office"}
    summary = resolve(document, data["properties"]["summary"]["items"]["$ref"])
    assert summary["properties"]["rate"]["maximum"] == 1
    operation = document["operations"]["example.ReportIssued.v2.publish"]
    assert operation["action"] == "send"


def test_every_reference_resolves() -> None:
    document = build_document({"example": example_contract()})
    for reference in references(document):
        assert resolve(document, reference) is not None, reference


def test_the_committed_document_is_current() -> None:
    """CI's check: regenerate the document from the code and compare (python3 bw.py asyncapi)."""
    expected = render(build_document(producer_contracts()))
    assert DOCUMENT.exists(), "run python3 bw.py asyncapi"
    assert DOCUMENT.read_text() == expected, (
        "docs/asyncapi.yaml is stale: run python3 bw.py asyncapi"
    )

"""Unit tests of the CloudEvents envelope and the registry: no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from libs.domain.envelope import (
    DomainEvent,
    Envelope,
    EventRegistry,
    UnknownEventType,
    event_type,
    parse_type,
)


class FindingRecorded(DomainEvent):
    assessment_id: str
    question_id: str
    result: str


class FindingRecordedV2(DomainEvent):
    event_name = "FindingRecorded"
    schema_version = 2

    assessment_id: str
    question_id: str
    result: str
    evidence_refs: list[str]


def envelope_for(data: dict[str, Any], type_: str, **extra: Any) -> Envelope:
    return Envelope(
        id="0b0e9b7e-6f1c-4d55-9a55-6c7b1f0f1a11",
        source="/betterwork/assessment",
        type=type_,
        subject="factory-1",
        time=datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC),
        data=data,
        correlationid="corr-1",
        causationid=None,
        streamid="assessment-1",
        streamversion=3,
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        **extra,
    )


class TestEnvelopeSerialisation:
    def test_round_trips_exactly(self) -> None:
        original = envelope_for({"a": 1, "nested": {"b": [1, 2]}}, event_type("assessment", "X", 1))
        payload = original.to_json()
        again = Envelope.from_json(payload)
        assert again == original
        assert again.to_json() == payload

    def test_is_a_cloudevents_structured_document(self) -> None:
        document = json.loads(envelope_for({}, "org.betterwork.assessment.X.v1").to_json())
        assert document["specversion"] == "1.0"
        assert document["datacontenttype"] == "application/json"
        for attribute in ("id", "source", "type", "subject", "time", "data", "traceparent"):
            assert attribute in document
        # CloudEvents extension attribute names are lowercase alphanumeric
        for name in document:
            assert name.isalnum() and name.islower(), name

    def test_keeps_unknown_extension_attributes_from_newer_producers(self) -> None:
        payload = envelope_for({}, "org.betterwork.assessment.X.v1", partitionkey="p1").to_json()
        document = json.loads(payload)
        document["newattribute"] = "kept"
        again = Envelope.from_json(json.dumps(document))
        assert json.loads(again.to_json())["newattribute"] == "kept"

    def test_rejects_a_document_without_required_attributes(self) -> None:
        document = json.loads(envelope_for({}, "org.betterwork.assessment.X.v1").to_json())
        del document["source"]
        with pytest.raises(ValueError):
            Envelope.from_json(json.dumps(document))


class TestRegistry:
    def test_decodes_a_registered_event_ignoring_unknown_fields(self) -> None:
        registry = EventRegistry("assessment")
        registry.register(FindingRecorded)
        envelope = envelope_for(
            {"assessment_id": "a1", "question_id": "q1", "result": "compliant", "later": True},
            "org.betterwork.assessment.FindingRecorded.v1",
        )
        assert registry.decode(envelope) == FindingRecorded(
            assessment_id="a1", question_id="q1", result="compliant"
        )

    def test_upcasts_old_versions_to_the_current_one(self) -> None:
        registry = EventRegistry("assessment")
        registry.register(FindingRecordedV2)

        @registry.upcaster("FindingRecorded", from_version=1)
        def add_evidence_refs(data: dict[str, Any]) -> dict[str, Any]:
            return {**data, "evidence_refs": []}

        event = registry.decode_data(
            "org.betterwork.assessment.FindingRecorded.v1",
            {"assessment_id": "a1", "question_id": "q1", "result": "compliant"},
        )
        assert event == FindingRecordedV2(
            assessment_id="a1", question_id="q1", result="compliant", evidence_refs=[]
        )
        assert registry.type_of(event) == "org.betterwork.assessment.FindingRecorded.v2"

    def test_refuses_an_old_version_without_an_upcaster(self) -> None:
        registry = EventRegistry("assessment")
        registry.register(FindingRecordedV2)
        with pytest.raises(UnknownEventType):
            registry.decode_data("org.betterwork.assessment.FindingRecorded.v1", {})

    def test_consumers_register_copies_under_the_producer(self) -> None:
        registry = EventRegistry("remediation")
        registry.register(FindingRecorded, service="assessment")
        assert registry.knows("org.betterwork.assessment.FindingRecorded.v1")
        assert not registry.knows("org.betterwork.remediation.FindingRecorded.v1")

    @pytest.mark.parametrize(
        "type_",
        ["", "com.other.assessment.X.v1", "org.betterwork.assessment.X", "org.betterwork.a.X.vx"],
    )
    def test_rejects_malformed_types(self, type_: str) -> None:
        with pytest.raises(UnknownEventType):
            parse_type(type_)

"""The AsyncAPI 3.0 document of every public event, generated from the services' public contracts
(`services/<service>/contract.py`): `python3 bw.py asyncapi` writes `docs/asyncapi.yaml`, and
`python3 bw.py asyncapi --check` fails when the committed document is not what the code says
(a test runs the same check in CI).

Channels are the NATS subjects; each message's payload is the CloudEvents 1.0 envelope with its
typed `data`, which is also the body of a buyer's webhook.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no stubs; comes with uvicorn[standard]

from libs.domain.contract import PublicContract
from libs.domain.envelope import TYPE_PREFIX, DomainEvent
from libs.events.nats import subject_for

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
# The services that publish events, each with a `contract.py` declaring `CONTRACT`.
PRODUCERS: tuple[str, ...] = (
    "assessment",
    "remediation",
    "buyer_sharing",
    "notifications",
    "advisory",
)
TITLE = "Better Work compliance backend: public events"
VERSION = "1.0.0"
DESCRIPTION = """\
The events the services publish on NATS JetStream (one stream per producing service, a subject per
event type and schema version), and that buyers receive as webhooks. Every message is a CloudEvents
1.0 JSON document; `data` is the typed event. Consumers de-duplicate by `id` and follow traces with
`traceparent`. The programme's own services order per aggregate by `streamid` and `streamversion`;
buyers' webhooks and the message log carry neither (they would tell how many internal events came
before: docs/notifications.md), so buyers order by `time` and the versions in `data`
(`plan_version`, `committee_version`). `time` is business time, when the fact happened;
`recordedtime` is when it was recorded, and `importedfrom` names the history bundle of a fact
imported from a programme's past (docs/events.md). A new schema version of an event is a new
subject and `type`; older versions stay readable.
"""


def producer_contracts() -> dict[str, PublicContract]:
    """The public contract of every producing service."""
    return {
        service: importlib.import_module(f"services.{service}.contract").CONTRACT
        for service in PRODUCERS
    }


def _describe(cls: type[DomainEvent]) -> tuple[str, str]:
    doc = inspect.getdoc(cls) or cls.event_name
    return doc.split("\n\n", 1)[0].replace("\n", " "), doc


def _envelope_schema(service: str, cls: type[DomainEvent], data_ref: str) -> dict[str, Any]:
    string = {"type": "string"}
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {**string, "description": "Unique per event; de-duplicate on it."},
            "source": {"const": f"/betterwork/{service}"},
            "type": {"const": f"{TYPE_PREFIX}.{service}.{cls.event_name}.v{cls.schema_version}"},
            "subject": {**string, "description": "The factory the event is about."},
            "time": {
                **string,
                "format": "date-time",
                "description": "Business time: when the fact happened (a live fact: when it was "
                "recorded; an imported one: in the programme's past). Time-dependent views use "
                "it.",
            },
            "recordedtime": {
                **string,
                "format": "date-time",
                "description": "When the producer recorded the fact (absent on events recorded "
                "before it existed: then `time`). Equal to `time` for a live fact.",
            },
            "importedfrom": {
                **string,
                "description": "The history bundle (its `bundle_id`) an imported fact came "
                "from, or the imported fact this one followed from came from; absent for live "
                "facts. Buyers' webhooks never carry an imported fact.",
            },
            "datacontenttype": {"const": "application/json"},
            "data": {"$ref": data_ref},
            "traceparent": {**string, "description": "W3C trace context of the cause."},
            "tracestate": {**string},
            "correlationid": {**string, "description": "The request or flow that caused it."},
            "causationid": {**string, "description": "The event that caused it, if any."},
            "streamid": {
                **string,
                "description": "The aggregate's event stream (between services only: never in "
                "a buyer's webhook).",
            },
            "streamversion": {
                "type": "integer",
                "minimum": 1,
                "description": "The aggregate's version after the event: order by it per "
                "streamid (between services only: never in a buyer's webhook).",
            },
        },
    }


def build_document(contracts: Mapping[str, PublicContract]) -> dict[str, Any]:
    """The AsyncAPI document of `contracts` (service name → contract), in a stable order."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for service in sorted(contracts):
        events = sorted(
            (cls for _, cls in contracts[service].registry.classes()),
            key=lambda cls: (cls.event_name, cls.schema_version),
        )
        for cls in events:
            key = f"{service}.{cls.event_name}.v{cls.schema_version}"
            data_schema = cls.model_json_schema(
                ref_template=f"#/components/schemas/{service}.{{model}}", mode="serialization"
            )
            for name, definition in data_schema.pop("$defs", {}).items():
                schemas[f"{service}.{name}"] = definition
            schemas[f"{key}.data"] = data_schema
            summary, description = _describe(cls)
            messages[key] = {
                "name": cls.event_name,
                "title": f"{cls.event_name} v{cls.schema_version}",
                "summary": summary,
                "description": description,
                "contentType": "application/cloudevents+json",
                "headers": {
                    "type": "object",
                    "properties": {
                        "Nats-Msg-Id": {
                            "type": "string",
                            "description": "The event id: JetStream drops a re-publication.",
                        },
                        "traceparent": {"type": "string"},
                    },
                },
                "payload": _envelope_schema(service, cls, f"#/components/schemas/{key}.data"),
            }
            channels[key] = {
                "address": subject_for("", service, cls.event_name, cls.schema_version),
                "title": f"{service}: {cls.event_name} v{cls.schema_version}",
                "description": f"JetStream stream {service.upper()}, subjects `{service}.>`.",
                "messages": {cls.event_name: {"$ref": f"#/components/messages/{key}"}},
            }
            operations[f"{key}.publish"] = {
                "action": "send",
                "summary": f"The {service} service publishes {cls.event_name}.",
                "channel": {"$ref": f"#/channels/{key}"},
                "messages": [{"$ref": f"#/channels/{key}/messages/{cls.event_name}"}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": TITLE, "version": VERSION, "description": " ".join(DESCRIPTION.split())},
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "local": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "NATS JetStream as `python3 bw.py up` runs it.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render(document: Mapping[str, Any]) -> str:
    header = "# Generated by `python3 bw.py asyncapi` from services/*/contract.py: do not edit.\n"
    body: str = yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, width=100)
    return header + body


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 bw.py asyncapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/asyncapi.yaml is stale")
    args = parser.parse_args(argv)
    text = render(build_document(producer_contracts()))
    if args.check:
        current = DOCUMENT.read_text() if DOCUMENT.exists() else ""
        if current != text:
            print(f"{DOCUMENT.relative_to(ROOT)} is out of date: run python3 bw.py asyncapi")
            return 1
        print(f"{DOCUMENT.relative_to(ROOT)} is current")
        return 0
    DOCUMENT.write_text(text)
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

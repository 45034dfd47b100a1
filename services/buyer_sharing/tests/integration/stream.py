"""What buyer sharing's own JetStream stream holds, read back by stream sequence (a rolled-up
watermark leaves a gap), for the tests of what leaves the service."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nats.js.errors import NotFoundError

from libs.events.nats import NatsConnection, stream_name

SERVICE = "buyer_sharing"


@dataclass(frozen=True)
class Message:
    sequence: int
    subject: str
    document: dict[str, Any]

    @property
    def event_name(self) -> str:
        return self.subject.rsplit(".", 2)[-2]


async def messages(nats: NatsConnection, prefix: str) -> list[Message]:
    """Every message on the BUYER_SHARING stream, in stream order."""
    js = nats.jetstream()
    name = stream_name(prefix, SERVICE)
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        return []
    found: list[Message] = []
    if not info.state.messages:
        return found
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            message = await js.get_msg(name, sequence)
        except NotFoundError:  # rolled up (an older watermark)
            continue
        found.append(Message(sequence, message.subject or "", json.loads(message.data or b"{}")))
    return found

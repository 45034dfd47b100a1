"""A service starting while JetStream is not answering yet (a forming cluster, a server still
starting JetStream) waits for it instead of failing its start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from libs.events.nats import NatsConnection
from tools.embedded import EmbeddedNats, free_port

pytestmark = pytest.mark.integration


class NatsWithoutJetStream(EmbeddedNats):
    """The same server with JetStream off: its JetStream API has no responders."""

    def _command(self) -> list[str]:
        return [part for part in super()._command() if part != "-js"]


async def test_ensure_stream_waits_until_jetstream_answers(tmp_path: Path) -> None:
    port = free_port()
    plain = NatsWithoutJetStream(tmp_path / "plain", port)
    await asyncio.to_thread(plain.start)
    connection = NatsConnection(plain.url, name="stream-setup-test")
    jetstream_server = EmbeddedNats(tmp_path / "js", port)
    try:
        await connection.start()
        ensuring = asyncio.create_task(connection.ensure_stream("setup.", "library"))
        await asyncio.sleep(1.0)
        assert not ensuring.done(), "it should still be waiting for JetStream"
        await asyncio.to_thread(plain.stop)
        await asyncio.to_thread(jetstream_server.start)
        name = await asyncio.wait_for(ensuring, timeout=25)
        info = await connection.jetstream().stream_info(name)
        assert info.config.subjects == ["setup.library.>"]
    finally:
        await connection.stop()
        await asyncio.to_thread(plain.stop)
        await asyncio.to_thread(jetstream_server.stop)

"""`python -m bench.webhook_receiver PORT_FILE`: the notifications benchmark's webhook receiver,
a raw asyncio HTTP/1.1 server on 127.0.0.1 in its own process. `/fast/...` answers 204 at once,
`/hang/...` never answers (the service's timeout ends it). For each fast request it keeps the
`webhook-id` (de-duplicated) and the delay from the event's `time` (its append upstream) to
arrival. `GET /_stats` answers the counts and latencies as JSON; `POST /_reset` clears them.
It writes its port to PORT_FILE and stops on SIGTERM or after at most an hour; the bench starts
it with `receiver_process`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

MAX_LIFETIME_SECONDS = 3600.0


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.fast = 0
        self.hung = 0
        self.ids: set[str] = set()
        self.latencies_ms: list[float] = []
        self.first_at: float | None = None
        self.last_at: float | None = None

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "fast": self.fast,
                "unique": len(self.ids),
                "hung": self.hung,
                "first_at": self.first_at,
                "last_at": self.last_at,
                "latencies_ms": self.latencies_ms,
            }
        ).encode()


STATS = Stats()
HUNG: set[asyncio.Future[None]] = set()


def _event_time(body: bytes) -> float | None:
    # the document is compact JSON written by the service; only `time` is needed
    start = body.find(b'"time":"')
    if start < 0:
        return None
    end = body.find(b'"', start + 8)
    try:
        return datetime.fromisoformat(body[start + 8 : end].decode()).timestamp()
    except ValueError:
        return None


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, path, _version = line.decode("latin-1").split(" ", 2)
            length = 0
            webhook_id = ""
            while (header := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "webhook-id":
                    webhook_id = value.strip()
            body = await reader.readexactly(length) if length else b""
            if path.startswith("/hang"):
                STATS.hung += 1
                hang: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                HUNG.add(hang)
                try:
                    await hang
                finally:
                    HUNG.discard(hang)
                return
            if path == "/_stats":
                answer = STATS.as_json()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
            elif path == "/_reset" and method == "POST":
                STATS.reset()
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                now = time.time()
                STATS.fast += 1
                STATS.first_at = STATS.first_at or now
                STATS.last_at = now
                if webhook_id not in STATS.ids:
                    STATS.ids.add(webhook_id)
                    happened = _event_time(body)
                    if happened is not None:
                        STATS.latencies_ms.append((now - happened) * 1000)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()


async def main(port_file: Path) -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    await asyncio.to_thread(port_file.write_text, str(port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=MAX_LIFETIME_SECONDS)
    for hang in list(HUNG):
        if not hang.done():
            hang.set_result(None)  # the hanging requests end without an answer
    server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), timeout=5)


@contextlib.asynccontextmanager
async def receiver_process(workdir: Path) -> AsyncIterator[str]:
    """The receiver in its own process; yields its base URL."""
    port_file = workdir / "receiver.port"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.webhook_receiver", str(port_file)
    )
    try:
        deadline = time.monotonic() + 15
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or process.returncode is not None:
                raise RuntimeError("the webhook receiver did not start")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().strip()}"
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))

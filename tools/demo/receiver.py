"""The buyer's side of the demo and the end-to-end tests: a small webhook receiver on 127.0.0.1
that verifies every Standard Webhooks signature with the `standardwebhooks` library (one secret per
path, i.e. per endpoint) and applies each `webhook-id` once, as a buyer's system should. Stopping
it closes the connections notifications keeps alive and waits for their handlers, so nothing is
left for the event loop's shutdown to cancel."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

MAX_BODY = 1024 * 1024
READ_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


@dataclass
class Delivery:
    """One message as the buyer's system applied it (the first arrival of its webhook-id)."""

    path: str
    webhook_id: str
    event: dict[str, Any]

    @property
    def event_name(self) -> str:
        """`org.betterwork.assessment.AssessmentCompleted.v1` → `AssessmentCompleted`."""
        parts = str(self.event.get("type", "")).split(".")
        return parts[-2] if len(parts) >= 2 else ""


@dataclass
class WebhookReceiver:
    """`await receiver.start()`, `receiver.url(path)`, `receiver.expect(path, secret)` per endpoint;
    `applied[path]` lists the deliveries in arrival order, de-duplicated on webhook-id."""

    host: str = "127.0.0.1"
    port: int = 0
    applied: dict[str, list[Delivery]] = field(default_factory=dict)
    duplicates: int = 0  # arrivals of a webhook-id already applied (at-least-once delivery)
    rejected: list[str] = field(default_factory=list)  # why requests were refused (bad signature…)
    on_delivery: Callable[[Delivery], None] | None = None
    _secrets: dict[str, Webhook] = field(default_factory=dict)
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _server: asyncio.Server | None = None
    # the open connections (kept alive by the sender's pool) and their handlers' tasks
    _connections: dict[asyncio.StreamWriter, asyncio.Task[Any]] = field(default_factory=dict)

    async def start(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening, close every open connection and wait for its handler to return.

        Python 3.11's `Server.wait_closed()` does not wait for connections, and its stream server
        reports a handler task that ends cancelled (as `asyncio.run` leaves every task it finds
        still running at its end) with a `CancelledError` traceback: so each handler is made to
        end on its own here, its reader seeing the connection closed."""
        if self._server is None:
            return
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout=STOP_TIMEOUT)
        for writer in list(self._connections):
            writer.close()
        handlers = set(self._connections.values())
        if handlers:
            _done, pending = await asyncio.wait(handlers, timeout=STOP_TIMEOUT)
            for task in pending:  # a handler that did not see the close (it should): cut it off
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=STOP_TIMEOUT)
        self._server = None

    async def __aenter__(self) -> WebhookReceiver:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def expect(self, path: str, secret: str) -> None:
        """Accept messages on `path` signed with `secret` (the `whsec_…` shown at registration)."""
        self._secrets[path] = Webhook(secret)
        self.applied.setdefault(path, [])

    def names(self, path: str) -> list[str]:
        return [delivery.event_name for delivery in self.applied.get(path, [])]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Until `predicate()` holds after some delivery; TimeoutError after `timeout` seconds."""

        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(_wait(), timeout=timeout)

    # -- HTTP/1.1, just enough for httpx's POSTs ---------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections[writer] = task
        try:
            while True:
                async with asyncio.timeout(READ_TIMEOUT):
                    request_line = await reader.readline()
                    if not request_line:
                        return
                    _method, path, _version = request_line.decode("latin-1").split(" ", 2)
                    headers: dict[str, str] = {}
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.decode("latin-1").partition(":")
                        headers[name.strip().lower()] = value.strip()
                    length = int(headers.get("content-length", "0"))
                    if length > MAX_BODY:
                        await _answer(writer, 413, "too large")
                        return
                    body = await reader.readexactly(length)
                status, text = await self._apply(path, headers, body)
                await _answer(writer, status, text)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, TimeoutError):
            return
        except asyncio.CancelledError:
            # the connection's end, not an error: this task is the handler's top (see `stop`)
            return
        finally:
            self._connections.pop(writer, None)
            writer.close()

    async def _apply(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        webhook = self._secrets.get(path)
        if webhook is None:
            self.rejected.append(f"{path}: no endpoint expected here")
            return 404, "unknown path"
        try:
            event = webhook.verify(body, headers)
        except WebhookVerificationError as error:
            self.rejected.append(f"{path}: {error}")
            return 400, "bad signature"
        webhook_id = headers["webhook-id"]
        async with self._changed:
            if (path, webhook_id) in self._seen:
                self.duplicates += 1
                return 200, "duplicate"
            self._seen.add((path, webhook_id))
            delivery = Delivery(path, webhook_id, event if isinstance(event, dict) else {})
            self.applied[path].append(delivery)
            if self.on_delivery is not None:
                self.on_delivery(delivery)
            self._changed.notify_all()
        return 200, "applied"


async def _answer(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    body = json.dumps({"result": text}).encode()
    writer.write(
        f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()

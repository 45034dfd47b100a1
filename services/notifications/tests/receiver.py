"""A small HTTP/1.1 webhook receiver on 127.0.0.1 for the tests: records every request, answers
from a script (status, headers, or hang), and de-duplicates on `webhook-id` as buyers should."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    delay: float = 0.0


REASONS = {200: "OK", 204: "No Content", 302: "Found", 410: "Gone", 429: "Too Many Requests"}


class Receiver:
    def __init__(
        self,
        answer: Callable[[Received], Answer] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.tls = tls  # serve https with this context
        self.answer = answer or (lambda _request: Answer())
        self.requests: list[Received] = []
        self.effects: dict[str, bytes] = {}  # webhook-id -> body, each applied once
        self.changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._hung: set[asyncio.Event] = set()
        self.port = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for event in self._hung:
            event.set()
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _method, path, _version = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(path, headers, body, time.monotonic())
                answer = self.answer(request)
                if answer.delay:
                    await asyncio.sleep(answer.delay)
                async with self.changed:
                    self.requests.append(request)
                    if 200 <= answer.status < 300 and not answer.hang:
                        self.effects.setdefault(headers.get("webhook-id", ""), body)
                    self.changed.notify_all()
                if answer.hang:
                    released = asyncio.Event()
                    self._hung.add(released)
                    await released.wait()
                    return
                extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
                reason = REASONS.get(answer.status, "Status")
                writer.write(
                    f"HTTP/1.1 {answer.status} {reason}\r\ncontent-length: 2\r\n{extra}\r\nok".encode()
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, ssl.SSLError):
            return
        finally:
            writer.close()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async def _wait() -> None:
            async with self.changed:
                await self.changed.wait_for(predicate)

        await asyncio.wait_for(_wait(), timeout=timeout)

"""A small ASGI helper the middlewares share."""

from __future__ import annotations

from starlette.types import Message, Send


class StatusRecordingSend:
    """Wraps `send` and remembers the response's status once the response has started."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None

    @property
    def started(self) -> bool:
        return self.status is not None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self._send(message)

"""Headless Chromium driven over the Chrome DevTools Protocol, for tests that need a real browser
(Debian's `chromium` package; `.ci/run` installs it). No browser is downloaded."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
START_TIMEOUT_SECONDS = 30.0
COMMAND_TIMEOUT_SECONDS = 30.0


def find_chromium() -> str | None:
    """`BW_CHROMIUM` if set, else the first Chromium on PATH."""
    explicit = os.environ.get("BW_CHROMIUM")
    if explicit:
        return explicit
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class DevToolsPage:
    """One page target: commands by id, events collected in order for the test to inspect."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._connection:
            message = json.loads(raw)
            future = self._waiting.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)
            elif "method" in message:
                self.events.append(message)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        await self._connection.send(
            json.dumps({"id": command_id, "method": method, "params": params})
        )
        reply = await asyncio.wait_for(future, COMMAND_TIMEOUT_SECONDS)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"in page: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll until `expression` is truthy in the page; its value."""
        async with asyncio.timeout(timeout):
            while True:
                value = await self.evaluate(expression)
                if value:
                    return value
                await asyncio.sleep(0.1)

    def requests(self) -> list[dict[str, Any]]:
        """Every request the page made (Network.requestWillBeSent), in order."""
        return [
            event["params"]["request"]
            for event in self.events
            if event["method"] == "Network.requestWillBeSent"
        ]

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self._connection.close()


@contextlib.asynccontextmanager
async def headless_chromium(
    executable: str, *, offline: bool = True
) -> AsyncIterator[DevToolsPage]:
    """A fresh headless Chromium and its first page. `offline`: every host name but 127.0.0.1
    fails to resolve, as on a machine without internet access."""
    profile = Path(tempfile.mkdtemp(prefix="bw-chromium-"))
    arguments = [
        executable,
        "--headless=new",
        "--no-sandbox",  # root in CI containers; the page is our own service
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
    ]
    if offline:
        arguments.append("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
    process = await asyncio.create_subprocess_exec(
        *arguments,
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    page: DevToolsPage | None = None
    try:
        port_file = profile / "DevToolsActivePort"
        async with asyncio.timeout(START_TIMEOUT_SECONDS):
            while not port_file.exists() or not port_file.read_text().strip():
                if process.returncode is not None:
                    raise RuntimeError(f"chromium exited with {process.returncode}")
                await asyncio.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            async with httpx.AsyncClient(timeout=5) as client:
                while True:
                    targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
                    pages = [target for target in targets if target.get("type") == "page"]
                    if pages:
                        break
                    await asyncio.sleep(0.1)
            connection = await connect(pages[0]["webSocketDebuggerUrl"], max_size=None)
        page = DevToolsPage(connection)
        for domain in ("Page", "Runtime", "Network"):
            await page.send(f"{domain}.enable")
        yield page
    finally:
        if page is not None:
            await page.close()
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), timeout=10)
        shutil.rmtree(profile, ignore_errors=True)

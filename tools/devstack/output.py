"""Interleaves the children's output line by line, each line prefixed by a padded name
(coloured when stdout is a terminal)."""

from __future__ import annotations

import asyncio
import sys
from typing import IO

COLOURS = ["36", "33", "35", "32", "34", "31", "96", "93"]
MAX_LINE = 1024 * 1024


class OutputMux:
    def __init__(self, names: list[str], stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.width = max((len(name) for name in names), default=8)
        self.colour = self.stream.isatty()
        self._colours = {name: COLOURS[index % len(COLOURS)] for index, name in enumerate(names)}

    def prefix(self, name: str) -> str:
        label = name.ljust(self.width)
        if self.colour:
            colour = self._colours.get(name, "37")
            return f"\033[{colour}m{label} |\033[0m "
        return f"{label} | "

    def line(self, name: str, text: str) -> None:
        self.stream.write(self.prefix(name) + text.rstrip("\r\n") + "\n")
        self.stream.flush()

    def say(self, text: str) -> None:
        """The runner's own messages: `devstack: …`."""
        self.stream.write(f"devstack: {text}\n")
        self.stream.flush()

    async def pump(self, name: str, reader: asyncio.StreamReader) -> None:
        """Copy `reader` line by line until end of file."""
        while True:
            try:
                raw = await reader.readline()
            except ValueError:  # a line longer than the reader's limit: pass on what is buffered
                raw = await reader.read(MAX_LINE)
            if not raw:
                return
            self.line(name, raw.decode(errors="replace"))

    async def pump_pipe(self, name: str, pipe: IO[bytes]) -> None:
        """Like `pump`, for the pipe of a `subprocess.Popen` child."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_LINE, loop=loop)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe
        )
        try:
            await self.pump(name, reader)
        finally:
            transport.close()

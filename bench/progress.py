"""A one-line progress bar on stderr (redrawn in place on a terminal, a line every few seconds
otherwise, so logs of long runs stay readable)."""

from __future__ import annotations

import sys
import time
from typing import IO


class ProgressBar:
    def __init__(self, total: int, label: str, stream: IO[str] | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._interactive = self.stream.isatty()

    def update(self, done: int, note: str = "") -> None:
        now = time.monotonic()
        every = 0.2 if self._interactive else 10.0
        if done < self.total and now - self._last_draw < every:
            return
        self._last_draw = now
        elapsed = now - self.started
        share = min(done / self.total, 1.0)
        filled = int(share * 30)
        eta = f"{elapsed / share - elapsed:,.0f} s left" if 0 < share < 1 else ""
        text = (
            f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] {done:,}/{self.total:,} "
            f"{elapsed:,.0f} s {eta} {note}"
        )
        if self._interactive:
            self.stream.write("\r" + text.ljust(110))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._interactive:
            self.stream.write("\n")
            self.stream.flush()

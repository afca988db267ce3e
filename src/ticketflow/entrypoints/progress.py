"""A small progress line on stderr for long operations (ingest, replay, benchmark)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``label  done/total  rate`` at most every ``interval`` seconds."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        interval: float = 0.5,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.started = time.monotonic()
        self.last_print = 0.0
        self.done = 0
        self.enabled = self.stream.isatty() or total is None or total > 50_000

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self.enabled and now - self.last_print >= self.interval:
            self.last_print = now
            self._print(end="\r" if self.stream.isatty() else "\n")

    def finish(self) -> None:
        if self.enabled:
            self._print(end="\n")

    def _print(self, end: str) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            text = f"{self.label} [{bar:<30}] {self.done:,}/{self.total:,} {rate:,.0f}/s"
        else:
            text = f"{self.label} {self.done:,} {rate:,.0f}/s"
        print(text, end=end, file=self.stream, flush=True)

"""Progress of long operations (ingest, replay, verify, benchmark) on stderr.

On a terminal: rich's progress display, redrawn at most every ``interval`` seconds. Anywhere
else (a file, a pipe, CI): nothing while the work goes on, and at most one summary line when it
is done, for large work or when asked for (``enabled``).
"""

from __future__ import annotations

import atexit
import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as Display
from rich.text import Text

LARGE = 50_000  # off a terminal, work counting more items than this gets its summary line


class Progress:
    """``update(done)`` as the work goes on, ``finish()`` once at the end."""

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
        self.done = 0
        self.terminal = self.stream.isatty()
        # Off a terminal: print the summary line even for small work.
        self.enabled = total is not None and total > LARGE
        self._shown_at: float | None = None
        self._display: Display | None = None
        self._task: TaskID | None = None
        self._finished = False

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if not self.terminal:
            return
        now = time.monotonic()
        if self._shown_at is None or now - self._shown_at >= self.interval:
            self._shown_at = now
            self._show()

    def finish(self) -> None:
        """The final state: the display's last frame on a terminal, else the summary line when
        the work was large or ``enabled`` is set. Only the first call does anything."""
        if self._finished:
            return
        self._finished = True
        if self.terminal:
            self._show()
            assert self._display is not None
            self._display.stop()
            atexit.unregister(self.finish)
        elif self.enabled or self.done > LARGE:
            print(self.summary(), file=self.stream, flush=True)

    def summary(self) -> str:
        """``label done/total in S s (R/s)``."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        counted = f"{self.done:,}/{self.total:,}" if self.total else f"{self.done:,}"
        return f"{self.label} {counted} in {elapsed:.1f} s ({self.done / elapsed:,.0f}/s)"

    def _show(self) -> None:
        if self._display is None:
            self._display = Display(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                _Rate(),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                auto_refresh=False,  # redrawn by update(), no thread of its own
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._task = self._display.add_task(self.label, total=self.total)
            self._display.start()
            # Work that ends in an error never reaches finish(): give the cursor back anyway.
            atexit.register(self.finish)
        assert self._task is not None
        self._display.update(self._task, completed=self.done, total=self.total, refresh=True)


class _Rate(ProgressColumn):
    """Items per second, over rich's recent window."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed is not None else "", style="progress.data.speed")

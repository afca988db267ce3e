"""Progress on stderr: rich's display on a terminal, at most one summary line elsewhere."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli import ce, run
from ticketflow.entrypoints.progress import LARGE, Progress

SUMMARY = re.compile(r"ingest [\d,]+(/[\d,]+)? in \d+\.\d s \([\d,]+/s\)\n")


class TerminalStream(io.StringIO):
    """What a terminal would receive."""

    def isatty(self) -> bool:
        return True


ProgressFactory = Callable[..., tuple[Progress, io.StringIO]]


@pytest.fixture
def progress_factory(monkeypatch: pytest.MonkeyPatch) -> ProgressFactory:
    """``(progress, stream)``: a Progress writing to a terminal or, by default, to a file."""
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in ("TTY_COMPATIBLE", "TTY_INTERACTIVE", "FORCE_COLOR", "NO_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)

    def make(
        total: int | None = None, terminal: bool = False, interval: float = 0.5
    ) -> tuple[Progress, io.StringIO]:
        stream = TerminalStream() if terminal else io.StringIO()
        return Progress("ingest", total, stream=stream, interval=interval), stream

    return make


class TestOffATerminal:
    def test_small_work_prints_nothing(self, progress_factory: ProgressFactory) -> None:
        for total in (None, 3, LARGE):
            progress, stream = progress_factory(total)
            for done in range(1, 4):
                progress.update(done)
            progress.finish()
            assert stream.getvalue() == ""

    def test_large_work_prints_one_summary_line_at_the_end(
        self, progress_factory: ProgressFactory
    ) -> None:
        progress, stream = progress_factory(LARGE + 1)
        for done in range(0, LARGE + 2, 1000):
            progress.update(done)
        assert stream.getvalue() == ""
        progress.update(LARGE + 1)
        progress.finish()
        progress.finish()
        assert SUMMARY.fullmatch(stream.getvalue())
        assert stream.getvalue().startswith(f"ingest {LARGE + 1:,}/{LARGE + 1:,} in ")

    def test_large_work_of_unknown_size(self, progress_factory: ProgressFactory) -> None:
        progress, stream = progress_factory(None)
        progress.update(LARGE + 1)
        progress.finish()
        assert stream.getvalue().startswith(f"ingest {LARGE + 1:,} in ")
        assert SUMMARY.fullmatch(stream.getvalue())

    def test_summary_asked_for(self, progress_factory: ProgressFactory) -> None:
        progress, stream = progress_factory(10)
        progress.enabled = True
        progress.update(4, total=12)
        progress.finish()
        assert stream.getvalue().startswith("ingest 4/12 in ")
        assert stream.getvalue().count("\n") == 1

    def test_a_one_line_ingest_from_stdin_says_nothing_on_stderr(self, tmp_path: Path) -> None:
        line = ce("ticket.opened", "T-1", "e-1", "2026-03-02T09:00:00Z", {"priority": "P3"})
        result = run(tmp_path / "data", "ingest", "-", stdin=line + "\n")
        assert result.stderr == ""
        assert result.stdout.splitlines()[0].startswith("accepted ")


class TestOnATerminal:
    def test_rich_display_ends_on_the_final_count(self, progress_factory: ProgressFactory) -> None:
        progress, stream = progress_factory(3, terminal=True, interval=0)
        for done in range(1, 4):
            progress.update(done)
        progress.finish()
        text = stream.getvalue()
        last_frame = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).split("\r")[-1]
        assert last_frame.startswith("ingest ")
        assert " 3/3 " in last_frame
        assert text.endswith("\n\x1b[?25h")  # a new line, and the cursor shown again

    def test_redrawn_at_most_every_interval(self, progress_factory: ProgressFactory) -> None:
        def frames(interval: float) -> int:
            progress, stream = progress_factory(100, terminal=True, interval=interval)
            for done in range(1, 101):
                progress.update(done)
            progress.finish()
            return stream.getvalue().count("ingest ")

        assert frames(3600) < 10  # the first update and the end
        assert frames(0) > 100  # every update

    def test_nothing_before_the_first_update(self, progress_factory: ProgressFactory) -> None:
        _, stream = progress_factory(3, terminal=True)
        assert stream.getvalue() == ""

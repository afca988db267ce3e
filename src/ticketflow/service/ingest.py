"""Bulk ingest of JSON Lines CloudEvents (``ticketflow ingest``) through the submit path.

Every line is validated (contract) then decided (engine) in order, in batches of one
transaction each. A rejected line never blocks the lines after it (R-IN-3); it is reported with
its line number, id, reason and rule, and written to the dead-letter sink with its original
text. Blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from ticketflow.bulk import bulk_collection
from ticketflow.contract import parse_event
from ticketflow.domain.clock import SYSTEM_CLOCK, Clock
from ticketflow.errors import ContractError
from ticketflow.service.submit import (
    DEFAULT_FUTURE_TOLERANCE,
    Candidate,
    DeadLetters,
    Decided,
    Decider,
    Intake,
    Publish,
    Rejection,
    Result,
    received_by,
)


class Progress(Protocol):
    """How far a long ingest has gone (lines read)."""

    def update(self, done: int) -> None: ...

    def finish(self) -> None: ...


@dataclass
class IngestReport:
    accepted: int = 0
    duplicate: int = 0
    published: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    dead_letter: Path | None = None

    def count(self, results: Iterable[Result]) -> None:
        for result in results:
            status = result.status
            if status == "accepted":
                self.accepted += 1
            elif status == "duplicate":
                self.duplicate += 1
            elif status == "published":
                self.published += 1
            elif result.rejection is not None:
                self.rejected += 1
                self.rejections.append(result.rejection)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "published": self.published,
            "rejected": self.rejected,
            "rejections": [r.as_dict() for r in self.rejections],
            "dead_letter": str(self.dead_letter) if self.dead_letter else None,
        }


def decode_line(line: str | bytes) -> str:
    """A line as text; raises :class:`ContractError` (``not_utf8``) for invalid UTF-8."""
    if isinstance(line, str):
        return line.rstrip("\r\n")
    try:
        return line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise ContractError("not_utf8", f"line is not UTF-8: {exc}") from None


def line_candidate(number: int, line: str | bytes) -> Candidate | None:
    """The candidate of one line (``None`` for a blank one); a line that is not UTF-8 keeps its
    bytes as its original."""
    try:
        text = decode_line(line)
    except ContractError as exc:
        return Candidate(number, line, error=exc)
    return Candidate.of(number, text, parse_event, text) if text.strip() else None


def candidates(lines: Iterable[str | bytes]) -> Iterator[Candidate]:
    """One candidate per non-blank line, numbered from 1."""
    for number, line in enumerate(lines, start=1):
        candidate = line_candidate(number, line)
        if candidate is not None:
            yield candidate


def _ingest(
    submit: Callable[[list[Candidate]], list[Result]],
    lines: Iterable[str | bytes],
    dead_letter: DeadLetters,
    batch_size: int,
    progress: Progress | None,
) -> IngestReport:
    report = IngestReport()
    batch: list[Candidate] = []
    last = 0
    with bulk_collection():
        for candidate in candidates(lines):
            batch.append(candidate)
            last = candidate.line
            if len(batch) >= batch_size:
                report.count(submit(batch))
                batch = []
                if progress is not None:
                    progress.update(last)
        if batch:
            report.count(submit(batch))
    if progress is not None:
        progress.update(last)
        progress.finish()
    report.rejections.sort(key=lambda r: r.line)
    if report.rejected:
        report.dead_letter = getattr(dead_letter, "path", None)
    return report


def ingest_lines(
    engine: Decider,
    lines: Iterable[str | bytes],
    dead_letter: DeadLetters,
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
    future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
    clock: Clock = SYSTEM_CLOCK,
) -> IngestReport:
    """Validate and apply every line; return the counts and the rejections. A fact dated more
    than ``future_tolerance`` after now (by ``clock``) is rejected (R-IN-6; ``None``: any
    date)."""
    intake = Intake(
        dead_letter, engine, future_tolerance=future_tolerance, received=received_by(clock)
    )
    return _ingest(intake.submit, lines, dead_letter, batch_size, progress)


def publish_lines(
    publish: Publish,
    lines: Iterable[str | bytes],
    dead_letter: DeadLetters,
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
    future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
    clock: Clock = SYSTEM_CLOCK,
    decided: Decided | None = None,
) -> IngestReport:
    """Kafka mode: validate each line and publish the valid ones to the inbound topic (keyed
    by tenant, R-IN-5); the engine worker decides them. Contract rejects stay here, in the
    dead-letter sink, and are told to ``decided``; duplicates and impossible transitions go to
    the dead-letter topic."""
    intake = Intake(
        dead_letter,
        future_tolerance=future_tolerance,
        received=received_by(clock),
        decided=decided,
    )
    return _ingest(
        lambda batch: intake.publish(batch, publish), lines, dead_letter, batch_size, progress
    )

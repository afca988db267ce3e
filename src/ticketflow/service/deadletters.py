"""Dead letters after the fact: list them, preview what each would do now, redrive them.

Embedded mode keeps rejected inputs as JSON Lines files in ``DATA_DIR/deadletter/`` (written by
``ingest`` and the HTTP API; read back by :mod:`ticketflow.adapters.deadletter`). Once the cause
is fixed (a subscription fact that arrived late, a publisher's bug corrected, …), an operator
redrives them: each original goes through the one submit path again, and the adapter records
its new outcome so that a second redrive leaves it alone. Redriving is safe to repeat anyway:
an event already applied is a duplicate (R-IN-1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from eventsourcing.persistence import Tracking

from ticketflow.contract import InboundEvent, parse_event
from ticketflow.service.engine import Decision
from ticketflow.service.ingest import line_candidate
from ticketflow.service.submit import (
    DEFAULT_FUTURE_TOLERANCE,
    Candidate,
    DeadLetters,
    Decider,
    Intake,
    Rejection,
    Result,
)

FIELDS = ("file", "entry", "line", "id", "reason", "rule", "origin", "rejected_at", "redriven")


@dataclass(frozen=True)
class DeadLetter:
    """One rejected input as its dead-letter file keeps it."""

    file: str  # the dead-letter file's name
    entry: int  # its place in that file, from 1
    line: int
    id: str | None
    reason: str
    rule: str | None
    detail: str
    origin: str
    rejected_at: str
    original: str | bytes
    redriven: str | None = None  # the outcome of its redrive, once redriven

    @property
    def key(self) -> tuple[str, int]:
        return self.file, self.entry

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


def select(
    letters: Iterable[DeadLetter], *, reason: str | None = None, pending: bool = True
) -> list[DeadLetter]:
    """The letters of ``reason`` (all reasons when None), only those not yet redriven when
    ``pending``."""
    return [
        letter
        for letter in letters
        if (reason is None or letter.reason == reason) and not (pending and letter.redriven)
    ]


def _candidates(letters: Sequence[DeadLetter]) -> list[Candidate]:
    """One candidate per letter, read as ``ingest`` reads a line (a blank letter, which ingest
    never writes, is read as the contract reads any text)."""
    return [
        line_candidate(n, letter.original) or Candidate.of(n, letter.original, parse_event, "")
        for n, letter in enumerate(letters, start=1)
    ]


class _DryRun:
    """The engine for a dry run: it decides as the engine does, and a commit abandons the
    decision instead of storing it."""

    def __init__(self, engine: Decider) -> None:
        self.engine = engine

    def decide(self, events: Sequence[InboundEvent]) -> Decision:
        return self.engine.decide(events)

    def commit(self, decision: Decision, tracking: Tracking | None = None) -> None:
        self.engine.abandon(decision)

    def abandon(self, decision: Decision) -> None:
        self.engine.abandon(decision)

    def forget_cached(self) -> None:
        self.engine.forget_cached()


class _Unwritten:
    """A dry run's dead-letter sink: its rejections are reported, not written."""

    def write(self, rejection: Rejection, original: Any) -> None:
        pass

    def flush(self) -> None:
        pass


def preview(
    engine: Decider,
    letters: Sequence[DeadLetter],
    *,
    future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
) -> list[Result]:
    """What each letter would do if redriven now; nothing is stored or written.

    The dry run is the redrive's own submit path (the future check of R-IN-6, the per-input
    guard, the engine), with the engine's decisions abandoned instead of committed. One
    difference remains: when an input raises and the batch is decided one input at a time, a
    later input does not see an earlier one's changes (they are not stored)."""
    return preview_candidates(engine, _candidates(letters), future_tolerance=future_tolerance)


def preview_candidates(
    engine: Decider,
    candidates: Sequence[Candidate],
    *,
    future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
) -> list[Result]:
    """:func:`preview` of inputs already decoded by their transport (the dead-letter topic's
    records, decoded as the inbound worker decodes them)."""
    intake = Intake(_Unwritten(), _DryRun(engine), future_tolerance=future_tolerance)
    return intake.submit(candidates)


def redrive(
    engine: Decider,
    letters: Sequence[DeadLetter],
    dead_letters: DeadLetters,
    *,
    future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
) -> list[Result]:
    """Submit each letter's original again, through the one submit path; new rejections go
    to ``dead_letters``."""
    return redrive_candidates(
        engine, _candidates(letters), dead_letters, future_tolerance=future_tolerance
    )


def redrive_candidates(
    engine: Decider,
    candidates: Sequence[Candidate],
    dead_letters: DeadLetters,
    *,
    future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
) -> list[Result]:
    """:func:`redrive` of inputs already decoded by their transport."""
    intake = Intake(dead_letters, engine, future_tolerance=future_tolerance)
    return intake.submit(candidates)

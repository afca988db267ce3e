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
from typing import Any

from ticketflow.contract import parse_event
from ticketflow.errors import ContractError
from ticketflow.service.ingest import decode_line
from ticketflow.service.submit import (
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
    """One candidate per letter, read as ``ingest`` reads a line (bytes must be UTF-8)."""
    found = []
    for n, letter in enumerate(letters, start=1):
        try:
            text = decode_line(letter.original)
        except ContractError as exc:
            found.append(Candidate(n, letter.original, None, exc))
            continue
        found.append(Candidate.of(n, letter.original, parse_event, text))
    return found


def preview(engine: Decider, letters: Sequence[DeadLetter]) -> list[Result]:
    """What each letter would do if redriven now; nothing is stored."""
    candidates = _candidates(letters)
    decision = engine.decide([c.event for c in candidates if c.event is not None])
    engine.abandon(decision)
    outcomes = iter(decision.outcomes)
    results = []
    for candidate in candidates:
        if candidate.error is not None:
            refused = candidate.rejection()
            results.append(Result(candidate.line, refused.id, "rejected", refused))
            continue
        assert candidate.event is not None
        outcome, event_id = next(outcomes), candidate.event.id
        error = outcome.error
        rejection = (
            None
            if error is None
            else Rejection(candidate.line, event_id, error.reason, error.detail, error.rule)
        )
        results.append(Result(candidate.line, event_id, outcome.status, rejection))
    return results


def redrive(
    engine: Decider, letters: Sequence[DeadLetter], dead_letters: DeadLetters
) -> list[Result]:
    """Submit each letter's original again, through the one submit path; new rejections go
    to ``dead_letters``."""
    return Intake(dead_letters, engine).submit(_candidates(letters))

"""Fakes of the service layer's ports, for unit tests without a store, a broker or a file.

Each fake records what it was asked, in order, in one shared ``journal`` when given one, so a
test can check the order of effects across ports (dead letters before commit, for instance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import RecordConflictError, Tracking

from ticketflow.contract import InboundEvent
from ticketflow.errors import RejectedError
from ticketflow.service.engine import Decision, Outcome
from ticketflow.service.submit import Rejection


@dataclass
class FakeEngine:
    """Decides by a rule given per event id (accepted unless told otherwise) and keeps what
    was committed; ``conflicts`` commits fail with a concurrency conflict first."""

    verdicts: dict[str, Outcome] = field(default_factory=dict)
    conflicts: int = 0
    journal: list[tuple[str, Any]] = field(default_factory=list)
    committed: list[InboundEvent] = field(default_factory=list)
    tracking: list[Tracking] = field(default_factory=list)
    decided: int = 0
    forgotten: int = 0
    abandoned: int = 0

    def reject(self, event_id: str, reason: str, rule: str) -> None:
        self.verdicts[event_id] = Outcome("rejected", RejectedError(reason, "refused", rule))

    def decide(self, events: Sequence[InboundEvent]) -> Decision:
        self.decided += 1
        outcomes = [self.verdicts.get(e.id, Outcome("accepted")) for e in events]
        self._pending = [e for e, o in zip(events, outcomes, strict=True) if o.error is None]
        self.journal.append(("decide", [e.id for e in events]))
        return Decision(outcomes, {})

    def commit(self, decision: Decision, tracking: Tracking | None = None) -> None:
        if self.conflicts:
            self.conflicts -= 1
            self.journal.append(("conflict", None))
            raise RecordConflictError("another writer came first")
        self.committed.extend(self._pending)
        if tracking is not None:
            self.tracking.append(tracking)
        self.journal.append(("commit", [e.id for e in self._pending]))
        self._pending = []  # a decision is stored once

    def abandon(self, decision: Decision) -> None:
        self.abandoned += 1
        self.journal.append(("abandon", None))

    def forget_cached(self) -> None:
        self.forgotten += 1


@dataclass
class FakeDeadLetters:
    """Keeps rejections with their originals; ``fail_on_write`` makes writing raise."""

    journal: list[tuple[str, Any]] = field(default_factory=list)
    written: list[tuple[Rejection, Any]] = field(default_factory=list)
    fail_on_write: bool = False
    flushes: int = 0

    def write(self, rejection: Rejection, original: Any) -> None:
        if self.fail_on_write:
            raise OSError("dead-letter sink unavailable")
        self.written.append((rejection, original))
        self.journal.append(("dead_letter", rejection.line))

    def flush(self) -> None:
        self.flushes += 1
        self.journal.append(("flush", None))


@dataclass
class FakePublisher:
    """The inbound topic: keeps ``(key, original)`` pairs."""

    sent: list[tuple[str, Any]] = field(default_factory=list)

    def __call__(self, keyed: Sequence[tuple[str, Any]]) -> int:
        self.sent.extend(keyed)
        return len(keyed)


def ports_factory() -> Callable[[], tuple[FakeEngine, FakeDeadLetters]]:
    """Builds an engine and a dead-letter sink writing to one journal."""

    def build() -> tuple[FakeEngine, FakeDeadLetters]:
        journal: list[tuple[str, Any]] = []
        return FakeEngine(journal=journal), FakeDeadLetters(journal=journal)

    return build

"""The one submit path (DESIGN §4): contract → engine → dead letters.

The command line's ingest, the HTTP API and the Kafka inbound worker all hand their inputs
here. Each input becomes a :class:`Candidate` (the event its transport decoded, or the contract
error that says why it could not be); :meth:`Intake.submit` decides the valid ones with the
engine, writes every rejection to the caller's dead-letter sink, and only then stores the
decided changes (with the transport's position as tracking, when it has one). Kafka mode's
front doors (``ingest`` and ``POST /v1/events`` there) use :meth:`Intake.publish` instead: valid
events go to the inbound topic for the engine worker, rejections to the dead-letter sink.

Order, always: dead letters written and flushed → events and tracking committed. A crash in
between repeats dead letters (at least once), never loses one; nothing valid waits behind a
rejected input (R-IN-3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, Protocol

from eventsourcing.persistence import RecordConflictError, Tracking

from ticketflow.contract import InboundEvent
from ticketflow.errors import ContractError
from ticketflow.service.engine import Decision, Outcome


@dataclass(frozen=True)
class Rejection:
    """Why one input was refused: where it was (``line``: its line, place in a batch, or
    offset), its event id when known, a reason code, a detail and the rule it breaks."""

    line: int
    id: str | None
    reason: str
    detail: str
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Candidate(NamedTuple):
    """One input: its place, its original form, and what the contract made of it (a named
    tuple: one is made per input, on the hot path of every transport)."""

    line: int
    original: Any
    event: InboundEvent | None = None
    error: ContractError | None = None

    @classmethod
    def of(
        cls, line: int, original: Any, decode: Callable[..., InboundEvent], *args: Any
    ) -> Candidate:
        """Run the transport's ``decode(*args)``; a contract error becomes a rejected
        candidate."""
        try:
            return cls(line, original, decode(*args))
        except ContractError as exc:
            return cls(line, original, None, exc)

    def rejection(self) -> Rejection:
        assert self.error is not None
        error = self.error
        return Rejection(self.line, error.event_id, error.reason, error.detail, error.rule)


class Result(NamedTuple):
    """What became of one candidate: accepted, duplicate, published or rejected."""

    line: int
    id: str | None
    status: str
    rejection: Rejection | None = None


class DeadLetters(Protocol):
    """Where rejected inputs go, with their original form (a file, a Kafka topic)."""

    def write(self, rejection: Rejection, original: Any) -> None: ...

    def flush(self) -> None: ...


class Decider(Protocol):
    """What the submit path needs of the engine."""

    def decide(self, events: Sequence[InboundEvent]) -> Decision: ...

    def commit(self, decision: Decision, tracking: Tracking | None = None) -> None: ...

    def abandon(self, decision: Decision) -> None: ...

    def forget_cached(self) -> None: ...


Publish = Callable[[Sequence[tuple[str, Any]]], int]
"""Kafka mode: ``(tenant, original)`` pairs to the inbound topic; returns how many."""


class Intake:
    """The submit path over one dead-letter sink and, to decide, one engine."""

    def __init__(self, dead_letters: DeadLetters, engine: Decider | None = None) -> None:
        self.dead_letters = dead_letters
        self._engine = engine

    @property
    def engine(self) -> Decider:
        if self._engine is None:
            raise TypeError("this intake only publishes: it has no engine to decide with")
        return self._engine

    def submit(
        self, candidates: Sequence[Candidate], tracking: Tracking | None = None
    ) -> list[Result]:
        """Decide, dead-letter, then commit, as one unit; one result per candidate, in order.

        If another writer changed one of the aggregates meanwhile (optimistic concurrency),
        the batch is decided again from the store; contract rejections are not written twice.
        """
        self._dead_letter([c for c in candidates if c.error is not None])
        try:
            return self._decide_and_commit(candidates, tracking)
        except RecordConflictError:
            self.engine.forget_cached()
            return self._decide_and_commit(candidates, tracking)

    def publish(self, candidates: Sequence[Candidate], publish: Publish) -> list[Result]:
        """Kafka mode: rejections to the dead-letter sink, valid events to the inbound topic
        (keyed by tenant) for the engine worker to decide."""
        self._dead_letter([c for c in candidates if c.error is not None])
        keyed = [(c.event.tenant, c.original) for c in candidates if c.event is not None]
        if keyed:
            publish(keyed)
        return [_result(c, "published") for c in candidates]

    def _decide_and_commit(
        self, candidates: Sequence[Candidate], tracking: Tracking | None
    ) -> list[Result]:
        valid = [c for c in candidates if c.event is not None]
        decision = self.engine.decide([c.event for c in valid if c.event is not None])
        outcomes = iter(decision.outcomes)
        results = [
            _result(c, "rejected", next(outcomes) if c.event is not None else None)
            for c in candidates
        ]
        refused = [
            (r.rejection, c.original)
            for c, r in zip(candidates, results, strict=True)
            if c.event is not None and r.rejection is not None
        ]
        try:
            self._write(refused)
        except BaseException:
            self.engine.abandon(decision)
            raise
        self.engine.commit(decision, tracking)
        return results

    def _dead_letter(self, rejected: Sequence[Candidate]) -> None:
        self._write([(c.rejection(), c.original) for c in rejected])

    def _write(self, rejections: Sequence[tuple[Rejection, Any]]) -> None:
        if not rejections:
            return
        for rejection, original in rejections:
            self.dead_letters.write(rejection, original)
        self.dead_letters.flush()


def _result(candidate: Candidate, status: str, outcome: Outcome | None = None) -> Result:
    """The result of a candidate, given the engine's outcome when it was decided."""
    if candidate.error is not None:
        return Result(candidate.line, candidate.error.event_id, "rejected", candidate.rejection())
    assert candidate.event is not None
    event_id = candidate.event.id
    if outcome is None:
        return Result(candidate.line, event_id, status)
    if outcome.error is None:
        return Result(candidate.line, event_id, outcome.status)
    error = outcome.error
    rejection = Rejection(candidate.line, event_id, error.reason, error.detail, error.rule)
    return Result(candidate.line, event_id, "rejected", rejection)

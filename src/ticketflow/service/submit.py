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

The guard: whatever goes wrong while deciding one input (an exception from any library, in the
transport's decoding, the contract or the engine) rejects that input with reason
``internal_error`` (R-IN-3), a digest of the traceback (the full traceback is logged with the
same digest), and the others go on. An outage is not an input's fault: an error of the
database (eventsourcing's ``PersistenceError``), an ``OSError`` or an
:class:`~ticketflow.errors.UnavailableError` goes to the caller, which retries or stops.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from eventsourcing.persistence import PersistenceError, RecordConflictError, Tracking

from ticketflow.contract import InboundEvent, check_not_future, kafka_key
from ticketflow.domain.clock import SYSTEM_CLOCK, Clock
from ticketflow.errors import ContractError, UnavailableError
from ticketflow.service.engine import Decision, Outcome

log = logging.getLogger(__name__)

OUTAGES: tuple[type[BaseException], ...] = (PersistenceError, UnavailableError, OSError)
"""Errors that say a server, a file or the network cannot be used, never that an input is
bad (the dead-letter file's disk full, the database's connection lost)."""

DEFAULT_FUTURE_TOLERANCE = timedelta(hours=24)


def internal_error(exc: BaseException, event_id: str | None = None) -> ContractError:
    """The rejection of an input whose handling raised ``exc`` unexpectedly: reason
    ``internal_error`` (R-IN-3), the exception's type and message, and a digest of its
    traceback, logged in full under the same digest."""
    text = "".join(traceback.format_exception(exc))
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
    log.error("internal_error %s (event id %r):\n%s", digest, event_id, text)
    message = str(exc)[:300]
    detail = f"{type(exc).__name__}: {message} (traceback sha256:{digest})"
    return ContractError("internal_error", detail, event_id)


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
        candidate, and so does any other exception (``internal_error``, R-IN-3)."""
        try:
            return cls(line, original, decode(*args))
        except ContractError as exc:
            return cls(line, original, None, exc)
        except OUTAGES:
            raise
        except Exception as exc:
            return cls(line, original, None, internal_error(exc))

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


Decided = Callable[[Sequence[tuple["Candidate", "Result"]]], None]
"""Told the results of a batch before its commit (at least once, as dead letters)."""

Publish = Callable[[Sequence[tuple[str, Any]]], int]
"""Kafka mode: ``(tenant, original)`` pairs to the inbound topic; returns how many."""


def now(original: Any) -> datetime:
    """When an input was received, for transports that do not say: now."""
    return SYSTEM_CLOCK.now()


def received_by(clock: Clock) -> Callable[[Any], datetime]:
    """When an input was received, for transports that do not say: now by ``clock``."""
    return lambda original: clock.now()


class Intake:
    """The submit path over one dead-letter sink and, to decide, one engine.

    ``future_tolerance``: how far after its reception a fact may be dated (R-IN-6; ``None``
    turns the check off, for synthetic loads); ``received`` gives the instant an input was
    received from its original (the Kafka record's timestamp; by default, now); ``decided``
    is told each decided candidate's result, with the dead letters, before the commit (the
    outcomes a publisher looks up, R-IN-7)."""

    def __init__(
        self,
        dead_letters: DeadLetters,
        engine: Decider | None = None,
        *,
        future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
        received: Callable[[Any], datetime] = now,
        decided: Decided | None = None,
    ) -> None:
        self.dead_letters = dead_letters
        self.decided = decided
        self._engine = engine
        self.future_tolerance = future_tolerance
        self.received = received

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
        If deciding or storing the batch raises anything but an outage, the batch is decided
        again one input at a time, and the input that raises is rejected (``internal_error``).
        """
        candidates = self._screened(candidates)
        self._dead_letter([c for c in candidates if c.error is not None])
        try:
            return self._settle(candidates, tracking)
        except OUTAGES:
            raise
        except Exception:
            self.engine.forget_cached()
            return self._one_by_one(candidates, tracking)

    def publish(self, candidates: Sequence[Candidate], publish: Publish) -> list[Result]:
        """Kafka mode: rejections to the dead-letter sink (and told to ``decided``), valid
        events to the inbound topic (keyed by :func:`~ticketflow.contract.kafka_key`) for the
        engine worker to decide."""
        candidates = self._screened(candidates)
        refused = [c for c in candidates if c.error is not None]
        self._dead_letter(refused)
        self._tell([(c, _result(c, "rejected")) for c in refused])
        keyed = [(kafka_key(c.event), c.original) for c in candidates if c.event is not None]
        if keyed:
            publish(keyed)
        return [_result(c, "published") for c in candidates]

    def _screened(self, candidates: Sequence[Candidate]) -> Sequence[Candidate]:
        """The candidates, those dated too far in the future rejected (R-IN-6)."""
        tolerance = self.future_tolerance
        if tolerance is None:
            return candidates
        screened = list(candidates)
        for index, candidate in enumerate(candidates):
            if candidate.event is None:
                continue
            try:
                check_not_future(candidate.event, self.received(candidate.original), tolerance)
            except ContractError as exc:
                screened[index] = candidate._replace(event=None, error=exc)
        return screened

    def _settle(self, candidates: Sequence[Candidate], tracking: Tracking | None) -> list[Result]:
        try:
            return self._decide_and_commit(candidates, tracking)
        except RecordConflictError:
            self.engine.forget_cached()
            return self._decide_and_commit(candidates, tracking)

    def _one_by_one(
        self, candidates: Sequence[Candidate], tracking: Tracking | None
    ) -> list[Result]:
        """Decide and store each input alone; one that raises is rejected (``internal_error``).
        The tracking is stored last: a crash before it repeats inputs already stored, which
        their ``(source, id)`` makes duplicates (R-IN-1)."""
        results = []
        for candidate in candidates:
            if candidate.event is None:  # already dead-lettered
                results.append(_result(candidate, "rejected"))
                self._tell([(candidate, results[-1])])
                continue
            try:
                results += self._settle([candidate], None)
            except OUTAGES:
                raise
            except Exception as exc:
                self.engine.forget_cached()
                failed = candidate._replace(
                    event=None, error=internal_error(exc, candidate.event.id)
                )
                self._dead_letter([failed])
                results.append(_result(failed, "rejected"))
                self._tell([(failed, results[-1])])
        if tracking is not None:
            self.engine.commit(Decision([], {}), tracking)
        return results

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
            self._tell(list(zip(candidates, results, strict=True)))
        except BaseException:
            self.engine.abandon(decision)
            raise
        self.engine.commit(decision, tracking)
        return results

    def _tell(self, done: Sequence[tuple[Candidate, Result]]) -> None:
        if self.decided is not None:
            self.decided(done)

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

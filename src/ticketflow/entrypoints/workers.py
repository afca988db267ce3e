"""The Kafka mode's long-running pieces (DESIGN §4): inbound engine, relay, projection workers.

Commit order, always: dead letters flushed → database transaction (new events or read-model
rows, with the Kafka position as tracking) → Kafka offsets committed. A crash anywhere repeats
at most the tail after the last database commit, and tracking makes the repeat a no-op.

An outage of the database or the broker is retried with backoff (the consumers rewound to their
committed offsets) for ``TICKETFLOW_OUTAGE_TIMEOUT`` seconds; then the worker stops with
:class:`OutageError`, and its command exits non-zero with a message saying what to check.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking

from projections.base import Projection
from projections.worker import upstream_name
from ticketflow.adapters.errors import translated
from ticketflow.adapters.kafka import (
    DeadLetterTopic,
    commit_polled,
    decode_record,
    default_partition,
    flush_confirmed,
    rewind,
)
from ticketflow.adapters.outcomes import OutcomeTable, outcome_of
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.contract_events import Outbound, from_binary
from ticketflow.errors import UnavailableError
from ticketflow.service.audit import chain_read
from ticketflow.service.engine import Engine
from ticketflow.service.submit import Candidate, Intake, Result
from ticketflow.settings import Settings

POLL_MS = 500


def record_received(record: Any) -> datetime:
    """When a Kafka record was received: its timestamp (the producer's or the broker's), so a
    record read again after a crash is judged the same way (R-IN-6); now if it has none."""
    stamp = getattr(record, "timestamp", None)
    if isinstance(stamp, int) and stamp > 0:
        try:
            return datetime.fromtimestamp(stamp / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return datetime.now(UTC)


class InboundWorker:
    """``ticketflow.inbound`` → the submit path (contract → engine → event store, rejections to
    the dead-letter topic), with the inbound position recorded as tracking."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        consumer: Any,
        producer: Any,
        outcomes: ReadModelStore | None = None,
    ) -> None:
        self.settings, self.engine = settings, engine
        self.consumer, self.producer = consumer, producer
        self.outcomes_store = outcomes
        self.outcomes: OutcomeTable | None = None
        if outcomes is not None:
            self.outcomes = OutcomeTable(lambda: outcomes)
            self.outcomes.create_table()
        self.intake = Intake(
            DeadLetterTopic(producer, settings.topic_deadletter),
            engine,
            future_tolerance=settings.future_tolerance,
            received=record_received,
            decided=self._decided if outcomes is not None else None,
        )
        self.counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "redelivered": 0}

    def run_once(self, timeout_ms: int = POLL_MS) -> int:
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.settings.batch_size)
        for tp, records in polled.items():
            self._partition(tp, records)
        commit_polled(self.consumer, polled)
        return sum(len(r) for r in polled.values())

    def _partition(self, tp: Any, records: Sequence[Any]) -> None:
        name = f"{tp.topic}:{tp.partition}"
        done = self.engine.process_recorder.max_tracking_id(name) or 0
        fresh = [r for r in records if r.offset + 1 > done]
        self.counts["redelivered"] += len(records) - len(fresh)
        if not fresh:
            return
        batch = [Candidate.of(r.offset, r, decode_record, r.value, r.headers, r.key) for r in fresh]
        for result in self.intake.submit(batch, Tracking(name, fresh[-1].offset + 1)):
            self.counts[result.status] += 1

    def _decided(self, done: Sequence[tuple[Candidate, Result]]) -> None:
        """Each decided event's outcome, for lookups by ``(source, id)`` (R-IN-7): written with
        the dead letters, before the events are committed."""
        assert self.outcomes is not None
        # A database error here is an outage (retried, the batch read again), never a reason
        # to reject the events being decided (``internal_error``).
        with translated():
            self.outcomes.record([o for c, r in done if (o := outcome_of(c, r)) is not None])

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()
        self.engine.close()
        if self.outcomes_store is not None:
            self.outcomes_store.close()


RELAY_PREFIX = "relay:"


class Relay:
    """The event store's notification log → ``ticketflow.events`` (key = tenant, ``platform``
    for platform facts, R-IN-5), each stored
    event as its published record (:mod:`ticketflow.contract_events`, DESIGN §3b): CloudEvents
    in binary mode, ``ce_*`` headers and ``data`` as plain JSON.

    With ``chain`` (the read-model database), each published batch is also added to the audit
    chain (:mod:`ticketflow.service.audit`), so the chain follows the log within a batch instead of
    waiting for the next ``audit verify``: an event altered after that is caught."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        producer: Any,
        batch: int = 5000,
        chain: ReadModelStore | None = None,
    ):
        self.settings, self.engine, self.producer, self.batch = settings, engine, producer, batch
        self.chain = chain
        self.name = RELAY_PREFIX + settings.topic_events
        self.outbound = Outbound(engine.recorder, engine.mapper, f"ticketflow/{engine.name}")
        self.partitions: dict[bytes, tuple[int, int]] = {}
        self.published = 0

    def run_once(self, timeout_ms: int = POLL_MS) -> int:
        recorder = self.engine.process_recorder
        position = recorder.max_tracking_id(self.name) or 0
        notifications = recorder.select_notifications(position + 1, self.batch)
        if not notifications:
            time.sleep(timeout_ms / 1000)
            return 0
        topic = self.settings.topic_events
        partitions = sorted(self.producer.partitions_for(topic))
        sent = []
        for n in notifications:
            record = self.outbound.record(n)
            key = record.key.encode()
            sent.append(
                self.producer.send(
                    topic,
                    key=key,
                    value=record.value(),
                    headers=record.headers(),
                    partition=self._partition(key, partitions),
                )
            )
        # Every record confirmed by the broker before the position moves; one that expired or
        # failed makes the round an outage, and the batch is sent again (the projections skip
        # positions they have).
        flush_confirmed(self.producer, sent, f"event(s) not confirmed on {topic}")
        recorder.insert_tracking(Tracking(self.name, notifications[-1].id))
        self.published += len(notifications)
        if self.chain is not None:
            chain_read(recorder, self.chain, position, notifications)
        return len(notifications)

    def close(self) -> None:
        self.producer.close()
        self.engine.close()
        if self.chain is not None:
            self.chain.close()

    def _partition(self, key: bytes, partitions: list[int]) -> int:
        """The partition kafka-python's default partitioner would choose (murmur2 of the key),
        computed once per tenant and partition count rather than once per record."""
        found = self.partitions.get(key)
        if found is None or found[0] != len(partitions):
            index = default_partition(key, len(partitions))
            found = self.partitions[key] = (len(partitions), partitions[index])
        return found[1]


class ProjectionWorker:
    """``ticketflow.events`` → one or more read models, from one consumer.

    Each record is decoded once (:func:`ticketflow.contract_events.from_binary`), and only when
    one of the read models has not seen it yet and reads its type (the position and type
    headers say so); it is then given to each of those read models. Every read model keeps its
    own tracking, written in the same transaction as its rows: ``<name>@<topic>:<partition>``
    (the next offset to read) and ``…#position`` (the last event-store position applied, which
    skips a tail the relay sent again). So a read model can be rebuilt alone, moved to a worker
    or a consumer group of its own, or added to a group later: on assignment each partition is
    read from the lowest offset its read models have recorded (not from the group's committed
    offset), and a read model skips what its own tracking says it has."""

    def __init__(
        self,
        projections: Projection | Sequence[Projection],
        engine: Engine | None,
        store: ReadModelStore,
        consumer: Any,
    ) -> None:
        if isinstance(projections, Projection):
            projections = [projections]
        self.projections = tuple(projections)
        self.store, self.consumer = store, consumer
        self.applied = 0
        self.consumed = 0
        self.decoded = 0
        self.assigned: set[Any] = set()

    @property
    def projection(self) -> Projection:
        """The read model of a worker that serves one."""
        return self.projections[0]

    def run_once(self, timeout_ms: int = POLL_MS) -> int:
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=2000)
        assigned = set(self.consumer.assignment())
        fresh, self.assigned = assigned - self.assigned, assigned
        if fresh:
            # Newly assigned: read from the tracking, not from the group's committed offset;
            # what this poll brought for them is read again from there.
            self.seek_to_tracking(list(fresh))
            polled = {tp: records for tp, records in polled.items() if tp not in fresh}
        for tp, records in polled.items():
            self._partition(tp, records)
        commit_polled(self.consumer, polled)
        count = sum(len(r) for r in polled.values())
        self.consumed += count
        return count

    def close(self) -> None:
        self.consumer.close()
        self.store.close()

    def next_offsets(self, partitions: Sequence[Any]) -> dict[Any, int]:
        """For each partition, the lowest next offset recorded by this worker's read models (0
        for a read model that has recorded nothing)."""
        found = self.store.positions()
        return {
            tp: min(
                found.get(upstream_name(p, f"{tp.topic}:{tp.partition}"), 0)
                for p in self.projections
            )
            for tp in partitions
        }

    def seek_to_tracking(self, partitions: Sequence[Any]) -> None:
        """Read ``partitions`` from where the read models' tracking says (on assignment, and
        after a failed round)."""
        for tp, offset in self.next_offsets(partitions).items():
            self.consumer.seek(tp, offset)

    def rewind(self) -> None:
        with translated():
            self.seek_to_tracking(list(self.consumer.assignment()))

    def _partition(self, tp: Any, records: Sequence[Any]) -> None:
        upstream = f"{tp.topic}:{tp.partition}"
        end = records[-1].offset + 1
        # Headers once per record; the value decoded at most once, on first use.
        headers = [dict(record.headers) for record in records]
        positions = [int(h["ce_position"]) for h in headers]
        types = [h["ce_type"].decode() for h in headers]
        events: list[Any] = [None] * len(records)
        names = [upstream_name(p, upstream) for p in self.projections]
        with self.store.transaction() as c:
            # Every position of this partition locked in one statement, moved in one.
            held = self.store.lock_positions(c, [*names, *(n + "#position" for n in names)])
            moved: dict[str, int] = {}
            for projection, name in zip(self.projections, names, strict=True):
                seen = held[name]
                if end <= seen:
                    continue
                relayed = name + "#position"
                top = start = held[relayed]
                handlers = projection.handlers
                for i, record in enumerate(records):
                    if record.offset < seen:
                        continue
                    position = positions[i]
                    if position <= top:  # a tail the relay sent again after a crash
                        continue
                    top = position
                    handler = handlers.get(types[i])
                    if handler is None:
                        continue  # not read by this read model
                    event = events[i]
                    if event is None:
                        event = events[i] = from_binary(headers[i], records[i].value)
                        self.decoded += 1
                    handler(c, event)
                    self.applied += 1
                moved[name] = end
                if top > start:
                    moved[relayed] = top
            self.store.advance_many(c, moved)


class OutageError(UnavailableError):
    """The database or the broker stayed unusable for longer than the outage timeout."""


class Retry:
    """Backoff for outages: waits of ``first`` seconds, doubling up to ``longest``, for at most
    ``timeout`` seconds in all; ``report`` is told of each failure."""

    def __init__(
        self,
        timeout: float = 60,
        first: float = 0.5,
        longest: float = 8,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.timeout, self.first, self.longest = timeout, first, longest
        self.report = report or _to_stderr

    def run(self, worker: Any, stop: threading.Event) -> int:
        """``worker.run_once()``, retried while it fails with an outage; 0 if stopped."""
        started: float | None = None
        delay = self.first
        attempts = 0
        while True:
            try:
                with translated():
                    if attempts:
                        _rewind(worker)
                    return int(worker.run_once())
            except UnavailableError as exc:
                attempts += 1
                now = time.monotonic()
                started = now if started is None else started
                name = type(worker).__name__
                if now - started + delay > self.timeout:
                    raise OutageError(
                        f"{name}: gave up after {attempts} attempt(s) over "
                        f"{now - started:.0f} s: {exc}",
                        exc.hint,
                    ) from exc
                self.report(
                    f"ticketflow {name}: {exc}; retrying in {delay:g} s "
                    f"(attempt {attempts}; {exc.hint})"
                )
                if stop.wait(delay):
                    return 0
                delay = min(delay * 2, self.longest)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _rewind(worker: Any) -> None:
    """After a failed round, a consuming worker reads again from its committed offsets (or
    from where its own tracking says, for a worker that has its own ``rewind``)."""
    own = getattr(worker, "rewind", None)
    if own is not None:
        own()
        return
    consumer = getattr(worker, "consumer", None)
    if consumer is not None:
        rewind(consumer)


def run_until(
    workers: Sequence[Any],
    stop: threading.Event,
    idle_rounds: int | None = None,
    retry: Retry | None = None,
) -> None:
    """Run ``workers`` round-robin until ``stop`` is set, or after ``idle_rounds`` rounds in
    which none had anything to do (bounded runs for tests and benchmarks). An outage is
    retried as ``retry`` says (by default for 60 s), then raises :class:`OutageError`.

    A round counts as idle only once every consuming worker has partitions assigned: a worker
    started after another was killed waits for the dead member's session to expire, and its
    empty polls meanwhile are not the end of the work."""
    retry = retry or Retry()
    idle = 0
    while not stop.is_set():
        busy = 0
        for worker in workers:
            busy += retry.run(worker, stop)
        assigned = all(_assigned(worker) for worker in workers)
        idle = 0 if busy or not assigned else idle + 1
        if idle_rounds is not None and idle >= idle_rounds:
            return


def _assigned(worker: Any) -> bool:
    """Whether ``worker`` has its partitions (a worker without a consumer always has)."""
    consumer = getattr(worker, "consumer", None)
    return consumer is None or bool(consumer.assignment())


class WorkerThreads:
    """One thread per worker, so one worker's wait on Kafka or the database never holds up
    another. A worker that fails stops all of them (``stop`` is set) and is listed in
    ``failures``: a process never goes on with some of its loops silently dead."""

    def __init__(
        self,
        workers: Sequence[Any],
        stop: threading.Event,
        on_failure: Callable[[], None] | None = None,
        retry: Retry | None = None,
    ) -> None:
        self.stop, self.on_failure, self.retry = stop, on_failure, retry
        self.failures: list[tuple[str, BaseException]] = []
        self.threads = [
            threading.Thread(
                target=self._run, args=(worker,), name=type(worker).__name__, daemon=True
            )
            for worker in workers
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, worker: Any) -> None:
        try:
            run_until([worker], self.stop, retry=self.retry)
        except BaseException as exc:
            self.failures.append((type(worker).__name__, exc))
            self.stop.set()
            if self.on_failure is not None:
                self.on_failure()
            raise  # the thread's traceback goes to stderr

    def join(self, timeout: float | None = None) -> None:
        """Wait for every thread (each stops once ``stop`` is set)."""
        for thread in self.threads:
            while thread.is_alive():
                thread.join(timeout=0.5 if timeout is None else timeout)
                if timeout is not None:
                    break

    def describe_failures(self) -> str:
        return "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in self.failures)

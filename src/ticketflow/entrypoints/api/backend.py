"""What the API stands on: the engine, the read models (a reader per thread), the keys, the
dead-letter sink, and the checks behind ``/readyz``.

Writes (submitting events, and in embedded mode projecting them) take one lock: the engine and
the writing read-model connection are used by one request at a time. Reads run concurrently,
each thread on its own read-model connection. In embedded mode a post projects its own events
before it answers; events another process stored without projecting them (an ingest stopped
between the two) are projected by the first read at least :data:`CATCH_UP_EVERY` seconds after
the last look at the event store's head, so reads do not pay for that look each time. A store
or broker that fails makes the request answer 503; the failed connection is dropped and the next
request opens a new one, so the API recovers by itself once the database or broker is back.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from ticketflow.adapters.deadletter import DeadLetterFile
from ticketflow.adapters.errors import translated
from ticketflow.adapters.kafka import publish_inbound
from ticketflow.adapters.kafka_http import (
    HttpDeadLetterTopic,
    broker_reachable,
    read_deadletter_topic,
)
from ticketflow.adapters.keys import KeyTable
from ticketflow.adapters.outcomes import EventOutcome, Outcomes, OutcomeTable
from ticketflow.adapters.readers import ThreadStores
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.bootstrap import System, open_readers, open_readmodels
from ticketflow.errors import UnavailableError
from ticketflow.service.access import ApiKey
from ticketflow.service.submit import Candidate, Intake, Result, received_by
from ticketflow.settings import Settings

DEAD_LETTER_FILE = Path("deadletter") / "api.jsonl"
DEAD_LETTER_ORIGIN = "POST /v1/events"
# How often (seconds) a read looks whether another process moved the event store (embedded).
CATCH_UP_EVERY = 0.1

T = TypeVar("T")


class Backend:
    """The one system of an API process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded = settings.mode == "embedded"
        self._write_lock = threading.Lock()
        self._system: System | None = None
        self.readers: ThreadStores = open_readers(settings)
        self.keys = KeyTable(self.readers.current)
        self.outcomes = OutcomeTable(self.readers.current)
        self._projected = -1
        self._looked = -CATCH_UP_EVERY
        self._closed = False
        self._verified: dict[str, ApiKey] = {}
        with self.guarded():
            self.system()
            self.keys.create_table()
            self.outcomes.create_table()

    # -- connections, and getting them back -----------------------------------------------

    def system(self) -> System:
        """The engine and the writing read-model store, opened (again) when needed."""
        if self._system is None:
            if self._closed:
                raise UnavailableError("the server is shutting down", "retry on another one")
            with translated():
                self._system = System.open(self.settings, answering=True)
        return self._system

    def _reset(self) -> None:
        """Drop every connection of this thread and the shared ones: the next use reopens."""
        self.readers.discard()
        system, self._system = self._system, None
        self._projected = -1
        if system is not None:
            with suppress(Exception):  # a broken connection may fail to close
                system.close()

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """Run a block; a store or broker failure drops the connections and propagates as
        :class:`UnavailableError`."""
        try:
            with translated():
                yield
        except UnavailableError:
            with self._write_lock:
                self._reset()
            raise

    def read(self, query: Callable[[ReadModelStore], T]) -> T:
        """Run ``query`` on this thread's reader, the read models first brought up to date."""
        with self.guarded():
            self._refresh()
            return query(self.readers.current())

    def _refresh(self) -> None:
        if not self.embedded:
            return
        now = time.monotonic()
        if now - self._looked < CATCH_UP_EVERY and self._projected >= 0:
            return
        self._looked = now
        system = self.system()
        head = system.engine.recorder.max_notification_id() or 0
        if head == self._projected:
            return
        with self._write_lock:
            system = self.system()
            system.project()
            self._projected = head

    def authenticates_inline(self, secret: str) -> bool:
        """Whether :meth:`authenticate` is a local read only (SQLite, no ``last_used_at`` to
        write), quick enough for the event loop."""
        return self.settings.store != "postgres" and not self.keys.touch_due(secret)

    def authenticate(self, secret: str) -> ApiKey | None:
        """The live key whose secret this is (R-ACC-1), looked up on every request.

        While the database cannot be read, a key this process has already verified is taken
        as it was last seen, so that ``/readyz`` can say what is down (nothing can be revoked
        meanwhile: revoking writes to that database); an unknown key gets the 503.
        """
        digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
        try:
            with self.guarded():
                key = self.keys.authenticate(secret)
        except UnavailableError:
            if digest in self._verified:
                return self._verified[digest]
            raise
        if key is None:
            self._verified.pop(digest, None)
        else:
            self._verified[digest] = key
        return key

    # -- writes -----------------------------------------------------------------------------

    def submit(self, batch: Sequence[Candidate]) -> list[Result]:
        """Embedded: decide, dead-letter and commit, then project. Kafka mode: publish valid
        events to the inbound topic, rejections to the dead-letter topic."""
        with self.guarded():
            if not self.embedded:
                topic = HttpDeadLetterTopic(self.settings, DEAD_LETTER_ORIGIN)
                kept = Outcomes(self.outcomes)
                try:
                    intake = Intake(
                        topic,
                        decided=kept.decided,
                        future_tolerance=self.settings.future_tolerance,
                        received=received_by(self.settings.clock),
                    )
                    return intake.publish(batch, kept.publishing(self._publish))
                finally:
                    topic.close()
            dead = DeadLetterFile(self.settings.data_dir / DEAD_LETTER_FILE, DEAD_LETTER_ORIGIN)
            try:
                with self._write_lock:
                    system = self.system()
                    intake = Intake(
                        dead,
                        system.engine,
                        decided=Outcomes(self.outcomes).decided,
                        future_tolerance=self.settings.future_tolerance,
                        received=received_by(self.settings.clock),
                    )
                    size = self.settings.batch_size
                    results = [
                        result
                        for start in range(0, len(batch), size)
                        for result in intake.submit(batch[start : start + size])
                    ]
                    system.project()
            finally:
                dead.close()
            return results

    def _publish(self, keyed: Sequence[tuple[str, Any]]) -> int:
        return publish_inbound(self.settings, keyed)

    def outcome(self, source: str, event_id: str) -> EventOutcome | None:
        """The outcome of a posted event (R-IN-7), or ``None`` if none is recorded."""
        with self.guarded():
            return self.outcomes.find(source, event_id)

    # -- what an operator reads --------------------------------------------------------------

    def dead_letters(self) -> list[dict[str, Any]]:
        """Rejected inputs of every transport: the dead-letter files (embedded) or topic."""
        with self.guarded():
            if not self.embedded:
                return read_deadletter_topic(self.settings)
        return _read_dead_letter_files(self.settings.data_dir / "deadletter")

    def checks(self) -> dict[str, tuple[bool, str | None]]:
        """Each part ``/readyz`` checks: ok, or what failed."""
        found: dict[str, tuple[bool, str | None]] = {}

        def check(part: str, probe: Callable[[], object]) -> None:
            try:
                with self.guarded():
                    probe()
                found[part] = (True, None)
            except UnavailableError as exc:
                found[part] = (False, str(exc).splitlines()[0][:300])

        check("event_store", lambda: self.system().engine.recorder.max_notification_id())
        check("read_models", self._probe_read_models)
        if not self.embedded:
            check("broker", lambda: broker_reachable(self.settings))
        return found

    def _probe_read_models(self) -> None:
        with self.readers.current().transaction() as c:
            c.execute("SELECT 1 FROM tracking WHERE 1 = 0")
            c.fetchall()

    def close(self) -> None:
        with self._write_lock:
            self._closed = True
            self._reset()
            self.readers.close()


def _read_dead_letter_files(directory: Path) -> list[dict[str, Any]]:
    import json

    records: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")) if directory.is_dir() else []:
        with path.open(encoding="utf-8") as f:
            for text in f:
                if text.strip():
                    records.append(json.loads(text))
    return records


def writer_store(settings: Settings) -> ReadModelStore:
    """The read models opened for writing (the command line's ``keys``)."""
    return open_readmodels(settings)

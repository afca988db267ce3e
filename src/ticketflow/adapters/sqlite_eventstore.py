"""The SQLite event store: eventsourcing's process recorder, plus the one query the engine
uses to learn which of a batch's aggregates are new. Selected by ``PROCESS_RECORDER_TOPIC``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder

TOPIC = "ticketflow.adapters.sqlite_eventstore:SQLiteRecorder"


class SQLiteRecorder(SQLiteProcessRecorder):
    """eventsourcing's SQLite process recorder with :meth:`stored_among`, inserting a batch in
    one statement."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # One ``executemany`` (as eventsourcing's aggregate recorder) instead of one statement
        # per event for its notification id, which nothing here reads back; the tracking
        # record in the same transaction, as eventsourcing's process recorder.
        rows = [
            (_text(s.originator_id), s.originator_version, s.topic, s.state) for s in stored_events
        ]
        c.executemany(self.insert_events_statement, rows)
        tracking = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
        return None

    def select_stored(self, start: int, limit: int, stop: int) -> list[tuple[Any, ...]]:
        """The log from notification id ``start`` to ``stop`` (at most ``limit`` events) as
        rows ``(notification id, aggregate id as stored, version, topic, state)``:
        what ``select_notifications`` gives, for readers that need no UUID and no
        ``Notification`` per event (:meth:`ticketflow.contract_events.Outbound.record_stored`)."""
        with self.datastore.transaction(commit=False) as c:
            c.sqlite_cursor.row_factory = None  # plain tuples: no ``sqlite3.Row`` per event
            c.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {self.events_table_name} WHERE rowid >= ? AND rowid <= ? "
                "ORDER BY rowid LIMIT ?",
                (start, stop, limit),
            )
            rows: list[tuple[Any, ...]] = c.fetchall()
            return rows

    def stored_among(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of ``ids`` have stored events, in one query."""
        marks = ",".join("?" * len(ids))
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT DISTINCT originator_id FROM {self.events_table_name} "
                f"WHERE originator_id IN ({marks})",
                [i.hex for i in ids],
            )
            return {UUID(row[0]) for row in c.fetchall()}


def _text(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id

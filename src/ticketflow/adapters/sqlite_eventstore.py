"""The SQLite event store: eventsourcing's process recorder, plus the one query the engine
uses to learn which of a batch's aggregates are new. Selected by ``PROCESS_RECORDER_TOPIC``."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.sqlite import SQLiteProcessRecorder

TOPIC = "ticketflow.adapters.sqlite_eventstore:SQLiteRecorder"


class SQLiteRecorder(SQLiteProcessRecorder):
    """eventsourcing's SQLite process recorder with :meth:`stored_among`."""

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

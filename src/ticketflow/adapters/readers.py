"""Read-model connections for concurrent readers (the HTTP API): one per thread.

SQLite connections are not shared between threads, and a ``BEGIN IMMEDIATE`` per read (what
:class:`~ticketflow.adapters.readmodels.ReadModelStore` does, for writers) would serialise every
reader behind the projection: readers here open deferred transactions, each a consistent
snapshot of the WAL database. On PostgreSQL each thread has its own connection (the server
bounds the threads). A connection that failed (a database restart) is dropped, and the thread's
next request opens a new one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ticketflow.adapters.errors import translated
from ticketflow.adapters.readmodels import ReadModelStore, sqlite_transaction
from ticketflow.adapters.rows import Rows


class SqliteReader(ReadModelStore):
    """A SQLite read-model connection whose transactions are deferred (snapshots)."""

    @classmethod
    def open(cls, path: Path) -> SqliteReader:
        connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=30000")
        return cls(connection, "sqlite")

    @contextmanager
    def transaction(self) -> Iterator[Rows]:
        with sqlite_transaction(self.connection, "BEGIN") as rows:
            yield rows

    def data_version(self) -> int:
        """A number that changes whenever another connection, of any process, commits to the
        database (SQLite's ``PRAGMA data_version``): a cheap "has anything changed?"."""
        with translated():
            row = self.connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])


class ThreadStores:
    """One store per thread, opened on first use; :meth:`current` is the calling thread's."""

    def __init__(self, open_store: Callable[[], ReadModelStore]) -> None:
        self._open = open_store
        self._local = threading.local()
        self._all: list[ReadModelStore] = []
        self._lock = threading.Lock()

    def current(self) -> ReadModelStore:
        store: ReadModelStore | None = getattr(self._local, "store", None)
        if store is None:
            with translated():
                store = self._open()
            self._local.store = store
            with self._lock:
                self._all.append(store)
        return store

    def discard(self) -> None:
        """Drop the calling thread's store (after an error): the next use reconnects."""
        store: ReadModelStore | None = getattr(self._local, "store", None)
        self._local.store = None
        if store is not None:
            with self._lock:
                if store in self._all:
                    self._all.remove(store)
            with suppress(Exception):  # a broken connection may fail to close
                store.close()

    def close(self) -> None:
        with self._lock:
            stores, self._all = self._all, []
        for store in stores:
            with suppress(Exception):  # a broken connection may fail to close
                store.close()


def reader_factory(dialect: str, target: str | Path) -> Callable[[], ReadModelStore]:
    """Opens a reader: a SQLite file path, or a PostgreSQL DSN."""
    if dialect == "sqlite":
        return lambda: SqliteReader.open(Path(target))
    return lambda: ReadModelStore.postgres(_bounded(str(target)))


def _bounded(dsn: str, seconds: int = 3) -> str:
    """``dsn`` with a connection timeout: a reader waits a few seconds at most."""
    if "connect_timeout=" in dsn:
        return dsn
    return f"{dsn}{'&' if '?' in dsn else '?'}connect_timeout={seconds}"

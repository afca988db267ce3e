"""Row changes of one read-model transaction, merged per row and written in bulk.

Handlers describe what happens to a row (:meth:`Rows.insert`, :meth:`Rows.update`,
:meth:`Rows.increment`, :meth:`Rows.upsert_add`) instead of sending one statement per event.
Changes to the same row merge (an update after an insert amends the row to insert; two updates
keep the later value of each column; additions add up), so the final state of every row is the
one the statements would have produced in order. Rows of one table are independent of each
other, so the merged changes can be written in any order: one bulk statement per table and
kind of change, at :meth:`Rows.flush`.

Every plain ``execute`` flushes first, so a read, or a write the buffer does not describe,
sees every change made before it. :meth:`Rows.defer` queues work to run once per flush with
all the keys collected since the last one (a per-tenant recomputation done once per batch
rather than once per event).

On PostgreSQL each group of rows goes as one JSON parameter read by ``json_populate_recordset``,
which takes the column types from the table itself: one round trip and one statement instead of
hundreds. On SQLite each group goes through ``executemany``: the statement is prepared once, and
the changes merged away are statements SQLite never runs (a ticket opened, restored, resolved and
closed within a batch is two inserts instead of six statements), which costs less than the
merging does (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import orjson

INSERT, UPDATE, INCREMENT, UPSERT_ADD = "insert", "update", "increment", "upsert_add"

Key = tuple[Any, ...]
Shape = tuple[str, tuple[str, ...], tuple[str, ...]]  # kind, key columns, value columns
Deferred = Callable[[Any, list[Any]], None]


class Rows:
    """A cursor (``execute``/``fetchone``/``fetchall``) with buffered row changes."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        self._cursor = cursor
        self._dialect = dialect
        # table → row key → [kind, key columns, values]
        self._pending: dict[str, dict[Key, list[Any]]] = {}
        self._deferred: dict[Deferred, dict[Any, None]] = {}
        self.statements = 0  # statements sent for row changes (for tests and profiling)

    # -- the plain cursor ---------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._write()
        self._cursor.execute(sql, params)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    # -- row changes --------------------------------------------------------------------------

    def insert(self, table: str, key: dict[str, Any], values: dict[str, Any]) -> None:
        """A new row (``key`` columns plus ``values``)."""
        self._put(table, key, INSERT, values)

    def update(self, table: str, key: dict[str, Any], values: dict[str, Any]) -> None:
        """Set columns of an existing row (or of a row inserted earlier in the transaction)."""
        self._put(table, key, UPDATE, values)

    def increment(self, table: str, key: dict[str, Any], deltas: dict[str, int]) -> None:
        """Add to integer columns of an existing row."""
        self._put(table, key, INCREMENT, deltas)

    def upsert_add(self, table: str, key: dict[str, Any], values: dict[str, int]) -> None:
        """Insert the row with ``values``, or add ``values`` to the row already there."""
        self._put(table, key, UPSERT_ADD, values)

    def defer(self, work: Deferred, key: Any) -> None:
        """Run ``work(cursor, keys)`` at the next flush, with every key queued for it."""
        self._deferred.setdefault(work, {})[key] = None

    def flush(self) -> None:
        """Write every change, then run deferred work (which may change more rows)."""
        self._write()
        while self._deferred:
            work, keys = next(iter(self._deferred.items()))
            del self._deferred[work]
            work(self, list(keys))
            self._write()

    # -- merging ------------------------------------------------------------------------------

    def _put(self, table: str, key: dict[str, Any], kind: str, values: dict[str, Any]) -> None:
        rows = self._pending.get(table)
        if rows is None:
            rows = self._pending[table] = {}
        row_key = tuple(key.values())
        entry = rows.get(row_key)
        if entry is None:
            rows[row_key] = [kind, key, dict(values)]
            return
        held = entry[0]
        if kind == UPDATE and held in (INSERT, UPDATE):
            entry[2].update(values)
        elif kind in (INCREMENT, UPSERT_ADD) and (
            held == kind or (kind == INCREMENT and held == INSERT)
        ):
            for column, delta in values.items():
                entry[2][column] = entry[2].get(column, 0) + delta
        else:  # a combination that does not merge: write what is held, then start again
            self._write()
            self._pending.setdefault(table, {})[row_key] = [kind, key, dict(values)]

    # -- writing ------------------------------------------------------------------------------

    def _write(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        for table, rows in pending.items():
            groups: dict[Shape, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
            for kind, key, values in rows.values():
                shape = (kind, tuple(key), tuple(values))
                group = groups.get(shape)
                if group is None:
                    groups[shape] = [(key, values)]
                else:
                    group.append((key, values))
            for (kind, keys, columns), group in groups.items():
                self._bulk(table, kind, keys, columns, group)

    def _bulk(
        self,
        table: str,
        kind: str,
        keys: tuple[str, ...],
        columns: tuple[str, ...],
        rows: list[tuple[dict[str, Any], dict[str, Any]]],
    ) -> None:
        self.statements += 1
        if self._dialect == "sqlite":
            if kind in (INSERT, UPSERT_ADD):
                params = [(*key.values(), *values.values()) for key, values in rows]
            else:
                params = [(*values.values(), *key.values()) for key, values in rows]
            self._cursor.executemany(_sqlite_sql(table, kind, keys, columns), params)
            return
        data = orjson.dumps([{**key, **values} for key, values in rows]).decode()
        self._cursor.execute(_pg_sql(table, kind, keys, columns), (data,))


@functools.lru_cache(maxsize=256)
def _sqlite_sql(table: str, kind: str, keys: tuple[str, ...], columns: tuple[str, ...]) -> str:
    where = " AND ".join(f"{k} = ?" for k in keys)
    if kind == UPDATE:
        return f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)} WHERE {where}"
    if kind == INCREMENT:
        sets = ", ".join(f"{c} = {c} + ?" for c in columns)
        return f"UPDATE {table} SET {sets} WHERE {where}"
    names = (*keys, *columns)
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    if kind == UPSERT_ADD:
        sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
        sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    return sql


def _pg_sql(table: str, kind: str, keys: tuple[str, ...], columns: tuple[str, ...]) -> str:
    source = f"json_populate_recordset(NULL::{table}, %s)"
    if kind in (UPDATE, INCREMENT):
        if kind == UPDATE:
            sets = ", ".join(f"{c} = v.{c}" for c in columns)
        else:
            sets = ", ".join(f"{c} = {table}.{c} + v.{c}" for c in columns)
        where = " AND ".join(f"{table}.{k} = v.{k}" for k in keys)
        return f"UPDATE {table} SET {sets} FROM {source} AS v WHERE {where}"
    names = ", ".join((*keys, *columns))
    sql = f"INSERT INTO {table} ({names}) SELECT {names} FROM {source}"
    if kind == UPSERT_ADD:
        sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
        sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    return sql

"""The read-model database: SQLite (embedded default) or PostgreSQL, with tracking.

Each projection's position is a tracking record ``(application_name, notification_id)`` in the
table ``tracking`` (the single-row scheme of eventsourcing's tracking recorders), written in the
same transaction as the rows it accounts for, after reading it under a lock (it only moves
forward).
``application_name`` is ``<projection>@<upstream>``: the upstream is the event store's name in
embedded mode, or ``<topic>:<partition>`` when the events come from Kafka.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from projections.base import Cursor, Projection, among
from projections.storage import Applier
from projections.worker import upstream_name
from ticketflow.adapters.rows import Rows
from ticketflow.errors import StoreUnavailableError

TRACKING_DDL = """CREATE TABLE IF NOT EXISTS tracking (
    application_name TEXT PRIMARY KEY,
    notification_id BIGINT NOT NULL
)"""
TRACKING_COMMENTS = {
    "tracking": (
        "How far each read model has read its log, written with its rows (exactly once).",
        {
            "application_name": "<read model>@<log>, e.g. sla_breach@ticketflow",
            "notification_id": "the last position of that log applied",
        },
    )
}


def _literal(text: str) -> str:
    """A SQL string literal (COMMENT ON takes no bound parameters), written for the store's
    PostgreSQL cursor, which reads ``?`` and ``%`` as placeholders: ``%`` is doubled, and a
    question mark is refused."""
    if "?" in text:
        raise ValueError(f"a comment cannot hold a question mark: {text!r}")
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


def comment_statements(comments: dict[str, tuple[str, dict[str, str]]]) -> list[str]:
    """``COMMENT ON`` each table and column described in ``comments`` (PostgreSQL)."""
    statements = []
    for table, (about, columns) in comments.items():
        statements.append(f"COMMENT ON TABLE {table} IS {_literal(about)}")
        statements.extend(
            f"COMMENT ON COLUMN {table}.{column} IS {_literal(meaning)}"
            for column, meaning in columns.items()
        )
    return statements


# Column types of the projections' DDL (``{instant}``, ``{flag}``) per dialect: PostgreSQL gets
# instants and flags analysts can compare and index as such; SQLite keeps RFC 3339 UTC text
# (``…Z``, fixed width up to the second, so text order is time order within a fraction's width)
# and 0/1.
COLUMN_TYPES = {
    "sqlite": {"instant": "TEXT", "flag": "INTEGER"},
    "postgres": {"instant": "TIMESTAMPTZ", "flag": "BOOLEAN"},
}


def ddl_for(statement: str, dialect: str) -> str:
    """A projection's DDL statement with its column types for ``dialect``."""
    return statement.format(**COLUMN_TYPES[dialect])


def _pg_instant(data: Any) -> str:
    """PostgreSQL's text of a ``timestamptz`` in UTC (``2026-03-10 08:00:00.123+00``) as the RFC
    3339 text the projections write and SQLite keeps (``2026-03-10T08:00:00.123000Z``): Python
    code sees one representation of an instant whichever the database."""
    text = bytes(data).decode()
    if not text.endswith("+00"):
        raise ValueError(f"timestamptz {text!r} not in UTC (the session's TimeZone must be UTC)")
    fraction = text[19:-3]
    return f"{text[:10]}T{text[11:19]}{fraction.ljust(7, '0') if fraction else ''}Z"


def _pg_session(connection: Any) -> None:
    """UTC and ISO output, loaders turning ``timestamptz`` into RFC 3339 text and ``boolean``
    into 0/1, as SQLite gives them."""
    from psycopg.adapt import Loader

    class InstantLoader(Loader):
        def load(self, data: Any) -> str:
            return _pg_instant(data)

    class FlagLoader(Loader):
        def load(self, data: Any) -> int:
            return 1 if bytes(data) == b"t" else 0

    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET DateStyle = 'ISO, YMD'")
    connection.adapters.register_loader("timestamptz", InstantLoader)
    connection.adapters.register_loader("bool", FlagLoader)


class _PgCursor:
    """psycopg cursor taking ``?`` placeholders."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(sql.replace("?", "%s"), params)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())


@contextmanager
def sqlite_transaction(connection: Any, begin: str) -> Iterator[Rows]:
    """A SQLite transaction opened with ``begin`` (``BEGIN IMMEDIATE`` for writers, ``BEGIN``
    for snapshot readers): buffered row changes are written before it commits."""
    cursor = connection.cursor()
    cursor.execute(begin)
    try:
        rows = Rows(cursor, "sqlite")
        yield rows
        rows.flush()
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    cursor.execute("COMMIT")


# Page cache (KiB, negative as ``PRAGMA cache_size`` takes it) while the indexes dropped for a
# load are built.
BUILD_CACHE_SIZE = -2048

# Reads of the positions to lock when a concurrent ``promote`` replaced them meanwhile.
LOCK_ATTEMPTS = 3

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ReadModelStore:
    """Connection to the read models; ``transaction()`` yields a :class:`Cursor`."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self.connection = connection
        self.dialect = dialect
        self.path: Path | None = None  # SQLite: the file
        self.schema: str | None = None  # PostgreSQL: a schema of its own (a rebuild), if any
        # A long catch-up on SQLite may apply its records in a second process (``applier``).
        self.catchup_processes = 2

    @classmethod
    def sqlite(cls, path: Path | str) -> ReadModelStore:
        store = cls._sqlite(path)
        store.path = Path(path)
        return store

    @classmethod
    def _sqlite(cls, path: Path | str) -> ReadModelStore:
        connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=30000")
        # Projections update rows all over their tables: keep the hot pages in memory. 16 MiB:
        # a rebuild of 1 M events takes the same CPU time as with 64 MiB, and its peak RSS is
        # 148 MB instead of 206 MB (docs/benchmarks.md).
        connection.execute("PRAGMA cache_size=-16384")
        # Fewer, larger WAL checkpoints during long catch-ups and rebuilds.
        connection.execute("PRAGMA wal_autocheckpoint=16384")
        return cls(connection, "sqlite")

    @classmethod
    def postgres(cls, dsn: str, schema: str | None = None) -> ReadModelStore:
        """The read models of ``dsn``; with ``schema``, in that schema of the database
        (created if need be), as a rebuild to promote is."""
        import psycopg

        connection = psycopg.connect(dsn, autocommit=True)
        _pg_session(connection)
        store = cls(connection, "postgres")
        if schema is not None:
            if not SCHEMA_NAME.match(schema):
                raise ValueError(f"not a schema name of ticketflow's: {schema!r}")
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            connection.execute(f"SET search_path = {schema}")
            store.schema = schema
        return store

    def drop_schema(self) -> None:
        """Drop the schema of a PostgreSQL rebuild (after its promotion, or when abandoned)."""
        if self.schema is not None:
            self.connection.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[Rows]:
        """One transaction; row changes buffered in the :class:`Rows` it yields are written
        before it commits."""
        if self.dialect == "sqlite":
            with sqlite_transaction(self.connection, "BEGIN IMMEDIATE") as rows:
                yield rows
        else:
            # No pipeline mode: row changes already reach the server as a few bulk statements.
            with self.connection.transaction(), self.connection.cursor() as raw:
                rows = Rows(_PgCursor(raw), "postgres")
                yield rows
                rows.flush()

    def create_tables(self, projections: Sequence[Projection]) -> None:
        with self.transaction() as c:
            if self.dialect == "postgres":
                # Workers starting together would race on CREATE TABLE IF NOT EXISTS.
                c.execute("SELECT pg_advisory_xact_lock(7411)")
            c.execute(TRACKING_DDL)
            for projection in projections:
                for statement in projection.ddl:
                    c.execute(ddl_for(statement, self.dialect))
                if self.dialect == "postgres":
                    for statement in projection.postgres_ddl:
                        c.execute(statement)
                    for statement in comment_statements(projection.comments):
                        c.execute(statement)
            if self.dialect == "postgres":
                for statement in comment_statements(TRACKING_COMMENTS):
                    c.execute(statement)

    def applier(
        self, projections: Sequence[Projection], upstream: str, to_go: int
    ) -> Applier | None:
        """A child process applying the records of a long catch-up on SQLite while this one
        reads the log (:mod:`ticketflow.adapters.pipelined`); ``None`` for a short one, on one
        core, with ``catchup_processes`` at 1 (``TICKETFLOW_CATCHUP_PROCESSES``), or on
        PostgreSQL (whose server already works beside the client)."""
        from ticketflow.adapters import pipelined

        if self.dialect != "sqlite" or self.path is None or self.catchup_processes < 2:
            return None
        if not pipelined.worth_it(projections, to_go):
            return None
        return pipelined.Applier(self.path, projections, upstream)

    @contextmanager
    def loading(self, projections: Sequence[Projection], upstream: str) -> Iterator[None]:
        """Around a catch-up of ``projections`` from ``upstream``. When none of them has read
        anything yet and all their tables are empty (a rebuild, a first start), SQLite fills the
        tables without their secondary indexes and builds these at the end, each sorted once
        instead of updated row by row; the indexes their handlers read through
        (``Projection.working_indexes``) stay. Anything else (a catch-up of read models that
        hold rows, PostgreSQL) is done as it is. A load that stops half-way leaves the missing
        indexes to :meth:`create_tables` (every start), which creates them over the rows."""
        dropped = self._drop_indexes_if_empty(projections, upstream)
        try:
            yield
        finally:
            if dropped:
                self._build_indexes(projections)

    def _build_indexes(self, projections: Sequence[Projection]) -> None:
        """The indexes dropped for a load, built with the page cache shrunk: SQLite's sorter
        takes as much memory as the page cache may hold, so each sort spills to temporary files
        beyond :data:`BUILD_CACHE_SIZE` instead of growing with the tables (the pages cached
        are freed first: peak RSS does not grow with the log)."""
        (size,) = self.connection.execute("PRAGMA cache_size").fetchone()
        self.connection.execute(f"PRAGMA cache_size={BUILD_CACHE_SIZE}")
        try:
            self.create_tables(projections)
        finally:
            self.connection.execute(f"PRAGMA cache_size={int(size)}")

    def _drop_indexes_if_empty(self, projections: Sequence[Projection], upstream: str) -> bool:
        if self.dialect != "sqlite":
            return False
        tables = [t for p in projections for t in p.tables]
        kept = {i for p in projections for i in p.working_indexes}
        with self.transaction() as c:  # BEGIN IMMEDIATE: no other writer in between
            clause, tracked = among(
                "application_name", {upstream_name(p, upstream) for p in projections}
            )
            c.execute(
                f"SELECT count(*) FROM tracking WHERE notification_id > 0 AND {clause}", tracked
            )
            if c.fetchone()[0]:
                return False
            for table in tables:
                c.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
                if c.fetchone()[0]:
                    return False
            # Secondary indexes only: those backing a PRIMARY KEY or UNIQUE have no SQL.
            clause, values = among("tbl_name", set(tables))
            c.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND {clause} ORDER BY name",
                values,
            )
            names = [str(row[0]) for row in c.fetchall() if row[0] not in kept]
            for name in names:
                c.execute(f"DROP INDEX IF EXISTS {name}")
        return bool(names)

    def drop_tables(self, projections: Sequence[Projection]) -> None:
        with self.transaction() as c:
            for projection in projections:
                for table in projection.tables:
                    c.execute(f"DROP TABLE IF EXISTS {table}")
                c.execute(
                    "DELETE FROM tracking WHERE application_name LIKE ?", (f"{projection.name}@%",)
                )

    def promote(
        self,
        rebuilt: ReadModelStore,
        projections: Sequence[Projection],
        *,
        catch_up: Callable[[dict[str, int]], None] | None = None,
        inspect: Callable[[], None] | None = None,
        swap: bool = True,
    ) -> None:
        """Make ``rebuilt``'s tables of ``projections`` the live ones, with their tracking, in
        one transaction: readers see the old tables until it commits and the new ones after,
        never a missing or half-filled table. Other tables (keys, audit chain, outcomes,
        read models not named) are left as they are.

        SQLite: the rebuilt file is attached and its rows copied into freshly created tables
        under the write lock (``BEGIN IMMEDIATE``); readers of the WAL database keep their
        snapshots, and any open connection (a running ``serve``) sees the new tables at its
        next transaction, with no reconnection. PostgreSQL: the rebuild's schema is swapped
        in, table by table, after the tracking rows are locked (so no projection writes in
        between); the analysts' functions are created again over the new tables.

        PostgreSQL only: ``catch_up`` is given the live positions, read under that lock, and
        returns once the rebuild has reached them (a rebuild fed from Kafka: the live workers'
        committed offsets must not be ahead of the tracking promoted); ``inspect`` runs next,
        with the live read models held still (a diff); ``swap=False`` stops there."""
        if self.dialect == "sqlite":
            assert rebuilt.path is not None, "a SQLite rebuild is a file"
            assert catch_up is None, "an embedded rebuild is caught up by its caller"
            assert swap, "an embedded diff needs no lock"
            self._promote_sqlite(rebuilt.path, projections)
        else:
            assert rebuilt.schema is not None, "a PostgreSQL rebuild is a schema"
            self._promote_postgres(rebuilt.schema, projections, catch_up, inspect, swap)

    def _promote_sqlite(self, path: Path, projections: Sequence[Projection]) -> None:
        self.connection.execute("ATTACH DATABASE ? AS rebuilt", (str(path),))
        try:
            with self.transaction() as c:
                for projection in projections:
                    for table in projection.tables:
                        c.execute(f"DROP TABLE IF EXISTS main.{table}")
                    for statement in projection.ddl:
                        c.execute(ddl_for(statement, "sqlite"))
                    for table in projection.tables:
                        c.execute(f"PRAGMA rebuilt.table_info({table})")
                        columns = ", ".join(str(row[1]) for row in c.fetchall())
                        c.execute(
                            f"INSERT INTO main.{table} ({columns}) "
                            f"SELECT {columns} FROM rebuilt.{table}"
                        )
                    self._take_tracking(c, "rebuilt", projection.name)
        finally:
            self.connection.execute("DETACH DATABASE rebuilt")

    def _promote_postgres(
        self,
        schema: str,
        projections: Sequence[Projection],
        catch_up: Callable[[dict[str, int]], None] | None,
        inspect: Callable[[], None] | None,
        swap: bool,
    ) -> None:
        retired = f"{schema}_retired"
        with self.transaction() as c:
            c.execute("SELECT current_schema()")
            live = str(c.fetchone()[0])
            positions: dict[str, int] = {}
            for projection in projections:  # in the workers' order: no deadlock with them
                c.execute(
                    "SELECT application_name, notification_id FROM tracking "
                    "WHERE application_name LIKE ? ORDER BY application_name FOR UPDATE",
                    (f"{projection.name}@%",),
                )
                positions.update((str(n), int(p)) for n, p in c.fetchall())
            if catch_up is not None:
                catch_up(positions)
            if inspect is not None:
                inspect()
            if not swap:
                return
            c.execute(f"CREATE SCHEMA {retired}")
            for projection in projections:
                for table in projection.tables:
                    c.execute(f"ALTER TABLE IF EXISTS {live}.{table} SET SCHEMA {retired}")
                    c.execute(f"ALTER TABLE {schema}.{table} SET SCHEMA {live}")
                for statement in projection.postgres_ddl:
                    c.execute(statement)
                self._take_tracking(c, schema, projection.name)
            c.execute(f"DROP SCHEMA {retired} CASCADE")
            c.execute(f"DROP SCHEMA {schema} CASCADE")

    @staticmethod
    def _take_tracking(c: Cursor, source: str, projection: str) -> None:
        pattern = (f"{projection}@%",)
        c.execute("DELETE FROM tracking WHERE application_name LIKE ?", pattern)
        c.execute(
            "INSERT INTO tracking (application_name, notification_id) "
            f"SELECT application_name, notification_id FROM {source}.tracking "
            "WHERE application_name LIKE ?",
            pattern,
        )

    def positions(self, prefix: str = "") -> dict[str, int]:
        with self.transaction() as c:
            c.execute(
                "SELECT application_name, notification_id FROM tracking "
                "WHERE application_name LIKE ?",
                (f"{prefix}%",),
            )
            return {str(name): int(nid) for name, nid in c.fetchall()}

    def position(self, application_name: str) -> int:
        return self.positions(application_name).get(application_name, 0)

    def lock_position(self, c: Cursor, application_name: str) -> int:
        """Read a position inside the caller's transaction, locking it against concurrent
        workers (PostgreSQL row lock; SQLite transactions are already exclusive)."""
        return self.lock_positions(c, [application_name])[application_name]

    def lock_positions(self, c: Cursor, names: Sequence[str]) -> dict[str, int]:
        """:meth:`lock_position` of several positions in two statements, locked in name order
        (workers locking overlapping sets never wait on each other in a cycle)."""
        if not names:
            return {}
        ordered = sorted(set(names))
        lock = " FOR UPDATE" if self.dialect == "postgres" else ""
        for _ in range(LOCK_ATTEMPTS):
            c.execute(
                "INSERT INTO tracking (application_name, notification_id) VALUES "
                + ", ".join(["(?, 0)"] * len(ordered))
                + " ON CONFLICT (application_name) DO NOTHING",
                ordered,
            )
            c.execute(
                "SELECT application_name, notification_id FROM tracking WHERE application_name IN ("
                + ", ".join(["?"] * len(ordered))
                + f") ORDER BY application_name{lock}",
                ordered,
            )
            held = {str(name): int(position) for name, position in c.fetchall()}
            if len(held) == len(ordered):
                return held
            # A row this waited for was replaced meanwhile (``promote`` deletes the live
            # positions and inserts the rebuilt ones): the statement's snapshot does not see
            # the new row; the next statement does.
        raise StoreUnavailableError(
            "tracking positions kept changing while they were locked",
            "a promotion or another writer is replacing them: the work is retried",
        )

    def advance_many(self, c: Cursor, positions: dict[str, int]) -> None:
        """:meth:`advance` of several positions read with :meth:`lock_positions`, in one
        statement."""
        if not positions:
            return
        if len(positions) == 1:
            [(name, position)] = positions.items()
            self.advance(c, name, position)
            return
        cast = "::bigint" if self.dialect == "postgres" else ""
        values = ", ".join([f"(?, ?{cast})"] * len(positions))
        # VALUES columns are column1, column2 in SQLite; PostgreSQL names them the same way.
        c.execute(
            "UPDATE tracking SET notification_id = v.column2 FROM (VALUES "
            + values
            + ") AS v WHERE tracking.application_name = v.column1",
            [x for item in positions.items() for x in item],
        )

    @staticmethod
    def advance(c: Cursor, application_name: str, position: int) -> None:
        """Move a position read with :meth:`lock_position` forward, in the same transaction."""
        c.execute(
            "UPDATE tracking SET notification_id = ? WHERE application_name = ?",
            (position, application_name),
        )

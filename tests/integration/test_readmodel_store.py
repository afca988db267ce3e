"""The read-model store: buffered row changes (``ticketflow.adapters.rows``) on SQLite and
PostgreSQL, and reads after writes on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ticketflow.adapters.readmodels import ReadModelStore

DDL = (
    "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER, w TEXT)",
    "CREATE TABLE m (a TEXT NOT NULL, b TEXT NOT NULL, n INTEGER NOT NULL DEFAULT 0, "
    "p INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (a, b))",
)


@pytest.fixture
def store(readmodel_store_factory: Callable[[], ReadModelStore]) -> ReadModelStore:
    store = readmodel_store_factory()
    with store.transaction() as c:
        for statement in DDL:
            c.execute(statement)
    return store


def rows(store: ReadModelStore, sql: str) -> list[tuple[Any, ...]]:
    with store.transaction() as c:
        c.execute(sql)
        return [tuple(row) for row in c.fetchall()]


class TestRowChanges:
    def test_changes_to_one_row_end_in_its_final_state(self, store: ReadModelStore) -> None:
        with store.transaction() as c:
            c.insert("t", {"k": "a"}, {"v": 1, "w": "x"})
            c.update("t", {"k": "a"}, {"v": 2})
            c.update("t", {"k": "a"}, {"w": "y"})
            c.increment("t", {"k": "a"}, {"v": 10})
            c.flush()
            assert c.statements == 1
        assert rows(store, "SELECT k, v, w FROM t") == [("a", 12, "y")]

    def test_updates_keep_the_last_value_of_each_column(self, store: ReadModelStore) -> None:
        with store.transaction() as c:
            c.insert("t", {"k": "a"}, {"v": 1, "w": "x"})
            c.insert("t", {"k": "b"}, {"v": 1, "w": "x"})
        with store.transaction() as c:
            c.update("t", {"k": "a"}, {"v": 5, "w": "restored"})
            c.update("t", {"k": "b"}, {"w": "open"})
            c.update("t", {"k": "a"}, {"w": "resolved"})
        assert rows(store, "SELECT k, v, w FROM t ORDER BY k") == [
            ("a", 5, "resolved"),
            ("b", 1, "open"),
        ]

    def test_additions_add_up_and_upserts_insert_or_add(self, store: ReadModelStore) -> None:
        with store.transaction() as c:
            c.upsert_add("m", {"a": "t1", "b": "2026-05"}, {"n": 3, "p": 0})
        with store.transaction() as c:
            c.upsert_add("m", {"a": "t1", "b": "2026-05"}, {"n": 4, "p": 1})
            c.upsert_add("m", {"a": "t1", "b": "2026-05"}, {"n": 5, "p": 0})
            c.upsert_add("m", {"a": "t2", "b": "2026-05"}, {"n": 1, "p": 1})
            c.increment("m", {"a": "t1", "b": "2026-05"}, {"p": 100})
        assert rows(store, "SELECT a, b, n, p FROM m ORDER BY a") == [
            ("t1", "2026-05", 12, 101),
            ("t2", "2026-05", 1, 1),
        ]

    def test_changes_that_do_not_merge_keep_their_order(self, store: ReadModelStore) -> None:
        with store.transaction() as c:
            c.insert("t", {"k": "a"}, {"v": 1, "w": "x"})
        with store.transaction() as c:
            c.increment("t", {"k": "a"}, {"v": 1})
            c.update("t", {"k": "a"}, {"v": 7})  # after the increment: 7 wins
            c.increment("t", {"k": "a"}, {"v": 1})
        assert rows(store, "SELECT v FROM t") == [(8,)]

    def test_a_read_sees_every_change_made_before_it(self, store: ReadModelStore) -> None:
        with store.transaction() as c:
            c.insert("t", {"k": "a"}, {"v": 1, "w": None})
            c.update("t", {"k": "a"}, {"v": 2})
            c.execute("SELECT v FROM t WHERE k = ?", ("a",))
            assert tuple(c.fetchone()) == (2,)
            c.execute("UPDATE t SET v = v * 10 WHERE k = ?", ("a",))
            c.update("t", {"k": "a"}, {"w": "z"})
        assert rows(store, "SELECT v, w FROM t") == [(20, "z")]

    def test_deferred_work_runs_once_per_flush_with_every_key(self, store: ReadModelStore) -> None:
        calls: list[list[str]] = []

        def total(c: Any, keys: list[str]) -> None:
            calls.append(keys)
            for key in keys:
                c.upsert_add("m", {"a": key, "b": "total"}, {"n": 1, "p": 0})

        with store.transaction() as c:
            for key in ("x", "y", "x"):
                c.defer(total, key)
        assert calls == [["x", "y"]]
        assert rows(store, "SELECT a, n FROM m ORDER BY a") == [("x", 1), ("y", 1)]

    def test_a_failed_transaction_writes_nothing(self, store: ReadModelStore) -> None:
        def failing_handler() -> None:
            with store.transaction() as c:
                c.insert("t", {"k": "a"}, {"v": 1, "w": "x"})
                raise RuntimeError("handler failed")

        with pytest.raises(RuntimeError, match="handler failed"):
            failing_handler()
        assert rows(store, "SELECT k FROM t") == []


@pytest.mark.postgres
class TestPostgresReadsAfterWrites:
    @pytest.fixture
    def pg(self, pg_database_factory: Callable[[], str]) -> Iterator[ReadModelStore]:
        store = ReadModelStore.postgres(pg_database_factory())
        store.connection.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
        yield store
        store.close()

    def test_a_read_gets_its_own_result_when_an_earlier_write_answers_late(
        self, pg: ReadModelStore
    ) -> None:
        # In pipeline mode (psycopg issue 604) the replies to queued writes could be read while
        # the SELECT was sent, and the fetch returned a write's status instead of the rows.
        with pg.transaction() as c:
            c.execute("INSERT INTO t (k, v) SELECT 'a', 1 FROM pg_sleep(0.1)")
            for n in range(1000):
                c.execute("INSERT INTO t (k, v) VALUES (?, ?)", (f"k{n}", n))
            time.sleep(0.5)
            c.execute("SELECT v + 41 FROM t WHERE k = ?", ("a",))
            assert c.fetchone() == (42,)

    def test_reads_and_writes_interleaved(self, pg: ReadModelStore) -> None:
        with pg.transaction() as c:
            for n in range(200):
                c.execute("INSERT INTO t (k, v) VALUES (?, ?)", (f"k{n}", n))
                if n % 50 == 49:
                    c.execute("SELECT count(*), sum(v) FROM t")
                    assert c.fetchone() == (n + 1, n * (n + 1) // 2)
        with pg.transaction() as c:
            c.execute("SELECT k FROM t ORDER BY v DESC LIMIT 2")
            assert c.fetchall() == [("k199",), ("k198",)]


def test_several_positions_locked_and_moved_at_once(store: ReadModelStore) -> None:
    store.create_tables([])
    with store.transaction() as c:
        store.advance(c, "b@t:0", 0)  # no row yet: nothing to move
        assert store.lock_positions(c, ["b@t:0", "a@t:0"]) == {"a@t:0": 0, "b@t:0": 0}
        store.advance_many(c, {"a@t:0": 7, "b@t:0": 3})
    with store.transaction() as c:
        held = store.lock_positions(c, ["a@t:0", "b@t:0", "c@t:0"])
        assert held == {"a@t:0": 7, "b@t:0": 3, "c@t:0": 0}
        store.advance_many(c, {"c@t:0": 9})
        store.advance_many(c, {})
    assert store.positions() == {"a@t:0": 7, "b@t:0": 3, "c@t:0": 9}


def test_outcomes_written_in_one_statement_keep_their_rules(store: ReadModelStore) -> None:
    """A batch of outcomes (arrays on PostgreSQL, VALUES on SQLite): an acceptance stays,
    ``pending`` replaces only a rejection, the last word wins within a batch."""
    from ticketflow.adapters.outcomes import EventOutcome, OutcomeTable

    table = OutcomeTable(lambda: store)
    table.create_table()
    table.record(
        [
            EventOutcome("s", "1", "acme", "accepted"),
            EventOutcome("s", "2", None, "rejected", "not_json", "bad", "R-IN-3"),
            EventOutcome("s", "3", "acme", "rejected", "wrong_key", "key", "R-IN-5"),
        ]
    )
    table.record(
        [
            EventOutcome("s", "1", "acme", "duplicate"),
            EventOutcome("s", "2", "acme", "pending"),
            EventOutcome("s", "3", "acme", "accepted"),
            EventOutcome("s", "4", "beta", "pending"),
            EventOutcome("s", "4", "beta", "accepted"),
        ]
    )
    found = {i: table.find("s", i) for i in "12345"}
    assert {i: o.status if o else None for i, o in found.items()} == {
        "1": "accepted",
        "2": "pending",
        "3": "accepted",
        "4": "accepted",
        "5": None,
    }
    second = found["2"]
    assert second is not None
    assert (second.tenant, second.reason) == ("acme", None)


def test_empty_tables_are_loaded_without_their_secondary_indexes(
    readmodel_store_factory: Callable[[], ReadModelStore],
) -> None:
    """SQLite: a catch-up into empty tables of read models that have read nothing drops their
    secondary indexes but the handlers' own, and creates them again at its end; tables that
    hold rows keep every index. PostgreSQL keeps them all."""
    from projections.base import Projection

    projection = Projection(
        name="p",
        tables=("pt",),
        ddl=(
            "CREATE TABLE IF NOT EXISTS pt (k TEXT PRIMARY KEY, v INTEGER, w TEXT UNIQUE)",
            "CREATE INDEX IF NOT EXISTS pt_v ON pt (v)",
            "CREATE INDEX IF NOT EXISTS pt_vw ON pt (v, w)",
        ),
        working_indexes=("pt_vw",),
    )
    store = readmodel_store_factory()
    store.create_tables([projection])

    def indexes() -> set[str]:
        if store.dialect == "postgres":
            found = rows(store, "SELECT indexname FROM pg_indexes WHERE tablename = 'pt'")
        else:
            found = rows(store, "SELECT name FROM sqlite_master WHERE tbl_name = 'pt'")
        return {str(name) for (name,) in found if str(name).startswith("pt_v")}

    cache = rows(store, "PRAGMA cache_size") if store.dialect == "sqlite" else []
    with store.loading([projection], "log"):
        assert indexes() == ({"pt_v", "pt_vw"} if store.dialect == "postgres" else {"pt_vw"})
        with store.transaction() as c:
            c.insert("pt", {"k": "a"}, {"v": 1, "w": "x"})
    assert indexes() == {"pt_v", "pt_vw"}
    if store.dialect == "sqlite":  # built with a smaller page cache, given back after
        assert rows(store, "PRAGMA cache_size") == cache
    with store.loading([projection], "log"):  # rows there: a catch-up, not a load
        assert indexes() == {"pt_v", "pt_vw"}
    with store.transaction() as c:
        c.execute("DELETE FROM pt")
        store.lock_position(c, "p@log")
        store.advance(c, "p@log", 7)
    with store.loading([projection], "log"):  # empty, but it has read part of the log
        assert indexes() == {"pt_v", "pt_vw"}

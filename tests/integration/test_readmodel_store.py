"""The read-model store on PostgreSQL: pipeline-mode reads and writes inside one transaction."""

from __future__ import annotations

import time

import pytest

from projections.store import ReadModelStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(pg_database: str) -> ReadModelStore:
    store = ReadModelStore.postgres(pg_database)
    store.connection.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    yield store
    store.close()


def test_a_read_gets_its_own_result_when_an_earlier_write_answers_late(
    store: ReadModelStore,
) -> None:
    # The server answers the writes only after the client has queued them all; enough replies
    # to overflow its send buffer reach the socket and are read while the SELECT is being
    # sent. The fetch must still return the SELECT's rows, not a write's status.
    with store.transaction() as c:
        c.execute("INSERT INTO t (k, v) SELECT 'a', 1 FROM pg_sleep(0.1)")
        for n in range(1000):
            c.execute("INSERT INTO t (k, v) VALUES (?, ?)", (f"k{n}", n))
        time.sleep(0.5)
        c.execute("SELECT v + 41 FROM t WHERE k = ?", ("a",))
        assert c.fetchone() == (42,)


def test_reads_and_writes_interleaved_in_pipeline_mode(store: ReadModelStore) -> None:
    with store.transaction() as c:
        for n in range(200):
            c.execute("INSERT INTO t (k, v) VALUES (?, ?)", (f"k{n}", n))
            if n % 50 == 49:
                c.execute("SELECT count(*), sum(v) FROM t")
                assert c.fetchone() == (n + 1, n * (n + 1) // 2)
    with store.transaction() as c:
        c.execute("SELECT k FROM t ORDER BY v DESC LIMIT 2")
        assert c.fetchall() == [("k199",), ("k198",)]

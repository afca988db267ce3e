"""``replay --promote``: the live read models switch to a rebuild at once while queries keep
answering: no error, no empty or partial answer, and once the rebuild is seen, never the old
read models again (SQLite: one write transaction on the live file; PostgreSQL: a schema swap)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli import ce
from ticketflow.adapters.readers import SqliteReader
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.entrypoints.cli import main
from ticketflow.service import queries
from ticketflow.service.queries import parse_instant

P1 = {"priority": "P1", "channel": "portal", "language": "fr", "category": "compute"}
TICKETS = 40
AS_OF = parse_instant("2026-06-01T00:00:00Z")


def lines() -> list[str]:
    out = [ce("subscription.started", "acme", "s-1", "2026-03-01T00:00:00Z", {"tier": "GOLD"})]
    for n in range(TICKETS):
        out.append(ce("ticket.opened", f"T-{n}", f"o-{n}", f"2026-03-10T{n % 24:02}:00:00Z", P1))
        if n % 2:
            out.append(
                ce(
                    "ticket.service_restored",
                    f"T-{n}",
                    f"r-{n}",
                    f"2026-03-10T{n % 24:02}:30:00Z",
                    {},
                )
            )
    out.append(ce("expertise.hours_consumed", "acme", "h-1", "2026-03-15T09:00:00Z", {"hours": 3}))
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Callable[[], ReadModelStore]]:
    """A data directory (and, on PostgreSQL, a database of its own) holding ingested facts,
    and a factory of reader connections to its live read models, as ``serve`` opens them."""
    for name in ("TICKETFLOW_MODE", "TICKETFLOW_STORE", "TICKETFLOW_PG_DSN", "TICKETFLOW_HOME"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    if request.param == "postgres":
        dsn = request.getfixturevalue("pg_database_factory")()
        monkeypatch.setenv("TICKETFLOW_STORE", "postgres")
        monkeypatch.setenv("TICKETFLOW_PG_DSN", dsn)
        opener: Callable[[], ReadModelStore] = lambda: ReadModelStore.postgres(dsn)  # noqa: E731
    else:
        opener = lambda: SqliteReader.open(data / "readmodels.sqlite3")  # noqa: E731
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines()) + "\n")
    assert main(["--data-dir", str(data), "ingest", str(source)]) == 0
    return data, opener


def tamper(store: ReadModelStore) -> None:
    """A live row that a rebuild puts right (as a fixed projection would)."""
    with store.transaction() as c:
        c.execute("UPDATE sla_tickets SET priority = 'P4' WHERE ticket = 'T-0'")


class QueryLoop(threading.Thread):
    """Queries the live read models over and over, as a running API does."""

    def __init__(
        self, opener: Callable[[], ReadModelStore], expected: int | None = TICKETS
    ) -> None:
        super().__init__(daemon=True)
        self.opener, self.stop, self.expected = opener, threading.Event(), expected
        self.errors: list[BaseException] = []
        self.seen: list[str] = []  # T-0's priority, answer by answer
        self.answers = 0

    def run(self) -> None:
        store = self.opener()
        try:
            while not self.stop.is_set():
                try:
                    self.one(store)
                except BaseException as exc:  # reported by the test
                    self.errors.append(exc)
                    return
        finally:
            store.close()

    def one(self, store: ReadModelStore) -> None:
        rows = queries.sla(store, as_of=AS_OF)
        if self.expected is None:  # a growing history: never empty, never without T-0
            assert rows, "no rows"
            self.answers += 1
            return
        assert len(rows) == self.expected, f"{len(rows)} rows"
        hours = queries.expertise(store, tenant="acme", month=queries.parse_month("2026-03"))
        assert hours["consumed_hours"] == 3.0, hours
        self.seen.append(next(r["priority"] for r in rows if r["ticket"] == "T-0"))
        self.answers += 1


def test_promote_while_queries_run(
    live: tuple[Path, Callable[[], ReadModelStore]], capsys: pytest.CaptureFixture[str]
) -> None:
    data, opener = live
    loop = QueryLoop(opener)
    loop.start()
    writer = opener()
    try:
        for _ in range(3):
            tamper(writer)
            deadline = time.monotonic() + 10
            while (not loop.seen or loop.seen[-1] != "P4") and time.monotonic() < deadline:
                time.sleep(0.01)  # the loop has seen the tampered row
            mark = len(loop.seen)
            assert main(["--data-dir", str(data), "replay", "--promote", "--diff"]) == 0
            out = capsys.readouterr().out
            assert "sla_tickets  ticket=T-0" in out
            assert "promoted: the live read models are the rebuilt ones" in out
            promoted = len(loop.seen)  # answers from here on began after the switch
            deadline = time.monotonic() + 10
            while len(loop.seen) < promoted + 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert set(loop.seen[promoted + 1 :]) == {"P1"}, loop.errors
            after = loop.seen[mark:]
            # Once the rebuild is seen, the old read models never come back.
            assert "P4" not in after[after.index("P1") :] if "P1" in after else False
    finally:
        loop.stop.set()
        loop.join(10)
        writer.close()
    assert loop.errors == []
    print(f"{loop.answers} answers")
    assert loop.answers > 10
    # The live read models are the rebuild's: nothing left to put right.
    assert main(["--data-dir", str(data), "replay", "--diff"]) == 0


def test_promote_refuses_a_partial_rebuild(live: Any, capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = live
    for extra in (["--until", "2026-03-10T05:00:00Z"], ["--in-place"]):
        assert main(["--data-dir", str(data), "replay", "--promote", *extra]) == 2
        assert "--promote" in capsys.readouterr().err

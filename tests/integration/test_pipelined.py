"""A long catch-up on two processes (``ticketflow.adapters.pipelined``): this one reads the log
and builds the records, a child applies them. The read models and positions are those of the
one-process loop; a child that fails is reported with what it said, and what it committed is
kept for the next catch-up to go on from."""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from projections import ALL
from projections.worker import catch_up
from tests.factories import system_factory
from ticketflow.adapters import pipelined
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.bootstrap import System
from ticketflow.contract import parse_event
from ticketflow.errors import ContractError
from ticketflow.service.audit import table_digests
from ticketflow_tools import demo
from ticketflow_tools.synthetic import generate

TABLES = [t for p in ALL for t in p.tables]


@pytest.fixture
def logged(tmp_path: Path) -> Any:
    """A log of synthetic and demo events (every read model has rows)."""
    system = system_factory(tmp_path)
    events = []
    for line in [*demo.generate(seed=3, tenants=4, months=2), *generate(3000, seed=7)]:
        try:
            events.append(parse_event(line))
        except ContractError:  # the demo's deliberately bad lines
            continue
    system.engine.apply_batch(events)
    yield system
    system.close()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[pipelined.Applier]:
    """Every catch-up goes on two processes, the child taking batches from the first one (this
    process waits for it to start); the appliers started are listed."""
    monkeypatch.setattr(pipelined, "PIPELINE_MIN", 1)
    appliers: list[pipelined.Applier] = []
    original = pipelined.Applier.__init__

    def init(self: pipelined.Applier, *args: Any) -> None:
        original(self, *args)
        appliers.append(self)

    def ready(self: pipelined.Applier) -> bool:
        return self._ready or (not self._gone and self._answered())

    monkeypatch.setattr(pipelined.Applier, "__init__", init)
    monkeypatch.setattr(pipelined.Applier, "ready", ready)
    return appliers


def alone(system: System, path: Path) -> ReadModelStore:
    """The read models of the one-process loop (``TICKETFLOW_CATCHUP_PROCESSES=1``)."""
    return rebuild(system, path, processes=1)[0]


class Sends:
    """``Applier.send`` counted; ``before[n]`` runs just before the n-th batch is sent."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.before: dict[int, Callable[[], None]] = {}
        original = pipelined.Applier.send

        def send(applier: pipelined.Applier, items: Any) -> None:
            self.count += 1
            if self.count in self.before:
                self.before[self.count]()
            original(applier, items)

        monkeypatch.setattr(pipelined.Applier, "send", send)


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> Sends:
    return Sends(monkeypatch)


def take_away_sla_tickets(path: Path) -> None:
    """The table the child writes first gone: its next batch fails."""
    other = ReadModelStore.sqlite(path)
    other.connection.execute("ALTER TABLE sla_tickets RENAME TO sla_tickets_away")
    other.close()


def rebuild(
    system: System, path: Path, batch: int = 500, processes: int = 2
) -> tuple[ReadModelStore, int]:
    engine = system.engine
    store = ReadModelStore.sqlite(path)
    store.catchup_processes = processes
    decoded = catch_up(
        engine.recorder, engine.mapper, store, ALL, upstream=engine.name, batch=batch
    )
    return store, decoded


def test_two_processes_build_the_read_models_of_one(
    logged: System, tmp_path: Path, started: list[pipelined.Applier], sends: Sends
) -> None:
    piped, decoded = rebuild(logged, tmp_path / "piped.sqlite3")
    assert len(started) == 1
    assert sends.count == -(-decoded // 500)  # every batch went to the child
    one = alone(logged, tmp_path / "alone.sqlite3")
    assert len(started) == 1  # the second in this process only
    assert decoded == logged.engine.recorder.max_notification_id()
    assert table_digests(piped, TABLES) == table_digests(one, TABLES)
    assert piped.positions() == one.positions()
    assert all(n == decoded for n in piped.positions().values())
    piped.close()
    one.close()


@pytest.mark.parametrize("after", [2, None], ids=["ready after two batches", "never ready"])
def test_batches_before_the_child_is_ready_are_applied_here(
    logged: System,
    tmp_path: Path,
    started: list[pipelined.Applier],
    monkeypatch: pytest.MonkeyPatch,
    sends: Sends,
    after: int | None,
) -> None:
    """Until the child says it is ready, this process applies the batches itself, in order;
    the child takes the rest. A child never ready before the end is told to stop as well."""
    asked = 0
    waiting = pipelined.Applier.ready

    def ready(self: pipelined.Applier) -> bool:
        nonlocal asked
        asked += 1
        return after is not None and asked > after and waiting(self)

    monkeypatch.setattr(pipelined.Applier, "ready", ready)
    piped, decoded = rebuild(logged, tmp_path / "piped.sqlite3")
    batches = -(-decoded // 500)
    assert asked == batches
    assert sends.count == (0 if after is None else batches - after)  # the rest applied here
    assert started[0]._process.returncode == 0
    one = alone(logged, tmp_path / "alone.sqlite3")
    assert table_digests(piped, TABLES) == table_digests(one, TABLES)
    assert piped.positions() == one.positions()
    piped.close()
    one.close()


def test_a_failing_child_is_reported_and_its_commits_kept(
    logged: System,
    tmp_path: Path,
    started: list[pipelined.Applier],
    sends: Sends,
) -> None:
    """The child fails half-way (a table it writes is gone after its first batches): the
    catch-up raises what the child said; the positions it committed stand, and a catch-up
    started again from them ends with the read models of an uninterrupted one."""
    path = tmp_path / "broken.sqlite3"
    # The first batch applied (the child read the second): the table goes.
    sends.before[3] = lambda: take_away_sla_tickets(path)
    with pytest.raises(pipelined.ApplierError, match="sla_tickets"):
        rebuild(logged, path)
    assert started
    assert started[0]._process.poll() is not None
    store = ReadModelStore.sqlite(path)
    kept = store.positions()
    assert kept
    assert 0 < min(kept.values()) < logged.engine.recorder.max_notification_id()
    # The table back (the one the end of the load made in its place, empty, dropped).
    assert store.connection.execute("SELECT count(*) FROM sla_tickets").fetchone() == (0,)
    store.connection.execute("DROP TABLE sla_tickets")
    store.connection.execute("ALTER TABLE sla_tickets_away RENAME TO sla_tickets")
    store.close()

    sends.before.clear()
    resumed, _ = rebuild(logged, path)
    one = alone(logged, tmp_path / "alone.sqlite3")
    assert table_digests(resumed, TABLES) == table_digests(one, TABLES)
    assert resumed.positions() == one.positions()
    resumed.close()
    one.close()


def test_short_catch_ups_and_other_projections_stay_in_one_process() -> None:
    cores = pipelined.cores() >= 2
    assert not pipelined.worth_it(ALL, pipelined.PIPELINE_MIN - 1)
    assert pipelined.worth_it(ALL, pipelined.PIPELINE_MIN) == cores
    # One the child cannot find by its name (not registered): here.
    stranger = dataclasses.replace(ALL[0], name="not_registered")
    assert not pipelined.worth_it([stranger], pipelined.PIPELINE_MIN)


def test_the_setting_keeps_a_catch_up_in_one_process(tmp_path: Path) -> None:
    """``TICKETFLOW_CATCHUP_PROCESSES=1``: no applying process, however long the catch-up;
    anything but 1 or 2 is refused with the setting's name."""
    from ticketflow.bootstrap import open_readmodels
    from ticketflow.errors import ConfigurationError
    from ticketflow.settings import Settings

    for value, expected in (("1", 1), ("2", 2), (None, 2)):
        env = {} if value is None else {"TICKETFLOW_CATCHUP_PROCESSES": value}
        store = open_readmodels(Settings.from_env(env=env, data_dir=tmp_path / str(value)))
        assert store.catchup_processes == expected
        if expected == 1:
            assert store.applier(ALL, "ticketflow", pipelined.PIPELINE_MIN * 10) is None
        store.close()
    with pytest.raises(ConfigurationError, match="TICKETFLOW_CATCHUP_PROCESSES"):
        Settings.from_env(env={"TICKETFLOW_CATCHUP_PROCESSES": "3"}, data_dir=tmp_path)


def test_the_child_says_it_is_ready_without_being_waited_for(
    logged: System, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ready`` never waits: false while the child starts, true once it has said so."""
    applier = pipelined.Applier(tmp_path / "ready.sqlite3", ALL, logged.engine.name)
    try:
        deadline = time.monotonic() + 60
        answers = []
        while time.monotonic() < deadline:
            started = time.monotonic()
            answers.append(applier.ready())
            assert time.monotonic() - started < 1  # never waits for the child
            if answers[-1]:
                break
            time.sleep(0.01)
        assert answers[-1] is True
        applier.finish()  # nothing sent: it ends with "ok"
        assert applier._process.returncode == 0
    finally:
        applier.close()


def test_a_child_that_cannot_start_leaves_the_work_here(
    logged: System,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A child that fails before it is ready (here: not Python at all) costs nothing but a
    warning: this process applies every batch."""
    monkeypatch.setattr(pipelined, "PIPELINE_MIN", 1)
    monkeypatch.setattr(pipelined.sys, "executable", shutil.which("false"))
    with caplog.at_level("WARNING", logger=pipelined.__name__):
        piped, _ = rebuild(logged, tmp_path / "piped.sqlite3")
    assert "could not start" in caplog.text
    assert "status 1" in caplog.text
    one = alone(logged, tmp_path / "alone.sqlite3")
    assert table_digests(piped, TABLES) == table_digests(one, TABLES)
    assert piped.positions() == one.positions()
    piped.close()
    one.close()


def test_what_the_child_prints_is_not_taken_for_an_answer(
    logged: System,
    tmp_path: Path,
    started: list[pipelined.Applier],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Output of the child's own (a library printing at import) goes nowhere near the
    answers: the catch-up goes on two processes as if nothing was printed."""
    noisy = tmp_path / "noisy-python"
    noisy.write_text(f'#!/bin/sh\necho "a library says hello"\nexec {sys.executable} "$@"\n')
    noisy.chmod(0o755)
    monkeypatch.setattr(pipelined.sys, "executable", str(noisy))
    piped, _ = rebuild(logged, tmp_path / "piped.sqlite3")
    assert started[0]._process.returncode == 0
    one = alone(logged, tmp_path / "alone.sqlite3")
    assert table_digests(piped, TABLES) == table_digests(one, TABLES)
    piped.close()
    one.close()


def test_a_child_failing_on_small_batches_is_reported_as_its_error(
    logged: System,
    tmp_path: Path,
    started: list[pipelined.Applier],
    sends: Sends,
) -> None:
    """Batches small enough to stay in the pipe's buffer: the child's error is still what
    the catch-up raises (not a broken pipe while closing its input)."""
    path = tmp_path / "small.sqlite3"
    sends.before[2] = lambda: take_away_sla_tickets(path)
    engine = logged.engine
    store = ReadModelStore.sqlite(path)
    with pytest.raises(pipelined.ApplierError, match="sla_tickets"):
        catch_up(engine.recorder, engine.mapper, store, ALL, upstream=engine.name, batch=3)
    assert started[0]._process.poll() is not None
    store.close()


def test_a_filter_without_bounds_reads_as_no_filter_and_counts(
    logged: System, tmp_path: Path, started: list[pipelined.Applier]
) -> None:
    """``replay`` without ``--until``: its filter keeps everything, so the catch-up reads the
    stored JSON (on two processes where it pays) instead of decoding every event, and counts
    what it applies as the filter would have."""
    from projections.worker import EventFilter

    engine = logged.engine
    unbounded = EventFilter()
    fast = ReadModelStore.sqlite(tmp_path / "fast.sqlite3")
    decoded = catch_up(
        engine.recorder, engine.mapper, fast, ALL, upstream=engine.name, keep=unbounded
    )
    assert len(started) == 1  # the filter did not keep it from two processes
    everything = EventFilter(until=datetime(2100, 1, 1, tzinfo=UTC))  # reads every instant
    slow = ReadModelStore.sqlite(tmp_path / "slow.sqlite3")
    assert decoded == catch_up(
        engine.recorder, engine.mapper, slow, ALL, upstream=engine.name, keep=everything
    )
    assert len(started) == 2
    assert (unbounded.kept, unbounded.left_out) == (everything.kept, everything.left_out)
    assert 0 < unbounded.kept < decoded  # acknowledgements: read by no read model
    assert table_digests(fast, TABLES) == table_digests(slow, TABLES)
    fast.close()
    slow.close()


@pytest.mark.parametrize("bound", ["until", "recorded_until"])
def test_history_as_of_an_instant_reads_the_instants_from_the_stored_json(
    logged: System, tmp_path: Path, started: list[pipelined.Applier], bound: str
) -> None:
    """``replay --until`` / ``--recorded-until``: the filter sees each event's instants read
    from its stored JSON (no event decoded), on two processes where it pays; what it keeps,
    leaves out and builds is what deciding on the decoded events gives."""
    from projections.worker import EventFilter

    engine = logged.engine
    events = [
        engine.mapper.to_domain_event(n) for n in engine.recorder.select_notifications(1, 100_000)
    ]
    instants = sorted(e.at if bound == "until" else e.timestamp for e in events)
    middle = instants[len(instants) // 2]
    fast_filter = EventFilter(**{bound: middle})
    fast = ReadModelStore.sqlite(tmp_path / "fast.sqlite3")
    decoded = catch_up(
        engine.recorder, engine.mapper, fast, ALL, upstream=engine.name, keep=fast_filter
    )
    assert len(started) == 1
    slow_filter = EventFilter(**{bound: middle})
    slow = ReadModelStore.sqlite(tmp_path / "slow.sqlite3")
    slow.catchup_processes = 1
    decoded_events = []

    def keep(event: Any) -> bool:  # not an EventFilter: every event decoded for it
        decoded_events.append(event)
        return slow_filter(event)

    assert decoded == catch_up(
        engine.recorder, engine.mapper, slow, ALL, upstream=engine.name, keep=keep
    )
    assert decoded_events  # the comparison went the decoding way
    assert (fast_filter.kept, fast_filter.left_out) == (slow_filter.kept, slow_filter.left_out)
    assert fast_filter.kept > 0
    assert fast_filter.left_out > 0
    assert table_digests(fast, TABLES) == table_digests(slow, TABLES)
    fast.close()
    slow.close()

"""``replay --promote --diff`` in Kafka mode, on a real broker and PostgreSQL: a new version of
the read models builds from ``ticketflow.events`` in consumer groups and a schema of its own,
catches up with the live workers (which keep running and consuming new facts), is diffed and
swapped in; queries never fail or come back empty, and the live workers go on from there with
nothing missed or applied twice (the tables end equal to the embedded run's)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.factories import system_factory
from tests.integration import test_kafka_pipeline as pipeline
from tests.integration.test_kafka_deadletters import settings as settings  # the fixture
from tests.integration.test_kafka_pipeline import RULE_CASES, TABLES, kafka_digests
from tests.integration.test_promote import QueryLoop
from ticketflow.adapters.deadletter import DeadLetterFile
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.entrypoints.cli import main
from ticketflow.entrypoints.cli.kafka import build_workers
from ticketflow.service.audit import table_digests
from ticketflow.service.ingest import ingest_lines
from ticketflow.settings import Settings
from ticketflow_tools.synthetic import generate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
kafka_settings_factory = pipeline.kafka_settings_factory  # the fixture, shared


def embedded_digests(directory: Path, raw_lines: list[str]) -> dict[str, Any]:
    """The tables the embedded default makes of the same facts."""
    system = system_factory(directory, "embedded")
    dead = DeadLetterFile(directory / "dl.jsonl", "test")
    try:
        ingest_lines(system.engine, raw_lines, dead)
        system.project()
        return table_digests(system.readmodels, TABLES)
    finally:
        dead.close()
        system.close()


class Running(threading.Thread):
    """The live topology (inbound, relay, projections) running round after round."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.workers = build_workers(settings, "all")
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for worker in self.workers:
                    worker.run_once(timeout_ms=100)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
        finally:
            for worker in self.workers:
                worker.close()


def wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.2)


def test_a_new_version_catches_up_is_diffed_and_promoted(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = RULE_CASES + list(generate(300, seed=11))
    more = list(generate(300, seed=12))
    assert settings.pg_dsn is not None
    dsn = settings.pg_dsn
    pipeline.publish(settings, first)
    live = Running(settings)
    live.start()
    loop = None
    try:
        expected_first = embedded_digests(tmp_path / "first", first)
        wait_for(lambda: kafka_digests(settings) == expected_first)
        writer = ReadModelStore.postgres(dsn)
        with writer.transaction() as c:  # a live row that the new version puts right
            c.execute("UPDATE sla_tickets SET priority = 'P4' WHERE ticket = 'K1'")
        writer.close()
        loop = QueryLoop(lambda: ReadModelStore.postgres(dsn), expected=None)
        loop.start()
        pipeline.publish(settings, more)  # the live workers are busy while the version builds
        status = main(["--data-dir", str(tmp_path / "d"), "replay", "--promote", "--diff"])
        out = capsys.readouterr().out
        assert status == 0, out
        # The table's columns are as wide as their widest value: rows the new version read
        # beyond the live positions (it polls what there is) may widen the first one.
        assert re.search(r"^sla_tickets +ticket=K1 ", out, re.MULTILINE), out
        assert "promoted: the live read models are the rebuilt ones" in out
        expected_all = embedded_digests(tmp_path / "all", first + more)
        wait_for(lambda: kafka_digests(settings) == expected_all)
    finally:
        if loop is not None:
            loop.stop.set()
            loop.join(10)
        live.stop.set()
        live.join(30)
    assert live.errors == []
    assert loop is not None
    assert loop.errors == []
    assert loop.answers > 5
    store = ReadModelStore.postgres(dsn)
    with store.transaction() as c:
        c.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE ?", ("ticketflow_%",))
        assert c.fetchall() == []  # the version's schema was swapped in, the old one dropped
    store.close()

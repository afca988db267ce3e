"""Shared fixtures: real servers for integration tests.

Servers come from environment variables when set (``TICKETFLOW_PG_DSN``,
``KAFKA_BOOTSTRAP_SERVERS``), else from testcontainers where a Docker engine answers, else from
the project's own scripts (``scripts/pg-local``, ``scripts/kafka-local``), which start Debian's
PostgreSQL and a Kafka broker assembled from Maven Central on 127.0.0.1. With ``CI=true`` a
server test that cannot get its server fails, and any skipped server test fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"
SERVER_MARKERS = ("kafka", "postgres")


def _unavailable(what: str, why: str) -> None:
    message = f"{what} unavailable: {why}"
    if IN_CI:
        pytest.fail(f"{message} (server tests must run in CI)")
    pytest.skip(message)


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _from_script(script: str, variable: str) -> str:
    path = ROOT / "scripts" / script
    started = subprocess.run([str(path), "start"], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        _unavailable(script, started.stderr.strip()[-2000:] or started.stdout.strip()[-2000:])
    env = subprocess.run([str(path), "env"], capture_output=True, text=True, check=True).stdout
    for line in env.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == variable:
            return value.strip()
    _unavailable(script, f"`{script} env` printed no {variable}")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A PostgreSQL DSN for the tests' own databases."""
    if dsn := os.environ.get("TICKETFLOW_PG_DSN"):
        yield dsn
    elif _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as pg:
            yield pg.get_connection_url()
    else:
        yield _from_script("pg-local", "TICKETFLOW_PG_DSN")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a Kafka broker."""
    if servers := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield servers
    elif _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:3.9.1").with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        yield _from_script("kafka-local", "KAFKA_BOOTSTRAP_SERVERS")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped server test is a failure."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    server_skips = [r for r in skipped if any(m in r.keywords for m in SERVER_MARKERS)]
    if server_skips:
        names = ", ".join(r.nodeid for r in server_skips[:10])
        print(f"\nserver tests skipped in CI: {names}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def pg_database_factory(pg_dsn: str) -> Iterator[Callable[[], str]]:
    """Creates fresh, empty PostgreSQL databases (returns each one's DSN) for one test; drops
    them afterwards."""
    import psycopg

    names: list[str] = []

    def create() -> str:
        name = f"tf_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        names.append(name)
        return pg_dsn.rsplit("/", 1)[0] + "/" + name

    yield create
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for name in names:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def readmodel_store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Any]]:
    """Opens empty read-model stores, each its own SQLite file or (the test's second run) its
    own fresh PostgreSQL database; closes them after the test."""
    from ticketflow.adapters.readmodels import ReadModelStore

    databases = (
        request.getfixturevalue("pg_database_factory") if request.param == "postgres" else None
    )
    opened: list[ReadModelStore] = []

    def open_store() -> ReadModelStore:
        if databases is None:
            store = ReadModelStore.sqlite(tmp_path / f"rm-{len(opened) + 1}.sqlite3")
        else:
            store = ReadModelStore.postgres(databases())
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()

"""The event store's eventsourcing environment from settings (adapters/eventstore.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticketflow.adapters.eventstore import eventstore_env, pg_env
from ticketflow.errors import ConfigurationError
from ticketflow.settings import Settings


def test_sqlite_in_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    env = eventstore_env(Settings.from_env(env={}, data_dir=data), name="audit")
    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "PROCESS_RECORDER_TOPIC": "ticketflow.adapters.sqlite_eventstore:SQLiteRecorder",
        "SQLITE_DBNAME": str(data / "audit.sqlite3"),
        "SQLITE_LOCK_TIMEOUT": "30",
    }
    assert data.is_dir()


def test_postgres_with_ticketflow_s_recorder(tmp_path: Path) -> None:
    settings = Settings.from_env(
        env={"TICKETFLOW_STORE": "postgres", "TICKETFLOW_PG_DSN": "postgresql://u:p%40ss@db/tf"},
        data_dir=tmp_path / "unused",
    )
    env = eventstore_env(settings)
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert env["PROCESS_RECORDER_TOPIC"] == "ticketflow.adapters.pg_eventstore:PostgresRecorder"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db",
        "5432",
        "tf",
    )
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("u", "p@ss")
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize("dsn", ["mysql://u@h/d", "postgresql://u@h/", "host=h dbname=d"])
def test_a_dsn_that_is_not_a_postgresql_url_is_refused(dsn: str) -> None:
    with pytest.raises(ConfigurationError, match=r"TICKETFLOW_PG_DSN=.* is not postgresql://"):
        pg_env(dsn)

"""The event store's eventsourcing environment, from settings: SQLite in the data directory, or
PostgreSQL with ticketflow's recorder (``ticketflow.adapters.pg_eventstore``)."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from ticketflow.adapters.sqlite_eventstore import TOPIC as SQLITE_TOPIC
from ticketflow.errors import ConfigurationError
from ticketflow.settings import Settings


def eventstore_env(settings: Settings, name: str = "events") -> dict[str, str]:
    """The eventsourcing environment for the event store (storage chosen by settings)."""
    if settings.store == "postgres":
        # Imported here: PostgreSQL support (psycopg) is an optional extra.
        from ticketflow.adapters.pg_eventstore import TOPIC

        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "PROCESS_RECORDER_TOPIC": TOPIC,
            **pg_env(settings.pg_dsn or ""),
        }
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "PROCESS_RECORDER_TOPIC": SQLITE_TOPIC,
        "SQLITE_DBNAME": str(settings.data_dir / f"{name}.sqlite3"),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def pg_env(dsn: str) -> dict[str, str]:
    """eventsourcing's POSTGRES_* variables from a ``postgresql://`` DSN."""
    url = urlparse(dsn)
    if url.scheme not in ("postgresql", "postgres") or not url.hostname or not url.path[1:]:
        raise ConfigurationError(
            f"TICKETFLOW_PG_DSN={dsn!r} is not postgresql://user:password@host:port/dbname"
        )
    return {
        "POSTGRES_DBNAME": url.path[1:],
        "POSTGRES_HOST": url.hostname,
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "10",  # fail with a clear error rather than wait 30 s
        # A pooled connection is checked before use: after a server restart the pool opens
        # new connections instead of handing out dead ones (the API recovers by itself).
        "POSTGRES_PRE_PING": "y",
    }

"""Settings, in one place, read from the environment (DESIGN §4, §5).

- ``TICKETFLOW_HOME``: data directory of the embedded default (``--data-dir``),
  default ``./.ticketflow``;
- ``TICKETFLOW_MODE``: ``embedded`` (default: commands keep the read models up to date from
  the event store) or ``kafka`` (inbound goes through Kafka; workers own the read models);
- ``TICKETFLOW_STORE``: ``sqlite`` (default) or ``postgres``, for events and read models;
- ``TICKETFLOW_PG_DSN``: ``postgresql://user:password@host:port/dbname`` for postgres;
- ``KAFKA_BOOTSTRAP_SERVERS``: Kafka brokers, set for Kafka mode;
- ``TICKETFLOW_KAFKA_<OPTION>``: passed as ``<option>`` to the kafka-python clients that take it
  (SASL/TLS to all, ``fetch_*`` to consumers, …; an unknown option is an error);
- ``TICKETFLOW_TOPIC_INBOUND`` / ``_EVENTS`` / ``_DEADLETTER``: topic names;
- ``TICKETFLOW_GROUP_PREFIX``: consumer groups are ``<prefix>-engine`` and ``<prefix>-<projection>``
  (default ``ticketflow``);
- ``TICKETFLOW_PARTITIONS``: partitions for ``ticketflow topics create`` (default 6);
- ``TICKETFLOW_BATCH_SIZE``: inbound events applied per transaction (default 500).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ticketflow.errors import ConfigurationError

KAFKA_OPTION_PREFIX = "TICKETFLOW_KAFKA_"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    mode: str = "embedded"
    store: str = "sqlite"
    pg_dsn: str | None = None
    kafka_bootstrap: str | None = None
    kafka_options: dict[str, str] = field(default_factory=dict)
    topic_inbound: str = "ticketflow.inbound"
    topic_events: str = "ticketflow.events"
    topic_deadletter: str = "ticketflow.deadletter"
    group_prefix: str = "ticketflow"
    partitions: int = 6
    batch_size: int = 500

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, data_dir: str | Path | None = None
    ) -> Settings:
        env = os.environ if env is None else env
        store = env.get("TICKETFLOW_STORE", "sqlite")
        if store not in ("sqlite", "postgres"):
            raise ConfigurationError(f"TICKETFLOW_STORE={store!r}: expected 'sqlite' or 'postgres'")
        dsn = env.get("TICKETFLOW_PG_DSN")
        if store == "postgres" and not dsn:
            raise ConfigurationError(
                "TICKETFLOW_STORE=postgres needs TICKETFLOW_PG_DSN "
                "(postgresql://user:password@host:port/dbname)"
            )
        mode = env.get("TICKETFLOW_MODE", "embedded")
        if mode not in ("embedded", "kafka"):
            raise ConfigurationError(f"TICKETFLOW_MODE={mode!r}: expected 'embedded' or 'kafka'")
        if mode == "kafka" and not env.get("KAFKA_BOOTSTRAP_SERVERS"):
            raise ConfigurationError(
                "TICKETFLOW_MODE=kafka needs KAFKA_BOOTSTRAP_SERVERS (host:port,...)"
            )
        options = {
            k[len(KAFKA_OPTION_PREFIX) :].lower(): v
            for k, v in env.items()
            if k.startswith(KAFKA_OPTION_PREFIX)
        }
        return cls(
            data_dir=Path(data_dir or env.get("TICKETFLOW_HOME") or ".ticketflow"),
            mode=mode,
            store=store,
            pg_dsn=dsn,
            kafka_bootstrap=env.get("KAFKA_BOOTSTRAP_SERVERS"),
            kafka_options=options,
            topic_inbound=env.get("TICKETFLOW_TOPIC_INBOUND", "ticketflow.inbound"),
            topic_events=env.get("TICKETFLOW_TOPIC_EVENTS", "ticketflow.events"),
            topic_deadletter=env.get("TICKETFLOW_TOPIC_DEADLETTER", "ticketflow.deadletter"),
            group_prefix=env.get("TICKETFLOW_GROUP_PREFIX", "ticketflow"),
            partitions=_int(env, "TICKETFLOW_PARTITIONS", 6),
            batch_size=_int(env, "TICKETFLOW_BATCH_SIZE", 500),
        )

    def to_env(self) -> dict[str, str]:
        """These settings as the environment variables that give them back (for children)."""
        env = {
            "TICKETFLOW_MODE": self.mode,
            "TICKETFLOW_STORE": self.store,
            "TICKETFLOW_TOPIC_INBOUND": self.topic_inbound,
            "TICKETFLOW_TOPIC_EVENTS": self.topic_events,
            "TICKETFLOW_TOPIC_DEADLETTER": self.topic_deadletter,
            "TICKETFLOW_GROUP_PREFIX": self.group_prefix,
            "TICKETFLOW_PARTITIONS": str(self.partitions),
            "TICKETFLOW_BATCH_SIZE": str(self.batch_size),
        }
        if self.pg_dsn:
            env["TICKETFLOW_PG_DSN"] = self.pg_dsn
        if self.kafka_bootstrap:
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.kafka_bootstrap
        env.update({KAFKA_OPTION_PREFIX + k.upper(): v for k, v in self.kafka_options.items()})
        return env

    def eventstore_env(self, name: str = "events") -> dict[str, str]:
        """The eventsourcing environment for the event store (storage chosen by settings)."""
        if self.store == "postgres":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "PROCESS_RECORDER_TOPIC": "ticketflow.adapters.pg_eventstore:PostgresRecorder",
                **pg_env(self.pg_dsn or ""),
            }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "PROCESS_RECORDER_TOPIC": "ticketflow.adapters.sqlite_eventstore:SQLiteRecorder",
            "SQLITE_DBNAME": str(self.data_dir / f"{name}.sqlite3"),
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
    }


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise ConfigurationError(f"{name}={raw!r} must be positive")
    return value

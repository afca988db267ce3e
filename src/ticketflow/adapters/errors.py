"""The adapters' error boundary: library errors become ticketflow's own.

Only this module names eventsourcing's, psycopg's and kafka-python's error classes; callers
above the adapters (the command line, the workers' supervisors) see
:class:`~ticketflow.errors.UnavailableError` with a hint of what to check.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.persistence import PersistenceError
from kafka.errors import KafkaError

from ticketflow.errors import BrokerUnavailableError, StoreUnavailableError

STORE_HINT = "check --data-dir (embedded) or TICKETFLOW_PG_DSN and that PostgreSQL runs"
BROKER_HINT = "check KAFKA_BOOTSTRAP_SERVERS and that the broker runs (scripts/kafka-local start)"


def _database_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (PersistenceError, sqlite3.OperationalError)
    try:
        import psycopg
    except ImportError:  # the postgres extra is not installed
        return errors
    return (*errors, psycopg.OperationalError)


@contextmanager
def translated() -> Iterator[None]:
    """Run a block, turning a store's or the broker's library error into ours."""
    try:
        yield
    except _database_errors() as exc:
        raise StoreUnavailableError(f"the store cannot be used: {exc}", STORE_HINT) from exc
    except KafkaError as exc:
        raise BrokerUnavailableError(f"Kafka: {exc!r}", BROKER_HINT) from exc

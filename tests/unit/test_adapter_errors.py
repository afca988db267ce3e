"""Library errors stop at the adapters: ``translated`` turns them into ticketflow's own."""

from __future__ import annotations

import sqlite3

import pytest
from eventsourcing.persistence import OperationalError, PersistenceError
from kafka.errors import KafkaConnectionError, KafkaError

from ticketflow.adapters.errors import translated
from ticketflow.errors import (
    BrokerUnavailableError,
    StoreUnavailableError,
    TicketflowError,
    UnavailableError,
)


@pytest.mark.parametrize(
    "error",
    [
        PersistenceError("gone"),
        OperationalError("connection refused"),
        sqlite3.OperationalError("unable to open database file"),
    ],
)
def test_a_store_error_becomes_store_unavailable(error: Exception) -> None:
    with pytest.raises(StoreUnavailableError) as caught, translated():
        raise error
    assert isinstance(caught.value, UnavailableError)
    assert "TICKETFLOW_PG_DSN" in caught.value.hint
    assert caught.value.__cause__ is error


@pytest.mark.parametrize("error", [KafkaError("boom"), KafkaConnectionError("refused")])
def test_a_kafka_error_becomes_broker_unavailable(error: Exception) -> None:
    with pytest.raises(BrokerUnavailableError) as caught, translated():
        raise error
    assert "KAFKA_BOOTSTRAP_SERVERS" in caught.value.hint


def test_a_postgres_driver_error_becomes_store_unavailable() -> None:
    psycopg = pytest.importorskip("psycopg")
    with pytest.raises(StoreUnavailableError), translated():
        raise psycopg.OperationalError("server closed the connection unexpectedly")


def test_other_errors_pass_through_unchanged() -> None:
    with pytest.raises(ValueError, match="not ours"), translated():
        raise ValueError("not ours")


def test_every_translated_error_is_a_ticketflow_error() -> None:
    assert issubclass(StoreUnavailableError, TicketflowError)
    assert issubclass(BrokerUnavailableError, TicketflowError)

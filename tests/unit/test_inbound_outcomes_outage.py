"""The inbound worker's outcomes (R-IN-7) are written in the submit path: a database that goes
away while they are written is an outage (retried, the batch read again), never a reason to
reject the events being decided as ``internal_error``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.factories import opened
from ticketflow.adapters.kafka import decode_inbound
from ticketflow.bootstrap import open_engine, open_readmodels
from ticketflow.entrypoints.workers import InboundWorker
from ticketflow.errors import StoreUnavailableError
from ticketflow.service.submit import Candidate
from ticketflow.settings import Settings


class Producer:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, *args: Any, **kwargs: Any) -> Any:
        self.sent.append((args, kwargs))
        raise AssertionError("nothing is dead-lettered during an outage")

    def flush(self) -> None:
        pass


def test_a_lost_database_while_outcomes_are_written_is_an_outage(tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, data_dir=tmp_path)
    engine, producer = open_engine(settings), Producer()
    worker = InboundWorker(settings, engine, None, producer, outcomes=open_readmodels(settings))
    assert worker.outcomes is not None

    def lost(outcomes: Any) -> None:
        raise psycopg.OperationalError("the connection is lost")

    worker.outcomes.record = lost  # type: ignore[method-assign]

    text = json.dumps(opened("T-1", "2026-05-05T10:00:00Z")).encode()
    headers = [("content-type", b"application/cloudevents+json")]
    candidate = Candidate.of(0, None, decode_inbound, text, headers)
    with pytest.raises(StoreUnavailableError, match="connection is lost"):
        worker.intake.submit([candidate], None)
    assert producer.sent == []
    assert engine.recorder.max_notification_id() in (None, 0)  # nothing stored either
    engine.close()

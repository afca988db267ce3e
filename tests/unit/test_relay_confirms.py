"""The relay moves its position only over records the broker confirmed: kafka-python's
``flush`` returns normally when sends expired, so every send's future is checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from tests.factories import apply, opened, system_factory
from ticketflow.entrypoints.workers import Relay
from ticketflow.errors import BrokerUnavailableError


class Future:
    def __init__(self, error: Exception | None, done: bool = True) -> None:
        self.is_done, self.exception = done, error

    def failed(self) -> bool:
        return self.is_done and self.exception is not None


class Producer:
    """Sends whose futures fail (``error``) or never complete (``done=False``)."""

    def __init__(self, error: Exception | None = None, done: bool = True) -> None:
        self.error, self.done, self.sent, self.flushed = error, done, 0, 0

    def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def send(self, topic: str, **kwargs: Any) -> Future:
        self.sent += 1
        return Future(self.error, self.done)

    def flush(self) -> None:  # as kafka-python's: returns, whatever became of the sends
        self.flushed += 1

    def close(self) -> None:
        pass


def relay_over_two_events(tmp_path: Path, producer: Producer) -> tuple[Any, Relay]:
    system = system_factory(tmp_path)
    statuses = apply(
        system,
        [
            opened("T-1", "2026-01-06T10:00:00Z", tenant="acme"),
            opened("T-2", "2026-01-06T11:00:00Z", tenant="globex"),
        ],
    )
    assert statuses == ["accepted", "accepted"]
    return system, Relay(system.settings, system.engine, producer)


@pytest.mark.parametrize(
    "producer",
    [Producer(error=KafkaTimeoutError("Batch for ev-0 expired")), Producer(done=False)],
    ids=["expired", "not completed"],
)
def test_a_send_the_broker_did_not_confirm_keeps_the_position(
    tmp_path: Path, producer: Producer
) -> None:
    system, relay = relay_over_two_events(tmp_path, producer)
    try:
        with pytest.raises(BrokerUnavailableError, match="not confirmed"):
            relay.run_once(timeout_ms=0)
        recorder = system.engine.process_recorder
        assert (recorder.max_tracking_id(relay.name) or 0) == 0  # sent again next round
        assert relay.published == 0
        assert producer.sent == 2
    finally:
        system.close()


def test_confirmed_sends_move_the_position(tmp_path: Path) -> None:
    system, relay = relay_over_two_events(tmp_path, producer := Producer())
    try:
        assert relay.run_once(timeout_ms=0) == 2
        assert system.engine.process_recorder.max_tracking_id(relay.name) == 2
        assert producer.flushed == 1
    finally:
        system.close()

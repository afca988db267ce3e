"""Worker threads (one failing loop stops the others), the relay's record keys, Kafka options."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ticketflow.entrypoints.workers import WorkerThreads


class Loop:
    def __init__(self, fail_after: int | None = None) -> None:
        self.rounds = 0
        self.fail_after = fail_after

    def run_once(self) -> int:
        self.rounds += 1
        if self.fail_after is not None and self.rounds > self.fail_after:
            raise RuntimeError("database went away")
        threading.Event().wait(0.001)
        return 1


# The failing thread's traceback is printed on purpose (it is the worker's log).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failing_worker_stops_the_others_and_is_reported() -> None:
    stop = threading.Event()
    called = threading.Event()
    healthy, failing = Loop(), Loop(fail_after=3)
    threads = WorkerThreads([healthy, failing], stop, on_failure=called.set)
    threads.join()
    assert stop.is_set()
    assert called.is_set()
    assert not any(thread.is_alive() for thread in threads.threads)
    assert threads.describe_failures() == "Loop: RuntimeError: database went away"
    assert healthy.rounds > 0


def test_workers_run_until_stopped_without_failures() -> None:
    stop = threading.Event()
    loops = [Loop(), Loop()]
    threads = WorkerThreads(loops, stop)
    threading.Event().wait(0.05)
    stop.set()
    threads.join()
    assert threads.failures == []
    assert all(loop.rounds > 0 for loop in loops)


def test_the_relay_partitions_like_the_default_partitioner() -> None:
    from types import SimpleNamespace

    from kafka.partitioner.default import DefaultPartitioner

    from ticketflow.entrypoints.workers import Relay

    relay = Relay.__new__(Relay)
    relay.partitions = {}
    for count in (3, 5):
        partitions = list(range(count))
        cluster = SimpleNamespace(
            topics=lambda: {"t"},
            partitions_for_topic=lambda _, p=partitions: set(p),
            available_partitions_for_topic=lambda _, p=partitions: set(p),
        )
        for tenant in (b"acme", b"t42", b"globex", b""):
            expected = DefaultPartitioner().partition("t", None, tenant, None, None, cluster)
            assert relay._partition(tenant, partitions) == expected


def test_a_record_read_back_from_its_headers_is_the_record_sent() -> None:
    from uuid import uuid4

    from ticketflow.contract_events import Published, from_binary

    sent = Published(
        f"{uuid4()}:12", "ticketflow/x", "ticketflow.ticket.escalated.v1", "T-1",
        "2026-03-10T08:00:00.123456Z", "acme", 42, {"inbound": "portal 1", "level": "L2"},
    )  # fmt: skip
    back = from_binary(dict(sent.headers()), sent.value())
    assert back == sent
    assert back.version == 12


def test_kafka_options_go_to_the_clients_that_take_them(tmp_path: Any) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    from ticketflow.adapters.kafka import _options
    from ticketflow.errors import ConfigurationError
    from ticketflow.settings import Settings

    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "TICKETFLOW_KAFKA_OPTION_SECURITY_PROTOCOL": "SASL_SSL",
        "TICKETFLOW_KAFKA_OPTION_FETCH_MIN_BYTES": "1",
        "TICKETFLOW_KAFKA_OPTION_LINGER_MS": "5",
    }
    settings = Settings.from_env(env=env, data_dir=tmp_path)
    producer = _options(settings, KafkaProducer)
    consumer = _options(settings, KafkaConsumer)
    admin = _options(settings, KafkaAdminClient)
    assert producer == {
        "bootstrap_servers": ["127.0.0.1:9092"],
        "security_protocol": "SASL_SSL",
        "linger_ms": 5,
    }
    assert consumer["fetch_min_bytes"] == 1
    assert "linger_ms" not in consumer
    assert admin["security_protocol"] == "SASL_SSL"
    assert "fetch_min_bytes" not in admin
    bad = Settings.from_env(
        env={**env, "TICKETFLOW_KAFKA_OPTION_FETCH_MIN_BYTE": "1"}, data_dir=tmp_path
    )
    with pytest.raises(ConfigurationError, match="TICKETFLOW_KAFKA_OPTION_FETCH_MIN_BYTE"):
        _options(bad, KafkaConsumer)


class FakeConsumer:
    """A consumer whose partitions come after ``unassigned`` polls (a group still waiting for
    a killed member's session to expire)."""

    def __init__(self, unassigned: int) -> None:
        self.unassigned = unassigned
        self.polls = 0

    def assignment(self) -> set[str]:
        return set() if self.polls <= self.unassigned else {"ticketflow.events-0"}


class IdleWorker:
    """Has nothing to do; its consumer gets partitions after a while."""

    def __init__(self, unassigned: int) -> None:
        self.consumer = FakeConsumer(unassigned)
        self.rounds = 0

    def run_once(self) -> int:
        self.rounds += 1
        self.consumer.polls += 1
        return 0


def test_idle_rounds_count_only_once_partitions_are_assigned() -> None:
    from ticketflow.entrypoints.workers import run_until

    waiting = IdleWorker(unassigned=5)
    run_until([waiting], threading.Event(), idle_rounds=2)
    assert waiting.rounds == 5 + 2  # five rounds waiting for partitions, then two idle


def test_a_worker_without_a_consumer_is_always_assigned() -> None:
    from ticketflow.entrypoints.workers import run_until

    class Relay:
        rounds = 0

        def run_once(self) -> int:
            self.rounds += 1
            return 0

    relay = Relay()
    run_until([relay], threading.Event(), idle_rounds=3)
    assert relay.rounds == 3

"""Kafka mode end to end on a real broker and a real PostgreSQL (DESIGN §3–§5)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from projections import ALL
from tests.factories import event, lines, opened, system_factory, ticket_fact
from ticketflow.adapters import kafka as kafka_adapter
from ticketflow.adapters.deadletter import DeadLetterFile
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.bootstrap import open_engine, open_readmodels
from ticketflow.entrypoints.cli.kafka import build_workers
from ticketflow.service.audit import head, table_digests, verify
from ticketflow.service.ingest import ingest_lines
from ticketflow.settings import Settings
from ticketflow_tools.synthetic import generate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
TABLES = [t for p in ALL for t in p.tables]
IN_CI = os.environ.get("CI", "").lower() == "true"

RULE_CASES = lines(
    [
        event("subscription.started", "acme", "2026-03-01T00:00:00+01:00", {"tier": "GOLD"}),
        opened("K1", "2026-05-05T10:00:00Z"),
        ticket_fact("service_restored", "K1", "2026-05-05T14:31:00Z"),
        opened("K2", "2026-05-05T23:30:00Z", category="control_plane"),
        event(
            "subscription.tier_upgraded", "solo", "2026-05-01T00:30:00+02:00", {"tier": "SILVER"}
        ),
        event("expertise.hours_consumed", "acme", "2026-05-07T10:00:00Z", {"hours": 5}),
    ]
)


@pytest.fixture
def kafka_settings_factory(
    kafka_bootstrap: str, pg_database_factory: Callable[[], str], tmp_path: Path
) -> Callable[[], Settings]:
    """Builds Kafka-mode settings of the test's own: new topics (created here), consumer
    groups, PostgreSQL database and data directory."""

    def build() -> Settings:
        suffix = uuid.uuid4().hex[:8]
        settings = Settings.from_env(
            env={
                "TICKETFLOW_STORE": "postgres",
                "TICKETFLOW_PG_DSN": pg_database_factory(),
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "TICKETFLOW_TOPIC_INBOUND": f"in-{suffix}",
                "TICKETFLOW_TOPIC_EVENTS": f"ev-{suffix}",
                "TICKETFLOW_TOPIC_DEADLETTER": f"dl-{suffix}",
                "TICKETFLOW_GROUP_PREFIX": f"g-{suffix}",
                "TICKETFLOW_PARTITIONS": "3",
            },
            data_dir=tmp_path / f"kafka-mode-{suffix}",
        )
        kafka_adapter.create_topics(settings)
        return settings

    return build


def publish(settings: Settings, raw_lines: list[str]) -> None:
    """Structured mode, key = tenant: a tenant's subscription and tickets share a partition,
    so the tier in force is known when a ticket's clock starts, and each subject keeps its
    order (R-IN-4)."""
    producer = kafka_adapter.producer(settings)
    for line in raw_lines:
        try:
            key = json.loads(line).get("tenant", "")
        except ValueError:
            key = "garbage"
        producer.send(
            settings.topic_inbound,
            key=str(key).encode(),
            value=line.encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        )
    producer.flush()
    producer.close()


def embedded_digests(tmp_path: Path, raw_lines: list[str]) -> dict[str, Any]:
    system = system_factory(tmp_path, "embedded")
    ingest_lines(system.engine, raw_lines, DeadLetterFile(tmp_path / "dl.jsonl", "test"))
    system.project()
    digests = table_digests(system.readmodels, TABLES)
    system.close()
    return digests


def drive(workers: list[Any], until: Callable[[], bool], timeout: float = 120) -> None:
    """Run workers round by round until ``until()`` holds (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for worker in workers:
                worker.run_once(timeout_ms=200)
            if until():
                return
        raise AssertionError(f"not reached within {timeout} s")
    finally:
        for worker in workers:
            worker.close()


def stored_events(settings: Settings) -> int:
    engine = open_engine(settings)
    try:
        return int(engine.recorder.max_notification_id() or 0)
    finally:
        engine.close()


def kafka_digests(settings: Settings) -> dict[str, Any]:
    store = open_readmodels(settings)
    try:
        return table_digests(store, TABLES)
    finally:
        store.close()


class TestSameReadModelsAsEmbedded:
    def test_kafka_and_postgres_give_the_embedded_tables(
        self, kafka_settings_factory: Callable[[], Settings], tmp_path: Path
    ) -> None:
        kafka_settings = kafka_settings_factory()
        raw = RULE_CASES + list(generate(1500, seed=5))
        expected = embedded_digests(tmp_path, raw)
        publish(kafka_settings, raw)
        workers = build_workers(kafka_settings, "all")
        drive(workers, lambda: kafka_digests(kafka_settings) == expected)
        assert kafka_digests(kafka_settings) == expected


class TestPoisonMessages:
    def test_bad_records_go_to_the_deadletter_topic_and_good_ones_pass(
        self, kafka_settings_factory: Callable[[], Settings], tmp_path: Path
    ) -> None:
        kafka_settings = kafka_settings_factory()
        bad = [
            "{not json",
            json.dumps(event("bogus.type", "acme", "2026-05-05T10:00:00Z", {})),
            json.dumps(
                event("subscription.started", "acme", "2026-05-05T10:00:00", {"tier": "GOLD"})
            ),
            json.dumps(ticket_fact("service_restored", "NEVER", "2026-05-05T10:00:00Z")),
        ]
        good = RULE_CASES
        publish(kafka_settings, bad + good)
        expected = embedded_digests(tmp_path, good)
        workers = build_workers(kafka_settings, "all")
        drive(workers, lambda: kafka_digests(kafka_settings) == expected)

        dead = KafkaConsumer(
            kafka_settings.topic_deadletter,
            bootstrap_servers=kafka_settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=5000,
        )
        records = list(dead)
        dead.close()
        reasons = sorted(dict(r.headers)["error_reason"].decode() for r in records)
        assert reasons == ["missing_offset", "not_json", "unknown_ticket", "unknown_type"]
        for record in records:
            headers = dict(record.headers)
            assert headers["origin_topic"].decode() == kafka_settings.topic_inbound
            assert int(headers["origin_offset"]) >= 0
            assert record.value in [line.encode() for line in bad]  # original bytes kept
            assert headers["content-type"] == b"application/cloudevents+json"  # original headers


class TestRedelivery:
    def test_the_same_inbound_batch_twice_has_one_effect(
        self, kafka_settings_factory: Callable[[], Settings], tmp_path: Path
    ) -> None:
        kafka_settings = kafka_settings_factory()
        publish(kafka_settings, RULE_CASES)
        expected = embedded_digests(tmp_path, RULE_CASES)
        first = build_workers(kafka_settings, "all")
        drive(first, lambda: kafka_digests(kafka_settings) == expected)
        stored = stored_events(kafka_settings)
        # A second engine consumer whose Kafka offsets were lost: everything is delivered again.
        again = kafka_settings.model_copy(
            update={"group_prefix": kafka_settings.group_prefix + "-b"}
        )
        second = build_workers(again, "inbound")
        drive(second, lambda: second[0].counts["redelivered"] == len(RULE_CASES))
        assert stored_events(kafka_settings) == stored
        assert kafka_digests(kafka_settings) == expected

    def test_worker_killed_mid_batch_then_restarted_gives_the_same_tables(
        self, kafka_settings_factory: Callable[[], Settings], tmp_path: Path
    ) -> None:
        kafka_settings = kafka_settings_factory()
        raw = list(generate(6000, seed=11))
        expected = embedded_digests(tmp_path, raw)
        publish(kafka_settings, raw)
        inbound, relay = build_workers(kafka_settings, "inbound") + build_workers(
            kafka_settings, "relay"
        )
        recorder = relay.engine.process_recorder
        drive([inbound, relay], lambda: recorder.max_tracking_id(relay.name) == len(raw))
        end = events_end(kafka_settings)
        assert sum(end.values()) == len(ALL) * len(raw)
        env = {**os.environ, **kafka_settings.to_env()}
        command = [
            sys.executable,
            "-m",
            "ticketflow",
            "--data-dir",
            str(tmp_path / "w"),
            "worker",
            "projection",
            "all",
        ]
        # Fetches of at most 16 KiB a partition (1 MiB by default): the killed worker commits
        # many small transactions, so it can be caught with some done and some left. With the
        # default it had projected everything within three seconds.
        small_fetches = {**env, "TICKETFLOW_KAFKA_OPTION_MAX_PARTITION_FETCH_BYTES": str(16 * 1024)}
        worker = subprocess.Popen(command, env=small_fetches, stdout=subprocess.PIPE, text=True)
        assert worker.stdout is not None
        worker.stdout.readline()  # running
        kill_once_part_is_projected(worker, kafka_settings, end)
        worker.stdout.close()

        at_kill = projected(kafka_settings, end)
        assert 0 < sum(at_kill.values()) < sum(end.values())  # work was done, and work was left
        # Restarted, it resumes from the committed positions; it is stopped (SIGTERM) once it
        # has recorded every event read, rather than left to judge when it is idle: its
        # consumer groups first wait for the killed members to expire.
        with (tmp_path / "restarted.err").open("w+") as stderr:
            restarted = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True
            )
            try:
                wait_for(lambda: projected(kafka_settings, end) == end, timeout=180)
            finally:
                restarted.terminate()
                restarted.wait(timeout=60)
            stderr.seek(0)
            assert restarted.returncode == 0, stderr.read()
        assert kafka_digests(kafka_settings) == expected


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.2)


def events_end(settings: Settings) -> dict[str, int]:
    """For each projection and partition of the events topic (named as its tracking row in
    the read models, ``<projection>@<topic>:<partition>``), the partition's end offset: the
    position it records once it has read everything."""
    client = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        partitions = [TopicPartition(settings.topic_events, p) for p in range(settings.partitions)]
        ends = client.end_offsets(partitions)
    finally:
        client.close()
    return {f"{p.name}@{tp.topic}:{tp.partition}": ends[tp] for p in ALL for tp in ends}


def projected(settings: Settings, end: dict[str, int]) -> dict[str, int]:
    """The positions of ``end``'s tracking rows committed in the PostgreSQL read models."""
    with read_models(settings) as store:
        return positions_of(store, end)


def read_models(settings: Settings) -> contextlib.closing[ReadModelStore]:
    """The PostgreSQL read models, opened without creating anything (the workers do)."""
    assert settings.pg_dsn is not None
    return contextlib.closing(ReadModelStore.postgres(settings.pg_dsn))


def positions_of(store: ReadModelStore, end: dict[str, int]) -> dict[str, int]:
    positions = store.positions()
    return {name: positions.get(name, 0) for name in end}


def kill_once_part_is_projected(
    worker: subprocess.Popen[str], settings: Settings, end: dict[str, int]
) -> None:
    """SIGKILL ``worker`` as soon as it has committed some, but not all, of ``end``."""
    total = sum(end.values())
    deadline = time.monotonic() + 60
    try:
        with read_models(settings) as store:
            while time.monotonic() < deadline and worker.poll() is None:
                done = sum(positions_of(store, end).values())
                if 0 < done < total:
                    worker.kill()  # SIGKILL, wherever it is
                    return
                assert done < total, "the worker projected everything before it was caught"
                time.sleep(0.01)
        raise AssertionError(f"no batch committed within 60 s (exit code {worker.poll()})")
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=30)


class TestConsumers:
    def test_a_consumer_joins_its_group_once_with_every_partition(
        self, kafka_settings_factory: Callable[[], Settings]
    ) -> None:
        kafka_settings = kafka_settings_factory()
        # Subscribed before it knew the topic's partitions, a consumer joined twice (the first
        # assignment empty), and kafka-python 3.0.12 could lose the second assignment when a
        # poll timed out during it. The project's consumers learn the partitions first.
        client = kafka_adapter.consumer(
            kafka_settings, kafka_settings.topic_events, f"{kafka_settings.group_prefix}-once"
        )
        try:
            deadline = time.monotonic() + 60
            while not client.assignment() and time.monotonic() < deadline:
                client.poll(timeout_ms=100)
            assert len(client.assignment()) == kafka_settings.partitions
            assert client._coordinator._generation.generation_id == 1  # one join, not two
        finally:
            client.close()


class TestAuditChain:
    def test_the_relay_chains_what_it_publishes_and_an_alteration_is_caught(
        self, kafka_settings_factory: Callable[[], Settings]
    ) -> None:
        kafka_settings = kafka_settings_factory()
        raw = RULE_CASES + list(generate(400, seed=9))
        publish(kafka_settings, raw)
        inbound, relay = build_workers(kafka_settings, "inbound") + build_workers(
            kafka_settings, "relay"
        )
        recorder = relay.engine.recorder
        table = recorder.events_table_name
        store = open_readmodels(kafka_settings)
        try:
            drive(
                [inbound, relay],
                lambda: (
                    inbound.counts["accepted"] == len(raw)
                    and head(store)[0] == recorder.max_notification_id()
                ),
            )
            # No ``audit verify`` ran: the relay extended the chain batch by batch.
            engine = open_engine(kafka_settings)
            try:
                verdict = verify(engine.recorder, store)
                assert verdict.ok, verdict.problems
                assert (verdict.head_position, verdict.head_digest) == head(store)
                with psycopg.connect(kafka_settings.pg_dsn or "", autocommit=True) as conn:
                    conn.execute(
                        f"UPDATE {table} SET state = state || ' '::bytea WHERE notification_id = 42"
                    )
                altered = verify(engine.recorder, store)
            finally:
                engine.close()
        finally:
            store.close()
        assert not altered.ok
        assert altered.problems[0].startswith("position 42 ")


class TestNonPythonClient:
    def test_kcat_publishes_binary_mode_events(
        self, kafka_settings_factory: Callable[[], Settings], tmp_path: Path
    ) -> None:
        kafka_settings = kafka_settings_factory()
        kcat = shutil.which("kcat") or shutil.which("kafkacat")
        if kcat is None:
            if IN_CI:
                pytest.fail("kcat is required in CI (apt-get install kcat)")
            pytest.skip("kcat not installed (apt-get install kcat)")
        cases = [
            ("ce-1", "subscription.started", "kc", {"tier": "GOLD"}, "2026-05-01T08:00:00Z"),
            (
                "ce-2",
                "ticket.opened",
                "KC-1",
                {"priority": "P1", "channel": "phone", "language": "en", "category": "storage"},
                "2026-05-05T10:00:00Z",
            ),
        ]
        for ce_id, type_, subject, data, at in cases:
            headers = [
                "ce_specversion=1.0",
                f"ce_id={ce_id}",
                "ce_source=kcat",
                f"ce_type={type_}",
                f"ce_subject={subject}",
                f"ce_time={at}",
                "ce_tenant=kc",
                "content-type=application/json",
            ]
            args = [
                kcat,
                "-P",
                "-b",
                kafka_settings.kafka_bootstrap or "",
                "-t",
                kafka_settings.topic_inbound,
                "-k",
                "kc",
            ]
            for header in headers:
                args += ["-H", header]
            subprocess.run(args, input=json.dumps(data), text=True, check=True, timeout=60)
        workers = build_workers(kafka_settings, "all")

        def applied() -> bool:
            from ticketflow.service import queries

            store = open_readmodels(kafka_settings)
            try:
                rows = queries.sla(store, tenant="kc") if _known(store) else []
            finally:
                store.close()
            return bool(rows) and rows[0]["deadline"] == "2026-05-05T14:00:00Z"

        drive(workers, applied)  # GOLD, P1 at 10:00Z → GTR 4 h → 14:00Z


def _known(store: Any) -> bool:
    with store.transaction() as c:
        c.execute("SELECT 1 FROM sla_tickets WHERE tenant = 'kc'")
        return c.fetchone() is not None

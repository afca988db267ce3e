"""R-PLAT-4 in Kafka mode: the platform's facts on their own partition of ``ticketflow.events``,
consumed before or after the tenant's, give the same tables (and the same as embedded mode).
Also: ``ticketflow_sla(T)`` on PostgreSQL agrees with ``query sla`` for exempted cycles
(R-PLAT-1, R-SLA-11)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from projections import platform_weather, sla_breach
from tests.factories import system_factory
from tests.integration.test_platform import PLATFORM_FACTS, TENANT_FACTS
from ticketflow.adapters import kafka as kafka_adapter
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.bootstrap import open_engine
from ticketflow.contract import kafka_key, parse_event
from ticketflow.entrypoints.cli.kafka import build_workers
from ticketflow.entrypoints.workers import ProjectionWorker
from ticketflow.service import queries
from ticketflow.service.audit import table_digests
from ticketflow.settings import Settings

PROJECTIONS = (sla_breach.PROJECTION, platform_weather.PROJECTION)
TABLES = [t for p in PROJECTIONS for t in p.tables]
LATE = queries.parse_instant("2026-05-12T20:00:00Z")


def tenant_on_other_partition() -> str:
    """A tenant whose records land on the other of two partitions than ``platform``'s."""
    platform = kafka_adapter.default_partition(b"platform", 2)
    return next(
        name
        for name in (f"tenant-{n}" for n in range(100))
        if kafka_adapter.default_partition(name.encode(), 2) != platform
    )


def as_tenant(fact: dict[str, Any], tenant: str) -> dict[str, Any]:
    changed = {**fact, "tenant": tenant}
    if fact["type"].startswith("subscription."):
        changed["subject"] = tenant
    return changed


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.slow
def test_partition_order_gives_the_same_tables(
    kafka_bootstrap: str, pg_database_factory: Callable[[], str], tmp_path: Path
) -> None:
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
            "TICKETFLOW_PARTITIONS": "2",
        },
        data_dir=tmp_path / "kafka",
    )
    kafka_adapter.create_topics(settings)
    tenant = tenant_on_other_partition()
    tenant_facts = [as_tenant(f, tenant) for f in TENANT_FACTS]
    producer = kafka_adapter.producer(settings)
    for fact in [*PLATFORM_FACTS, *tenant_facts]:
        producer.send(
            settings.topic_inbound,
            key=kafka_key(parse_event(fact)).encode(),
            value=json.dumps(fact).encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        )
    producer.flush()
    producer.close()
    expected_events = len(PLATFORM_FACTS) + len(tenant_facts) + 1  # + T1's link at opening
    _store_and_relay(settings, expected_events)

    platform_partition = kafka_adapter.default_partition(b"platform", 2)
    orders = [
        [platform_partition, 1 - platform_partition],
        [1 - platform_partition, platform_partition],
    ]
    digests = []
    for order in orders:
        store = ReadModelStore.postgres(pg_database_factory())
        try:
            store.create_tables(PROJECTIONS)
            _consume_in_order(settings, store, order, expected_events)
            digests.append(table_digests(store, TABLES))
            reasons = {r["ticket"]: r["reason"] for r in queries.sla(store, as_of=LATE)}
            assert reasons == {"T1": "R-PLAT-1", "T2": None, "T3": None}
        finally:
            store.close()
    assert digests[0] == digests[1]

    embedded = system_factory(tmp_path, "embedded")
    try:
        embedded.engine.apply_batch([parse_event(f) for f in [*PLATFORM_FACTS, *tenant_facts]])
        embedded.project()
        assert table_digests(embedded.readmodels, TABLES) == digests[0]
    finally:
        embedded.close()


def _store_and_relay(settings: Settings, expected: int, timeout: float = 120) -> None:
    """Run the inbound worker and the relay until every event is stored and published."""
    workers = build_workers(settings, "inbound") + build_workers(settings, "relay")
    deadline = time.monotonic() + timeout
    try:
        while True:
            for worker in workers:
                worker.run_once(timeout_ms=200)
            relay = workers[-1]
            if relay.published >= expected:
                return
            assert time.monotonic() < deadline, f"{relay.published} of {expected} published"
    finally:
        for worker in workers:
            worker.close()


def _consume_in_order(
    settings: Settings, store: ReadModelStore, order: list[int], expected: int
) -> None:
    """Each projection reads one partition of ``ticketflow.events`` to its end, then the
    other (a consumer assigned partitions by hand, in its own group)."""
    engine = open_engine(settings)
    try:
        for projection in PROJECTIONS:
            consumer = KafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap,
                group_id=f"order-{uuid.uuid4().hex[:8]}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            worker = ProjectionWorker(projection, engine, store, consumer)
            try:
                for partition in order:
                    tp = TopicPartition(settings.topic_events, partition)
                    end = consumer.end_offsets([tp])[tp]
                    assert end > 0
                    consumer.assign([tp])
                    consumer.seek_to_beginning(tp)
                    deadline = time.monotonic() + 60
                    while consumer.position(tp) < end:
                        worker.run_once(timeout_ms=200)
                        assert time.monotonic() < deadline
            finally:
                consumer.close()
    finally:
        engine.close()


@pytest.mark.postgres
def test_the_sql_function_names_the_exemption(
    tmp_path: Path, pg_database_factory: Callable[[], str]
) -> None:
    system = system_factory(tmp_path)
    system.engine.apply_batch([parse_event(f) for f in [*TENANT_FACTS, *PLATFORM_FACTS]])
    pg = ReadModelStore.postgres(pg_database_factory())
    try:
        system.project(into=pg)
        instants = ["2026-05-12T10:20:00Z", "2026-05-12T11:20:00Z", "2026-05-12T13:00:00Z"]
        for at in [queries.parse_instant(i) for i in instants] + [LATE]:
            with pg.transaction() as c:
                c.execute("SELECT * FROM ticketflow_sla(?)", (at,))
                found = [dict(zip(queries.SLA_FIELDS, row, strict=True)) for row in c.fetchall()]
            assert found == queries.sla(pg, as_of=at), at
        assert {r["ticket"]: r["reason"] for r in found} == {
            "T1": "R-PLAT-1",
            "T2": None,
            "T3": None,
        }
    finally:
        pg.close()
        system.close()

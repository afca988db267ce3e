"""Kafka mode (R-ALERT-3): the whole topology (inbound, relay, projections, alerts) with a fixed
clock, and ``ticketflow.alerts`` read back from the real broker with the CloudEvents SDK: binary
mode, key = tenant, each alert once, ``data`` valid against its schema; a second run of the
alerts worker publishes nothing again."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from jsonschema import Draft202012Validator
from kafka import KafkaConsumer

from tests.factories import event, lines, opened, ticket_fact
from tests.integration.test_kafka_pipeline import drive, publish
from ticketflow.adapters import kafka as kafka_adapter
from ticketflow.bootstrap import open_readmodels
from ticketflow.entrypoints.cli.kafka import build_workers
from ticketflow.service.alerter import alerts
from ticketflow.settings import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
RAW = lines(
    [
        event("subscription.started", "acme", "2026-03-10T09:00:00Z", {"tier": "GOLD"}),
        event("subscription.started", "globex", "2026-03-10T09:00:00Z", {"tier": "SILVER"}),
        opened("T-1", "2026-05-06T10:00:00Z"),
        ticket_fact("service_restored", "T-1", "2026-05-06T14:30:00Z"),
        opened("G-1", "2026-05-06T10:00:00Z", tenant="globex"),
    ]
)
EXPECTED = [
    ("T-1/1/warning", "ticketflow.sla.warning.v1", b"acme"),
    ("T-1/1/at_risk", "ticketflow.sla.at_risk.v1", b"acme"),
    ("G-1/1/warning", "ticketflow.sla.warning.v1", b"globex"),
    ("T-1/1/breached", "ticketflow.sla.breached.v1", b"acme"),
    ("T-1/1/stopped", "ticketflow.sla.stopped.v1", b"acme"),
    ("G-1/1/at_risk", "ticketflow.sla.at_risk.v1", b"globex"),
]


def _read(settings: Settings) -> list[Any]:
    consumer = KafkaConsumer(
        settings.topic_alerts,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


def test_the_alerts_topic_read_back(
    kafka_bootstrap: str, pg_database_factory: Callable[[], str], tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = Settings.from_env(
        env={
            "TICKETFLOW_MODE": "kafka",
            "TICKETFLOW_STORE": "postgres",
            "TICKETFLOW_PG_DSN": pg_database_factory(),
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "TICKETFLOW_TOPIC_INBOUND": f"in-{suffix}",
            "TICKETFLOW_TOPIC_EVENTS": f"ev-{suffix}",
            "TICKETFLOW_TOPIC_DEADLETTER": f"dl-{suffix}",
            "TICKETFLOW_TOPIC_ALERTS": f"al-{suffix}",
            "TICKETFLOW_GROUP_PREFIX": f"g-{suffix}",
            "TICKETFLOW_PARTITIONS": "2",
            "TICKETFLOW_NOW": "2026-05-06T16:00:00Z",
        },
        data_dir=tmp_path / "data",
    )
    assert f"al-{suffix}" in kafka_adapter.create_topics(settings)
    publish(settings, RAW)
    workers = build_workers(settings, "all")
    publisher = workers[-1]
    drive(workers, lambda: publisher.store.position(publisher.name) >= len(EXPECTED))

    records = _read(settings)
    schemas = {
        p.stem: Draft202012Validator(json.loads(p.read_text("utf-8")))
        for p in (ROOT / "schemas" / "events").glob("ticketflow.sla.*.json")
    }
    assert len(schemas) == 4
    seen = []
    for message in sorted(records, key=lambda m: dict(m.headers)["ce_time"]):
        headers = dict(message.headers)
        ce = from_binary(KafkaMessage(headers, message.key, message.value), JSONFormat())
        assert ce.get_source() == "ticketflow/alerts"
        assert message.key == headers["ce_tenant"]
        data = ce.get_data()
        errors = list(schemas[ce.get_type()].iter_errors(data))
        assert not errors, errors[0].message
        assert data["alert_id"] == ce.get_id()
        seen.append((ce.get_id(), ce.get_type(), message.key))
    assert sorted(seen) == sorted(EXPECTED)

    # Again, as after a restart: the table and the topic hold each alert once.
    again = build_workers(settings, "alerts")
    drive(again, lambda: True, timeout=30)
    assert len(_read(settings)) == len(EXPECTED)
    store = open_readmodels(settings)
    try:
        assert [r["alert_id"] for r in alerts(store)] == [e[0] for e in EXPECTED]
    finally:
        store.close()

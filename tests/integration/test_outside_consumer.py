"""``ticketflow.events`` and ``ticketflow log`` read by a third party (DESIGN §3b).

The consumer below uses only the official CloudEvents SDK, ``jsonschema`` and the checked-in
``schemas/events/``: no ticketflow code. It validates every record and rebuilds the breached
P1 tickets as of an instant, which must equal ``query sla``. The topics' settings are read back
from the broker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from jsonschema import Draft202012Validator
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType

from tests.factories import event, lines, opened, ticket_fact
from tests.integration.test_kafka_pipeline import (  # noqa: F401 (fixture)
    drive,
    kafka_settings_factory,
    publish,
)
from ticketflow.bootstrap import open_readmodels
from ticketflow.entrypoints.cli.kafka import build_workers
from ticketflow.service import queries
from ticketflow.settings import Settings
from ticketflow_tools.synthetic import generate

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"

# -- the outside consumer: the CloudEvents SDK, jsonschema and the published schemas only ------

VALIDATORS = {
    path.stem: Draft202012Validator(json.loads(path.read_text("utf-8")))
    for path in SCHEMAS.glob("*.json")
}
CLOCK_STARTS = ("ticketflow.ticket.opened.v1", "ticketflow.ticket.reopened.v1")
STOPS = (
    "ticketflow.ticket.service_restored.v1",
    "ticketflow.ticket.resolved.v1",
    "ticketflow.ticket.closed.v1",
)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def check(ce: Any) -> None:
    """Every attribute the contract promises, and ``data`` valid against its type's schema."""
    for attribute in ("id", "source", "type", "subject", "time", "tenant", "position"):
        assert (
            ce.get_extension(attribute)
            if attribute in ("tenant", "position")
            else getattr(ce, f"get_{attribute}")()
        ), attribute
    errors = list(VALIDATORS[ce.get_type()].iter_errors(ce.get_data()))
    assert not errors, (ce.get_type(), errors[0].message)


def breached_p1(events: Iterable[Any], as_of: datetime) -> set[str]:
    """Tickets whose P1 clock (any cycle) ended after its deadline, or still ran past it, as
    of ``as_of``: facts dated after ``as_of`` are not known yet."""
    cycles: dict[tuple[str, int], dict[str, Any]] = {}
    for ce in sorted(events, key=lambda e: int(e.get_extension("position"))):
        at, data, kind = ce.get_time(), ce.get_data(), ce.get_type()
        if at > as_of:
            continue
        cycle = data.get("cycle", 1)
        key = (ce.get_subject(), cycle)
        if kind in CLOCK_STARTS or (
            kind == "ticketflow.ticket.priority_changed.v1" and data["clock_effect"] == "started"
        ):
            if data["deadline"] is not None:
                cycles[key] = {"deadline": instant(data["deadline"]), "end": None}
        elif (
            kind == "ticketflow.ticket.priority_changed.v1" and data["clock_effect"] == "cancelled"
        ):
            if key in cycles:
                cycles[key]["end"] = at
        elif kind in STOPS and data["stopped_clock"] and key in cycles:
            cycles[key]["end"] = at
    return {
        ticket
        for (ticket, _), c in cycles.items()
        if (c["end"] if c["end"] is not None else as_of) > c["deadline"]
    }


# -- the scenario ----------------------------------------------------------------------------

RAW = [
    *lines(
        [
            event("subscription.started", "acme", "2026-03-01T00:00:00+01:00", {"tier": "GOLD"}),
            opened("K1", "2026-05-05T10:00:00Z"),
            ticket_fact("service_restored", "K1", "2026-05-05T14:00:00.500000Z"),  # late by 0.5 s
            opened("K2", "2026-05-05T10:00:00Z"),
            ticket_fact("service_restored", "K2", "2026-05-05T14:00:00Z"),  # met, at the deadline
        ]
    ),
    *generate(900, seed=21),
]


def as_of_instants(records: list[Any]) -> list[datetime]:
    times = sorted(ce.get_time() for ce in records)
    return [times[len(times) // 3], times[2 * len(times) // 3], times[-1] + timedelta(days=30)]


def expected(store_rows: Callable[[datetime], list[dict[str, Any]]], at: datetime) -> set[str]:
    return {row["ticket"] for row in store_rows(at) if row["status"] == "breached"}


def test_ticketflow_log_read_by_the_sdk(tmp_path: Path) -> None:
    data = tmp_path / "store"
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(RAW) + "\n", "utf-8")
    cli = [sys.executable, "-m", "ticketflow", "--data-dir", str(data)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETFLOW_")}
    subprocess.run([*cli, "ingest", str(source)], env=env, check=True, capture_output=True)
    out = subprocess.run([*cli, "log"], env=env, check=True, capture_output=True, text=True)
    records = []
    for line in out.stdout.splitlines():
        assert '"time"' in line  # present in the record, not filled in by the SDK
        ce = JSONFormat().read(None, line)
        check(ce)
        records.append(ce)
    assert len(records) > len(RAW) // 2
    for at in as_of_instants(records):
        answer = subprocess.run(
            [*cli, "query", "sla", "--as-of", at.isoformat(), "--format", "json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        rows = json.loads(answer.stdout)
        want = {r["ticket"] for r in rows if r["status"] == "breached"}
        assert breached_p1(records, at) == want, at
    k1 = {r["ticket"] for r in rows if r["status"] == "breached"}
    assert "K1" in k1
    assert "K2" not in k1


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.slow
def test_the_events_topic_read_by_the_sdk(
    kafka_settings_factory: Callable[[], Settings],  # noqa: F811
) -> None:
    settings = kafka_settings_factory()
    publish(settings, RAW)
    workers = build_workers(settings, "inbound") + build_workers(settings, "relay")
    relay = workers[1]
    drive(workers, lambda: relay.published > 0 and relay.run_once(timeout_ms=10) == 0)

    consumer = KafkaConsumer(
        settings.topic_events,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    records = []
    for message in consumer:
        headers = dict(message.headers)
        assert "ce_time" in headers
        assert "ce_subject" in headers
        assert "ce_tenant" in headers
        assert message.key == headers["ce_tenant"]  # key = tenant: a tenant's order is kept
        ce = from_binary(KafkaMessage(headers, message.key, message.value), JSONFormat())
        check(ce)
        records.append(ce)
    consumer.close()
    assert len(records) == relay.published

    projections = build_workers(settings, "projection")
    drive(projections, lambda: _projected(projections) >= len(records))
    store = open_readmodels(settings)
    try:
        for at in as_of_instants(records):
            want = expected(lambda t: queries.sla(store, as_of=t), at)
            assert breached_p1(records, at) == want, at
    finally:
        store.close()


def _projected(workers: list[Any]) -> int:
    return min(w.consumed for w in workers)


@pytest.mark.kafka
def test_topic_settings_read_back_from_the_broker(
    kafka_settings_factory: Callable[[], Settings],  # noqa: F811
) -> None:
    settings = kafka_settings_factory()  # creates the topics, 3 partitions
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        names = [settings.topic_inbound, settings.topic_events, settings.topic_deadletter]
        deadline = time.monotonic() + 30
        while set(names) - set(admin.list_topics()) and time.monotonic() < deadline:
            time.sleep(0.2)
        partitions = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
        found = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n) for n in names], config_filter="all"
        )["topic"]
    finally:
        admin.close()
    assert partitions == dict.fromkeys(names, 3)
    retention = {n: (found[n]["retention.ms"]["value"], found[n]["retention.bytes"]["value"])
                 for n in names}  # fmt: skip
    assert retention == {
        settings.topic_inbound: (str(7 * 24 * 3600 * 1000), "-1"),
        settings.topic_events: ("-1", "-1"),
        settings.topic_deadletter: (str(30 * 24 * 3600 * 1000), "-1"),
    }

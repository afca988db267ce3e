"""``GET /v1/events/{source}/{id}``: what became of a posted event (R-IN-7), embedded and in
Kafka mode against the real broker (the API publishes, the inbound worker decides)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from tests.api import Api, api_factory_fixture
from tests.cli import embedded_env
from tests.factories import event, opened, ticket_fact
from ticketflow.adapters import kafka as kafka_adapter
from ticketflow.entrypoints.cli.kafka import build_workers
from ticketflow.settings import Settings

pytestmark = pytest.mark.timeout(180)
api_factory = api_factory_fixture()

STARTED = event("subscription.started", "acme", "2026-03-10T09:00:00Z", {"tier": "GOLD"})


def _outcome(client: Api, source: str, event_id: str, secret: str | None = None) -> Any:
    headers = client.as_key(secret) if secret else None
    return client.get(f"/v1/events/{source}/{event_id}", headers=headers)


def test_an_embedded_post_can_be_looked_up(api_factory: Callable[[], Api]) -> None:
    client = api_factory()
    started = {**STARTED, "source": "crm/eu"}  # a source with a slash
    never = ticket_fact("service_restored", "T-404", "2026-05-06T11:00:00Z")
    assert client.post_events([started, never, started]).status_code == 207
    reply = _outcome(client, "crm/eu", started["id"])
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "accepted"  # the duplicate after it does not hide it
    rejected = _outcome(client, "tests", never["id"]).json()
    assert (rejected["status"], rejected["reason"]) == ("rejected", "unknown_ticket")
    assert rejected["rule"]
    assert _outcome(client, "tests", "no-such-id").status_code == 404


def test_an_accepted_event_stays_accepted(api_factory: Callable[[], Api]) -> None:
    client = api_factory()
    assert client.post_events(STARTED).status_code == 202
    malformed = {**STARTED, "time": "2026-03-10T09:00:00"}  # the same id, no offset: R-IN-2
    assert client.post_events(malformed).status_code == 422
    assert _outcome(client, "tests", STARTED["id"]).json()["status"] == "accepted"


def test_another_tenant_or_source_is_not_found(api_factory: Callable[[], Api]) -> None:
    client = api_factory()
    globex = event("subscription.started", "globex", "2026-03-10T09:00:00Z", {"tier": "GOLD"})
    assert client.post_events([STARTED, globex]).status_code == 202
    acme_only = client.key(["publisher"], tenants=("acme",))
    assert _outcome(client, "tests", STARTED["id"], acme_only).status_code == 200
    unknown = _outcome(client, "tests", "no-such-id", acme_only)
    other = _outcome(client, "tests", globex["id"], acme_only)
    assert (other.status_code, other.json()) == (
        404,
        unknown.json()
        | {
            "error": {
                "code": "not_found",
                "message": f"no event {globex['id']!r} posted from 'tests'",
            }
        },
    )
    portal_only = client.key(["publisher"], sources=("portal",))
    assert _outcome(client, "tests", STARTED["id"], portal_only).status_code == 404
    analyst = client.key(["analyst"])
    assert _outcome(client, "tests", STARTED["id"], analyst).status_code == 403


@pytest.fixture
def kafka_env(kafka_bootstrap: str, pg_database_factory: Callable[[], str]) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "TICKETFLOW_MODE": "kafka",
        "TICKETFLOW_STORE": "postgres",
        "TICKETFLOW_PG_DSN": pg_database_factory(),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TICKETFLOW_TOPIC_INBOUND": f"in-{suffix}",
        "TICKETFLOW_TOPIC_EVENTS": f"ev-{suffix}",
        "TICKETFLOW_TOPIC_DEADLETTER": f"dl-{suffix}",
        "TICKETFLOW_GROUP_PREFIX": f"g-{suffix}",
        "TICKETFLOW_PARTITIONS": "1",
    }


@pytest.mark.kafka
@pytest.mark.postgres
def test_kafka_mode_pending_then_decided(
    kafka_env: dict[str, str], api_factory: Callable[..., Api], tmp_path: Path
) -> None:
    settings = Settings.from_env(env=kafka_env, data_dir=tmp_path / "worker")
    kafka_adapter.create_topics(settings)
    client = api_factory(kafka_env)
    unknown = ticket_fact("service_restored", "T-404", "2026-05-06T11:00:00Z")
    ticket = opened("T-1", "2026-05-06T10:00:00Z")
    broken = {**opened("T-2", "2026-05-06T10:00:00"), "source": "tests"}  # no offset: R-IN-2
    reply = client.post_events([STARTED, ticket, unknown, broken])
    assert reply.status_code == 207, reply.text
    assert [o["status"] for o in reply.json()["outcomes"]] == ["published"] * 3 + ["rejected"]
    for e in (STARTED, ticket, unknown):
        assert _outcome(client, "tests", e["id"]).json()["status"] == "pending"
    refused = _outcome(client, "tests", broken["id"]).json()
    assert (refused["status"], refused["rule"]) == ("rejected", "R-IN-2")

    [worker] = build_workers(settings, "inbound")
    try:
        for _ in range(60):
            worker.run_once(timeout_ms=500)
            if sum(worker.counts[s] for s in ("accepted", "rejected")) >= 3:
                break
    finally:
        worker.close()
    assert _outcome(client, "tests", STARTED["id"]).json()["status"] == "accepted"
    assert _outcome(client, "tests", ticket["id"]).json()["status"] == "accepted"
    decided = _outcome(client, "tests", unknown["id"]).json()
    assert (decided["status"], decided["reason"]) == ("rejected", "unknown_ticket")

    # Posted again: a duplicate for the worker, still accepted for the publisher.
    assert client.post_events([STARTED]).status_code == 202
    assert _outcome(client, "tests", STARTED["id"]).json()["status"] == "accepted"

    # The API's own rejection went to the dead-letter topic.
    consumer = KafkaConsumer(
        settings.topic_deadletter,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    try:
        origins = {
            json.loads(r.value).get("id") if r.value else None: dict(r.headers) for r in consumer
        }
    finally:
        consumer.close()
    assert origins[broken["id"]]["origin_topic"] == b"POST /v1/events"
    assert origins[broken["id"]]["error_reason"]


def _ticketflow(
    data_dir: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticketflow", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env={**embedded_env(), **env},
        timeout=120,
        check=False,
    )


@pytest.mark.kafka
@pytest.mark.postgres
def test_events_ingested_from_the_command_line_have_outcomes(
    kafka_env: dict[str, str], api_factory: Callable[..., Api], tmp_path: Path
) -> None:
    """R-IN-7 for ``ticketflow ingest`` in Kafka mode: each published line pending until the
    engine worker decides it, a line refused by the command rejected at once."""
    settings = Settings.from_env(env=kafka_env, data_dir=tmp_path / "worker")
    kafka_adapter.create_topics(settings)
    ticket = opened("T-1", "2026-05-06T10:00:00Z")
    broken = opened("T-2", "2026-05-06T10:00:00")  # no offset: R-IN-2
    lines = tmp_path / "facts.jsonl"
    lines.write_text("".join(json.dumps(e) + "\n" for e in (STARTED, ticket, broken)))
    done = _ticketflow(tmp_path / "cli", kafka_env, "ingest", str(lines))
    assert done.returncode == 1, done.stderr  # one line rejected
    client = api_factory(kafka_env)
    assert _outcome(client, "tests", STARTED["id"]).json()["status"] == "pending"
    refused = _outcome(client, "tests", broken["id"]).json()
    assert (refused["status"], refused["rule"]) == ("rejected", "R-IN-2")

    [worker] = build_workers(settings, "inbound")
    try:
        for _ in range(60):
            worker.run_once(timeout_ms=500)
            if worker.counts["accepted"] >= 2:
                break
    finally:
        worker.close()
    for e in (STARTED, ticket):
        assert _outcome(client, "tests", e["id"]).json()["status"] == "accepted"


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.slow
def test_a_served_api_in_kafka_mode(kafka_env: dict[str, str], tmp_path: Path) -> None:
    """``ticketflow serve --kafka`` as its own process against the real broker: events posted
    over HTTP are pending, then accepted once the inbound worker decided them, then in the
    SLA read model once projected."""
    settings = Settings.from_env(env=kafka_env, data_dir=tmp_path)
    kafka_adapter.create_topics(settings)
    made = _ticketflow(tmp_path, kafka_env, "keys", "create", "--role", "publisher,analyst")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    command = [sys.executable, "-m", "ticketflow", "--data-dir", str(tmp_path), "serve"]
    process = subprocess.Popen(
        [*command, "--kafka", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**embedded_env(), **kafka_env},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" on ", 1)[1].split()[0]

        def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(url + path, data=data, method=method)
            request.add_header("Authorization", f"Bearer {secret}")
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return int(response.status), json.loads(response.read())
            except urllib.error.HTTPError as error:
                return int(error.code), json.loads(error.read())

        ticket = opened("T-1", "2026-05-06T10:00:00Z")
        status, body = call("POST", "/v1/events", [STARTED, ticket])
        assert status == 202, body
        assert [o["status"] for o in body["outcomes"]] == ["published"] * 2
        for e in (STARTED, ticket):
            assert _until(lambda e=e: call("GET", f"/v1/events/tests/{e['id']}")[1]["status"]) == (
                "accepted"
            )

        def projected() -> Any:  # 404 unknown_tenant until the SLA read model has the tenant
            status, rows = call("GET", "/v1/sla?tenant=acme&as_of=2026-05-06T11:00:00Z")
            return rows if status == 200 else None

        rows = _until(projected)
        assert [(r["ticket"], r["tier"], r["status"]) for r in rows] == [("T-1", "GOLD", "running")]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _until(read: Callable[[], Any], attempts: int = 240) -> Any:
    """What ``read`` gives once it is neither ``pending`` nor empty (a bounded wait)."""
    found = None
    for _ in range(attempts):
        found = read()
        if found and found != "pending":
            return found
        time.sleep(0.25)
    return found

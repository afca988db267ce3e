"""``ticketflow deadletter list | redrive`` in Kafka mode, on a real broker and PostgreSQL:
the records of the dead-letter topic listed with their error and origin, a dry run that shows
what each would do now and applies nothing, a redrive that applies the fixed ones once (a
second redrive has no effect, R-IN-1) and sends one refused again back to the topic."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.factories import event, opened, ticket_fact
from tests.integration import test_kafka_pipeline as pipeline
from tests.integration.test_kafka_boundaries import STRUCTURED, dead_letters, send
from tests.integration.test_kafka_pipeline import drive, stored_events
from ticketflow.entrypoints.cli import main
from ticketflow.entrypoints.cli.kafka import build_workers
from ticketflow.settings import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
kafka_settings_factory = pipeline.kafka_settings_factory  # the fixture, shared


def record(fact: dict[str, Any], key: str = "acme") -> tuple[bytes, bytes, list[Any]]:
    return key.encode(), json.dumps(fact).encode(), STRUCTURED


@pytest.fixture
def settings(
    kafka_settings_factory: Callable[[], Settings], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Kafka-mode settings of the test's own, also in the environment the command reads."""
    settings = kafka_settings_factory()
    env = {
        "TICKETFLOW_MODE": "kafka",
        "TICKETFLOW_STORE": "postgres",
        "TICKETFLOW_PG_DSN": settings.pg_dsn,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
        "TICKETFLOW_TOPIC_INBOUND": settings.topic_inbound,
        "TICKETFLOW_TOPIC_EVENTS": settings.topic_events,
        "TICKETFLOW_TOPIC_DEADLETTER": settings.topic_deadletter,
        "TICKETFLOW_GROUP_PREFIX": settings.group_prefix,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    return settings


def command(data: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    status = main(["--data-dir", str(data), "deadletter", *args])
    out = capsys.readouterr().out
    assert status == 0, out
    return json.loads(out) if "json" in args else out


def test_list_dry_run_and_redrive_once(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    restored = {**ticket_fact("service_restored", "K-1", "2026-05-05T11:00:00Z"), "id": "r-1"}
    send(
        settings,
        [
            record(event("subscription.started", "acme", "2026-05-01T00:00:00Z", {"tier": "GOLD"})),
            record(restored),  # before its opening: unknown_ticket (R-SLA-2)
            record({**opened("K-2", "2026-05-05T10:00:00Z", "P1"), "id": "o-2"}, key="nobody"),
        ],
    )
    drive(build_workers(settings, "inbound"), lambda: len(dead_letters(settings)) == 2)
    send(settings, [record({**opened("K-1", "2026-05-05T10:00:00Z", "P1"), "id": "o-1"})])
    drive(build_workers(settings, "inbound"), lambda: stored_events(settings) == 2)

    listed = command(tmp_path, capsys, "list", "--format", "json")
    assert sorted((r["reason"], r["rule"], r["id"]) for r in listed) == [
        ("unknown_ticket", "R-SLA-2", "r-1"),
        ("wrong_key", "R-IN-5", "o-2"),
    ]
    assert {r["origin"].rsplit(":", 2)[0] for r in listed} == {settings.topic_inbound}
    assert {r["redriven"] for r in listed} == {None}

    preview = command(tmp_path, capsys, "redrive", "--dry-run", "--format", "json")
    now = {r["id"]: (r["now"], r["reason"]) for r in preview}
    assert now == {"r-1": ("accepted", None), "o-2": ("rejected", "wrong_key")}
    assert stored_events(settings) == 2  # nothing applied
    assert len(dead_letters(settings)) == 2  # nothing written

    done = command(tmp_path, capsys, "redrive", "--reason", "unknown_ticket", "--format", "json")
    assert [(r["id"], r["now"]) for r in done] == [("r-1", "accepted")]
    assert stored_events(settings) == 3
    again = command(tmp_path, capsys, "redrive", "--reason", "unknown_ticket")
    assert "no dead letters to redrive" in again
    assert stored_events(settings) == 3  # no second effect

    refused = command(tmp_path, capsys, "redrive", "--format", "json")
    assert [(r["id"], r["now"], r["reason"]) for r in refused] == [("o-2", "rejected", "wrong_key")]
    letters = dead_letters(settings)
    assert len(letters) == 3  # refused again: back on the topic, naming the letter
    # the topic's records come back in no set order across partitions: count, do not index
    origins = [dict(letter.headers)["origin_topic"].decode() for letter in letters]
    assert origins.count(settings.topic_deadletter) == 1
    listed = command(tmp_path, capsys, "list", "--format", "json")
    redriven = {r["id"]: r["redriven"] for r in listed if r["redriven"]}
    assert redriven == {"r-1": "accepted", "o-2": "rejected"}
    assert stored_events(settings) == 3

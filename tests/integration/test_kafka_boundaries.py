"""Inputs and kills on a real broker and PostgreSQL: every kind of poison is dead-lettered
and nothing behind it is held up (R-IN-3, R-IN-5, R-IN-6, DESIGN §3 modes); a killed inbound
worker's replacement consumes within seconds, and a worker stopped while it joins its group
stops at once (DESIGN §4)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.factories import opened, ticket_fact
from tests.integration import test_kafka_pipeline as pipeline
from tests.integration.test_kafka_pipeline import (
    RULE_CASES,
    drive,
    embedded_digests,
    kafka_digests,
    publish,
    stored_events,
)
from ticketflow.adapters import kafka as kafka_adapter
from ticketflow.entrypoints.cli.kafka import build_workers
from ticketflow.settings import Settings
from ticketflow_tools.synthetic import generate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
kafka_settings_factory = pipeline.kafka_settings_factory  # the fixture, shared
STRUCTURED = [("content-type", b"application/cloudevents+json")]


def send(settings: Settings, records: list[tuple[bytes | None, bytes | None, list[Any]]]) -> None:
    producer = kafka_adapter.producer(settings)
    for key, value, headers in records:
        producer.send(settings.topic_inbound, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()


def dead_letters(settings: Settings) -> list[Any]:
    """Every record of the dead-letter topic up to its end offsets as they are now (none
    before the first dead letter makes the topic)."""
    client = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [
            TopicPartition(settings.topic_deadletter, p)
            for p in client.partitions_for_topic(settings.topic_deadletter) or ()
        ]
        if not parts:
            return []
        client.assign(parts)
        client.seek_to_beginning(*parts)
        ends = client.end_offsets(parts)
        found: list[Any] = []
        deadline = time.monotonic() + 30
        while any(client.position(p) < ends[p] for p in parts):
            assert time.monotonic() < deadline, "dead letters not read back within 30 s"
            for records in client.poll(timeout_ms=500).values():
                found.extend(records)
        return found
    finally:
        client.close()


def reasons(settings: Settings) -> list[str]:
    return sorted(dict(r.headers)["error_reason"].decode() for r in dead_letters(settings))


class TestEveryPoisonIsDeadLetteredAndNothingWaits:
    def test_odd_instants_modes_keys_and_content_types(
        self, kafka_settings_factory: Callable[[], Settings], tmp_path: Path
    ) -> None:
        settings = kafka_settings_factory()
        good = list(RULE_CASES)
        acknowledged = ticket_fact("acknowledged", "K1", "2026-05-05T10:30:00Z")
        del acknowledged["data"]  # CloudEvents allows it for a type without fields
        charset = {
            **ticket_fact("escalated", "K1", "2026-05-05T10:40:00Z", level="L2"),
            "datacontenttype": "application/json; charset=utf-8",
        }
        extra_good = [acknowledged, charset]
        records: list[tuple[bytes | None, bytes | None, list[Any]]] = [
            (b"acme", json.dumps(opened("X1", t)).encode(), STRUCTURED)
            for t in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")
        ]
        records.append(
            (None, json.dumps(opened("X2", "2026-05-05T10:00:00Z")).encode(), STRUCTURED)
        )
        records.append(
            (b"X3", json.dumps(opened("X3", "2026-05-05T10:00:00Z")).encode(), STRUCTURED)
        )
        records.append(
            (b"acme", json.dumps(opened("X4", "2099-01-01T00:00:00Z")).encode(), STRUCTURED)
        )
        records.append((b"acme", b"[" * 100_000, STRUCTURED))
        records.append(
            (
                b"acme",
                json.dumps({**opened("X5", "2026-05-05T10:00:00Z"), "type": []}).encode(),
                STRUCTURED,
            )
        )
        publish(settings, good[:3])
        send(settings, records)
        # Good records behind the poison, one of them structured with a tracing header.
        send(
            settings,
            [
                (b"acme", json.dumps(e).encode(), [*STRUCTURED, ("ce_traceparent", b"00-1-2-01")])
                for e in extra_good
            ],
        )
        publish(settings, good[3:])
        expected = embedded_digests(tmp_path, [*good[:3], *map(json.dumps, extra_good), *good[3:]])
        workers = build_workers(settings, "all")
        drive(workers, lambda: kafka_digests(settings) == expected)
        assert reasons(settings) == sorted(
            [
                "time_out_of_range",
                "time_out_of_range",
                "wrong_key",
                "wrong_key",
                "time_in_future",
                "not_json",
                "unknown_type",
            ]
        )
        assert stored_events(settings) >= len(good) + len(extra_good)


def worker(
    settings: Settings, tmp_path: Path, name: str, role: str = "inbound"
) -> subprocess.Popen[str]:
    env = {**os.environ, **settings.to_env(), "TICKETFLOW_BATCH_SIZE": "20"}
    command = [
        sys.executable,
        "-m",
        "ticketflow",
        "--data-dir",
        str(tmp_path / name),
        "worker",
        role,
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    process.stdout.readline()  # running
    return process


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition()`` holds, polled every 0.1 s; fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - start


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    if process.stdout is not None:
        process.stdout.close()


class TestRecovery:
    def test_a_replacement_consumes_within_seconds_of_a_kill(
        self, kafka_settings_factory: Callable[[], Settings], tmp_path: Path
    ) -> None:
        settings = kafka_settings_factory()
        raw = list(generate(20_000, seed=21))
        publish(settings, raw)
        first = worker(settings, tmp_path, "w1")
        figures: dict[str, float] = {}
        try:
            wait_for(lambda: stored_events(settings) > 0, timeout=60)
            stop(first)  # SIGKILL while it consumes
            at_kill = stored_events(settings)
            # A replacement killed before it has joined (the slow case: ~90 s by default) ...
            stop(worker(settings, tmp_path, "w2"))
            killed = time.monotonic()
            # ... and the one after it.
            replacement = worker(settings, tmp_path, "w3")
            try:
                wait_for(lambda: stored_events(settings) > at_kill, timeout=40)
                figures["kill to consuming again, s"] = time.monotonic() - killed
                # Stopped while it works: it exits promptly, status 0.
                replacement.send_signal(signal.SIGTERM)
                figures["SIGTERM to exit, consuming, s"] = wait_for(
                    lambda: replacement.poll() is not None, timeout=15
                )
                assert replacement.returncode == 0
            finally:
                stop(replacement)
            # Stopped while it joins its group (waiting for the killed member to expire).
            stop(worker(settings, tmp_path, "w4"))
            joining = worker(settings, tmp_path, "w5")
            try:
                time.sleep(1)
                joining.send_signal(signal.SIGTERM)
                figures["SIGTERM to exit, joining, s"] = wait_for(
                    lambda: joining.poll() is not None, timeout=15
                )
                assert joining.returncode == 0
            finally:
                stop(joining)
        finally:
            stop(first)
        print("\nrecovery:", json.dumps({k: round(v, 1) for k, v in figures.items()}))

"""``ticketflow worker projections [NAME …]`` on a real broker and PostgreSQL: one consumer,
each record decoded once and given to every read model named, each with its own tracking."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from projections import ALL
from tests.integration.test_kafka_pipeline import (
    drive,
    embedded_digests,
    events_end,
    kafka_digests,
    kafka_settings_factory,
    projected,
    publish,
    read_models,
    wait_for,
)
from ticketflow.entrypoints.cli.kafka import build_workers, projections_group
from ticketflow.entrypoints.workers import Retry
from ticketflow.settings import Settings
from ticketflow_tools.synthetic import generate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
__all__ = ["kafka_settings_factory"]  # the fixture, shared with the pipeline's tests

EXPERTISE = next(p for p in ALL if p.name == "expertise_usage")


def relayed(settings: Settings, raw: list[str]) -> None:
    """``raw`` published, accepted by the inbound worker and relayed to the events topic."""
    publish(settings, raw)
    inbound, relay = build_workers(settings, "inbound") + build_workers(settings, "relay")
    recorder = relay.engine.process_recorder
    drive([inbound, relay], lambda: recorder.max_tracking_id(relay.name) == len(raw))


def drive_retrying(workers: list[Any], until: Callable[[], bool], timeout: float = 120) -> None:
    """As :func:`drive`, each round run as the worker command runs it (:class:`Retry`): a
    rebalance met while committing, after another member left, is retried from the tracking."""
    stop, retry = threading.Event(), Retry(timeout=60, report=lambda message: None)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for worker in workers:
                retry.run(worker, stop)
            if until():
                return
        raise AssertionError(f"not reached within {timeout} s")
    finally:
        for worker in workers:
            worker.close()


def fed(settings: Settings, end: dict[str, int]) -> Callable[[], bool]:
    return lambda: projected(settings, end) == end


def test_one_consumer_gives_the_tables_of_one_worker_per_read_model(
    kafka_settings_factory: Callable[[], Settings],
    pg_database_factory: Callable[[], str],
    tmp_path: Path,
) -> None:
    settings = kafka_settings_factory()
    raw = list(generate(1500, seed=21))
    relayed(settings, raw)
    end = events_end(settings)

    # Separate consumer groups, one per read model, into a database of their own.
    separate = settings.model_copy(
        update={"pg_dsn": pg_database_factory(), "group_prefix": settings.group_prefix + "-s"}
    )
    singles = build_workers(separate, "projection", "all")
    assert len(singles) == len(ALL)
    drive(singles, fed(separate, end))

    [fanout] = build_workers(settings, "projections")
    assert [p.name for p in fanout.projections] == [p.name for p in ALL]
    drive([fanout], fed(settings, end))

    assert kafka_digests(settings) == kafka_digests(separate) == embedded_digests(tmp_path, raw)
    # Each record decoded at most once, where the separate workers decoded it once per group.
    assert fanout.decoded <= fanout.consumed == len(raw)
    assert fanout.applied == sum(w.applied for w in singles)
    assert sum(w.decoded for w in singles) > fanout.decoded


def test_a_read_model_behind_catches_up_without_the_others_applying_again(
    kafka_settings_factory: Callable[[], Settings], tmp_path: Path
) -> None:
    settings = kafka_settings_factory()
    raw = list(generate(1500, seed=22))
    relayed(settings, raw)
    end = events_end(settings)
    expected = embedded_digests(tmp_path, raw)

    [first] = build_workers(settings, "projections")
    drive([first], fed(settings, end))
    # One read model rebuilt alone: its rows and tracking dropped, the group's Kafka offsets
    # left at the end of every partition.
    with read_models(settings) as store:
        store.drop_tables([EXPERTISE])
        others = {k: v for k, v in store.positions().items() if "expertise" not in k}
    [again] = build_workers(settings, "projections")  # same group, same committed offsets
    drive_retrying([again], fed(settings, end))
    assert kafka_digests(settings) == expected
    with read_models(settings) as store:
        after = store.positions()
    assert {k: after[k] for k in others} == others  # the others' positions did not move
    # Only expertise_usage's events were applied again.
    expertise_types = set(EXPERTISE.handlers)
    assert again.applied == sum(1 for t in published_types(settings) if t in expertise_types)
    assert 0 < again.applied < first.applied


def published_types(settings: Settings) -> list[str]:
    """The ``ce_type`` of every record of the events topic."""
    from kafka import KafkaConsumer

    client = KafkaConsumer(
        settings.topic_events,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    try:
        return [dict(r.headers)["ce_type"].decode() for r in client]
    finally:
        client.close()


def test_two_workers_share_the_partitions_of_one_group(
    kafka_settings_factory: Callable[[], Settings], tmp_path: Path
) -> None:
    settings = kafka_settings_factory()
    raw = list(generate(3000, seed=23))
    relayed(settings, raw)
    end = events_end(settings)
    expected = embedded_digests(tmp_path, raw)
    env = {
        **os.environ,
        **settings.to_env(),
        # Small fetches: the work is spread over many rounds, while both members are in.
        "TICKETFLOW_KAFKA_OPTION_MAX_PARTITION_FETCH_BYTES": str(16 * 1024),
    }
    command = [sys.executable, "-m", "ticketflow", "--data-dir", str(tmp_path / "w"), "worker"]
    group = projections_group(settings, None)
    workers = []
    try:
        for _ in range(2):
            workers.append(
                subprocess.Popen([*command, "projections"], env=env, stdout=subprocess.DEVNULL)
            )
        wait_for(lambda: members_with_partitions(settings, group) == 2, timeout=90)
        wait_for(fed(settings, end), timeout=180)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    assert [w.returncode for w in workers] == [0, 0]
    assert kafka_digests(settings) == expected


def members_with_partitions(settings: Settings, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        found: Any = admin.describe_groups([group])[group]
    finally:
        admin.close()
    if found.get("group_state") != "Stable":
        time.sleep(0.2)
        return 0
    return sum(
        1
        for member in found["members"]
        if any(a["partitions"] for a in member["member_assignment"]["assigned_partitions"])
    )

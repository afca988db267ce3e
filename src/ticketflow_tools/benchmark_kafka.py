"""The benchmark's Kafka phases (DESIGN §6), run by ``python -m ticketflow_tools.benchmark
--kafka-events N`` on a real broker and PostgreSQL (``KAFKA_BOOTSTRAP_SERVERS``,
``TICKETFLOW_PG_DSN``), each on fresh topics and a fresh database:

- ``baseline-kafka``: kafka-python alone produces N records and consumes them back (the
  target's baseline);
- ``kafka``: the pipeline. N inbound events are published; the inbound worker, the relay and
  the three projection workers, each its own process, carry them to the read models;
- ``topology-kafka``: the pipeline's Kafka traffic alone, with the same clients and processes.
  N inbound records are published; one process consumes them and produces each to the events
  topic with the relay's nine headers; three consumer groups read them. No validation, engine,
  database or read model.

The topology line is not a target: it tells how much of the pipeline's time is Kafka client work
that any implementation of DESIGN §4's topology (one inbound consumer, one relay producer, a
consumer group per read model) pays, and how much is ticketflow's own work.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from projections import ALL
from ticketflow.bulk import bulk_collection
from ticketflow_tools.synthetic import generate

TARGET = 0.25
# One consumer group per read model, as in the pipeline (``worker projection all``).
TOPOLOGY_GROUPS = tuple(projection.name for projection in ALL)


def _kafka_settings(work: Path) -> Any:
    """Settings for a Kafka + PostgreSQL run on fresh topics and a fresh database."""
    import psycopg

    from ticketflow.settings import Settings

    dsn = os.environ["TICKETFLOW_PG_DSN"]
    name = f"tf_bench_{uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    suffix = uuid4().hex[:8]
    env = {
        "TICKETFLOW_MODE": "kafka",
        "TICKETFLOW_STORE": "postgres",
        "TICKETFLOW_PG_DSN": dsn.rsplit("/", 1)[0] + "/" + name,
        "KAFKA_BOOTSTRAP_SERVERS": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        "TICKETFLOW_TOPIC_INBOUND": f"bench-in-{suffix}",
        "TICKETFLOW_TOPIC_EVENTS": f"bench-ev-{suffix}",
        "TICKETFLOW_TOPIC_DEADLETTER": f"bench-dl-{suffix}",
        "TICKETFLOW_GROUP_PREFIX": f"bench-{suffix}",
        "TICKETFLOW_BATCH_SIZE": "2000",  # inbound records per poll and transaction
    }
    return Settings.from_env(env=env, data_dir=work)


def phase_baseline_kafka(n: int, work: Path) -> dict[str, Any]:
    """kafka-python alone: produce the same lines and consume them back, same broker. As for
    the pipeline, the clients are connected (the consumer has its partitions) before the
    clock starts."""
    from ticketflow.adapters import kafka

    settings = _kafka_settings(work)
    kafka.create_topics(settings)
    lines = list(generate(n))
    producer = kafka.producer(settings)
    consumer = kafka.consumer(settings, settings.topic_inbound, settings.group_prefix + "-raw")
    deadline = time.monotonic() + 60
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(timeout_ms=100)
    start = time.perf_counter()
    with bulk_collection():  # as the workers run: like for like
        for line in lines:
            producer.send(settings.topic_inbound, key=line[-12:].encode(), value=line.encode())
        producer.flush()
        seen = 0
        while seen < n:
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                seen += len(records)
    seconds = time.perf_counter() - start
    producer.close()
    consumer.close()
    return {"seconds": seconds}


def phase_kafka(n: int, work: Path) -> dict[str, Any]:
    """inbound topic → engine → PostgreSQL store → relay → events topic → the read models,
    each piece in its own ``ticketflow worker`` process, as deployed."""
    from ticketflow.entrypoints.cli.kafka import PROJECTIONS

    base = [sys.executable, "-m", "ticketflow", "--data-dir", str(work), "worker"]
    roles = [["inbound"], ["relay"], *(["projection", name] for name in PROJECTIONS)]
    return _timed_topology(
        n,
        work,
        {" ".join(role): [*base, *role] for role in roles},
        engine_group="engine",
        groups=list(PROJECTIONS),
        label="kafka pipeline",
    )


def phase_topology_kafka(n: int, work: Path) -> dict[str, Any]:
    """The pipeline's Kafka client work alone, in as many processes: see the module's doc."""
    base = [sys.executable, "-m", "ticketflow_tools.benchmark_kafka"]
    commands = {"forward": [*base, "forward"]}
    commands.update({f"consume {name}": [*base, "consume", name] for name in TOPOLOGY_GROUPS})
    return _timed_topology(
        n,
        work,
        commands,
        engine_group="engine",
        groups=list(TOPOLOGY_GROUPS),
        label="kafka topology alone",
    )


def _timed_topology(
    n: int,
    work: Path,
    commands: dict[str, list[str]],
    *,
    engine_group: str,
    groups: list[str],
    label: str,
) -> dict[str, Any]:
    """Start ``commands`` (each prints a line with ``running`` once it is ready), then time
    publishing ``n`` inbound events until every group in ``groups`` has committed ``n``
    records of the events topic. The clock starts once every process runs and every consumer
    group has its partitions (a pipeline's throughput, not its start-up)."""
    from ticketflow.adapters import kafka
    from ticketflow.contract import kafka_key, parse_event
    from ticketflow.entrypoints.progress import Progress

    settings = _kafka_settings(work)
    kafka.create_topics(settings)
    keyed = [(kafka_key(parse_event(line)), line) for line in generate(n)]
    env = {**os.environ, **settings.to_env()}
    full = [f"{settings.group_prefix}-{name}" for name in groups]
    processes = {
        name: subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        for name, command in commands.items()
    }
    try:
        _wait_ready(settings, processes, [f"{settings.group_prefix}-{engine_group}", *full])
        cpu_before = {name: _cpu_seconds(p.pid) for name, p in processes.items()}
        progress = Progress(label, n * len(full))
        start = time.perf_counter()
        kafka.publish_inbound(settings, keyed)
        while (done := _consumed(settings, full)) < n * len(full):
            progress.update(done)
            time.sleep(0.1)
            if failed := [name for name, p in processes.items() if p.poll() is not None]:
                raise RuntimeError(f"process(es) {failed} stopped; see their output above")
        seconds = time.perf_counter() - start
        cpu = {name: _cpu_seconds(p.pid) - cpu_before[name] for name, p in processes.items()}
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=60)
    progress.finish()
    return {"seconds": seconds, "workers": len(processes), "cpu_seconds": cpu}


def _wait_ready(
    settings: Any, processes: dict[str, subprocess.Popen[str]], groups: list[str]
) -> None:
    """Until each process has said it runs and each group has every partition assigned."""
    from kafka import KafkaAdminClient

    deadline = time.monotonic() + 120
    for name, process in processes.items():
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.monotonic(), 0))
        if not ready or "running" not in process.stdout.readline():
            raise RuntimeError(f"{name} did not start within 120 s; see its output above")
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        while time.monotonic() < deadline:
            described = admin.describe_groups(groups)
            if all(_assigned(described[g]) == settings.partitions for g in groups):
                return
            time.sleep(0.2)
        raise RuntimeError(f"consumer groups not ready after 120 s: {groups}")
    finally:
        admin.close()


def _assigned(group: dict[str, Any]) -> int:
    if group.get("group_state") != "Stable":
        return 0
    return sum(
        len(part["partitions"])
        for member in group["members"]
        for part in member["member_assignment"]["assigned_partitions"]
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _consumed(settings: Any, groups: list[str]) -> int:
    """Records of the events topic committed by ``groups``, added up."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets(dict.fromkeys(groups))
        return sum(
            max(meta.offset, 0)
            for group in offsets.values()
            for tp, meta in group.items()
            if tp.topic == settings.topic_events
        )
    finally:
        admin.close()


def kafka_report(n: int, results: dict[str, dict[str, Any]]) -> str:
    """The Kafka lines of the report: the pipeline against its baseline (the target), and the
    topology's Kafka work alone against the same baseline (what any implementation pays)."""

    def rate(phase: str) -> float:
        return n / float(results[phase]["seconds"])

    base, pipeline, topology = rate("baseline-kafka"), rate("kafka"), rate("topology-kafka")
    ok = "yes" if pipeline / base >= TARGET else "NO"
    return "\n".join(
        [
            f"{'kafka pipeline':<24}{pipeline:>12,.0f}{base:>12,.0f}{pipeline / base:>8.2f}"
            f"{TARGET:>8.2f}  {ok}   ({n:,} events: inbound → PostgreSQL → events → "
            f"{len(ALL)} read models)",
            f"{'kafka topology alone':<24}{topology:>12,.0f}{base:>12,.0f}{topology / base:>8.2f}"
            f"{'—':>8}      (the same Kafka traffic and processes, no ticketflow work)",
            f"{'':<24}pipeline / topology alone = {pipeline / topology:.2f}",
        ]
    )


KAFKA_PHASES = {
    "baseline-kafka": phase_baseline_kafka,
    "topology-kafka": phase_topology_kafka,
    "kafka": phase_kafka,
}


def _run_role(role: str, group: str | None) -> None:
    """A process of the ``topology-kafka`` phase, with the pipeline's client settings: ``forward``
    (the inbound consumer and the relay's producer in one: each inbound record goes to the
    events topic, same key, value and partitioner, the relay's nine headers) or ``consume``
    (a projection worker's consumer: headers read as a dict, offsets committed per poll)."""
    from ticketflow.adapters import kafka
    from ticketflow.settings import Settings

    settings = Settings.from_env(env=dict(os.environ))
    if role == "forward":
        consumer = kafka.consumer(
            settings, settings.topic_inbound, f"{settings.group_prefix}-engine"
        )
        producer: Any = kafka.producer(settings)
        limit = settings.batch_size
    else:
        consumer = kafka.consumer(
            settings, settings.topic_events, f"{settings.group_prefix}-{group}"
        )
        producer, limit = None, 2000
    print(f"topology {role}: running", flush=True)  # groups joined: see _wait_ready
    subject, position = uuid4(), 0
    while True:
        polled = consumer.poll(timeout_ms=500, max_records=limit)
        for records in polled.values():
            for record in records:
                if producer is None:
                    headers = dict(record.headers)
                    int(headers["ce_position"])
                    continue
                position += 1
                producer.send(
                    settings.topic_events,
                    key=record.key,
                    partition=record.partition,  # same key, same partition count
                    value=record.value,
                    headers=[
                        ("ce_specversion", b"1.0"),
                        ("ce_id", f"{subject}:{position}".encode()),
                        ("ce_source", b"ticketflow/engine"),
                        ("ce_type", b"ticketflow.ticket.opened.v1"),
                        ("ce_subject", b"T-1"),
                        ("ce_time", b"2026-05-05T10:00:00Z"),
                        ("ce_tenant", record.key),
                        ("ce_position", str(position).encode()),
                        ("content-type", b"application/json"),
                    ],
                )
        if producer is not None:
            producer.flush()
        if polled:
            consumer.commit()


if __name__ == "__main__":
    with bulk_collection():  # as the workers run: like for like
        _run_role(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)

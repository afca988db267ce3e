"""Benchmark: each phase side by side with its baseline, measured in the same run (DESIGN §6).

Phases run in child processes so each reports its own peak RSS:

| phase | baseline |
|---|---|
| ingest: contract + engine, batches of 500, SQLite | bare eventsourcing aggregates, same batches |
| rebuild of the three read models | reading and decoding the notification log alone |
| SLA query per tenant, p50/p99 | — (target p99 < 20 ms) |

Run: ``python -m ticketflow.benchmark --events 1000000`` (default 100 000). Figures are
events/s and ratios; the machine is noisy, so tests never assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

TIERS = ("STANDARD", "BRONZE", "SILVER", "GOLD")
BATCH = 500


def generate(n: int, seed: int = 1) -> Iterator[str]:
    """``n`` valid CloudEvents lines: subscriptions, ticket lives, expert hours."""
    rng = random.Random(seed)
    tenants = max(10, n // 200)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    produced, ticket = 0, 0

    def line(type_: str, subject: str, tenant: str, at: datetime, data: dict[str, Any]) -> str:
        nonlocal produced
        produced += 1
        return json.dumps(
            {
                "specversion": "1.0",
                "id": str(produced),
                "source": "bench",
                "type": type_,
                "subject": subject,
                "time": at.isoformat(),
                "tenant": tenant,
                "data": data,
            }
        )

    for i in range(tenants):
        if produced >= n:
            return
        yield line("subscription.started", f"t{i}", f"t{i}", t0, {"tier": TIERS[i % 4]})
    clock = t0
    while produced < n:
        clock += timedelta(seconds=30)
        tenant = f"t{rng.randrange(tenants)}"
        if rng.random() < 0.15:
            yield line("expertise.hours_consumed", tenant, tenant, clock, {"hours": 0.5})
            continue
        ticket += 1
        name = f"T{ticket}"
        yield line(
            "ticket.opened",
            name,
            tenant,
            clock,
            {
                "priority": rng.choice(("P1", "P2", "P3")),
                "channel": "portal",
                "language": "fr",
                "category": "compute",
            },
        )
        for k, kind in enumerate(("acknowledged", "service_restored", "resolved", "closed")):
            if produced >= n:
                return
            at = clock + timedelta(hours=k + rng.random() * 6)
            yield line(f"ticket.{kind}", name, tenant, at, {})


class Bare(Aggregate):
    """The baseline aggregate: one created event, then plain updates."""

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name

    @event("Updated")
    def update(self, value: str) -> None:
        self.value = value


def _sqlite_env(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


def phase_baseline_ingest(n: int, work: Path) -> dict[str, Any]:
    app: Application[Any] = Application(env=_sqlite_env(work / "bare.sqlite3"))
    live: dict[str, Bare] = {}
    pending: dict[str, Bare] = {}
    start = time.perf_counter()
    for i, raw in enumerate(generate(n)):
        obj = json.loads(raw)
        subject = obj["subject"]
        aggregate = live.get(subject)
        if aggregate is None:
            aggregate = live[subject] = Bare(subject)
        else:
            aggregate.update(obj["type"])
        pending[subject] = aggregate
        if (i + 1) % BATCH == 0:
            app.save(*pending.values())
            pending.clear()
    app.save(*pending.values())
    return {"seconds": time.perf_counter() - start}


def phase_ingest(n: int, work: Path) -> dict[str, Any]:
    from ticketflow.bootstrap import open_engine
    from ticketflow.ingest import DeadLetterFile, ingest_lines
    from ticketflow.progress import Progress
    from ticketflow.settings import Settings

    engine = open_engine(Settings.from_env(env={}, data_dir=work))
    start = time.perf_counter()
    report = ingest_lines(
        engine,
        generate(n),
        DeadLetterFile(work / "dead.jsonl", "bench"),
        batch_size=BATCH,
        progress=Progress("ingest", n),
    )
    return {
        "seconds": time.perf_counter() - start,
        "accepted": report.accepted,
        "rejected": report.rejected,
    }


def phase_baseline_decode(n: int, work: Path) -> dict[str, Any]:
    from ticketflow.bootstrap import open_engine
    from ticketflow.settings import Settings

    engine = open_engine(Settings.from_env(env={}, data_dir=work))
    recorder, mapper = engine.recorder, engine.mapper
    start, position, decoded = time.perf_counter(), 1, 0
    while True:
        page = recorder.select_notifications(position, 2000)
        if not page:
            break
        for notification in page:
            mapper.to_domain_event(notification)
        decoded += len(page)
        position = page[-1].id + 1
    return {"seconds": time.perf_counter() - start, "events": decoded}


def phase_rebuild(n: int, work: Path) -> dict[str, Any]:
    from projections import ALL
    from projections.store import ReadModelStore
    from projections.worker import catch_up
    from ticketflow.bootstrap import open_engine
    from ticketflow.progress import Progress
    from ticketflow.settings import Settings

    engine = open_engine(Settings.from_env(env={}, data_dir=work))
    target = work / f"rebuild-{uuid4().hex}.sqlite3"
    store = ReadModelStore.sqlite(target)
    progress = Progress("rebuild", engine.recorder.max_notification_id())
    start = time.perf_counter()
    decoded = catch_up(
        engine.recorder, engine.mapper, store, ALL, upstream=engine.name, progress=progress.update
    )
    progress.finish()
    seconds = time.perf_counter() - start
    store.close()
    target.replace(work / "readmodels.sqlite3")
    return {"seconds": seconds, "events": decoded}


def phase_query(n: int, work: Path) -> dict[str, Any]:
    from projections.store import ReadModelStore
    from ticketflow import queries

    store = ReadModelStore.sqlite(work / "readmodels.sqlite3")
    rng = random.Random(3)
    tenants = max(10, n // 200)
    as_of = datetime(2026, 2, 1, tzinfo=UTC)
    timings = []
    for _ in range(300):
        tenant = f"t{rng.randrange(tenants)}"
        start = time.perf_counter()
        queries.sla(store, as_of=as_of, tenant=tenant)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return {"p50_ms": statistics.median(timings), "p99_ms": timings[int(len(timings) * 0.99) - 1]}


def _kafka_settings(work: Path) -> Any:
    """Settings for a Kafka + PostgreSQL run on fresh topics and a fresh database."""
    import os

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
    """inbound topic → engine → PostgreSQL store → relay → events topic → three read models,
    each piece in its own ``ticketflow worker`` process, as deployed. The clock starts once
    every worker runs and every consumer group has its partitions (a pipeline's throughput,
    not its start-up), and stops when the three projection groups have committed every
    event."""
    import os

    from ticketflow.adapters import kafka
    from ticketflow.cli_kafka import PROJECTIONS
    from ticketflow.contract import parse_event
    from ticketflow.progress import Progress

    settings = _kafka_settings(work)
    kafka.create_topics(settings)
    keyed = [(parse_event(line).tenant, line) for line in generate(n)]
    env = {**os.environ, **settings.to_env()}
    roles = [["inbound"], ["relay"], *(["projection", name] for name in PROJECTIONS)]
    base = [sys.executable, "-m", "ticketflow", "--data-dir", str(work), "worker"]
    groups = [f"{settings.group_prefix}-{name}" for name in PROJECTIONS]
    processes = {
        " ".join(role): subprocess.Popen([*base, *role], env=env, stdout=subprocess.PIPE, text=True)
        for role in roles
    }
    try:
        _wait_ready(settings, processes, [f"{settings.group_prefix}-engine", *groups])
        cpu_before = {name: _cpu_seconds(p.pid) for name, p in processes.items()}
        progress = Progress("kafka pipeline", n * len(PROJECTIONS))
        start = time.perf_counter()
        kafka.publish_inbound(settings, keyed)
        while (done := _consumed(settings, groups)) < n * len(groups):
            progress.update(done)
            time.sleep(0.1)
            if failed := [name for name, p in processes.items() if p.poll() is not None]:
                raise RuntimeError(f"worker(s) {failed} stopped; see their output above")
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
    """Until each worker has said it runs and each group has every partition assigned."""
    from kafka import KafkaAdminClient

    for name, process in processes.items():
        assert process.stdout is not None
        if "running" not in process.stdout.readline():
            raise RuntimeError(f"worker {name} did not start; see its output above")
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        deadline = time.monotonic() + 120
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
    """Events committed by the projection groups on the events topic, added up."""
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


PHASES = {
    "baseline-ingest": phase_baseline_ingest,
    "ingest": phase_ingest,
    "baseline-decode": phase_baseline_decode,
    "rebuild": phase_rebuild,
    "query": phase_query,
}
KAFKA_PHASES = {"baseline-kafka": phase_baseline_kafka, "kafka": phase_kafka}


def run_phase(name: str, n: int, work: Path) -> dict[str, Any]:
    """Run one phase in a child process; returns its figures and peak RSS."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ticketflow.benchmark",
            "--phase",
            name,
            "--events",
            str(n),
            "--work",
            str(work),
        ],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def report(n: int, results: dict[str, dict[str, Any]]) -> str:
    def rate(phase: str) -> float:
        return n / float(results[phase]["seconds"])

    ingest, base_ingest = rate("ingest"), rate("baseline-ingest")
    rebuild, base_decode = rate("rebuild"), rate("baseline-decode")
    rows = [
        ("embedded ingest", ingest, base_ingest, 0.5),
        ("rebuild 3 read models", rebuild, base_decode, 0.25),
    ]
    lines = [f"ticketflow benchmark: {n:,} events (SQLite, this machine, one run)", ""]
    lines.append(f"{'phase':<24}{'events/s':>12}{'baseline/s':>12}{'ratio':>8}{'target':>8}  ok")
    for name, value, base, target in rows:
        ratio = value / base
        ok = "yes" if ratio >= target else "NO"
        lines.append(f"{name:<24}{value:>12,.0f}{base:>12,.0f}{ratio:>8.2f}{target:>8.2f}  {ok}")
    rss = results["rebuild"]["peak_rss_mb"]
    lines.append(
        f"{'rebuild peak RSS':<24}{rss:>10.0f} MB   target < 500 MB  {'yes' if rss < 500 else 'NO'}"
    )
    q = results["query"]
    lines.append(
        f"{'SLA query per tenant':<24}p50 {q['p50_ms']:.2f} ms  p99 {q['p99_ms']:.2f} ms"
        f"   target p99 < 20 ms  {'yes' if q['p99_ms'] < 20 else 'NO'}"
    )
    return "\n".join(lines)


def kafka_report(n: int, results: dict[str, dict[str, Any]]) -> str:
    rate = n / float(results["kafka"]["seconds"])
    base = n / float(results["baseline-kafka"]["seconds"])
    ok = "yes" if rate / base >= 0.25 else "NO"
    return (
        f"{'kafka pipeline':<24}{rate:>12,.0f}{base:>12,.0f}{rate / base:>8.2f}{0.25:>8.2f}  {ok}"
        f"   ({n:,} events: inbound → PostgreSQL → events → 3 read models)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ticketflow.benchmark")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--work", help="working directory (default: a temporary one)")
    parser.add_argument(
        "--phase", choices=sorted({**PHASES, **KAFKA_PHASES}), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--kafka-events",
        type=int,
        default=0,
        metavar="N",
        help="also measure the Kafka pipeline on N events (needs "
        "KAFKA_BOOTSTRAP_SERVERS and TICKETFLOW_PG_DSN)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    if args.phase:
        figures = {**PHASES, **KAFKA_PHASES}[args.phase](args.events, Path(args.work))
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return 0
    with tempfile.TemporaryDirectory(prefix="ticketflow-bench-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = {}
        for name in PHASES:
            print(f"-- {name}", file=sys.stderr, flush=True)
            results[name] = run_phase(name, args.events, work)
        for name in KAFKA_PHASES if args.kafka_events else ():
            print(f"-- {name}", file=sys.stderr, flush=True)
            results[name] = run_phase(name, args.kafka_events, work)
    print(report(args.events, results))
    if args.kafka_events:
        print(kafka_report(args.kafka_events, results))
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

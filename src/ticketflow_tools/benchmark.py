"""Benchmark: each phase side by side with its baseline, measured in the same run (DESIGN §6).

Phases run in child processes so each reports its own peak RSS:

| phase | baseline |
|---|---|
| ingest: contract + engine, batches of 500, SQLite | bare eventsourcing aggregates, same batches |
| rebuild of the three read models | reading and decoding the notification log alone |
| SLA query per tenant, p50/p99 | — (target p99 < 20 ms) |
| HTTP API, SLA per tenant, 8 clients: requests/s, p99 | the same query, in-process, 8 threads |

Run: ``python -m ticketflow_tools.benchmark --events 1000000`` (default 100 000). Figures are
events/s and ratios; the machine is noisy, so tests never assert them.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ticketflow_tools.synthetic import generate

BATCH = 500


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
    from ticketflow.bulk import bulk_collection

    app: Application[Any] = Application(env=_sqlite_env(work / "bare.sqlite3"))
    live: dict[str, Bare] = {}
    pending: dict[str, Bare] = {}
    start = time.perf_counter()
    with bulk_collection():  # as the ingest does: like for like
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
    from ticketflow.adapters.deadletter import DeadLetterFile
    from ticketflow.bootstrap import open_engine
    from ticketflow.entrypoints.progress import Progress
    from ticketflow.service.ingest import ingest_lines
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
    from ticketflow.bulk import bulk_collection
    from ticketflow.settings import Settings

    engine = open_engine(Settings.from_env(env={}, data_dir=work))
    recorder, mapper = engine.recorder, engine.mapper
    start, position, decoded = time.perf_counter(), 1, 0
    with bulk_collection():  # as the rebuild does: like for like
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
    from projections.worker import catch_up
    from ticketflow.adapters.readmodels import ReadModelStore
    from ticketflow.bootstrap import open_engine
    from ticketflow.entrypoints.progress import Progress
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
    from ticketflow.adapters.readmodels import ReadModelStore
    from ticketflow.service import queries

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


API_CLIENTS = 8
API_REQUESTS = 150  # per client


def _tenant_paths(n: int, count: int) -> list[str]:
    rng = random.Random(5)
    tenants = max(10, n // 200)
    return [f"t{rng.randrange(tenants)}" for _ in range(count)]


def _in_threads(work: Any, clients: int) -> tuple[float, list[float]]:
    """Run ``work(client_index, timings)`` in ``clients`` threads; wall time and timings."""
    import threading

    timings: list[float] = []
    threads = [threading.Thread(target=work, args=(i, timings)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, sorted(timings)


API_WORKERS = 2  # API processes (``serve --workers``): one per core of a 2-core machine
API_WARM_UP = 10  # requests per client before the measure: connections and readers opened


def phase_api(n: int, work: Path) -> dict[str, Any]:
    """Requests/s and p99 of ``GET /v1/sla?tenant=`` on ``ticketflow serve`` (its own
    processes, as deployed) with 8 clients over TCP, against the same query in-process by 8
    threads (DESIGN §6): with ``--workers`` :data:`API_WORKERS` (the figures of the line), and
    with one process (``one_process``)."""
    from ticketflow.adapters.keys import KeyTable
    from ticketflow.adapters.readers import SqliteReader
    from ticketflow.entrypoints.api.backend import writer_store
    from ticketflow.service import queries
    from ticketflow.settings import Settings

    as_of = "2026-02-01T00:00:00Z"
    tenants = _tenant_paths(n, API_CLIENTS * API_REQUESTS)

    def in_process(index: int, timings: list[float]) -> None:
        store = SqliteReader.open(work / "readmodels.sqlite3")
        instant = queries.parse_instant(as_of)
        for tenant in tenants[index::API_CLIENTS]:
            began = time.perf_counter()
            queries.sla(store, as_of=instant, tenant=tenant)
            timings.append((time.perf_counter() - began) * 1000)
        store.close()

    base_seconds, _ = _in_threads(in_process, API_CLIENTS)
    store = writer_store(Settings.from_env(env={}, data_dir=work))
    try:
        keys = KeyTable(lambda: store)
        keys.create_table()
        _, secret = keys.create(["analyst"], name="benchmark")
    finally:
        store.close()
    figures = {
        workers: _served(work, workers, secret, tenants, as_of) for workers in (1, API_WORKERS)
    }
    seconds, timings = figures[API_WORKERS]
    one_seconds, one_timings = figures[1]
    requests = len(tenants)
    return {
        "requests_per_s": requests / seconds,
        "baseline_per_s": requests / base_seconds,
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[int(len(timings) * 0.99) - 1],
        "workers": API_WORKERS,
        "one_process": {
            "requests_per_s": requests / one_seconds,
            "p50_ms": statistics.median(one_timings),
            "p99_ms": one_timings[int(len(one_timings) * 0.99) - 1],
        },
    }


def _served(
    work: Path, workers: int, secret: str, tenants: list[str], as_of: str
) -> tuple[float, list[float]]:
    """Wall time and timings of the 8 clients against ``ticketflow serve --workers N``."""
    import http.client
    import os
    import signal

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKETFLOW_", "KAFKA_"))}
    command = [sys.executable, "-m", "ticketflow", "--data-dir", str(work), "serve"]
    server = subprocess.Popen(
        [*command, "--port", "0", "--workers", str(workers)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        host, port = banner.split("http://", 1)[1].split()[0].rsplit(":", 1)

        def get(connection: http.client.HTTPConnection, tenant: str) -> None:
            connection.request("GET", f"/v1/sla?tenant={tenant}&as_of={as_of}", headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status not in (200, 404):
                raise RuntimeError(f"GET /v1/sla answered {response.status}")

        def ready() -> None:
            for _ in range(300):
                try:
                    connection = http.client.HTTPConnection(host, int(port), timeout=5)
                    get(connection, tenants[0])
                    connection.close()
                    return
                except OSError:
                    time.sleep(0.1)
            raise RuntimeError("the API did not come up")

        def clients(count: int | None) -> Any:
            def client(index: int, timings: list[float]) -> None:
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                for tenant in tenants[index::API_CLIENTS][:count]:
                    began = time.perf_counter()
                    get(connection, tenant)
                    timings.append((time.perf_counter() - began) * 1000)
                connection.close()

            return client

        ready()
        _in_threads(clients(API_WARM_UP), API_CLIENTS)  # not measured
        return _in_threads(clients(None), API_CLIENTS)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


PHASES = {
    "baseline-ingest": phase_baseline_ingest,
    "ingest": phase_ingest,
    "baseline-decode": phase_baseline_decode,
    "rebuild": phase_rebuild,
    "query": phase_query,
    "api": phase_api,
}


def run_phase(name: str, n: int, work: Path) -> dict[str, Any]:
    """Run one phase in a child process; returns its figures and peak RSS."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ticketflow_tools.benchmark",
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
    if "api" in results:
        a = results["api"]
        ratio = a["requests_per_s"] / a["baseline_per_s"]
        ok = "yes" if ratio >= 0.5 and a["p99_ms"] < 20 else "NO"
        lines.append(
            f"{'HTTP API, SLA, 8 clients':<24}{a['requests_per_s']:>12,.0f}"
            f"{a['baseline_per_s']:>12,.0f}{ratio:>8.2f}{0.5:>8.2f}  {ok}"
            f"   (requests/s; p99 {a['p99_ms']:.2f} ms, target < 20 ms)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from ticketflow_tools.benchmark_kafka import KAFKA_PHASES, kafka_report

    parser = argparse.ArgumentParser(prog="python -m ticketflow_tools.benchmark")
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
    parser.add_argument(
        "--kafka-only", action="store_true", help="with --kafka-events: skip the embedded phases"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    if args.kafka_only and not args.kafka_events:
        parser.error("--kafka-only needs --kafka-events N")
    if args.phase:
        figures = {**PHASES, **KAFKA_PHASES}[args.phase](args.events, Path(args.work))
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return 0
    with tempfile.TemporaryDirectory(prefix="ticketflow-bench-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = {}
        for name in () if args.kafka_only else PHASES:
            print(f"-- {name}", file=sys.stderr, flush=True)
            results[name] = run_phase(name, args.events, work)
        for name in KAFKA_PHASES if args.kafka_events else ():
            print(f"-- {name}", file=sys.stderr, flush=True)
            results[name] = run_phase(name, args.kafka_events, work)
    if not args.kafka_only:
        print(report(args.events, results))
    if args.kafka_events:
        print(kafka_report(args.kafka_events, results))
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: each phase side by side with its baseline, measured in the same run (DESIGN §6),
at every size asked for (by default 100,000 and 1,000,000 events), so the cost per event and the
peak RSS of each line show whether they stay flat as the log grows.

Phases run in child processes, so each reports its own peak RSS:

| phase | baseline |
|---|---|
| ingest: contract + engine, batches of 500, SQLite | bare eventsourcing aggregates, same batches |
| rebuild of every registered read model | reading and decoding the notification log alone |
| queries: SLA per tenant, billing per tenant, expertise per tenant-month | — (p99 < 5 ms) |
| HTTP API, SLA per tenant, 8 clients: requests/s, p99 | the same query, in-process, 8 threads |
| Kafka pipeline (:mod:`ticketflow_tools.benchmark_kafka`) | kafka-python produce + consume |
| alert latency per surface (:mod:`ticketflow_tools.benchmark_alerts`), once | — (p99 < 5 s) |

Run: ``python -m ticketflow_tools.benchmark [--events 100000,1000000] [--json FILE]``. The Kafka
phases run when ``KAFKA_BOOTSTRAP_SERVERS`` and ``TICKETFLOW_PG_DSN`` are set (or with
``--kafka-events``). Progress is drawn on a terminal only; the report goes to stdout. The machine
is noisy, so tests never assert the figures.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ticketflow_tools.synthetic import generate

BATCH = 500
SIZES = (100_000, 1_000_000)


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


def progress(label: str, total: int | None) -> Any:
    """A progress display on a terminal (stderr), else ``None``: nothing goes to a pipe or a
    file, where the report and the JSON go."""
    if not sys.stderr.isatty():
        return None
    from ticketflow.entrypoints.progress import Progress

    return Progress(label, total)


def phase_baseline_ingest(n: int, work: Path) -> dict[str, Any]:
    from ticketflow.bulk import bulk_collection

    app: Application[Any] = Application(env=_sqlite_env(work / "bare.sqlite3"))
    live: dict[str, Bare] = {}
    pending: dict[str, Bare] = {}
    start, cpu = time.perf_counter(), time.process_time()
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
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}


def phase_ingest(n: int, work: Path) -> dict[str, Any]:
    from ticketflow.adapters.deadletter import DeadLetterFile
    from ticketflow.bootstrap import open_engine
    from ticketflow.service.ingest import ingest_lines
    from ticketflow.settings import Settings

    engine = open_engine(Settings.from_env(env={}, data_dir=work))
    start, cpu = time.perf_counter(), time.process_time()
    report = ingest_lines(
        engine,
        generate(n),
        DeadLetterFile(work / "dead.jsonl", "bench"),
        batch_size=BATCH,
        progress=progress("ingest", n),
    )
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "accepted": report.accepted,
        "rejected": report.rejected,
    }


def phase_baseline_decode(n: int, work: Path) -> dict[str, Any]:
    from ticketflow.bootstrap import open_engine
    from ticketflow.bulk import bulk_collection
    from ticketflow.settings import Settings

    engine = open_engine(Settings.from_env(env={}, data_dir=work))
    recorder, mapper = engine.recorder, engine.mapper
    start, cpu, position, decoded = time.perf_counter(), time.process_time(), 1, 0
    with bulk_collection():  # as the rebuild does: like for like
        while True:
            page = recorder.select_notifications(position, 2000)
            if not page:
                break
            for notification in page:
                mapper.to_domain_event(notification)
            decoded += len(page)
            position = page[-1].id + 1
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "events": decoded}


def phase_rebuild(n: int, work: Path) -> dict[str, Any]:
    """Every registered read model, from an empty file to the end of the log. A long rebuild
    applies the records in a second process (:mod:`ticketflow.adapters.pipelined`): its CPU
    time is counted with this one's, and its peak RSS added to this one's."""
    from projections import ALL
    from projections.worker import catch_up
    from ticketflow.adapters.readmodels import ReadModelStore
    from ticketflow.bootstrap import open_engine
    from ticketflow.settings import Settings

    engine = open_engine(Settings.from_env(env={}, data_dir=work))
    target = work / f"rebuild-{uuid4().hex}.sqlite3"
    store = ReadModelStore.sqlite(target)
    shown = progress("rebuild", engine.recorder.max_notification_id())
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start, cpu = time.perf_counter(), time.process_time()
    decoded = catch_up(
        engine.recorder,
        engine.mapper,
        store,
        ALL,
        upstream=engine.name,
        progress=None if shown is None else shown.update,
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if shown is not None:
        shown.finish()
    store.close()
    target.replace(work / "readmodels.sqlite3")
    applier = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    figures: dict[str, Any] = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "events": decoded,
        "read_models": [p.name for p in ALL],
    }
    if after.ru_maxrss:  # the applying process ran (this phase starts no other)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        figures["cpu_seconds"] = {"reader": cpu, "applier": applier}
        figures["process_peak_rss_mb"] = {"reader": own, "applier": after.ru_maxrss / 1024}
        figures["peak_rss_mb"] = own + after.ru_maxrss / 1024  # both at their peak at once
    return figures


QUERIES = 300  # of each kind


def _latencies(call: Callable[[str], Any], tenants: list[str]) -> dict[str, float]:
    """p50 and p99 of ``call(tenant)`` over ``tenants`` (an unknown tenant's answer counts: it
    is a query too), in wall time and in the thread's CPU time (which a loaded machine's
    preemption does not add to)."""
    from ticketflow.errors import TicketflowError

    timings, cpu = [], []
    for tenant in tenants:
        start, started = time.perf_counter(), time.thread_time()
        with suppress(TicketflowError):
            call(tenant)
        timings.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - started) * 1000)
    timings.sort()
    cpu.sort()
    p99 = int(len(timings) * 0.99) - 1
    return {
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[p99],
        "p50_cpu_ms": statistics.median(cpu),
        "p99_cpu_ms": cpu[p99],
    }


def phase_query(n: int, work: Path) -> dict[str, Any]:
    """Latency of the analysts' queries on the rebuilt read models (DESIGN §6): SLA per tenant,
    billing per tenant, expertise per tenant-month, :data:`QUERIES` random tenants each."""
    from ticketflow.adapters.readmodels import ReadModelStore
    from ticketflow.domain.calendar import Month
    from ticketflow.service import queries

    store = ReadModelStore.sqlite(work / "readmodels.sqlite3")
    rng = random.Random(3)
    count = max(10, n // 200)
    as_of = datetime(2026, 2, 1, tzinfo=UTC)
    month = Month.parse("2026-01")

    def tenants() -> list[str]:
        return [f"t{rng.randrange(count)}" for _ in range(QUERIES)]

    return {
        "sla": _latencies(lambda t: queries.sla(store, as_of=as_of, tenant=t), tenants()),
        "billing": _latencies(lambda t: queries.billing(store, tenant=t), tenants()),
        "expertise": _latencies(
            lambda t: queries.expertise(store, tenant=t, month=month), tenants()
        ),
    }


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


ALERT_TICKETS = 20  # threshold crossings timed, a quarter of a second apart
ALERTS_KAFKA = "TICKETFLOW_BENCH_ALERTS_KAFKA"  # the broker of the alerts phase, if any


def phase_alerts(n: int, work: Path) -> dict[str, Any]:
    """Threshold → alert latency on each surface (DESIGN §6: p99 < 5 s), by
    :func:`ticketflow_tools.benchmark_alerts.measure` on a ``ticketflow serve`` of its own: the
    ``sla_alerts`` row, the SSE stream, and the alerts topic when the Kafka phases run (their
    broker). The log's size does not enter it: it runs once, with the smallest size."""
    from ticketflow_tools.benchmark_alerts import measure

    return measure(ALERT_TICKETS, kafka=os.environ.get(ALERTS_KAFKA) or None)


PHASES = {
    "baseline-ingest": phase_baseline_ingest,
    "ingest": phase_ingest,
    "baseline-decode": phase_baseline_decode,
    "rebuild": phase_rebuild,
    "query": phase_query,
    "api": phase_api,
    "alerts": phase_alerts,
}
ONCE = frozenset({"alerts"})  # phases whose figures do not depend on the size: smallest only


def run_phase(name: str, n: int, work: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one phase in a child process; returns its figures and peak RSS, or ``{"error": …}``
    when the child failed (its output above says why): the other phases still run and report.
    ``env``: variables added to the child's environment."""
    done = subprocess.run(
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
        check=False,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"exit status {done.returncode}"}
    return dict(json.loads(lines[-1]))


def sizes(text: str) -> list[int]:
    """``100000,1000000`` (``_`` allowed in numbers) → sorted distinct sizes."""
    try:
        found = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        message = f"{text!r}: sizes are whole numbers, comma-separated"
        raise argparse.ArgumentTypeError(message) from None
    if not found or found[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes are positive")
    return found


POSTGRES_MISSING = (
    "the Kafka phases need PostgreSQL's client (psycopg), which this installation lacks: "
    "install ticketflow with its PostgreSQL extra (pip install 'ticketflow[postgres]', or "
    "'.[postgres]' from a checkout), or leave the Kafka phases out with --no-kafka"
)
SERVERS_MISSING = (
    "the Kafka phases need KAFKA_BOOTSTRAP_SERVERS and TICKETFLOW_PG_DSN (a broker and a "
    "PostgreSQL server); set both, or leave the Kafka phases out with --no-kafka"
)


def postgres_client_missing() -> bool:
    """Whether psycopg cannot be imported (an install without the PostgreSQL extra)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return True
    return False


@contextmanager
def _steps(total: int) -> Iterator[Callable[[str], None]]:
    """``step(label)`` before each phase: a line on a terminal's stderr, nothing elsewhere."""
    if not sys.stderr.isatty():
        yield lambda label: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    done = 0

    def step(label: str) -> None:
        nonlocal done
        done += 1
        console.print(f"[dim]benchmark {done}/{total}:[/dim] {label}")

    yield step


def main(argv: list[str] | None = None) -> int:
    from ticketflow_tools.benchmark_kafka import KAFKA_PHASES
    from ticketflow_tools.benchmark_report import build_lines, render

    parser = argparse.ArgumentParser(prog="python -m ticketflow_tools.benchmark")
    parser.add_argument(
        "--events",
        type=sizes,
        default=list(SIZES),
        metavar="N[,N…]",
        help="sizes of the embedded phases, side by side (default 100000,1000000)",
    )
    parser.add_argument("--work", help="working directory (default: a temporary one)")
    parser.add_argument(
        "--phase", choices=sorted({**PHASES, **KAFKA_PHASES}), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--kafka-events",
        type=sizes,
        metavar="N[,N…]",
        help="sizes of the Kafka phases (default: those of --events when KAFKA_BOOTSTRAP_SERVERS "
        "and TICKETFLOW_PG_DSN are set)",
    )
    parser.add_argument("--no-kafka", action="store_true", help="leave the Kafka phases out")
    parser.add_argument("--kafka-only", action="store_true", help="leave the embedded phases out")
    parser.add_argument(
        "--json", metavar="FILE", help="also write every figure and verdict to FILE as JSON"
    )
    args = parser.parse_args(argv)
    if args.phase:
        figures = {**PHASES, **KAFKA_PHASES}[args.phase](args.events[0], Path(args.work))
        figures.setdefault("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(figures))
        return 0
    servers = bool(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("TICKETFLOW_PG_DSN")
    )
    if args.no_kafka and (args.kafka_only or args.kafka_events):
        parser.error("--no-kafka leaves out what --kafka-only / --kafka-events ask for")
    kafka_sizes: list[int] = []
    if not args.no_kafka:
        if args.kafka_events or args.kafka_only:
            if not servers:
                print(f"benchmark: {SERVERS_MISSING}", file=sys.stderr)
                return 2
            kafka_sizes = args.kafka_events or args.events
        elif servers:
            kafka_sizes = args.events
    if kafka_sizes and postgres_client_missing():
        print(f"benchmark: {POSTGRES_MISSING}", file=sys.stderr)
        return 2
    embedded_sizes = [] if args.kafka_only else args.events
    results: dict[str, dict[str, dict[str, Any]]] = {}

    def document() -> dict[str, Any]:
        return {
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "sizes": embedded_sizes,
            "kafka_sizes": kafka_sizes,
            "lines": build_lines(_measured(results)),
            "phases": results,
        }

    plan = [
        ("embedded", n, [p for p in PHASES if p not in ONCE or n == embedded_sizes[0]])
        for n in embedded_sizes
    ]
    plan += [("kafka", n, list(KAFKA_PHASES)) for n in kafka_sizes]
    total = sum(len(phases) for _, _, phases in plan)
    # The alerts' topic is timed on the broker of the Kafka phases, when they run.
    broker = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "") if kafka_sizes else ""
    with tempfile.TemporaryDirectory(prefix="ticketflow-bench-") as tmp, _steps(total) as step:
        root = Path(args.work or tmp)
        for kind, n, phases in plan:
            work = root / f"{kind}-{n}"
            work.mkdir(parents=True, exist_ok=True)
            for name in phases:
                step(f"{name}, {n:,} events")
                env = {ALERTS_KAFKA: broker}
                results.setdefault(str(n), {})[name] = run_phase(name, n, work, env)
                if args.json:  # kept up to date: a long run that stops keeps what it measured
                    _write_json(Path(args.json), document())
    lines = build_lines(_measured(results))
    measured = _measured(results)
    text = render(lines, embedded_sizes, kafka_sizes, measured, servers or bool(kafka_sizes))
    failed = [
        f"{name} at {int(n):,}"
        for n, got in results.items()
        for name, r in got.items()
        if "error" in r
    ]
    if failed:
        text += f"failed (no figures; see the output above): {', '.join(failed)}\n"
    print(text, end="")
    if args.json:
        _write_json(Path(args.json), document())
    return 1 if failed else 0


def _measured(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The phases that gave figures."""
    return {
        n: {name: r for name, r in got.items() if "error" not in r} for n, got in results.items()
    }


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())

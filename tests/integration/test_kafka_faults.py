"""The fault suite: the whole Kafka topology as separate processes on the real broker and
PostgreSQL, two inbound and two projection workers per group, every record published twice
and out of order across tenants, 1 % poison of every kind, and SIGKILLs of the inbound
workers, the relay and the projection workers at random moments. It ends by comparing the read
models with an embedded run of the same data, row for row, and by counting stored events
(each once) and dead letters (all the poison, nothing else).

Size: ``TICKETFLOW_FAULT_EVENTS`` (default 3000, for CI; 25000 is the documented larger run)
and ``TICKETFLOW_FAULT_KILLS`` (default 6). ``TICKETFLOW_FAULT_SEED`` picks the moments.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import opened
from tests.integration import test_kafka_pipeline as pipeline
from tests.integration.test_kafka_boundaries import dead_letters, send
from tests.integration.test_kafka_pipeline import (
    embedded_digests,
    kafka_digests,
    stored_events,
)
from ticketflow.adapters import kafka as kafka_adapter
from ticketflow.settings import Settings
from ticketflow_tools.synthetic import generate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
kafka_settings_factory = pipeline.kafka_settings_factory  # the fixture, shared

EVENTS = int(os.environ.get("TICKETFLOW_FAULT_EVENTS", "3000"))
KILLS = int(os.environ.get("TICKETFLOW_FAULT_KILLS", "6"))
SEED = int(os.environ.get("TICKETFLOW_FAULT_SEED", "7"))
STRUCTURED = [("content-type", b"application/cloudevents+json")]


def poison(n: int, rng: random.Random) -> list[tuple[bytes | None, bytes | None, list[Any], str]]:
    """``n`` poison records, every kind in turn: (key, value, headers, expected reason)."""
    good = json.dumps(opened("P-1", "2026-01-06T10:00:00Z", tenant="t0"))
    kinds: list[tuple[bytes | None, bytes | None, list[Any], str]] = [
        (b"t0", b"{not json", STRUCTURED, "not_json"),
        (b"t0", b"\xff\xfe", STRUCTURED, "not_json"),
        (b"t0", b"[" * 50_000, STRUCTURED, "not_json"),
        (b"t0", b"[]", STRUCTURED, "not_an_object"),
        (b"t0", good.replace("ticket.opened", "ticket.bogus").encode(), STRUCTURED, "unknown_type"),
        (b"t0", good.replace('"P1"', '"P9"').encode(), STRUCTURED, "schema_violation"),
        (b"t0", good.replace("10:00:00Z", "10:00:00").encode(), STRUCTURED, "missing_offset"),
        (
            b"t0",
            good.replace("2026-01-06T10:00:00Z", "9999-12-31T23:59:59-14:00").encode(),
            STRUCTURED,
            "time_out_of_range",
        ),
        (b"t0", good.replace("2026-01-06", "2099-01-06").encode(), STRUCTURED, "time_in_future"),
        (None, good.encode(), STRUCTURED, "wrong_key"),
        (b"t1", good.encode(), STRUCTURED, "wrong_key"),
        (
            b"t0",
            good.encode(),
            [("content-type", b"application/cloudevents-batch+json")],
            "unsupported_content_type",
        ),
    ]
    found = []
    for i in range(n):
        key, value, headers, reason = kinds[i % len(kinds)]
        if value is not None and value.startswith(b"{") and reason != "not_json":
            value = value.replace(b'"id": "', f'"id": "poison-{i}-'.encode(), 1)
        found.append((key, value, headers, reason))
    rng.shuffle(found)
    return found


def disordered(
    raw: list[str], bad: list[tuple[bytes | None, bytes | None, list[Any], str]], rng: random.Random
) -> list[tuple[bytes | None, bytes | None, list[Any]]]:
    """Every record twice; tenants interleaved in another order (each tenant's own order is
    kept, R-IN-4), and the poison at random places; the second copy of a tenant's facts comes
    after all of the first."""
    by_tenant: dict[str, list[str]] = {}
    for line in raw:
        by_tenant.setdefault(json.loads(line)["tenant"], []).append(line)
    stream: list[tuple[bytes | None, bytes | None, list[Any]]] = []
    for _copy in range(2):
        cursors = dict.fromkeys(by_tenant, 0)
        while cursors:
            tenant = rng.choice(sorted(cursors))
            line = by_tenant[tenant][cursors[tenant]]
            stream.append((tenant.encode(), line.encode(), STRUCTURED))
            cursors[tenant] += 1
            if cursors[tenant] == len(by_tenant[tenant]):
                del cursors[tenant]
    for key, value, headers, _ in bad:
        stream.insert(rng.randrange(len(stream)), (key, value, headers))
    return stream


def by_origin(letters: list[Any]) -> dict[tuple[bytes, bytes], str]:
    """Dead letters as ``{(origin partition, origin offset): reason}``: they are at least
    once, so one entry per inbound record."""
    return {
        (h["origin_partition"], h["origin_offset"]): h["error_reason"].decode()
        for h in (dict(r.headers) for r in letters)
    }


def command(tmp_path: Path, name: str, role: str, *extra: str) -> list[str]:
    data = str(tmp_path / name)
    return [sys.executable, "-m", "ticketflow", "--data-dir", data, "worker", role, *extra]


class Topology:
    """The workers as processes; ``kill`` SIGKILLs one and starts its replacement."""

    def __init__(self, settings: Settings, tmp_path: Path, **env: str) -> None:
        self.env = {**os.environ, **settings.to_env(), "TICKETFLOW_BATCH_SIZE": "50", **env}
        self.tmp_path = tmp_path
        self.roles = {
            "inbound-a": ["inbound"],
            "inbound-b": ["inbound"],
            "relay": ["relay"],
            "projection-a": ["projection", "all"],
            "projection-b": ["projection", "all"],
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[Any] = []
        self.kills: list[str] = []
        self.exits: list[tuple[str, int, str]] = []  # (worker, exit code, its last line)
        self.started: dict[str, int] = {}  # where each process's stderr begins in its file
        for name in self.roles:
            self.start(name)

    def start(self, name: str) -> None:
        log = (self.tmp_path / f"{name}.err").open("ab")
        self.logs.append(log)
        self.started[name] = log.tell()
        self.processes[name] = subprocess.Popen(
            command(self.tmp_path, name, *self.roles[name]),
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.kill()
        process.wait(timeout=30)
        self.kills.append(name)
        self.start(name)

    def supervise(self) -> None:
        """As a supervisor would: restart each worker that exited, once it has said why (a
        worker that exits 0, or without a message, fails the test)."""
        for name, process in list(self.processes.items()):
            code = process.poll()
            if code is None:
                continue
            with (self.tmp_path / f"{name}.err").open("rb") as log:
                log.seek(self.started[name])
                said = log.read().decode(errors="replace").strip()
            assert code != 0, f"{name} exited 0 while it should run: {said[-2000:]!r}"
            why = [line for line in said.splitlines() if line.startswith("ticketflow")]
            assert why, f"{name} exited {code} without saying why: {said[-2000:]!r}"
            self.exits.append((name, code, why[-1][:160]))
            self.start(name)

    def check_alive(self) -> None:
        stopped = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        assert not stopped, f"workers stopped: {stopped}; see {self.tmp_path}/*.err"

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        slow = []
        for name, process in self.processes.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
                slow.append(name)
        for log in self.logs:
            log.close()
        assert not slow, f"{slow} did not stop within 30 s of SIGTERM"


def test_kills_duplicates_disorder_poison_and_scale_out_give_the_embedded_tables(
    kafka_settings_factory: Callable[[], Settings], tmp_path: Path
) -> None:
    settings = kafka_settings_factory()
    rng = random.Random(SEED)
    raw = list(generate(EVENTS, seed=SEED))
    expected = embedded_digests(tmp_path, raw)
    bad = poison(max(12, EVENTS // 100), rng)

    stream = disordered(raw, bad, rng)

    topology = Topology(settings, tmp_path)
    try:
        chunks = 2 + KILLS
        size = len(stream) // chunks + 1
        for start in range(0, len(stream), size):
            send(settings, stream[start : start + size])
            time.sleep(rng.uniform(0.2, 1.5))
            topology.check_alive()
            topology.kill(rng.choice(sorted(topology.roles)))
        deadline = time.monotonic() + 300
        # A poison record late in a partition may still be on its way to the dead letters
        # when the read models are complete: both are waited for before the workers stop.
        while kafka_digests(settings) != expected or len(by_origin(dead_letters(settings))) < len(
            bad
        ):
            topology.check_alive()
            assert time.monotonic() < deadline, "read models or dead letters short after 300 s"
            time.sleep(1)
    finally:
        topology.stop()

    # Dead letters are at least once (a worker killed between flushing them and committing
    # its batch sends them again): counted once per inbound record.
    letters = dead_letters(settings)
    origins = by_origin(letters)
    found = sorted(origins.values())
    assert found == sorted(reason for *_, reason in bad)  # all the poison, nothing else
    stored = stored_events(settings)
    reference = embedded_stored(tmp_path, raw)
    assert stored == reference  # each event stored once
    rows = sum(count for count, _ in expected.values())
    print(
        "\nfaults:",
        json.dumps(
            {
                "records published": len(stream),
                "events": len(raw),
                "stored events": stored,
                "dead letters": len(letters),
                "dead-lettered records": len(origins),
                "poison": len(bad),
                "kills": topology.kills,
                "tables compared": len(expected),
                "rows compared": rows,
            }
        ),
    )


def embedded_stored(tmp_path: Path, raw: list[str]) -> int:
    from tests.factories import system_factory
    from ticketflow.adapters.deadletter import DeadLetterFile
    from ticketflow.service.ingest import ingest_lines

    system = system_factory(tmp_path, "reference-count")
    dead = DeadLetterFile(tmp_path / "reference-dl.jsonl", "test")
    try:
        ingest_lines(system.engine, raw, dead)
        return int(system.engine.recorder.max_notification_id() or 0)
    finally:
        dead.close()
        system.close()


# -- restarts of the broker and of PostgreSQL ---------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
RESTART_EVENTS = int(os.environ.get("TICKETFLOW_RESTART_EVENTS", "1500"))
DOWNTIME = float(os.environ.get("TICKETFLOW_RESTART_DOWNTIME", "4"))
# Shorter than an outage of the broker (its stop, the downtime, its start): a worker that
# needs the broker gives up and exits, and is restarted; one that does not rides it out.
OUTAGE_TIMEOUT = os.environ.get("TICKETFLOW_RESTART_OUTAGE_TIMEOUT", "8")


def _free_port(pair: bool = False) -> int:
    """A free port on 127.0.0.1 (with ``pair``, one whose next port is free too)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if not pair:
            return port
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no free port pair on 127.0.0.1")


class LocalServer:
    """``scripts/kafka-local`` or ``scripts/pg-local`` on this test's own port and directory
    (under /var/tmp), which the test stops and starts; the shared servers are never touched."""

    def __init__(self, script: str, home: Path, **env: str) -> None:
        self.script, self.home = ROOT / "scripts" / script, home
        self.env = {**os.environ, **env, "PYTHON": sys.executable}

    def __call__(self, command: str) -> str:
        done = subprocess.run(
            [str(self.script), command], env=self.env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
        return done.stdout.strip()

    def address(self) -> str:
        return self("env").split("=", 1)[1]


@pytest.fixture
def own_servers() -> Iterator[tuple[LocalServer, LocalServer]]:
    """A broker and a PostgreSQL server of this test's own: (kafka, postgres)."""
    installed = list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not installed and os.environ.get("CI", "").lower() != "true" and os.geteuid() != 0:
        pytest.skip("PostgreSQL server binaries are not installed (scripts/pg-local does)")
    suffix = uuid.uuid4().hex[:8]
    kafka_home = Path("/var/tmp") / f"ticketflow-kafka-{suffix}"
    kafka_home.mkdir()
    # The broker's jars, fetched once by scripts/kafka-local, are shared rather than fetched
    # again (without them, kafka-local fetches them into the new directory).
    shared = Path(
        os.environ.get("TICKETFLOW_KAFKA_HOME", Path.home() / ".cache" / "ticketflow-kafka")
    )
    if (shared / "libs" / ".complete").is_file():
        (kafka_home / "libs").symlink_to(shared / "libs")
    kafka = LocalServer(
        "kafka-local",
        kafka_home,
        TICKETFLOW_KAFKA_HOME=str(kafka_home),
        KAFKA_PORT=str(_free_port(pair=True)),
        KAFKA_HEAP_OPTS="-Xms128m -Xmx384m",
        KAFKA_STOP_TIMEOUT="20",
    )
    pg_home = Path("/var/tmp") / f"ticketflow-pg-{suffix}"
    postgres = LocalServer(
        "pg-local", pg_home, TICKETFLOW_PG_HOME=str(pg_home), PGPORT=str(_free_port())
    )
    try:
        postgres("start")
        kafka("start")
        yield kafka, postgres
    finally:
        for server, command in ((kafka, "stop"), (postgres, "reset")):
            subprocess.run(
                [str(server.script), command], env=server.env, capture_output=True, timeout=120
            )
            shutil.rmtree(server.home, ignore_errors=True)


def outage(
    server: LocalServer,
    topology: Topology,
    down: float,
    meanwhile: Callable[[], None] = lambda: None,
) -> float:
    """Stop ``server``, run ``meanwhile``, keep it down ``down`` seconds in all (the workers
    supervised), start it again; returns how long it was unusable, from the stop to answering
    again."""
    began = time.monotonic()
    server("stop")
    meanwhile()
    while time.monotonic() < began + down:
        topology.supervise()
        time.sleep(0.5)
    server("start")
    return time.monotonic() - began


def test_broker_and_postgres_restarts_mid_stream_give_the_embedded_tables(
    own_servers: tuple[LocalServer, LocalServer], tmp_path: Path
) -> None:
    kafka, postgres = own_servers
    settings = Settings.from_env(
        env={
            "TICKETFLOW_STORE": "postgres",
            "TICKETFLOW_PG_DSN": postgres.address(),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.address(),
            "TICKETFLOW_PARTITIONS": "3",
        },
        data_dir=tmp_path / "kafka-mode",
    )
    kafka_adapter.create_topics(settings)
    rng = random.Random(SEED)
    raw = list(generate(RESTART_EVENTS, seed=SEED + 1))
    expected = embedded_digests(tmp_path, raw)
    bad = poison(24, rng)
    stream = disordered(raw, bad, rng)
    size = len(stream) // 4 + 1
    chunks = [stream[start : start + size] for start in range(0, len(stream), size)]

    topology = Topology(settings, tmp_path, TICKETFLOW_OUTAGE_TIMEOUT=OUTAGE_TIMEOUT)
    downtime = {}
    try:
        # Mid-stream: records arrive, then the broker goes away while they are worked on.
        send(settings, chunks[0])
        time.sleep(1)
        downtime["broker"] = outage(kafka, topology, DOWNTIME)
        send(settings, chunks[1])
        time.sleep(1)
        # PostgreSQL goes away; records keep arriving while it is down.
        downtime["postgres"] = outage(
            postgres, topology, DOWNTIME, lambda: send(settings, chunks[2])
        )
        send(settings, chunks[3])
        deadline = time.monotonic() + 240
        while kafka_digests(settings) != expected or len(by_origin(dead_letters(settings))) < len(
            bad
        ):
            topology.supervise()
            assert time.monotonic() < deadline, "read models or dead letters short after 240 s"
            time.sleep(1)
    finally:
        topology.stop()

    letters = dead_letters(settings)
    origins = by_origin(letters)
    assert sorted(origins.values()) == sorted(reason for *_, reason in bad)
    stored = stored_events(settings)
    assert stored == embedded_stored(tmp_path, raw)  # each event stored once
    retries = sum(
        (tmp_path / f"{name}.err").read_text(errors="replace").count("retrying in")
        for name in topology.roles
    )
    print(
        "\nrestarts:",
        json.dumps(
            {
                "records published": len(stream),
                "events": len(raw),
                "stored events": stored,
                "dead letters": len(letters),
                "dead-lettered records": len(origins),
                "poison": len(bad),
                "downtime s": {name: round(seconds, 1) for name, seconds in downtime.items()},
                "outage timeout s": float(OUTAGE_TIMEOUT),
                "retries reported": retries,
                "worker exits (restarted)": topology.exits,
                "tables compared": len(expected),
                "rows compared": sum(count for count, _ in expected.values()),
            }
        ),
    )

"""Alert latency (DESIGN §6: threshold crossing → alert on every surface, p99 < 5 s).

A real ``ticketflow serve`` (embedded, its alerter on the wall clock) gets ``tickets`` P1
openings dated so that their 50 % thresholds fall a few seconds in the future, a fraction of a
second apart. For each alert, the delay from its threshold instant to:

- ``table``: its row in ``sla_alerts`` (``emitted_at``, written in the alerter's transaction);
- ``sse``: its arrival on ``GET /v1/alerts/stream``, read by a plain HTTP client;
- ``kafka`` (with a broker): its arrival on an alerts topic of its own, published from
  ``sla_alerts`` by the worker ``ticketflow worker alerts`` runs (``AlertsPublisher``).

Run: ``python -m ticketflow_tools.benchmark_alerts [--tickets 20] [--kafka HOST:PORT]``
(``--kafka`` defaults to ``$KAFKA_BOOTSTRAP_SERVERS``). Figures are seconds; the machine is
noisy, so tests never assert them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

TARGET_P99_S = 5.0


def _stats(delays: list[float]) -> dict[str, Any]:
    if not delays:
        return {"count": 0}
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "count": len(ordered),
        "p50_s": round(statistics.median(ordered), 3),
        "p99_s": round(p99, 3),
        "max_s": round(ordered[-1], 3),
    }


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKETFLOW_", "KAFKA_"))}
    return {**env, "TICKETFLOW_HOME": str(data)}


def _cli(data: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ticketflow", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        env=_env(data),
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


def _facts(
    tickets: int, lead_s: float, spread_s: float
) -> tuple[list[dict[str, Any]], dict[str, datetime]]:
    now = datetime.now(UTC)
    facts: list[dict[str, Any]] = [
        _ce("subscription.started", "bench", now - timedelta(days=1), {"tier": "GOLD"})
    ]
    due = {}
    for i in range(tickets):
        crossing = now + timedelta(seconds=lead_s + i * spread_s)
        ticket = f"B-{i}"
        data = {"priority": "P1", "channel": "portal", "language": "en", "category": "compute"}
        facts.append(_ce("ticket.opened", ticket, crossing - timedelta(hours=2), data))
        due[f"{ticket}/1/warning"] = crossing
    return facts, due


def _ce(kind: str, subject: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "benchmark",
        "type": kind,
        "subject": subject,
        "time": at.isoformat().replace("+00:00", "Z"),
        "tenant": "bench",
        "data": data,
    }


class _SseReader(threading.Thread):
    def __init__(self, url: str, secret: str) -> None:
        super().__init__(daemon=True)
        parts = urlparse(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        self.conn.request(
            "GET",
            "/v1/alerts/stream?max_seconds=120",
            headers={"Authorization": f"Bearer {secret}"},
        )
        self.response = self.conn.getresponse()
        self.arrived: dict[str, float] = {}

    def run(self) -> None:
        try:
            for line in self.response:
                text = line.decode()
                if text.startswith("data: "):
                    self.arrived[json.loads(text[6:])["id"]] = time.time()
        except OSError:
            pass


class _KafkaSide:
    """The worker's publisher on the serve's read models, and a consumer timing arrivals."""

    def __init__(self, bootstrap: str, data: Path) -> None:
        from kafka import KafkaConsumer

        from ticketflow.adapters import kafka
        from ticketflow.bootstrap import open_readmodels
        from ticketflow.entrypoints.alert_workers import AlertsPublisher
        from ticketflow.settings import Settings

        topic = f"bench-alerts-{uuid.uuid4().hex[:8]}"
        env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "TICKETFLOW_TOPIC_ALERTS": topic}
        settings = Settings.from_env(env=env, data_dir=data)
        self.settings = settings
        self.publisher = AlertsPublisher(
            settings, open_readmodels(settings), kafka.producer(settings)
        )
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=500,
        )
        self.arrived: dict[str, float] = {}
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._publish, daemon=True),
            threading.Thread(target=self._consume, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _publish(self) -> None:
        while not self.stop.is_set():
            self.publisher.run_once()

    def _consume(self) -> None:
        while not self.stop.is_set():
            for message in self.consumer:
                self.arrived[dict(message.headers)["ce_id"].decode()] = time.time()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        self.publisher.close()
        self.consumer.close()


def measure(tickets: int = 20, lead_s: float = 4.0, kafka: str | None = None) -> dict[str, Any]:
    """Alert latencies on each surface, in seconds, for ``tickets`` crossings."""
    with tempfile.TemporaryDirectory(prefix="ticketflow-alerts-bench-") as tmp:
        data = Path(tmp) / "data"
        secret = _cli(data, "keys", "create", "--role", "publisher,analyst")
        server = subprocess.Popen(
            [sys.executable, "-m", "ticketflow", "--data-dir", str(data), "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_env(data),
        )
        side = None
        sse = None
        try:
            assert server.stdout is not None
            url = server.stdout.readline().split(" on ", 1)[1].split()[0]
            sse = _SseReader(url, secret)
            sse.start()
            side = _KafkaSide(kafka, data) if kafka else None
            facts, due = _facts(tickets, lead_s, spread_s=0.25)
            _post(url, secret, facts)
            deadline = time.time() + lead_s + tickets * 0.25 + 30
            while time.time() < deadline:
                done = set(sse.arrived) >= set(due)
                if done and (side is None or set(side.arrived) >= set(due)):
                    break
                time.sleep(0.2)
            rows = _table(url, secret)
        finally:
            server.terminate()
            server.wait(timeout=30)
            if server.stdout is not None:
                server.stdout.close()
            if sse is not None:
                sse.join(timeout=10)
                sse.response.close()
                sse.conn.close()
            if side is not None:
                side.close()
    result: dict[str, Any] = {"tickets": tickets, "target_p99_s": TARGET_P99_S}
    result["table"] = _stats(
        [
            (_instant(r["emitted_at"]) - due[r["alert_id"]]).total_seconds()
            for r in rows
            if r["alert_id"] in due
        ]
    )
    assert sse is not None
    result["sse"] = _stats([sse.arrived[k] - due[k].timestamp() for k in due if k in sse.arrived])
    if side is not None:
        result["kafka"] = _stats(
            [side.arrived[k] - due[k].timestamp() for k in due if k in side.arrived]
        )
    surfaces = [v for k, v in result.items() if isinstance(v, dict)]
    result["meets_target"] = all(
        s["count"] == tickets and s["p99_s"] < TARGET_P99_S for s in surfaces
    )
    return result


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _post(url: str, secret: str, facts: list[dict[str, Any]]) -> None:
    parts = urlparse(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    conn.request(
        "POST",
        "/v1/events",
        body=json.dumps(facts),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    if answer.status != 202:
        raise RuntimeError(f"POST /v1/events: {answer.status} {body[:500]!r}")


def _table(url: str, secret: str) -> list[dict[str, Any]]:
    parts = urlparse(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    conn.request("GET", "/v1/alerts", headers={"Authorization": f"Bearer {secret}"})
    rows: list[dict[str, Any]] = json.loads(conn.getresponse().read())
    conn.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=20, help="crossings measured (default 20)")
    parser.add_argument(
        "--kafka",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        help="broker for the topic's figure (default $KAFKA_BOOTSTRAP_SERVERS; none: skipped)",
    )
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.tickets, kafka=args.kafka), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The alerts as they happen on a real server (``ticketflow serve``, embedded, its alerter on
the wall clock): the Server-Sent Events stream read by a plain HTTP client, within the key's
tenants, resumed with ``Last-Event-ID``; and the list endpoint."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.cli import embedded_env
from tests.factories import event, opened
from ticketflow.domain.instants import parse_rfc3339, rfc3339

pytestmark = pytest.mark.timeout(180)


def _key(data: Path, *args: str) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "ticketflow", "--data-dir", str(data), "keys", "create", *args],
        capture_output=True,
        text=True,
        env=embedded_env(),
        check=True,
        timeout=60,
    )
    return made.stdout.strip()


class Stream:
    """An SSE connection read line by line."""

    def __init__(self, url: str, secret: str, path: str, last_event_id: str | None = None):
        parts = urlparse(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {"Authorization": f"Bearer {secret}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=headers)
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.read()
        assert self.response.getheader("Content-Type", "").startswith("text/event-stream")

    def next_event(self) -> dict[str, Any] | None:
        """The next event (``id``, ``event``, ``data`` parsed, ``at``: when it was read), or
        None at the end of the stream."""
        fields: dict[str, Any] = {}
        while True:
            line = self.response.readline()
            if not line:
                return None
            text = line.decode().rstrip("\n")
            if not text:
                if "data" in fields:
                    fields["at"] = datetime.now(UTC)
                    fields["data"] = json.loads(fields["data"])
                    return fields
                fields = {}
                continue
            if text.startswith(":"):
                continue
            name, _, value = text.partition(": ")
            fields[name] = value

    def close(self) -> None:
        self.conn.close()


def _post(url: str, secret: str, events: list[dict[str, Any]]) -> int:
    parts = urlparse(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(
        "POST",
        "/v1/events",
        body=json.dumps(events),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    status = conn.getresponse().status
    conn.close()
    return status


def test_alerts_stream_live_scoped_and_resumable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    publisher = _key(data, "--role", "publisher")
    acme_analyst = _key(data, "--role", "analyst", "--tenant", "acme")
    process = subprocess.Popen(
        [sys.executable, "-m", "ticketflow", "--data-dir", str(data), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=embedded_env(),
    )
    streams: list[Stream] = []
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" on ", 1)[1].split()[0]
        live = Stream(url, acme_analyst, "/v1/alerts/stream")
        streams.append(live)
        now = datetime.now(UTC)
        soon = now - timedelta(hours=2) + timedelta(seconds=3)  # GOLD: 50 % in 3 s
        facts = [
            event("subscription.started", t, rfc3339(now - timedelta(days=9)), {"tier": "GOLD"})
            for t in ("acme", "globex")
        ]
        facts += [
            opened("A-OLD", rfc3339(now - timedelta(hours=2, minutes=30))),  # 50 %: 30 min ago
            opened("A-1", rfc3339(soon)),
            opened("G-1", rfc3339(soon), tenant="globex"),
        ]
        assert _post(url, publisher, facts) == 202
        first = live.next_event()
        second = live.next_event()
        assert first is not None
        assert second is not None
        assert [first["event"], second["event"]] == ["sla.warning", "sla.warning"]
        assert [first["data"]["subject"], second["data"]["subject"]] == ["A-OLD", "A-1"]
        assert first["data"]["data"]["late"] is True
        assert second["data"]["data"]["late"] is False
        assert second["data"]["type"] == "ticketflow.sla.warning.v1"
        assert second["data"]["id"] == "A-1/1/warning"
        latency = (second["at"] - parse_rfc3339(second["data"]["time"])).total_seconds()
        assert 0 <= latency < 5, latency  # DESIGN §6
        # Resumed after the first event: the second again, and nothing of globex.
        resumed = Stream(url, acme_analyst, "/v1/alerts/stream?max_seconds=2", first["id"])
        streams.append(resumed)
        again = resumed.next_event()
        assert again is not None
        assert again["id"] == second["id"]
        assert resumed.next_event() is None  # the stream ends after max_seconds
        # The list: only acme's alerts for the scoped key.
        parts = urlparse(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        deadline = time.monotonic() + 20
        while True:
            conn.request("GET", "/v1/alerts", headers={"Authorization": f"Bearer {acme_analyst}"})
            rows = json.loads(conn.getresponse().read())
            if len(rows) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        conn.close()
        assert [r["alert_id"] for r in rows] == ["A-OLD/1/warning", "A-1/1/warning"]
        process.send_signal(signal.SIGINT)
        for s in streams:
            s.close()
        assert process.wait(timeout=30) == 0
    finally:
        for s in streams:
            s.close()
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()

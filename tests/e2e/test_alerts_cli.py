"""``ticketflow alerts`` with a fixed clock (``--now``, ``TICKETFLOW_NOW``), and the webhooks: a
receiver on 127.0.0.1 that fails its first attempts and checks every signature, and an endpoint
that never answers, whose deliveries end in the dead-letter list."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.factories import event, lines, opened, ticket_fact
from ticketflow.adapters.webhooks import Endpoint, Webhooks
from ticketflow.bootstrap import System
from ticketflow.entrypoints.cli import main
from ticketflow.service.alerter import FIELDS, dead_deliveries
from ticketflow.settings import Settings

STORY = [
    event("subscription.started", "acme", "2026-03-10T09:00:00Z", {"tier": "GOLD"}),
    event("subscription.started", "globex", "2026-03-10T09:00:00Z", {"tier": "SILVER"}),
    opened("T-1", "2026-05-06T10:00:00Z", "P1"),  # GOLD 4 h: 12:00, 13:00, 14:00
    ticket_fact("service_restored", "T-1", "2026-05-06T14:30:00Z"),  # 30 min late
    opened("T-2", "2026-05-06T10:00:00Z", "P1"),
    ticket_fact("service_restored", "T-2", "2026-05-06T11:59:59Z"),  # before 50 %: nothing
    opened("G-1", "2026-05-06T10:00:00Z", "P1", tenant="globex"),  # SILVER 8 h: 14:00, ...
]


def _ingest(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    source = tmp_path / "story.jsonl"
    source.write_text("\n".join(lines(STORY)) + "\n", "utf-8")
    assert main(["--data-dir", str(data), "ingest", str(source)]) == 0
    return data


def _alerts(data: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main(["--data-dir", str(data), "alerts", *args]) == 0
    return capsys.readouterr().out


class TestCommand:
    def test_alerts_up_to_now_once_each(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        data = _ingest(tmp_path)
        first = json.loads(
            _alerts(data, capsys, "--now", "2026-05-06T13:30:00+02:00", "--format", "json")
        )
        # 13:30 Paris is 11:30Z: nothing crossed yet, nothing emitted.
        assert first == []
        rows = json.loads(
            _alerts(data, capsys, "--now", "2026-05-06T14:00:02Z", "--format", "json")
        )
        assert [r["alert_id"] for r in rows] == [
            "T-1/1/warning",
            "T-1/1/at_risk",
            "G-1/1/warning",
            "T-1/1/breached",
        ]
        assert list(rows[0]) == list(FIELDS)
        warning = rows[0]
        assert warning == {
            "alert_id": "T-1/1/warning",
            "type": "sla.warning",
            "ticket": "T-1",
            "tenant": "acme",
            "cycle": 1,
            "tier": "GOLD",
            "threshold_at": "2026-05-06T12:00:00Z",
            "deadline": "2026-05-06T14:00:00Z",
            "emitted_at": "2026-05-06T14:00:02Z",
            "late": True,
            "breach_minutes": None,
        }
        assert [r["late"] for r in rows] == [True, True, False, False]  # 14:00 is on time
        # Later: the stop after the breach; nothing emitted twice.
        later = json.loads(
            _alerts(data, capsys, "--now", "2026-05-06T16:00:00Z", "--format", "json")
        )
        assert [r["alert_id"] for r in later] == [r["alert_id"] for r in rows] + [
            "T-1/1/stopped",
            "G-1/1/at_risk",
        ]
        stopped = later[-2]
        assert (stopped["threshold_at"], stopped["breach_minutes"]) == ("2026-05-06T14:30:00Z", 30)
        csv_text = _alerts(data, capsys, "--format", "csv", "--now", "2026-05-06T16:00:00Z")
        assert csv_text.splitlines()[0] == ",".join(FIELDS)
        assert len(csv_text.splitlines()) == 7
        table = _alerts(data, capsys, "--now", "2026-05-06T16:00:00Z")
        assert "T-1/1/stopped" in table
        assert "threshold_at" in table.splitlines()[0]

    def test_the_clock_setting_and_the_global_option(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        data = _ingest(tmp_path)
        capsys.readouterr()
        assert (
            main(
                [
                    "--data-dir",
                    str(data),
                    "--now",
                    "2026-05-06T13:30:00Z",
                    "query",
                    "sla",
                    "--format",
                    "json",
                ]
            )
            == 0
        )
        statuses = {r["ticket"]: r["status"] for r in json.loads(capsys.readouterr().out)}
        assert statuses == {"T-1": "at_risk", "T-2": "met", "G-1": "running"}
        monkeypatch.setenv("TICKETFLOW_NOW", "2026-05-06T12:00:00Z")
        rows = json.loads(_alerts(data, capsys, "--format", "json"))
        assert [(r["alert_id"], r["late"]) for r in rows] == [("T-1/1/warning", False)]
        monkeypatch.setenv("TICKETFLOW_NOW", "yesterday")
        assert main(["--data-dir", str(data), "alerts"]) == 2
        assert "TICKETFLOW_NOW='yesterday'" in capsys.readouterr().err

    def test_the_future_tolerance_counts_from_the_clock(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """R-IN-6 with the clock fixed at 2026-05-06: a fact of the 8th is in the future."""
        source = tmp_path / "future.jsonl"
        source.write_text("\n".join(lines([opened("T-9", "2026-05-08T10:00:00Z")])) + "\n")
        data = tmp_path / "data"
        assert (
            main(["--data-dir", str(data), "--now", "2026-05-06T10:00:00Z", "ingest", str(source)])
            == 1
        )
        assert "time_in_future" in capsys.readouterr().out


# -- webhooks ---------------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that answers 500 to its first ``failures`` POSTs and checks
    the signature of every one."""

    def __init__(self, secret: str, failures: int) -> None:
        self.secret, self.failures = secret, failures
        self.attempts = 0
        self.bad_signatures = 0
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = (
                    "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                )
                receiver.attempts += 1
                if self.headers["X-Ticketflow-Signature"] != expected:
                    receiver.bad_signatures += 1
                    status = 401
                elif receiver.attempts <= receiver.failures:
                    status = 500
                else:
                    assert self.headers["Content-Type"] == "application/cloudevents+json"
                    receiver.received.append(json.loads(body))
                    status = 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    started: list[Receiver] = []

    def start(secret: str, failures: int) -> Receiver:
        started.append(Receiver(secret, failures))
        return started[-1]

    yield start
    for r in started:
        r.server.shutdown()
        r.server.server_close()


def test_webhooks_retry_sign_and_give_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], receiver_factory: Any
) -> None:
    data = _ingest(tmp_path)
    _alerts(data, capsys, "--now", "2026-05-06T16:00:00Z")
    ops = receiver_factory("s3cret", failures=2)
    wrong = receiver_factory("other", failures=0)  # a receiver that knows another secret
    endpoints = [
        Endpoint("ops", ops.url, "s3cret", frozenset({"acme"}), max_attempts=5, backoff_s=0.05),
        Endpoint("wrong", wrong.url, "s3cret", None, max_attempts=2, backoff_s=0.05),
    ]
    system = System.open(Settings.from_env(env={}, data_dir=data))
    try:
        sent: list[tuple[str, bytes]] = []
        from ticketflow.adapters.webhooks import post

        def send(endpoint: Endpoint, body: bytes) -> None:
            sent.append((endpoint.name, body))
            post(endpoint, body)

        hooks = Webhooks(system.readmodels, endpoints, send)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            hooks.run_once()
            if len(ops.received) == 4 and len(dead_deliveries(system.readmodels)) == 6:
                break
            time.sleep(0.05)
        # acme's four alerts, in order, each once, after two failed attempts of the first.
        ids = [e["id"] for e in ops.received]
        assert ids == ["T-1/1/warning", "T-1/1/at_risk", "T-1/1/breached", "T-1/1/stopped"]
        assert ops.attempts == 6
        assert ops.bad_signatures == 0
        first = ops.received[0]
        assert first["type"] == "ticketflow.sla.warning.v1"
        assert first["data"]["alert_id"] == first["id"]
        assert first["tenant"] == "acme"
        # The receiver with another secret refuses every POST: two attempts each, then dead.
        dead = dead_deliveries(system.readmodels)
        assert {d["endpoint"] for d in dead} == {"wrong"}
        assert len(dead) == 6
        assert all(d["attempts"] == 2 and d["last_error"] == "HTTP 401" for d in dead)
        assert wrong.bad_signatures == 12
        # Nothing more to send: no POST is repeated.
        before = len(sent)
        hooks.run_once()
        assert len(sent) == before
    finally:
        system.close()
    listed = _alerts(data, capsys, "--dead-letters", "--format", "json")
    assert len(json.loads(listed)) == 6


def test_follow_prints_new_alerts_as_they_come(tmp_path: Path) -> None:
    """``--follow`` with the clock fixed: a late fact ingested meanwhile yields its alert at
    once, as one more JSON line; Ctrl-C ends the command."""
    import os
    import signal
    import subprocess
    import sys

    from tests.cli import embedded_env

    data = _ingest(tmp_path)
    env = {**embedded_env(), "TICKETFLOW_NOW": "2026-05-06T12:30:00Z"}
    command = [sys.executable, "-m", "ticketflow", "--data-dir", str(data)]
    follow = subprocess.Popen(
        [*command, "alerts", "--follow", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert follow.stdout is not None
        first = json.loads(follow.stdout.readline())
        assert first["alert_id"] == "T-1/1/warning"
        late = tmp_path / "late.jsonl"
        late.write_text("\n".join(lines([opened("T-3", "2026-05-06T10:10:00Z")])) + "\n")
        subprocess.run([*command, "ingest", str(late)], env=env, check=True, timeout=60)
        second = json.loads(follow.stdout.readline())
        assert (second["alert_id"], second["late"]) == ("T-3/1/warning", True)
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=30) == 130
    finally:
        if follow.poll() is None:
            os.kill(follow.pid, signal.SIGKILL)
        follow.wait(timeout=30)
        for pipe in (follow.stdout, follow.stderr):
            if pipe is not None:
                pipe.close()

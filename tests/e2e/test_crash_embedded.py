"""A projection worker killed (SIGKILL) between batches resumes to the same tables."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from projections import ALL
from tests.factories import system_factory
from ticketflow.adapters.deadletter import DeadLetterFile
from ticketflow.service.audit import table_digests
from ticketflow.service.ingest import ingest_lines
from ticketflow_tools.synthetic import generate

TABLES = [t for p in ALL for t in p.tables]
EVENTS = 30_000


def _ingest_only(tmp_path: Path, name: str) -> Path:
    system = system_factory(tmp_path, name)
    ingest_lines(system.engine, generate(EVENTS, seed=3), DeadLetterFile(tmp_path / "d", "t"))
    system.close()
    return tmp_path / name


@pytest.mark.slow
def test_sigkill_during_catch_up_then_rerun_gives_the_uninterrupted_tables(
    tmp_path: Path,
) -> None:
    reference = system_factory(tmp_path, "reference")
    ingest_lines(reference.engine, generate(EVENTS, seed=3), DeadLetterFile(tmp_path / "r", "t"))
    reference.project()
    expected = table_digests(reference.readmodels, TABLES)
    reference.close()

    data = _ingest_only(tmp_path, "killed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETFLOW_")}
    command = [
        sys.executable,
        "-m",
        "ticketflow",
        "--data-dir",
        str(data),
        "query",
        "sla",
        "--tenant",
        "t1",
        "--format",
        "csv",
    ]
    worker = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    killed_at = _kill_mid_way(worker, data / "readmodels.sqlite3")

    system = system_factory(tmp_path, "killed")
    try:
        reached = system.readmodels.position("sla_breach@ticketflow")
        system.project()
        assert table_digests(system.readmodels, TABLES) == expected
    finally:
        system.close()
    assert 0 < killed_at <= reached < EVENTS  # the kill did land between batches


def _kill_mid_way(worker: subprocess.Popen[bytes], readmodels: Path) -> int:
    """SIGKILL the worker as soon as its first batch is committed; the position then."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and worker.poll() is None:
        position = _position(readmodels)
        if position > 0:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            return position
        time.sleep(0.005)
    worker.kill()
    worker.wait(timeout=30)
    raise AssertionError("the catch-up ended before a batch could be observed")


def _position(readmodels: Path) -> int:
    if not readmodels.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{readmodels}?mode=ro", uri=True)) as conn:
        try:
            row = conn.execute(
                "SELECT notification_id FROM tracking WHERE application_name = ?",
                ("sla_breach@ticketflow",),
            ).fetchone()
        except sqlite3.OperationalError:  # tables not created yet
            return 0
    return int(row[0]) if row else 0

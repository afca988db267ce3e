"""``ticketflow deadletter list | redrive`` through the command line, on the dead letters that
``ingest`` wrote."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.cli import Run, ce, run

OPEN_T1 = ce(
    "ticket.opened",
    "T-1",
    "o-1",
    "2026-05-02T08:00:00Z",
    {"priority": "P2", "channel": "portal", "language": "fr", "category": "compute"},
)
ACK_T1 = ce("ticket.acknowledged", "T-1", "a-1", "2026-05-02T09:00:00Z", {})
ACK_T7 = ce("ticket.acknowledged", "T-7", "a-7", "2026-05-02T09:00:00Z", {})


def ingest(data: Path, name: str, lines: list[str | bytes]) -> Run:
    path = data.parent / name
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return run(data, "ingest", str(path))


def rows(result: Run) -> list[dict[str, str]]:
    assert result.returncode == 0, result.stdout + result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def stored(data: Path) -> int:
    return len(json.loads(run(data, "history", "--ticket", "T-1", "--format", "json").stdout))


def test_an_early_fact_is_redriven_once_its_ticket_exists(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert ingest(data, "first.jsonl", [ACK_T1, ACK_T7]).returncode == 1  # both unknown
    assert [r["reason"] for r in rows(run(data, "deadletter", "list", "--format", "csv"))] == [
        "unknown_ticket",
        "unknown_ticket",
    ]
    assert ingest(data, "open.jsonl", [OPEN_T1]).returncode == 0

    preview = rows(run(data, "deadletter", "redrive", "--dry-run", "--format", "csv"))
    assert [(r["id"], r["now"]) for r in preview] == [("a-1", "accepted"), ("a-7", "rejected")]
    assert stored(data) == 1  # the dry run applied nothing

    done = rows(run(data, "deadletter", "redrive", "--format", "csv"))
    assert [(r["id"], r["now"], r["reason"]) for r in done] == [
        ("a-1", "accepted", ""),
        ("a-7", "rejected", "unknown_ticket"),
    ]
    assert stored(data) == 2

    listed = rows(run(data, "deadletter", "list", "--format", "csv"))
    assert [(r["id"], r["redriven"]) for r in listed] == [
        ("a-1", "accepted"),
        ("a-7", "rejected"),
        ("a-7", ""),  # still failing: a new dead letter, pending
    ]
    again = rows(run(data, "deadletter", "redrive", "--format", "csv"))
    assert [(r["id"], r["now"]) for r in again] == [("a-7", "rejected")]
    assert stored(data) == 2


def test_redrive_by_reason_and_bytes_kept_as_they_were(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert ingest(data, "mixed.jsonl", [OPEN_T1, b'{"id": "\xff"}', ACK_T7]).returncode == 1
    listed = rows(run(data, "deadletter", "list", "--reason", "not_utf8", "--format", "csv"))
    assert [r["reason"] for r in listed] == ["not_utf8"]
    done = rows(run(data, "deadletter", "redrive", "--reason", "not_utf8", "--format", "csv"))
    assert [(r["now"], r["reason"]) for r in done] == [("rejected", "not_utf8")]
    pending = rows(run(data, "deadletter", "redrive", "--dry-run", "--format", "csv"))
    assert sorted(r["was"] for r in pending) == ["not_utf8", "unknown_ticket"]


def test_nothing_to_redrive_and_an_empty_list(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert ingest(data, "ok.jsonl", [OPEN_T1]).returncode == 0
    assert rows(run(data, "deadletter", "list", "--format", "csv")) == []
    result = run(data, "deadletter", "redrive")
    assert (result.returncode, result.stdout.strip()) == (0, "no dead letters to redrive")


def test_a_damaged_dead_letter_file_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert ingest(data, "first.jsonl", [ACK_T7]).returncode == 1
    (data / "deadletter" / "broken.jsonl").write_text("{not a record\n")
    result = run(data, "deadletter", "list")
    assert result.returncode == 2
    assert "broken.jsonl, entry 1: not a dead-letter record" in result.stderr

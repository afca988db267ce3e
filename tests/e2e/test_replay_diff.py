"""``ticketflow replay --diff``: a rebuild compared with the live read models row by row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from projections import ALL
from tests.cli import Run, ce, run
from ticketflow.service.diff import layouts

LINES = [
    ce("subscription.started", "acme", "s-1", "2026-03-01T00:00:00Z", {"tier": "GOLD"}),
    ce(
        "ticket.opened",
        "T-1",
        "o-1",
        "2026-03-10T08:00:00Z",
        {"priority": "P1", "channel": "portal", "language": "fr", "category": "compute"},
    ),
    ce("ticket.service_restored", "T-1", "r-1", "2026-03-10T13:00:00Z", {}),
    ce(
        "ticket.opened",
        "T-2",
        "o-2",
        "2026-03-12T08:00:00Z",
        {"priority": "P3", "channel": "phone", "language": "en", "category": "network"},
    ),
]


def loaded(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(LINES) + "\n")
    assert run(data, "ingest", str(source)).returncode == 0
    return data


def diff_lines(result: Run) -> list[list[str]]:
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "rows differ" in line)
    return [line.split() for line in lines[start + 3 :] if line.strip()]


def test_a_full_rebuild_equals_the_live_read_models(tmp_path: Path) -> None:
    result = run(loaded(tmp_path), "replay", "--diff")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no difference: the rebuild equals the live read models row for row" in result.stdout


def test_a_changed_live_row_is_named_with_its_columns(tmp_path: Path) -> None:
    data = loaded(tmp_path)
    db = sqlite3.connect(data / "readmodels.sqlite3")
    with db:
        db.execute("UPDATE sla_cycles SET breach_minutes = 1 WHERE ticket = 'T-1'")
    db.close()
    result = run(data, "replay", "--diff", "--format", "csv")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 rows differ from the live read models:" in result.stdout
    assert 'sla_cycles,"ticket=T-1, cycle=1",changed,breach_minutes,1,60' in result.stdout


def test_a_rebuild_until_an_instant_shows_what_came_after(tmp_path: Path) -> None:
    result = run(loaded(tmp_path), "replay", "--diff", "--until", "2026-03-11T00:00:00Z")
    assert result.returncode == 1
    rows = diff_lines(result)
    assert ["sla_tickets", "ticket=T-2", "removed"] in rows
    assert ["sla_cycles", "ticket=T-2,", "cycle=1", "removed"] in rows


def test_diff_and_in_place_exclude_each_other(tmp_path: Path) -> None:
    result = run(loaded(tmp_path), "replay", "--diff", "--in-place")
    assert result.returncode == 2
    assert "drop --in-place" in result.stderr


def test_every_table_has_its_key() -> None:
    found = layouts(ALL)
    assert set(found) == {table for projection in ALL for table in projection.tables}
    assert found["sla_cycles"][1] == ["ticket", "cycle"]
    assert found["sla_tickets"][1] == ["ticket"]
    assert all(key and set(key) <= set(columns) for columns, key in found.values())

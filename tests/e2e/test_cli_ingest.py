"""``ticketflow ingest`` and query errors, run as a user runs them: a separate process
(``python -m ticketflow``) on a fresh data directory (DESIGN §7, R-IN-1, R-IN-3)."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli import Run, ce, run
from ticketflow.adapters.eventstore import eventstore_env
from ticketflow.service.engine import Engine
from ticketflow.settings import Settings

OPEN_T1 = ce(
    "ticket.opened",
    "T-1",
    "o-1",
    "2026-05-04T12:00:00+02:00",
    {"priority": "P1", "channel": "portal", "language": "fr", "category": "compute"},
)

# line number -> text; numbers are 1-based file lines.
MIXED: list[str] = [
    ce("subscription.started", "acme", "s-1", "2026-03-02T09:00:00+01:00", {"tier": "GOLD"}),
    OPEN_T1,
    "",
    '  {"specversion": "1.0", "id": "bad-json", "type": "ticket.closed"\t ',  # kept verbatim
    ce(
        "ticket.opened",
        "T-2",
        "bad-lang",
        "2026-05-04T12:00:00+02:00",
        {
            "priority": "P2",
            "channel": "phone",
            "language": "de",
            "category": "network",
            "summary": "Panne réseau",
        },
    ),
    ce("ticket.deleted", "T-1", "bad-type", "2026-05-04T12:10:00+02:00", {}),
    ce("ticket.acknowledged", "T-1", "bad-time", "2026-05-04T12:05:00", {}),
    OPEN_T1,  # the same event again (R-IN-1)
    ce("ticket.service_restored", "T-404", "bad-restore", "2026-05-04T12:30:00+02:00", {}),
    ce(
        "ticket.priority_changed",
        "T-1",
        "bad-prio",
        "2026-05-04T12:40:00+02:00",
        {"priority": "P1"},
    ),
    ce("ticket.service_restored", "T-1", "r-1", "2026-05-04T13:00:00+02:00", {}),
    ce(
        "expertise.pack_purchased",
        "acme",
        "p-1",
        "2026-05-05T10:00:00+02:00",
        {"pack_id": "PK-1", "hours": 2},
    ),
    "   ",
]
# (line, id, reason) of every rejected line, in file order.
REJECTED = [
    (4, None, "not_json"),
    (5, "bad-lang", "schema_violation"),
    (6, "bad-type", "unknown_type"),
    (7, "bad-time", "missing_offset"),
    (9, "bad-restore", "unknown_ticket"),  # restoring a ticket never opened (R-SLA-2)
    (10, "bad-prio", "transition_error"),  # P1 -> P1 is no change
]
ACCEPTED_LINES = [1, 2, 11, 12]  # started, opened, restored, pack: one stored event each
DUPLICATE_LINES = [8]
REPORT_LINE = re.compile(r"^  line (\d+): id=(\S+) (\w+)(?: \[(R-[A-Z]+-\d+)\])?: (.+)$")
DEAD_LETTER_LINE = re.compile(r"^rejected lines written to (.+)$", re.MULTILINE)


def max_notification_id(data_dir: Path) -> int:
    engine = Engine(env=eventstore_env(Settings.from_env(env={}, data_dir=data_dir)))
    try:
        return engine.recorder.max_notification_id() or 0
    finally:
        engine.close()


def reported(stdout: str) -> list[tuple[int, str | None, str]]:
    rows = [REPORT_LINE.match(line) for line in stdout.splitlines()]
    return [
        (int(m.group(1)), None if m.group(2) == "-" else m.group(2), m.group(3))
        for m in rows
        if m is not None
    ]


def dead_letter_path(stdout: str) -> Path:
    match = DEAD_LETTER_LINE.search(stdout)
    assert match is not None, stdout
    return Path(match.group(1))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@dataclass
class TwoRuns:
    source: Path
    data_dir: Path
    first: Run
    after_first: int
    second: Run
    after_second: int


@pytest.fixture(scope="class")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> TwoRuns:
    root = tmp_path_factory.mktemp("mixed")
    source = root / "mixed.jsonl"
    source.write_text("\n".join(MIXED) + "\n", encoding="utf-8")
    data_dir = root / "data"
    first = run(data_dir, "ingest", str(source))
    after_first = max_notification_id(data_dir)
    second = run(data_dir, "ingest", str(source))
    after_second = max_notification_id(data_dir)
    return TwoRuns(source, data_dir, first, after_first, second, after_second)


class TestIngestMixedFile:
    def test_exit_status_one_when_any_line_is_rejected(self, two_runs: TwoRuns) -> None:
        assert two_runs.first.returncode == 1, two_runs.first.stderr

    def test_counts(self, two_runs: TwoRuns) -> None:
        # 13 lines: 4 accepted, 1 duplicate, 6 rejected, 2 blank (skipped, not counted).
        assert len(MIXED) == len(ACCEPTED_LINES) + len(DUPLICATE_LINES) + len(REJECTED) + 2
        assert two_runs.first.stdout.splitlines()[0] == "accepted 4  duplicate 1  rejected 6"

    def test_each_rejection_with_line_id_and_reason(self, two_runs: TwoRuns) -> None:
        assert reported(two_runs.first.stdout) == REJECTED

    def test_rejection_rules(self, two_runs: TwoRuns) -> None:
        rules = {
            int(m.group(1)): m.group(4)
            for m in map(REPORT_LINE.match, two_runs.first.stdout.splitlines())
            if m is not None
        }
        assert rules == {
            4: "R-IN-3",
            5: "R-IN-3",
            6: "R-IN-3",
            7: "R-IN-2",
            9: "R-SLA-2",
            10: "R-IN-3",  # P1 -> P1 is no change: an impossible transition
        }

    def test_details_say_why(self, two_runs: TwoRuns) -> None:
        details = {
            int(m.group(1)): m.group(5)
            for m in map(REPORT_LINE.match, two_runs.first.stdout.splitlines())
            if m is not None
        }
        assert "R-TIER-3" in details[5]
        assert "'ticket.deleted'" in details[6]
        assert "T-404" in details[9]
        assert "already has priority P1" in details[10]

    def test_only_accepted_lines_were_stored(self, two_runs: TwoRuns) -> None:
        assert two_runs.after_first == len(ACCEPTED_LINES)

    def test_dead_letter_holds_exactly_the_rejected_lines(self, two_runs: TwoRuns) -> None:
        path = dead_letter_path(two_runs.first.stdout)
        assert path.parent == two_runs.data_dir / "deadletter"
        records = read_jsonl(path)
        assert [(r["line"], r["id"], r["reason"]) for r in records] == REJECTED
        assert [r["original"] for r in records] == [MIXED[line - 1] for line, _, _ in REJECTED]
        assert {r["origin"] for r in records} == {str(two_runs.source)}
        assert all(r["rejected_at"].endswith("Z") for r in records)
        assert all(r["detail"] for r in records)

    def test_second_run_changes_nothing(self, two_runs: TwoRuns) -> None:
        second = two_runs.second
        assert second.returncode == 1
        # Every valid line (the 4 accepted and the 1 duplicate) is now a duplicate.
        assert second.stdout.splitlines()[0] == "accepted 0  duplicate 5  rejected 6"
        assert reported(second.stdout) == REJECTED
        assert two_runs.after_second == two_runs.after_first == 4

    def test_second_run_has_its_own_dead_letter_file(self, two_runs: TwoRuns) -> None:
        first = dead_letter_path(two_runs.first.stdout)
        second = dead_letter_path(two_runs.second.stdout)
        assert first != second
        assert [r["original"] for r in read_jsonl(second)] == [
            r["original"] for r in read_jsonl(first)
        ]


class TestIngestFormats:
    def test_json_report(self, tmp_path: Path) -> None:
        source = tmp_path / "mixed.jsonl"
        source.write_text("\n".join(MIXED) + "\n", encoding="utf-8")
        result = run(tmp_path / "data", "ingest", str(source), "--format", "json")
        assert result.returncode == 1
        report = json.loads(result.stdout)
        assert (report["accepted"], report["duplicate"], report["rejected"]) == (4, 1, 6)
        assert [(r["line"], r["id"], r["reason"]) for r in report["rejections"]] == REJECTED
        assert Path(report["dead_letter"]).is_file()

    def test_csv_report_is_the_rejections_as_rows(self, tmp_path: Path) -> None:
        source = tmp_path / "mixed.jsonl"
        source.write_text("\n".join(MIXED) + "\n", encoding="utf-8")
        result = run(tmp_path / "data", "ingest", str(source), "--format", "csv")
        assert result.returncode == 1
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert list(rows[0]) == ["line", "id", "reason", "rule", "detail"]
        assert [(int(r["line"]), r["id"] or None, r["reason"]) for r in rows] == REJECTED
        assert rows[1]["rule"] == "R-IN-3"
        assert all(r["detail"] for r in rows)

    def test_table_is_the_default_report(self, tmp_path: Path) -> None:
        source = tmp_path / "mixed.jsonl"
        source.write_text("\n".join(MIXED) + "\n", encoding="utf-8")
        table = run(tmp_path / "a", "ingest", str(source), "--format", "table")
        default = run(tmp_path / "b", "ingest", str(source))
        assert table.returncode == default.returncode == 1
        assert table.stdout.splitlines()[0] == "accepted 4  duplicate 1  rejected 6"
        assert reported(table.stdout) == reported(default.stdout) == REJECTED

    def test_formats_are_those_of_every_command(self, tmp_path: Path) -> None:
        result = run(tmp_path / "data", "ingest", "-", "--format", "text", stdin=OPEN_T1)
        assert result.returncode == 2
        assert "choose from 'table', 'json', 'csv'" in result.stderr
        assert not (tmp_path / "data").exists()

    def test_explicit_dead_letter_file(self, tmp_path: Path) -> None:
        source = tmp_path / "in.jsonl"
        source.write_text(MIXED[0] + "\n" + MIXED[3] + "\n", encoding="utf-8")
        target = tmp_path / "rejects" / "bad.jsonl"
        result = run(tmp_path / "data", "ingest", str(source), "--dead-letter", str(target))
        assert result.returncode == 1
        assert [(r["line"], r["original"]) for r in read_jsonl(target)] == [(2, MIXED[3])]


class TestIngestStdin:
    def test_dash_reads_stdin(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "data"
        result = run(data_dir, "ingest", "-", stdin=f"{MIXED[0]}\n{OPEN_T1}\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["accepted 2  duplicate 0  rejected 0"]
        assert max_notification_id(data_dir) == 2
        assert not (data_dir / "deadletter").exists()  # nothing rejected, no file

    def test_stdin_rejections_go_to_a_stdin_dead_letter(self, tmp_path: Path) -> None:
        bad = MIXED[6]  # no offset
        result = run(tmp_path / "data", "ingest", "-", stdin=f"{OPEN_T1}\n{bad}\n{OPEN_T1}\n")
        assert result.returncode == 1
        assert result.stdout.splitlines()[0] == "accepted 1  duplicate 1  rejected 1"
        path = dead_letter_path(result.stdout)
        assert path.name.startswith("stdin-")
        records = read_jsonl(path)
        assert [(r["line"], r["reason"], r["origin"], r["original"]) for r in records] == [
            (2, "missing_offset", "-", bad)
        ]


class TestCommandErrors:
    def test_missing_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "nowhere.jsonl"
        result = run(tmp_path / "data", "ingest", str(missing))
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.startswith("ticketflow: error: ")
        assert f"no such file: {missing}" in result.stderr
        assert "Traceback" not in result.stderr

    def test_query_billing_unknown_tenant(self, tmp_path: Path) -> None:
        assert run(tmp_path / "data", "ingest", "-", stdin=OPEN_T1 + "\n").returncode == 0
        result = run(tmp_path / "data", "query", "billing", "--tenant", "nobody")
        assert result.returncode == 2
        assert "unknown tenant 'nobody'" in result.stderr
        assert "Traceback" not in result.stderr

    @pytest.mark.parametrize(
        ("month", "words"),
        [("2026-13", "between 1 and 12"), ("2026-00", "between 1 and 12"), ("May", "YYYY-MM")],
    )
    def test_query_expertise_bad_month(self, tmp_path: Path, month: str, words: str) -> None:
        result = run(tmp_path / "data", "query", "expertise", "--tenant", "acme", "--month", month)
        assert result.returncode == 2
        assert result.stderr.startswith("ticketflow: error: ")
        assert words in result.stderr
        assert "Traceback" not in result.stderr

"""Auditors' commands run as a user runs them, a separate ``python -m ticketflow`` process on
the embedded default (SQLite): ``audit verify`` against a store tampered with directly,
``replay`` with its filters and targets, and ``history`` of a ticket or a tenant.

One store is built for the module from two ingests, the second one recorded after
``Store.between``. Every command that writes works on its own copy of that store, so the
commands are independent and run a few at a time (``commands``); tests then check their output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections import ALL
from tests.cli import Run, ce, run

EVENTS_FILE = "events.sqlite3"
READMODELS_FILE = "readmodels.sqlite3"
GENESIS = "0" * 64
TABLES = tuple(table for projection in ALL for table in projection.tables)


def p1(ticket: str, id_: str, time: str) -> str:
    data = {"priority": "P1", "channel": "portal", "language": "fr", "category": "compute"}
    return ce("ticket.opened", ticket, id_, time, data)


# Positions 1-7: the first ingest.
FIRST = [
    ce("subscription.started", "acme", "s-1", "2026-03-02T09:00:00+01:00", {"tier": "GOLD"}),
    p1("T-1", "o-1", "2026-05-04T12:00:00+02:00"),
    ce("ticket.acknowledged", "T-1", "a-1", "2026-05-04T12:05:00+02:00", {}),
    ce("ticket.escalated", "T-1", "x-1", "2026-05-04T12:20:00+02:00", {"level": "L2"}),
    ce("ticket.service_restored", "T-1", "r-1", "2026-05-04T13:00:00+02:00", {}),
    p1("T-2", "o-2", "2026-05-10T12:00:00+02:00"),
    p1("T-3", "o-3", "2026-05-20T09:00:00+02:00"),  # the only event of T-3
]
# Positions 8-10: the second ingest.
SECOND = [
    ce("ticket.service_restored", "T-2", "r-2", "2026-05-10T20:00:00+02:00", {}),
    ce(
        "expertise.pack_purchased",
        "acme",
        "p-1",
        "2026-05-12T10:00:00+02:00",
        {"pack_id": "PK-1", "hours": 2},
    ),
    p1("T-5", "o-5", "2026-05-01T10:00:00+02:00"),  # happened first, recorded last
]
UNTIL = "2026-05-10T10:00:00Z"  # T-2 opened then, exactly; restored at 18:00Z
AS_OF = "2026-06-01T00:00:00Z"
HEAD = re.compile(r"^checked (\d+) events; head (\d+):([0-9a-f]{64})$", re.MULTILINE)
OK = "OK: the event store matches its audit chain"
# Position 3 (T-1 v2, acknowledged): its inbound key rewritten, still stored as bytes.
ALTER_ACKNOWLEDGEMENT = (
    "UPDATE stored_events SET state = CAST(replace(state, 'portal a-1', 'portal a-9') AS BLOB) "
    "WHERE rowid = 3"
)
MALFORMED = ["10", "10:abc", "-1:" + "a" * 64]


Call = tuple[Path, tuple[str, ...]]


def _run(call: Call) -> Run:
    data_dir, args = call
    return run(data_dir, *args)


def run_all(calls: dict[str, Call]) -> dict[str, Run]:
    """Independent commands, a few at a time."""
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 2)) as pool:
        return dict(zip(calls, pool.map(_run, calls.values()), strict=True))


def head_of(result: Run) -> tuple[int, str]:
    match = HEAD.search(result.stdout)
    assert match is not None, (result.stdout, result.stderr)
    return int(match.group(2)), match.group(3)


def altered_lines(result: Run) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("ALTERED: ")]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sql(path: Path, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        with db:
            rows = db.execute(statement, params).fetchall()
    finally:
        db.close()
    return rows


def stored_events(data_dir: Path) -> list[tuple[int, str, int, str, bytes]]:
    """``(position, aggregate id, version, topic, state)`` of every stored event, in order."""
    rows = sql(
        data_dir / EVENTS_FILE,
        "SELECT rowid, originator_id, originator_version, topic, state "
        "FROM stored_events ORDER BY rowid",
    )
    return [(int(p), str(uuid.UUID(i)), int(v), str(t), bytes(s)) for p, i, v, t, s in rows]


def expected_chain(data_dir: Path) -> list[tuple[int, str]]:
    """The chain as documented: each digest is the sha256 of the previous digest (hex; 64
    zeros before the first event), then ``|position|aggregate id|version|topic|``, then the
    stored state bytes."""
    digest, chain = GENESIS, []
    for position, aggregate, version, topic, state in stored_events(data_dir):
        h = hashlib.sha256(digest.encode())
        h.update(f"|{position}|{aggregate}|{version}|{topic}|".encode())
        h.update(state)
        digest = h.hexdigest()
        chain.append((position, digest))
    return chain


def table_rows(data_dir: Path) -> dict[str, list[str]]:
    """Every read-model table's rows, each as ``repr`` of its tuple, sorted."""
    path = data_dir / READMODELS_FILE
    return {
        table: sorted(repr(row) for row in sql(path, f"SELECT * FROM {table}")) for table in TABLES
    }


def printed_digests(result: Run) -> dict[str, tuple[int, str]]:
    """The table printed by ``replay``: table -> (rows, sha256)."""
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["table", "rows", "sha256"], result.stdout
    assert set(lines[2]) == {"-", " "}, result.stdout
    out = {}
    for line in lines[3:]:
        table, rows, digest = line.split()
        out[table] = (int(rows), digest)
    return out


def parse_table(text: str) -> list[dict[str, str]]:
    """An aligned table: under the header a dashed rule, one run of dashes per column."""
    header, dashes, *body = text.splitlines()
    spans = [m.span() for m in re.finditer(r"-+", dashes)]
    names = [header[a:b].strip() for a, b in spans]
    last = len(spans) - 1
    return [
        {
            name: (line[a:] if i == last else line[a:b]).strip()
            for i, (name, (a, b)) in enumerate(zip(names, spans, strict=True))
        }
        for line in body
    ]


def json_rows(result: Run) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def sla_rows(result: Run) -> dict[str, dict[str, Any]]:
    return {row["ticket"]: row for row in json_rows(result)}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# -- the store, and every command run on it or on copies of it -----------------------------


@dataclass
class Store:
    root: Path
    data_dir: Path
    started: datetime
    between: datetime  # after the first ingest, before the second
    finished: datetime
    head_first: tuple[int, str]  # printed by audit verify after the first ingest
    head: tuple[int, str]  # printed by audit verify after the second ingest
    verify: Run  # that last audit verify

    def copy(self, name: str) -> Path:
        target = self.root / name
        shutil.copytree(self.data_dir, target)
        return target


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("audit")
    data_dir = root / "data"
    started = datetime.now(UTC)
    first = run(data_dir, "ingest", str(write_lines(root / "first.jsonl", FIRST)))
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines()[0] == "accepted 7  duplicate 0  rejected 0"
    verify_first = run(data_dir, "audit", "verify")
    assert verify_first.returncode == 0, verify_first.stdout + verify_first.stderr
    between = datetime.now(UTC)
    second = run(data_dir, "ingest", str(write_lines(root / "second.jsonl", SECOND)))
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.splitlines()[0] == "accepted 3  duplicate 0  rejected 0"
    verify = run(data_dir, "audit", "verify")
    finished = datetime.now(UTC)
    return Store(
        root,
        data_dir,
        started,
        between,
        finished,
        head_of(verify_first),
        head_of(verify),
        verify,
    )


@dataclass
class Commands:
    runs: dict[str, Run]
    dirs: dict[str, Path]
    live_rows: dict[str, list[str]]  # the read models of the store before any command

    def __getitem__(self, name: str) -> Run:
        return self.runs[name]


@pytest.fixture(scope="module")
def commands(store: Store) -> Commands:
    base = store.data_dir
    live_rows = table_rows(base)
    dirs = {name: store.copy(name) for name in ("altered", "deleted", "rewritten")}
    sql(dirs["altered"] / EVENTS_FILE, ALTER_ACKNOWLEDGEMENT)
    sql(dirs["deleted"] / EVENTS_FILE, "DELETE FROM stored_events WHERE rowid = 4")  # T-1 v3
    sql(dirs["rewritten"] / EVENTS_FILE, ALTER_ACKNOWLEDGEMENT)
    sql(dirs["rewritten"] / READMODELS_FILE, "DELETE FROM audit_chain")
    # The head kept after the first ingest is position 7, the only event of T-3; events were
    # recorded after it. It is deleted and the chain rebuilt: no version gap is left behind.
    dirs["head_deleted"] = store.copy("head_deleted")
    sql(
        dirs["head_deleted"] / EVENTS_FILE,
        "DELETE FROM stored_events WHERE rowid = ?",
        (store.head_first[0],),
    )
    sql(dirs["head_deleted"] / READMODELS_FILE, "DELETE FROM audit_chain")
    dirs["in_place"] = store.copy("in_place")
    sql(dirs["in_place"] / READMODELS_FILE, "DELETE FROM sla_tickets WHERE ticket = 'T-1'")
    sql(dirs["in_place"] / READMODELS_FILE, "UPDATE expertise_packs SET pack_id = 'PK-X'")
    dirs["default_target"] = store.copy("default_target")
    # Replays made earlier, in any second the next replay may start in.
    dirs["same_second"] = store.copy("same_second")
    now = datetime.now(UTC)
    for second in range(-1, 60):
        earlier = (
            dirs["same_second"]
            / "replays"
            / (now + timedelta(seconds=second)).strftime("%Y%m%dT%H%M%SZ")
        )
        earlier.mkdir(parents=True)
        shutil.copyfile(base / READMODELS_FILE, earlier / READMODELS_FILE)
    for name in ("replay_full", "replay_until", "replay_recorded"):
        dirs[name] = store.root / name

    def expect(head: tuple[int, str]) -> str:
        return f"--expect={head[0]}:{head[1]}"

    position, digest = store.head
    another = hashlib.sha256(b"another head").hexdigest()
    verify = ("audit", "verify")
    between, recorded = rfc3339(store.between), str(dirs["replay_recorded"])
    sla = ("query", "sla", "--as-of", AS_OF, "--format", "json")
    calls: dict[str, Call] = {
        "altered": (dirs["altered"], verify),
        "deleted": (dirs["deleted"], verify),
        "rewritten": (dirs["rewritten"], verify),
        "expect_head": (base, (*verify, expect(store.head))),
        "expect_earlier": (base, (*verify, expect(store.head_first))),
        "expect_wrong": (base, (*verify, expect((position, another)))),
        "expect_past_end": (base, (*verify, expect((position + 1, digest)))),
        "expect_non_hex": (base, (*verify, expect((position, "g" * 64)))),
        "expect_zero": (base, (*verify, expect((0, another)))),
        "expect_head_deleted": (dirs["head_deleted"], (*verify, expect(store.head_first))),
        **{f"malformed {v}": (base, (*verify, f"--expect={v}")) for v in MALFORMED},
        "replay_full": (base, ("replay", "--into", str(dirs["replay_full"]))),
        "replay_until": (base, ("replay", "--until", UNTIL, "--into", str(dirs["replay_until"]))),
        "replay_recorded": (base, ("replay", "--recorded-until", between, "--into", recorded)),
        "in_place_until": (base, ("replay", "--in-place", "--until", UNTIL)),
        "in_place_recorded": (base, ("replay", "--in-place", "--recorded-until", UNTIL)),
        "in_place_into": (base, ("replay", "--in-place", "--into", str(store.root / "never"))),
        "in_place": (dirs["in_place"], ("replay", "--in-place")),
        "default_target": (dirs["default_target"], ("replay",)),
        "same_second": (dirs["same_second"], ("replay",)),
        "history_ticket": (base, ("history", "--ticket", "T-1")),
        "history_ticket_json": (base, ("history", "--ticket", "T-1", "--format", "json")),
        "history_tenant": (base, ("history", "--tenant", "acme")),
        "history_tenant_json": (base, ("history", "--tenant", "acme", "--format", "json")),
        "history_unknown_ticket": (base, ("history", "--ticket", "T-404")),
        "history_unknown_tenant": (base, ("history", "--tenant", "nobody", "--format", "json")),
        "history_both": (base, ("history", "--ticket", "T-1", "--tenant", "acme")),
        "history_neither": (base, ("history",)),
    }
    runs = run_all(calls)
    # Then what needs the results above: the heads kept elsewhere on the rewritten store
    # (its chain now rebuilt), the replays queried, a replay into a replay's directory.
    dirs["replay_full_before"] = store.root / "replay_full_before"
    shutil.copytree(dirs["replay_full"], dirs["replay_full_before"])
    runs |= run_all(
        {
            "rewritten_expect_head": (dirs["rewritten"], (*verify, expect(store.head))),
            "rewritten_expect_first": (dirs["rewritten"], (*verify, expect(store.head_first))),
            "until_sla": (dirs["replay_until"], sla),
            "until_sla_default": (dirs["replay_until"], ("query", "sla", "--format", "json")),
            "recorded_sla_default": (
                dirs["replay_recorded"],
                ("query", "sla", "--format", "json"),
            ),
            "full_sla_default": (dirs["replay_full"], ("query", "sla", "--format", "json")),
            "recorded_sla": (dirs["replay_recorded"], sla),
            "replay_into_replay": (base, ("replay", "--into", str(dirs["replay_full"]))),
        }
    )
    return Commands(runs, dirs, live_rows)


# -- audit verify --------------------------------------------------------------------------


class TestVerifyUntouched:
    def test_exit_zero_and_ok(self, store: Store) -> None:
        assert store.verify.returncode == 0, store.verify.stderr
        lines = store.verify.stdout.splitlines()
        assert lines[0].startswith("checked 10 events; head 10:")
        assert lines[1:] == [OK]

    def test_head_is_the_chain_recomputed_from_the_store(self, store: Store) -> None:
        chain = expected_chain(store.data_dir)
        assert [position for position, _ in chain] == list(range(1, 11))
        assert store.head == chain[-1]
        assert store.head_first == chain[6]  # position 7, the last of the first ingest

    def test_recorded_chain_is_the_recomputed_one(self, store: Store) -> None:
        recorded = sql(
            store.data_dir / READMODELS_FILE,
            "SELECT notification_id, digest FROM audit_chain ORDER BY notification_id",
        )
        assert [(int(p), str(d)) for p, d in recorded] == expected_chain(store.data_dir)


class TestVerifyTampered:
    def test_altered_state_breaks_the_chain_at_its_position(
        self, store: Store, commands: Commands
    ) -> None:
        assert [e[0] for e in stored_events(commands.dirs["altered"]) if b"a-9" in e[4]] == [3]
        result = commands["altered"]
        assert result.returncode == 1, result.stderr
        ticket = stored_events(store.data_dir)[2][1]
        # Only the first break is reported: every later digest differs as well.
        assert altered_lines(result) == [
            f"ALTERED: position 3 (Ticket.Acknowledged of {ticket} v2): chain broken, the event "
            "store differs from what was recorded (altered, removed or inserted at or before "
            "this position)"
        ]
        assert OK not in result.stdout

    def test_altered_store_head_is_its_recomputed_chain(
        self, store: Store, commands: Commands
    ) -> None:
        head = head_of(commands["altered"])
        assert head == expected_chain(commands.dirs["altered"])[-1]
        assert head[0] == store.head[0]
        assert head[1] != store.head[1]

    def test_deleted_event_is_a_version_gap_and_a_missing_position(
        self, store: Store, commands: Commands
    ) -> None:
        result = commands["deleted"]
        assert result.returncode == 1, result.stderr
        assert result.stdout.startswith("checked 9 events; head 10:")
        ticket = stored_events(store.data_dir)[1][1]
        lines = altered_lines(result)
        assert (
            f"ALTERED: aggregate {ticket}: version 4 at position 5, expected 3 "
            "(an event is missing or was inserted)"
        ) in lines
        assert "ALTERED: position 4 was chained but is no longer in the store" in lines
        assert any(line.startswith("ALTERED: position 5 (") for line in lines), lines
        assert len(lines) == 3, lines

    def test_rewrite_of_store_and_chain_passes_plain_verify(self, commands: Commands) -> None:
        # The chain is rebuilt from the rewritten store: nothing left to compare it with.
        result = commands["rewritten"]
        assert result.returncode == 0, result.stdout
        assert result.stdout.splitlines()[-1] == OK

    def test_rewrite_is_caught_by_the_head_kept_elsewhere(
        self, store: Store, commands: Commands
    ) -> None:
        result = commands["rewritten_expect_head"]
        assert result.returncode == 1, result.stdout + result.stderr
        position, digest = head_of(result)
        assert position == store.head[0]
        assert digest != store.head[1]
        assert altered_lines(result) == [
            f"ALTERED: position {position}: digest {digest} is not the expected one"
        ]

    def test_rewrite_is_caught_by_an_earlier_head_kept_elsewhere(self, commands: Commands) -> None:
        result = commands["rewritten_expect_first"]
        assert result.returncode == 1, result.stdout + result.stderr
        lines = altered_lines(result)
        assert len(lines) == 1, lines
        assert lines[0].startswith("ALTERED: position 7: digest ")
        assert lines[0].endswith(" is not the expected one")

    def test_deleting_the_event_at_the_kept_head_is_caught(
        self, store: Store, commands: Commands
    ) -> None:
        result = commands["expect_head_deleted"]
        assert result.returncode == 1, result.stdout
        assert any(f"position {store.head_first[0]}" in line for line in altered_lines(result))


class TestVerifyExpect:
    @pytest.mark.parametrize("which", ["expect_head", "expect_earlier"])
    def test_correct_head_passes(self, commands: Commands, which: str) -> None:
        result = commands[which]
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.splitlines()[-1] == OK

    def test_wrong_digest_fails(self, store: Store, commands: Commands) -> None:
        result = commands["expect_wrong"]
        assert result.returncode == 1
        position, digest = store.head
        assert head_of(result) == store.head
        assert altered_lines(result) == [
            f"ALTERED: position {position}: digest {digest} is not the expected one"
        ]

    def test_position_past_the_end_fails(self, store: Store, commands: Commands) -> None:
        result = commands["expect_past_end"]
        assert result.returncode == 1
        assert altered_lines(result) == [
            f"ALTERED: expected position {store.head[0] + 1} is past the end of the store"
        ]

    @pytest.mark.parametrize("value", MALFORMED)
    def test_malformed_value_is_a_usage_error(self, commands: Commands, value: str) -> None:
        result = commands[f"malformed {value}"]
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr == (
            f"ticketflow: error: --expect {value!r}: give POSITION:SHA256 (64 hexadecimal "
            "digits) as printed by audit verify\n"
        )

    def test_non_hexadecimal_digest_is_a_usage_error(self, commands: Commands) -> None:
        result = commands["expect_non_hex"]
        assert result.returncode == 2, result.stdout
        assert "give POSITION:SHA256" in result.stderr

    def test_expectation_at_position_zero_is_checked(self, commands: Commands) -> None:
        result = commands["expect_zero"]
        assert result.returncode != 0, result.stdout


# -- replay ----------------------------------------------------------------------------------


# Of the 10 stored events, the one Ticket.Acknowledged is read by no read model.
ALL_APPLIED = ": 9 applied, 0 left out by --until/--recorded-until, 1 read by no read model"
REPLAYED = re.compile(
    r"replayed (\d+) events into \S+: (\d+) applied, (\d+) left out by "
    r"--until/--recorded-until, (\d+) read by no read model"
)


def replay_counts(result: subprocess.CompletedProcess[str]) -> tuple[int, ...]:
    found = REPLAYED.fullmatch(result.stdout.splitlines()[0])
    assert found, result.stdout
    return tuple(int(n) for n in found.groups())


class TestReplay:
    def test_replays_every_event_into_the_given_directory(self, commands: Commands) -> None:
        result = commands["replay_full"]
        assert result.returncode == 0, result.stderr
        target = commands.dirs["replay_full"] / READMODELS_FILE
        assert result.stdout.splitlines()[0] == f"replayed 10 events into {target}{ALL_APPLIED}"

    def test_full_replay_has_the_live_rows(self, commands: Commands) -> None:
        assert table_rows(commands.dirs["replay_full"]) == commands.live_rows

    def test_full_replay_prints_the_digests_of_the_live_tables(self, commands: Commands) -> None:
        live = {
            table: (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
            for table, rows in commands.live_rows.items()
        }
        assert printed_digests(commands["replay_full"]) == live
        assert live["sla_tickets"][0] == 4
        assert live["expertise_packs"][0] == 1

    def test_until_keeps_facts_that_happened_by_then(
        self, store: Store, commands: Commands
    ) -> None:
        live = sql(store.data_dir / READMODELS_FILE, "SELECT ticket, stopped_at FROM sla_cycles")
        assert ("T-2", "2026-05-10T18:00:00Z") in live
        assert commands["replay_until"].returncode == 0, commands["replay_until"].stderr
        rows = sla_rows(commands["until_sla"])
        # Queried as they are: no event store is created in the replay's directory.
        assert not (commands.dirs["replay_until"] / EVENTS_FILE).exists()
        # T-2 was opened at UNTIL (kept: at or before), T-3 after it; T-5 before it, though
        # recorded last.
        assert sorted(rows) == ["T-1", "T-2", "T-5"]
        assert rows["T-1"]["restored_at"] == "2026-05-04T11:00:00Z"
        # T-2 was restored after UNTIL: its clock never stopped (R-SLA-6).
        assert rows["T-2"]["restored_at"] is None
        assert rows["T-2"]["status"] == "breached"
        digests = printed_digests(commands["replay_until"])
        assert digests["sla_tickets"][0] == 3
        assert digests["expertise_packs"][0] == 0  # bought on 2026-05-12
        read, applied, left_out, unread = replay_counts(commands["replay_until"])
        assert (read, unread) == (10, 1)
        assert left_out > 0
        assert applied + left_out == 9

    def test_query_of_an_until_replay_is_as_of_its_until(self, commands: Commands) -> None:
        result = commands["until_sla_default"]
        rows = sla_rows(result)
        # T-2 was opened at UNTIL exactly: its GOLD clock (4 h) has just started.
        assert (rows["T-2"]["status"], rows["T-2"]["breach_minutes"]) == ("running", 0)
        # T-5, opened 2026-05-01T08:00Z and never restored by UNTIL: 4 h, then breached.
        assert rows["T-5"]["status"] == "breached"
        assert rows["T-5"]["breach_minutes"] == (8 * 24 + 22) * 60  # 05-01T12:00Z to 05-10T10:00Z
        assert rows["T-1"]["status"] == "met"
        assert result.stderr == f"ticketflow: as of {UNTIL}, where the replay stopped\n"
        manifest = json.loads((commands.dirs["replay_until"] / "replay.json").read_text())
        assert (manifest["until"], manifest["as_of"]) == (UNTIL, UNTIL)

    def test_query_of_a_recorded_until_replay_is_as_of_then(
        self, store: Store, commands: Commands
    ) -> None:
        result = commands["recorded_sla_default"]
        assert sorted(sla_rows(result)) == ["T-1", "T-2", "T-3"]
        between = rfc3339(store.between)
        assert result.stderr == f"ticketflow: as of {between}, where the replay stopped\n"
        manifest = json.loads((commands.dirs["replay_recorded"] / "replay.json").read_text())
        assert (manifest["until"], manifest["recorded_until"]) == (None, between)

    def test_query_of_a_full_replay_is_as_of_now(self, commands: Commands) -> None:
        result = commands["full_sla_default"]
        assert result.stderr == ""
        assert sla_rows(result)["T-3"]["status"] == "breached"  # never restored

    def test_recorded_until_keeps_what_was_recorded_by_then(self, commands: Commands) -> None:
        assert commands["replay_recorded"].returncode == 0, commands["replay_recorded"].stderr
        rows = sla_rows(commands["recorded_sla"])
        # Only the first ingest: T-3 (happened late, recorded early), not T-5.
        assert sorted(rows) == ["T-1", "T-2", "T-3"]
        assert rows["T-2"]["restored_at"] is None
        assert printed_digests(commands["replay_recorded"])["expertise_packs"][0] == 0
        read, applied, left_out, unread = replay_counts(commands["replay_recorded"])
        assert (read, unread) == (10, 1)
        assert left_out > 0
        assert applied + left_out == 9

    def test_replays_leave_the_live_read_models_alone(
        self, store: Store, commands: Commands
    ) -> None:
        assert table_rows(store.data_dir) == commands.live_rows
        assert not (store.data_dir / "replays").exists()

    def test_into_a_directory_holding_read_models_is_refused(self, commands: Commands) -> None:
        result = commands["replay_into_replay"]
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr == (
            f"ticketflow: error: {commands.dirs['replay_full']} already holds read models; "
            "choose a new --into directory\n"
        )
        before = table_rows(commands.dirs["replay_full_before"])
        assert table_rows(commands.dirs["replay_full"]) == before

    @pytest.mark.parametrize("which", ["in_place_until", "in_place_recorded", "in_place_into"])
    def test_in_place_with_a_filter_is_refused(self, commands: Commands, which: str) -> None:
        result = commands[which]
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.startswith("ticketflow: error: --in-place rebuilds the live read ")
        assert "Traceback" not in result.stderr

    def test_in_place_rebuilds_the_live_read_models(self, commands: Commands) -> None:
        data_dir = commands.dirs["in_place"]
        result = commands["in_place"]
        assert result.returncode == 0, result.stderr
        target = data_dir / READMODELS_FILE
        assert result.stdout.splitlines()[0] == f"replayed 10 events into {target}{ALL_APPLIED}"
        assert table_rows(data_dir) == commands.live_rows  # the rows damaged before are back
        assert not (data_dir / "replays").exists()

    def test_default_target_is_a_new_directory_under_replays(
        self, store: Store, commands: Commands
    ) -> None:
        data_dir = commands.dirs["default_target"]
        result = commands["default_target"]
        assert result.returncode == 0, result.stderr
        (target,) = (data_dir / "replays").iterdir()
        # Named after the UTC time it started, to the second at least.
        stamp = datetime.strptime(target.name[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        assert store.finished - timedelta(seconds=1) <= stamp <= datetime.now(UTC)
        assert result.stdout.splitlines()[0] == (
            f"replayed 10 events into {target / READMODELS_FILE}{ALL_APPLIED}"
        )
        assert table_rows(target) == commands.live_rows
        assert table_rows(data_dir) == commands.live_rows

    def test_default_target_never_collides_with_an_earlier_replay(self, commands: Commands) -> None:
        result = commands["same_second"]
        assert result.returncode == 0, result.stderr


# -- history ---------------------------------------------------------------------------------

T1_EVENTS = [
    (1, "Ticket.Opened", "2026-05-04T10:00:00Z", "portal o-1"),
    (2, "Ticket.Acknowledged", "2026-05-04T10:05:00Z", "portal a-1"),
    (3, "Ticket.Escalated", "2026-05-04T10:20:00Z", "portal x-1"),
    (4, "Ticket.ServiceRestored", "2026-05-04T11:00:00Z", "portal r-1"),
]


class TestHistory:
    def test_ticket_events_oldest_first(self, commands: Commands) -> None:
        rows = json_rows(commands["history_ticket_json"])
        assert [(r["version"], r["event"], r["at"], r["inbound"]) for r in rows] == T1_EVENTS

    def test_ticket_facts(self, commands: Commands) -> None:
        opened, acknowledged, escalated, restored = (
            r["facts"] for r in json_rows(commands["history_ticket_json"])
        )
        assert {k: opened[k] for k in ("ticket", "tenant", "priority", "channel", "tier")} == {
            "ticket": "T-1",
            "tenant": "acme",
            "priority": "P1",
            "channel": "portal",
            "tier": "GOLD",
        }
        assert opened["clock_started_at"] == "2026-05-04T10:00:00Z"
        assert acknowledged == {}
        assert escalated["level"] == "L2"
        assert (restored["cycle"], restored["stopped_clock"]) == (1, True)

    def test_recorded_at_is_when_each_ingest_ran(self, store: Store, commands: Commands) -> None:
        ticket = [instant(r["recorded_at"]) for r in json_rows(commands["history_ticket_json"])]
        assert ticket == sorted(ticket)
        assert all(store.started <= at <= store.between for at in ticket)
        tenant = [instant(r["recorded_at"]) for r in json_rows(commands["history_tenant_json"])]
        assert store.started <= tenant[0] <= store.between <= tenant[1] <= store.finished

    def test_ticket_table_shows_the_same_rows(self, commands: Commands) -> None:
        result = commands["history_ticket"]
        assert result.returncode == 0, result.stderr
        table = parse_table(result.stdout)
        assert list(table[0]) == [
            "version",
            "event",
            "at",
            "recorded_at",
            "inbound",
            "sla_status",
            "facts",
        ]
        expected = json_rows(commands["history_ticket_json"])
        assert [{**row, "facts": json.loads(row["facts"])} for row in table] == [
            {**row, "version": str(row["version"])} for row in expected
        ]

    def test_tenant_events_oldest_first(self, commands: Commands) -> None:
        rows = json_rows(commands["history_tenant_json"])
        assert [(r["version"], r["event"], r["at"], r["inbound"]) for r in rows] == [
            (1, "Subscription.Started", "2026-03-02T08:00:00Z", "portal s-1"),
            (2, "Subscription.PackPurchased", "2026-05-12T08:00:00Z", "portal p-1"),
        ]
        started, purchased = (r["facts"] for r in rows)
        assert (started["tenant"], started["tier"], started["implicit"]) == ("acme", "GOLD", False)
        assert purchased["pack_id"] == "PK-1"

    def test_tenant_table(self, commands: Commands) -> None:
        result = commands["history_tenant"]
        assert result.returncode == 0, result.stderr
        table = parse_table(result.stdout)
        assert [(r["version"], r["event"], r["inbound"]) for r in table] == [
            ("1", "Subscription.Started", "portal s-1"),
            ("2", "Subscription.PackPurchased", "portal p-1"),
        ]
        assert json.loads(table[1]["facts"])["pack_id"] == "PK-1"

    @pytest.mark.parametrize(
        ("which", "message"),
        [
            ("history_unknown_ticket", "no recorded events for ticket 'T-404'"),
            ("history_unknown_tenant", "no recorded events for tenant 'nobody'"),
            ("history_both", "give exactly one of --ticket or --tenant"),
            ("history_neither", "give exactly one of --ticket or --tenant"),
        ],
    )
    def test_usage_errors(self, commands: Commands, which: str, message: str) -> None:
        result = commands[which]
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr == f"ticketflow: error: {message}\n"


def test_replay_directories_started_at_the_same_instant_are_distinct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ticketflow.entrypoints.cli import audit as cli_audit

    instant = datetime(2026, 5, 4, 10, 0, 0, 123456, tzinfo=UTC)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return instant

    monkeypatch.setattr(cli_audit, "datetime", Frozen)
    made = [cli_audit._new_replay_directory(tmp_path / "replays") for _ in range(3)]
    assert [p.name for p in made] == [
        "20260504T100000.123456Z",
        "20260504T100000.123456Z-2",
        "20260504T100000.123456Z-3",
    ]
    assert all(p.is_dir() for p in made)

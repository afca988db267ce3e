"""``audit keygen | checkpoint | prove`` and ``audit verify --checkpoint`` through the command
line, on a store altered behind ticketflow's back; every proof printed is checked here with the
pure verification functions against the kept checkpoint alone."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli import Run, ce, run
from ticketflow.service.merkle import ProofError, verify_consistency, verify_inclusion

EVENTS_FILE = "events.sqlite3"
FIRST = [
    ce("subscription.started", "acme", "s-1", "2026-05-01T08:00:00Z", {"tier": "GOLD"}),
    ce(
        "ticket.opened",
        "T-1",
        "o-1",
        "2026-05-02T08:00:00Z",
        {"priority": "P1", "channel": "portal", "language": "fr", "category": "compute"},
    ),
    ce("ticket.service_restored", "T-1", "r-1", "2026-05-02T10:00:00Z", {}),
]
LATER = [
    ce(
        "ticket.opened",
        "T-2",
        "o-2",
        "2026-05-03T08:00:00Z",
        {"priority": "P2", "channel": "phone", "language": "en", "category": "network"},
    ),
    ce("ticket.acknowledged", "T-2", "a-2", "2026-05-03T08:05:00Z", {}),
]


def ingest(data: Path, lines: list[str]) -> None:
    path = data.parent / f"in-{len(lines)}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run(data, "ingest", str(path)).returncode == 0


def sql(data: Path, statement: str) -> None:
    db = sqlite3.connect(data / EVENTS_FILE)
    with db:
        db.execute(statement)
    db.close()


def ok(result: Run) -> Run:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def kept(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """A store of three events, its signing key, and a checkpoint of it kept elsewhere; then
    two more events ingested."""
    data = tmp_path / "data"
    ingest(data, FIRST)
    key = tmp_path / "key.pem"
    public = ok(run(data, "audit", "keygen", "--out", str(key))).stdout.split()[-1]
    checkpoint = tmp_path / "kept" / "checkpoint.json"
    checkpoint.parent.mkdir()
    ok(run(data, "audit", "checkpoint", "--key", str(key), "--out", str(checkpoint)))
    ingest(data, LATER)
    return data, key, checkpoint, public


def test_the_log_grew_and_the_proof_says_so(kept: tuple[Path, Path, Path, str]) -> None:
    data, _, checkpoint, public = kept
    verified = ok(run(data, "audit", "verify", "--checkpoint", str(checkpoint)))
    assert "the log grew from 3 to 5 events; the first 3 are unchanged" in verified.stdout
    pinned = ["--checkpoint", str(checkpoint), "--public-key", public]
    ok(run(data, "audit", "verify", *pinned))
    answer = json.loads(ok(run(data, "audit", "prove", "--from", str(checkpoint))).stdout)
    kept_root = json.loads(checkpoint.read_text())["root"]
    assert (answer["first_size"], answer["first_root"], answer["second_size"]) == (3, kept_root, 5)
    proof = [bytes.fromhex(p) for p in answer["proof"]]
    verify_consistency(3, 5, proof, bytes.fromhex(kept_root), bytes.fromhex(answer["second_root"]))


def test_an_inclusion_proof_checks_against_the_kept_root(
    kept: tuple[Path, Path, Path, str],
) -> None:
    data, _, checkpoint, _ = kept
    answer = json.loads(ok(run(data, "audit", "prove", "--position", "2", "--size", "3")).stdout)
    root = bytes.fromhex(json.loads(checkpoint.read_text())["root"])
    proof = [bytes.fromhex(p) for p in answer["proof"]]
    verify_inclusion(answer["index"], 3, bytes.fromhex(answer["leaf_hash"]), proof, root)
    other = json.loads(ok(run(data, "audit", "prove", "--position", "1", "--size", "3")).stdout)
    with pytest.raises(ProofError):  # the leaf of another event does not pass for it
        verify_inclusion(answer["index"], 3, bytes.fromhex(other["leaf_hash"]), proof, root)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE stored_events SET state = CAST(replace(state, 'GOLD', 'SILV') AS BLOB) "
        "WHERE rowid = 1",
        "DELETE FROM stored_events WHERE rowid = 2",
        "UPDATE stored_events SET originator_version = originator_version WHERE rowid = 9",
    ],
    ids=["rewritten", "removed", "untouched"],
)
def test_a_rewritten_or_removed_event_fails_the_checkpoint(
    kept: tuple[Path, Path, Path, str], statement: str
) -> None:
    data, _, checkpoint, _ = kept
    sql(data, statement)
    result = run(data, "audit", "verify", "--checkpoint", str(checkpoint))
    if "rowid = 9" in statement:  # touches nothing: the control case
        ok(result)
        return
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"ALTERED: checkpoint {checkpoint}: " in result.stdout
    assert "rewritten, not only extended" in result.stdout
    # The audit chain names the position of the change.
    assert any(
        line.startswith("ALTERED: ") and "position" in line for line in result.stdout.splitlines()
    )


def test_a_forged_checkpoint_is_refused(kept: tuple[Path, Path, Path, str], tmp_path: Path) -> None:
    data, _, checkpoint, public = kept
    forged = json.loads(checkpoint.read_text())
    forged["size"] = 2  # claims a smaller log: the signature no longer holds
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    result = run(data, "audit", "verify", "--checkpoint", str(path))
    assert result.returncode == 1
    assert "signature does not hold" in result.stdout
    other = tmp_path / "other.pem"
    ok(run(data, "audit", "keygen", "--out", str(other)))
    resigned = tmp_path / "resigned.json"
    ok(run(data, "audit", "checkpoint", "--key", str(other), "--out", str(resigned)))
    pinned = run(data, "audit", "verify", "--checkpoint", str(resigned), "--public-key", public)
    assert pinned.returncode == 1
    assert "another key than the trusted one" in pinned.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("audit", "prove"), "give --position P"),
        (("audit", "prove", "--position", "99"), "no stored event at position 99"),
        (("audit", "prove", "--position", "4", "--size", "3"), "not among the first 3"),
        (("audit", "verify", "--checkpoint", "missing.json"), "cannot read the checkpoint"),
        (("audit", "checkpoint", "--key", "missing.pem"), "audit keygen --out FILE"),
    ],
)
def test_usage_errors_say_what_to_do(
    kept: tuple[Path, Path, Path, str], args: tuple[str, ...], message: str
) -> None:
    data = kept[0]
    result = run(data, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def test_keygen_never_overwrites_a_key(kept: tuple[Path, Path, Path, str]) -> None:
    data, key, _, _ = kept
    before = key.read_bytes()
    result = run(data, "audit", "keygen", "--out", str(key))
    assert result.returncode == 2
    assert "never overwritten" in result.stderr
    assert key.read_bytes() == before
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_a_reordered_log_fails_the_checkpoint_and_names_the_position(
    kept: tuple[Path, Path, Path, str],
) -> None:
    """Two events swapped (each kept whole, at the other's position): the kept root no longer
    holds, and the audit chain names the first position that moved."""
    data, _, checkpoint, _ = kept
    db = sqlite3.connect(data / EVENTS_FILE)
    with db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(stored_events)")]
        rows = {
            rowid: rest
            for rowid, *rest in db.execute(
                f"SELECT rowid, {', '.join(columns)} FROM stored_events WHERE rowid IN (2, 3)"
            )
        }
        db.execute("DELETE FROM stored_events WHERE rowid IN (2, 3)")
        marks = ", ".join("?" * len(columns))
        for rowid, rest in ((2, rows[3]), (3, rows[2])):
            db.execute(
                f"INSERT INTO stored_events (rowid, {', '.join(columns)}) VALUES (?, {marks})",
                (rowid, *rest),
            )
    db.close()
    result = run(data, "audit", "verify", "--checkpoint", str(checkpoint))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"ALTERED: checkpoint {checkpoint}: " in result.stdout
    assert any(line.startswith("ALTERED: position 2 (") for line in result.stdout.splitlines())

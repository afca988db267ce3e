"""``ticketflow whatif``: a proposed catalog edition decided over a small hand-made history
gives exactly the breaches and hours computed by hand, and nothing live moves."""

from __future__ import annotations

import copy
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.cli import ce, run
from ticketflow.domain.catalog import load_default_catalog
from ticketflow.service.whatif import redecided_types

P1 = {"priority": "P1", "channel": "portal", "language": "fr", "category": "compute"}
LINES = [
    ce("subscription.started", "acme", "s-1", "2026-03-01T00:00:00Z", {"tier": "GOLD"}),
    ce(
        "subscription.started",
        "beta",
        "s-2",
        "2026-03-01T00:00:00Z",
        {"tier": "SILVER"},
        tenant="beta",
    ),
    # Before the proposal: GTR 4 h either way (met).
    ce("ticket.opened", "T-1", "o-1", "2026-03-10T08:00:00Z", P1),
    ce("ticket.service_restored", "T-1", "r-1", "2026-03-10T10:30:00Z", {}),
    # Restored after 2 h 30: met with 4 h, breached by 30 min with 2 h.
    ce("ticket.opened", "T-2", "o-2", "2026-04-10T08:00:00Z", P1),
    ce("ticket.service_restored", "T-2", "r-2", "2026-04-10T10:30:00Z", {}),
    # Restored after 5 h: breached by 60 min with 4 h, by 180 min with 2 h.
    ce("ticket.opened", "T-3", "o-3", "2026-04-11T08:00:00Z", P1),
    ce("ticket.service_restored", "T-3", "r-3", "2026-04-11T13:00:00Z", {}),
    # Restored after 1 h 30: met either way (only the deadline moves).
    ce("ticket.opened", "T-4", "o-4", "2026-04-12T08:00:00Z", P1),
    ce("ticket.service_restored", "T-4", "r-4", "2026-04-12T09:30:00Z", {}),
    ce("ticket.opened", "T-5", "o-5", "2026-04-12T08:00:00Z", {**P1, "priority": "P2"}),
    # SILVER keeps 8 h.
    ce("ticket.opened", "T-7", "o-7", "2026-04-10T08:00:00Z", P1, tenant="beta"),
    ce("ticket.service_restored", "T-7", "r-7", "2026-04-10T11:00:00Z", {}, tenant="beta"),
    # Clock started an hour before the proposal takes effect: the old GTR stands (R-SLA-4).
    ce("ticket.opened", "T-8", "o-8", "2026-03-31T21:00:00Z", P1),
    ce("ticket.service_restored", "T-8", "r-8", "2026-04-01T00:30:00Z", {}),
    # Clock started the instant it takes effect (00:00 Paris): the new GTR.
    ce("ticket.opened", "T-9", "o-9", "2026-03-31T22:00:00Z", P1),
    ce("ticket.service_restored", "T-9", "r-9", "2026-04-01T00:30:00Z", {}),
    ce("expertise.hours_consumed", "acme", "h-1", "2026-04-15T09:00:00Z", {"hours": 5}),
]
TO = "2026-04-30T00:00:00Z"


def proposal(effective_from: str, gold_gtr: float = 2, gold_hours: float = 6) -> dict[str, Any]:
    path = Path(__file__).parents[2] / "src/ticketflow/domain/catalog.json"
    edition: dict[str, Any] = copy.deepcopy(json.loads(path.read_text())["editions"][-1])
    edition.update(id="proposal", effective_from=effective_from)
    edition.pop("source", None)
    edition["tiers"]["GOLD"].update(gtr_hours=gold_gtr, included_hours_per_month=gold_hours)
    return edition


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(LINES) + "\n")
    assert run(data, "ingest", str(source)).returncode == 0
    return data


def whatif(data: Path, edition: Any, *extra: str) -> Any:
    path = data.parent / "edition.json"
    path.write_text(edition if isinstance(edition, str) else json.dumps(edition))
    return run(data, "whatif", "--catalog", str(path), *extra)


def report(data: Path, edition: Any, *extra: str) -> dict[str, Any]:
    result = whatif(data, edition, "--format", "json", *extra)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def digests(path: Path) -> dict[str, str]:
    """Every table's rows, digested (the file's bytes may move with WAL checkpoints)."""
    db = sqlite3.connect(path)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = {}
    for table in tables:
        rows = sorted(repr(row) for row in db.execute(f"SELECT * FROM {table}"))
        out[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    db.close()
    return out


def test_halving_gold_s_gtr_gives_the_breaches_computed_by_hand(data: Path) -> None:
    answer = report(data, proposal("2026-04-01T00:00:00+02:00"), "--to", TO)
    changed = {(r["ticket"], r["field"]): (r["live"], r["proposed"]) for r in answer["tickets"]}
    assert changed == {
        ("T-2", "status"): ("met", "breached"),
        ("T-2", "breach_minutes"): (0, 30),
        ("T-2", "deadline"): ("2026-04-10T12:00:00Z", "2026-04-10T10:00:00Z"),
        ("T-3", "breach_minutes"): (60, 180),
        ("T-3", "deadline"): ("2026-04-11T12:00:00Z", "2026-04-11T10:00:00Z"),
        ("T-4", "deadline"): ("2026-04-12T12:00:00Z", "2026-04-12T10:00:00Z"),
        ("T-9", "status"): ("met", "breached"),
        ("T-9", "breach_minutes"): (0, 30),
        ("T-9", "deadline"): ("2026-04-01T02:00:00Z", "2026-04-01T00:00:00Z"),
    }
    totals = answer["totals"]
    assert (totals["breached_live"], totals["breached_proposed"]) == (1, 3)
    assert (totals["breach_minutes_live"], totals["breach_minutes_proposed"]) == (60, 240)
    assert (totals["tickets_changed"], totals["deadlines_moved"]) == (3, 4)
    hours = {
        (r["tenant"], r["month"], r["field"]): (r["live"], r["proposed"])
        for r in answer["expertise"]
    }
    # 5 h used in April: 4 h included + 1 h overage, or all 5 h from 6 h included.
    assert hours == {
        ("acme", "2026-04", "included_hours"): (4.0, 6.0),
        ("acme", "2026-04", "from_allowance_hours"): (4.0, 5.0),
        ("acme", "2026-04", "overage_hours"): (1.0, 0.0),
    }
    assert (totals["included_hours_live"], totals["included_hours_proposed"]) == (12.0, 14.0)
    assert answer["billing"] == []
    assert answer["log"]["refused"] == []
    assert answer["log"]["facts_decided"] == len(LINES)


def test_nothing_live_moves(data: Path) -> None:
    files = [data / "events.sqlite3", data / "readmodels.sqlite3"]
    before = [digests(f) for f in files]
    listing = sorted(p.name for p in data.iterdir())
    report(data, proposal("2026-04-01T00:00:00+02:00"))
    assert [digests(f) for f in files] == before
    assert sorted(p.name for p in data.iterdir()) == listing


def test_an_edition_not_yet_in_force_changes_no_row_of_any_read_model(data: Path) -> None:
    """History decided again is history as recorded: every table of every read model equal."""
    answer = report(data, proposal("2030-01-01T00:00:00Z"))
    assert answer["tables"] == []
    assert answer["tickets"] == answer["expertise"] == answer["billing"] == []


def test_from_and_to_bound_what_is_reported(data: Path) -> None:
    answer = report(
        data, proposal("2026-04-01T00:00:00+02:00"), "--from", "2026-04-11T00:00:00Z", "--to", TO
    )
    assert {r["ticket"] for r in answer["tickets"]} == {"T-3", "T-4"}
    assert {r["month"] for r in answer["expertise"]} == {"2026-04"}


def test_table_and_csv(data: Path) -> None:
    table = whatif(data, proposal("2026-04-01T00:00:00+02:00"), "--to", TO)
    assert table.returncode == 0, table.stderr
    assert "tickets whose status, breach minutes or deadline change: 9" in table.stdout
    assert "breach_minutes_proposed        240" in table.stdout
    csv = whatif(data, proposal("2026-04-01T00:00:00+02:00"), "--to", TO, "--format", "csv")
    lines = csv.stdout.splitlines()
    assert lines[0] == "kind,ticket,tenant,month,field,live,proposed"
    assert "ticket,T-2,acme,,status,met,breached" in lines
    assert "expertise,,acme,2026-04,overage_hours,1.0,0.0" in lines


def _without(field: str) -> dict[str, Any]:
    edition = proposal("2026-04-01T00:00:00Z")
    del edition["tiers"]["GOLD"][field]
    return edition


@pytest.mark.parametrize(
    ("edition", "message"),
    [
        ("{not json", "not JSON (line 1, column 2"),
        ("[]", "an edition is a JSON object"),
        ({"id": "x", "tiers": {}}, "edition: missing effective_from"),
        ({**proposal("2026-04-01T00:00:00"), "id": "x"}, "effective_from needs an offset"),
        ({**proposal("tomorrow"), "id": "x"}, "'tomorrow' is not an RFC 3339 instant"),
        (_without("gtr_hours"), "tiers.GOLD: missing gtr_hours"),
        ({**proposal("2026-04-01T00:00:00Z"), "tiers": {"PLATINUM": {}}}, "unknown tier PLATINUM"),
        (proposal("2026-04-01T00:00:00Z", gold_gtr=-1), "tiers.GOLD.gtr_hours must be a positive"),
        ({**proposal("2026-04-01T00:00:00Z"), "id": "2025-01"}, "'2025-01' is already in"),
        (proposal("2025-01-01T00:00:00+01:00"), "already takes effect at"),
    ],
)
def test_an_invalid_edition_is_refused_naming_the_fault(
    data: Path, edition: Any, message: str
) -> None:
    result = whatif(data, edition)
    assert result.returncode == 2
    assert message in result.stderr
    assert "R-TIER-1" in result.stderr
    assert result.stdout == ""


def test_a_missing_file_is_a_usage_error(data: Path) -> None:
    result = run(data, "whatif", "--catalog", str(data.parent / "nope.json"))
    assert (result.returncode, "no such file" in result.stderr) == (2, True)


def test_every_ticket_and_subscription_event_is_decided_again() -> None:
    """A new event of the aggregates that read the catalog must be mapped back to its fact."""
    from ticketflow.contract_events import TYPES

    deciding = {t.name for q, t in TYPES.items() if q.startswith(("Ticket.", "Subscription."))}
    assert deciding <= redecided_types()
    assert load_default_catalog().editions


def test_live_read_models_at_different_positions_are_refused(data: Path) -> None:
    """Both sides must describe the same facts: no comparison with read models left behind."""
    db = sqlite3.connect(data / "readmodels.sqlite3")
    with db:
        db.execute(
            "UPDATE tracking SET notification_id = 3 "
            "WHERE application_name LIKE 'billing_effective_date@%'"
        )
    db.close()
    result = whatif(data, proposal("2026-04-01T00:00:00+02:00"))
    assert result.returncode == 2
    assert "billing_effective_date at 3" in result.stderr
    assert "ticketflow query sla" in result.stderr


def test_links_to_a_platform_incident_are_decided_again_as_the_facts_that_made_them(
    tmp_path: Path,
) -> None:
    """A ticket opened with its incident is one fact recorded as two events (the opening and
    the link, R-PLAT-3): decided again, it is that one fact again, not a duplicate; a later
    link is its own fact. Under an edition not yet in force every table stays equal."""
    declared = json.loads(
        ce(
            "platform.incident_declared",
            "INC-1",
            "p-1",
            "2026-04-10T07:00:00Z",
            {"services": ["compute"], "severity": "outage"},
        )
    )
    del declared["tenant"]  # platform facts carry none (R-PLAT-4)
    lines = [
        *LINES,
        json.dumps(declared),
        ce(
            "ticket.opened",
            "T-10",
            "o-10",
            "2026-04-10T07:30:00Z",
            {**P1, "platform_incident": "INC-1"},
        ),
        ce("ticket.opened", "T-11", "o-11", "2026-04-10T07:40:00Z", P1),
        ce(
            "ticket.linked_to_incident",
            "T-11",
            "l-11",
            "2026-04-10T07:45:00Z",
            {"platform_incident": "INC-1"},
        ),
    ]
    data = tmp_path / "data"
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    assert run(data, "ingest", str(source)).returncode == 0
    answer = report(data, proposal("2030-01-01T00:00:00Z"))
    assert answer["tables"] == []
    assert answer["tickets"] == answer["log"]["refused"] == []

"""``ticketflow explain ticket``: the figures are ``query sla``'s, every fact cited is in the
store at the cited position with the cited audit digest, and every rule that decided the status
is in the receipt."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.cli import ce, run
from ticketflow.service.audit import GENESIS, link

P1 = {"priority": "P1", "channel": "portal", "language": "fr", "category": "compute"}
LINES = [
    ce("subscription.started", "acme", "s-1", "2026-03-01T00:00:00Z", {"tier": "GOLD"}),
    ce("ticket.opened", "T-1", "o-1", "2026-03-10T08:00:00Z", P1),
    ce("ticket.priority_changed", "T-1", "p-1", "2026-03-10T20:00:00Z", {"priority": "P2"}),
    ce("ticket.opened", "T-2", "o-2", "2026-03-10T09:00:00Z", {**P1, "beta_feature": True}),
    # The first Wednesday of April 2026, 02:00 in Paris: a planned window (R-SLA-9).
    ce("ticket.opened", "T-3", "o-3", "2026-04-01T00:00:00Z", {**P1, "category": "control_plane"}),
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(LINES) + "\n")
    assert run(data, "ingest", str(source)).returncode == 0
    return data


def receipt(data: Path, ticket: str, *extra: str) -> dict[str, Any]:
    result = run(data, "explain", "ticket", ticket, "--format", "json", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def sla_row(data: Path, ticket: str, *extra: str) -> dict[str, Any]:
    rows = json.loads(run(data, "query", "sla", "--format", "json", *extra).stdout)
    return next(row for row in rows if row["ticket"] == ticket)


def rules(answer: dict[str, Any]) -> dict[str, str]:
    return {r["rule"]: f"{r['decision']} | {r['values']}" for r in answer["rules"]}


def test_the_figures_are_the_query_s(data: Path) -> None:
    as_of = "2026-06-01T00:00:00Z"
    answer = receipt(data, "T-1", "--as-of", as_of)
    assert answer["figures"] == sla_row(data, "T-1", "--as-of", as_of)
    assert (answer["figures"]["status"], answer["figures"]["breach_minutes"]) == ("breached", 480)
    found = rules(answer)
    assert "tier GOLD, GTR 240 min, catalog edition" in found["R-SLA-4"]
    assert "deadline 2026-03-10T12:00:00Z" in found["R-SLA-5"]
    assert "at 2026-03-10T20:00:00Z" in found["R-SLA-3"]
    assert "status as of 2026-06-01T00:00:00Z: breached" in found["R-SLA-10"]
    assert answer["time_zone_data"]


def test_every_fact_is_in_the_store_with_its_digest(data: Path) -> None:
    answer = receipt(data, "T-1")
    db = sqlite3.connect(data / "events.sqlite3")
    stored = db.execute(
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
        "ORDER BY rowid"
    ).fetchall()
    db.close()
    digests, previous = {}, GENESIS
    for rowid, originator, version, topic, state in stored:
        row = type("N", (), {})()
        row.id, row.originator_id, row.originator_version = rowid, uuid.UUID(originator), version
        row.topic, row.state = topic, state
        previous = digests[rowid] = link(previous, row)
    cited = [(f["position"], f["digest"], f["event"], f["inbound"]) for f in answer["facts"]]
    assert [c[2:] for c in cited] == [
        ("Started", "portal s-1"),
        ("Opened", "portal o-1"),
        ("PriorityChanged", "portal p-1"),
    ]
    for position, digest, event, _ in cited:
        assert digests[position] == digest
        topic = next(row[3] for row in stored if row[0] == position)
        assert topic.endswith("." + event)


def test_as_of_before_the_change_tells_that_moment(data: Path) -> None:
    answer = receipt(data, "T-1", "--as-of", "2026-03-10T11:00:00Z")
    assert answer["figures"]["status"] == "at_risk"
    assert "R-SLA-3" not in rules(answer)
    assert [f["event"] for f in answer["facts"]][-1] == "Opened"


@pytest.mark.parametrize(("ticket", "rule"), [("T-2", "R-SLA-8"), ("T-3", "R-SLA-9")])
def test_the_rule_that_decided_is_in_the_receipt(data: Path, ticket: str, rule: str) -> None:
    answer = receipt(data, ticket)
    assert answer["figures"]["status"] == "not_applicable"
    assert answer["figures"]["reason"] == rule
    assert rule in rules(answer)
    assert answer["figures"] == sla_row(data, ticket)


def test_an_unknown_ticket_is_a_usage_error(data: Path) -> None:
    result = run(data, "explain", "ticket", "T-404")
    assert result.returncode == 2
    assert "unknown ticket 'T-404'" in result.stderr


BILLING = [
    ce("subscription.started", "acme", "s-1", "2026-03-01T00:00:00Z", {"tier": "SILVER"}),
    # 1 May 00:30 in Paris is 30 April 22:30 UTC: a May change, billed from June (R-BILL-2).
    ce("subscription.tier_upgraded", "acme", "u-1", "2026-04-30T22:30:00Z", {"tier": "GOLD"}),
    ce("expertise.hours_consumed", "acme", "h-1", "2026-05-06T10:00:00Z", {"hours": 5}),
    ce("expertise.hours_consumed", "acme", "h-2", "2026-05-20T10:00:00Z", {"hours": 0.5}),
]


@pytest.fixture
def billed(tmp_path: Path) -> Path:
    data = tmp_path / "billed"
    source = tmp_path / "billing.jsonl"
    source.write_text("\n".join(BILLING) + "\n")
    assert run(data, "ingest", str(source)).returncode == 0
    return data


@pytest.mark.parametrize(("month", "tier"), [("2026-05", "SILVER"), ("2026-06", "GOLD")])
def test_a_billed_month_and_the_change_behind_it(billed: Path, month: str, tier: str) -> None:
    result = run(
        billed, "explain", "billing", "--tenant", "acme", "--month", month, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    query = run(
        billed, "query", "billing", "--tenant", "acme", "--month", month, "--format", "json"
    )
    assert answer["figures"] == json.loads(query.stdout)
    assert answer["figures"]["billed_tier"] == tier
    last = answer["rules"][-1]
    assert last["rule"] == "R-BILL-3"
    assert f"{month} is billed at {tier}" in last["decision"]
    upgrade = next(r for r in answer["rules"] if "upgrade" in r["decision"])
    assert (upgrade["rule"], "billed from 2026-05-31T22:00:00Z" in upgrade["decision"]) == (
        "R-BILL-2",
        True,
    )
    assert [f["event"] for f in answer["facts"]] == ["Started", "TierUpgraded"]


def test_a_month_of_expert_hours_consumption_by_consumption(billed: Path) -> None:
    args = ("explain", "expertise", "--tenant", "acme", "--month", "2026-05", "--format", "json")
    answer = json.loads(run(billed, *args).stdout)
    query = run(
        billed, "query", "expertise", "--tenant", "acme", "--month", "2026-05", "--format", "json"
    )
    assert answer["figures"] == json.loads(query.stdout)
    assert answer["figures"]["included_hours"] == 4.0  # GOLD from 1 May 00:30 Paris (R-EXP-1)
    funded = [r for r in answer["rules"] if r["rule"] == "R-EXP-4"]
    assert len(funded) == 2
    assert "funded 240 from the allowance" in funded[0]["values"]
    assert "overage 60" in funded[0]["values"]
    assert [f["event"] for f in answer["facts"]][-2:] == ["HoursConsumed", "HoursConsumed"]


def test_history_shows_the_sla_status_after_each_event(data: Path) -> None:
    result = run(data, "history", "--ticket", "T-1", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["event"], r["sla_status"]) for r in rows] == [
        ("Ticket.Opened", "running"),
        ("Ticket.PriorityChanged", "breached"),  # lowered at 20:00, past its 12:00 deadline
    ]
    tenant = json.loads(run(data, "history", "--tenant", "acme", "--format", "json").stdout)
    assert {r["sla_status"] for r in tenant} == {None}

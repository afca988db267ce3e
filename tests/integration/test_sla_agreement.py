"""Property (R-SLA-11): the SQL read model an analyst queries and ``query sla`` never disagree.

Random ticket histories (the tenant's tier from subscription facts; openings, priority changes
to and from P1, restorations, resolutions, closings and reopenings, at random times) are applied
through the engine and projected into a SQLite read model. At several as-of instants, the status,
breach minutes and deadline of every ticket are worked out from the SQL columns alone (the
settled ``outcome`` and ``breach_minutes`` of ``sla_cycles``, its ``deadline`` and ``warn_75_at``)
and compared with what ``ticketflow.service.queries.sla`` answers. Exceptional maintenance
(announced in time or late, either scope, sometimes cancelled) comes on its own, as the
platform's partition would: an exempted cycle names it in ``exempted_by`` (R-PLAT-1).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import event, opened, system_factory, ticket_fact
from ticketflow.bootstrap import System
from ticketflow.contract import parse_event
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.service import queries

BASE = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)  # a Monday; Wednesday 6 May has a planned window
TIERS = ("STANDARD", "BRONZE", "SILVER", "GOLD")
SEVERITY = ("not_applicable", "met", "running", "at_risk", "breached")
FACTS = {
    "restore": "service_restored",
    "resolve": "resolved",
    "close": "closed",
    "reopen": "reopened",
    "acknowledge": "acknowledged",
}
STEPS = ("raise_p1", "lower", *FACTS)


@dataclass(frozen=True)
class History:
    facts: list[dict[str, Any]]  # in time order
    split: int  # facts before it are applied and projected first, the rest after
    as_of: list[datetime]


def at(seconds: int) -> str:
    return rfc3339(BASE + timedelta(seconds=seconds))


@st.composite
def histories(draw: st.DrawFn) -> History:
    timed: list[tuple[int, dict[str, Any]]] = []
    start = draw(st.integers(-2 * 86400, 3600))  # mostly before the tickets
    tier = draw(st.sampled_from((*TIERS, "GOLD")))
    timed.append((start, event("subscription.started", "acme", at(start), {"tier": tier})))
    for _ in range(draw(st.integers(0, 2))):
        when = draw(st.integers(start + 1, 3 * 86400))
        kind = draw(st.sampled_from(("tier_upgraded", "tier_downgraded")))
        data: dict[str, Any] = {"tier": draw(st.sampled_from(TIERS))}
        if kind == "tier_downgraded":
            data["support_ticket"] = "CS-1"
        timed.append((when, event(f"subscription.{kind}", "acme", at(when), data)))
    gaps = st.one_of(st.integers(1, 3 * 3600), st.integers(3 * 3600, 12 * 3600))
    for number in range(draw(st.integers(1, 3))):
        ticket = f"T-{number}"
        when = draw(st.integers(0, 3 * 86400))
        priority = draw(st.sampled_from(("P1", "P1", "P2", "P3")))
        category = draw(st.sampled_from(("compute", "compute", "control_plane")))
        timed.append((when, opened(ticket, at(when), priority, category=category)))
        for step in draw(st.lists(st.sampled_from(STEPS), max_size=6)):
            when += draw(gaps)
            timed.append((when, _step(ticket, step, at(when), draw)))
    timed.sort(key=lambda pair: pair[0])  # stable: a subject's facts keep their order
    facts = [fact for _, fact in timed]
    openings = [t for t, f in timed if f["type"] in ("ticket.opened", "ticket.reopened")]
    drawn = draw(maintenances(openings))
    platform = [fact for _, fact in sorted(drawn, key=lambda pair: pair[0])]
    # The platform's partition consumed before, after or amid the tenant's (R-PLAT-4).
    cut = draw(st.integers(0, len(facts)))
    facts = facts[:cut] + platform + facts[cut:]
    last = timed[-1][0]
    # Some instants anywhere, some shortly after a fact (inside the clocks' 50-100 % spans).
    anywhere = st.integers(-3600, last + 2 * 86400)
    after_a_fact = st.tuples(st.sampled_from([t for t, _ in timed]), st.integers(0, 8 * 3600))
    instants = draw(st.lists(st.one_of(anywhere, after_a_fact.map(sum)), min_size=2, max_size=6))
    as_of = [BASE + timedelta(seconds=s) for s in [*instants, last + 30 * 86400]]
    return History(facts, draw(st.integers(0, len(facts))), as_of)


@st.composite
def maintenances(draw: st.DrawFn, openings: list[int]) -> list[tuple[int, dict[str, Any]]]:
    """Exceptional maintenance facts (R-PLAT-1), with their times: anywhere over the tickets'
    span, or starting shortly before an opening or a reopening."""
    found: list[tuple[int, dict[str, Any]]] = []
    for number in range(draw(st.integers(0, 2))):
        near = st.tuples(st.sampled_from(openings), st.integers(-3600, 0)).map(sum)
        starts = draw(st.one_of(st.integers(0, 3 * 86400), near))
        ends = starts + draw(st.integers(600, 30 * 3600))
        told = starts + draw(st.integers(-86400, 1800))  # mostly before: in time
        scope = draw(st.sampled_from(("control_plane", "control_plane", "services")))
        data = {"starts_at": at(starts), "ends_at": at(ends), "scope": scope}
        fact = event("platform.maintenance_announced", f"M-{number}", at(told), data)
        del fact["tenant"]
        found.append((told, fact))
        if told < ends and draw(st.booleans()):  # withdrawn before it is over (R-PLAT-1)
            cancel = draw(st.integers(told, ends - 1))
            withdrawn = event("platform.maintenance_cancelled", f"M-{number}", at(cancel))
            del withdrawn["tenant"]
            found.append((cancel, withdrawn))
    return found


def _step(ticket: str, step: str, time: str, draw: st.DrawFn) -> dict[str, Any]:
    if step == "raise_p1":
        return ticket_fact("priority_changed", ticket, time, priority="P1")
    if step == "lower":
        lower = draw(st.sampled_from(("P2", "P3", "P4")))
        return ticket_fact("priority_changed", ticket, time, priority=lower)
    return ticket_fact(FACTS[step], ticket, time)


def apply(system: System, facts: list[dict[str, Any]]) -> None:
    system.engine.apply_batch([parse_event(f) for f in facts])  # rejections are part of life
    system.project()


def sql_cycles(system: System) -> dict[str, list[dict[str, Any]]]:
    columns = (
        "ticket",
        "opened_at",
        "clock_started_at",
        "deadline",
        "warn_75_at",
        "cancelled_at",
        "stopped_at",
        "outcome",
        "breach_minutes",
        "exempted_by",
    )
    with system.readmodels.transaction() as c:
        c.execute(f"SELECT {', '.join(columns)} FROM sla_cycles ORDER BY ticket, cycle")
        rows = [dict(zip(columns, row, strict=True)) for row in c.fetchall()]
    cycles: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        cycles.setdefault(row["ticket"], []).append(row)
    return cycles


def cycle_from_sql(row: dict[str, Any], as_of: datetime) -> tuple[str, int]:
    """A cycle's (status, breach minutes) as of ``as_of``, read from its SQL columns."""
    started = parse_rfc3339(row["clock_started_at"])
    ended = parse_rfc3339(row["cancelled_at"] or row["stopped_at"])
    if row["exempted_by"] is not None:  # R-PLAT-1: no SLA, settled so from the start
        expected = ("not_applicable", 0) if started is not None else (None, None)
        assert (row["outcome"], row["breach_minutes"]) == expected, row
        return "not_applicable", 0
    if ended is not None and started is not None:
        assert row["outcome"] is not None, f"settled cycle without outcome: {row}"
    else:
        assert (row["outcome"], row["breach_minutes"]) == (None, None), row
    if started is None or as_of < started:
        return "not_applicable", 0
    if ended is not None and ended <= as_of:
        return row["outcome"], row["breach_minutes"]
    deadline = parse_rfc3339(row["deadline"])
    if as_of > deadline:
        return "breached", math.ceil((as_of - deadline).total_seconds() / 60)
    if as_of >= parse_rfc3339(row["warn_75_at"]):
        return "at_risk", 0
    return "running", 0


def ticket_from_sql(cycles: list[dict[str, Any]], as_of: datetime) -> dict[str, Any]:
    """Status, breach minutes (summed over cycles, R-SLA-7) and the deadline shown: that of the
    last cycle whose status is the ticket's, if its clock had started by ``as_of``."""
    statuses = [cycle_from_sql(row, as_of) for row in cycles]
    worst = max(statuses, key=lambda s: SEVERITY.index(s[0]))[0]
    if worst == "not_applicable":
        worst = statuses[-1][0]
    shown = next(
        row for row, s in zip(reversed(cycles), reversed(statuses), strict=True) if s[0] == worst
    )
    started = parse_rfc3339(shown["clock_started_at"])
    if shown["exempted_by"] is not None:
        started = None  # an exempted cycle shows no clock (R-PLAT-1)
    return {
        "status": worst,
        "breach_minutes": sum(minutes for _, minutes in statuses),
        "deadline": shown["deadline"] if started is not None and started <= as_of else None,
        "cycles": len(cycles),
    }


def check_agreement(system: System, as_of: list[datetime]) -> None:
    cycles = sql_cycles(system)
    for instant in as_of:
        for row in queries.sla(system.readmodels, as_of=instant):
            existing = [
                c for c in cycles[row["ticket"]] if parse_rfc3339(c["opened_at"]) <= instant
            ]
            expected = ticket_from_sql(existing, instant)
            shown = {key: row[key] for key in expected}
            assert shown == expected, (rfc3339(instant), row["ticket"], cycles[row["ticket"]])
    with system.readmodels.transaction() as c:
        c.execute("SELECT ticket, cycles FROM sla_tickets")
        assert dict(c.fetchall()) == {t: len(rows) for t, rows in cycles.items()}


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(histories())
def test_sql_read_model_and_query_agree(history: History) -> None:
    with tempfile.TemporaryDirectory() as directory:
        system = system_factory(Path(directory))
        try:
            apply(system, history.facts[: history.split])
            apply(system, history.facts[history.split :])
            check_agreement(system, history.as_of)
        finally:
            system.close()

"""Property (R-ALERT-1, R-ALERT-2): the alerter against an independent model.

Random ticket histories arrive in chunks while a fixed clock moves forward; after each chunk the
alerter checks (sometimes a new alerter, as after a restart; sometimes one that crashes inside
its transaction). The model works the crossings out from the published records alone (the
clock facts of ``ticketflow.events``: starts with their GTR, stops, cancellations), with its own
arithmetic, and says which alerts each check must have emitted, when, and whether late. The
table must hold exactly those: none missed, none twice, each with the first check that could
see it.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import event, opened, system_factory, ticket_fact
from ticketflow.bootstrap import System
from ticketflow.contract import parse_event
from ticketflow.contract_events import Outbound
from ticketflow.domain.clock import FixedClock
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.service.alerter import Alerter, alerts, recent
from ticketflow.service.report import platform
from ticketflow.settings import Settings

BASE = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)  # a Monday
HORIZON = timedelta(days=30)  # larger than any history here: nothing is out of reach
STEPS = {
    "restore": "service_restored",
    "resolve": "resolved",
    "close": "closed",
    "reopen": "reopened",
}


def at(seconds: int) -> str:
    return rfc3339(BASE + timedelta(seconds=seconds))


def hours(n: int) -> int:
    return n * 3600


class MovingClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@dataclass(frozen=True)
class Scenario:
    chunks: list[list[dict[str, Any]]]  # facts in arrival order, one chunk per check
    checks: list[datetime]  # the clock at each check, non-decreasing
    restarts: list[bool]  # a new alerter before this check
    crashes: list[bool]  # the check's transaction fails once, then the check is run again


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    tier = draw(st.sampled_from(("GOLD", "SILVER")))  # 4 h, 8 h
    timed: list[tuple[int, dict[str, Any]]] = [
        (-86400, event("subscription.started", "acme", at(-86400), {"tier": tier}))
    ]
    for number in range(draw(st.integers(1, 3))):
        ticket = f"T-{number}"
        when = draw(st.integers(0, 86400))
        priority = draw(st.sampled_from(("P1", "P1", "P1", "P2")))
        category = draw(st.sampled_from(("compute", "control_plane")))
        timed.append((when, opened(ticket, at(when), priority, category=category)))
        for step in draw(st.lists(st.sampled_from(("raise", "lower", *STEPS)), max_size=5)):
            # Whole hours often: a stop exactly at a threshold's instant (2 h, 3 h, 4 h...).
            when += draw(st.one_of(st.integers(1, 6 * 3600), st.integers(1, 6).map(hours)))
            if step == "raise":
                fact = ticket_fact("priority_changed", ticket, at(when), priority="P1")
            elif step == "lower":
                fact = ticket_fact("priority_changed", ticket, at(when), priority="P3")
            else:
                fact = ticket_fact(STEPS[step], ticket, at(when))
            timed.append((when, fact))
    timed.sort(key=lambda pair: pair[0])
    facts = [f for _, f in timed]
    last = timed[-1][0]
    if draw(st.booleans()):
        # An exceptional control-plane maintenance (R-PLAT-1), announced in time or late, that
        # arrives at any point of the tenant's facts: before the tickets it exempts, or after
        # their alerts were told (R-PLAT-4).
        start = draw(st.integers(-3600, 86400))
        end = start + draw(st.integers(60, 12 * 3600))
        told = draw(st.sampled_from((-2 * 86400, start + 600)))
        fact = maintenance("MNT-1", at(told), at(start), at(end))
        facts.insert(draw(st.integers(0, len(facts))), fact)
    # Chunk boundaries (arrival) and check instants drawn independently: facts may arrive
    # before or long after their business time (late upstream facts).
    count = draw(st.integers(1, 6))
    cuts = sorted(
        draw(st.lists(st.integers(0, len(facts)), min_size=count - 1, max_size=count - 1))
    )
    bounds = [0, *cuts, len(facts)]
    chunks = [facts[a:b] for a, b in itertools.pairwise(bounds)]
    offsets = draw(st.lists(st.integers(-3600, last + 10 * 3600), min_size=count, max_size=count))
    # The last check comes after every clock has run out: everything due has been told.
    checks = [BASE + timedelta(seconds=s) for s in [*sorted(offsets)[1:], last + 20 * 3600]]
    restarts = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    crashes = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    return Scenario(chunks, checks, restarts, crashes)


def maintenance(subject: str, time: str, starts_at: str, ends_at: str) -> dict[str, Any]:
    """A control-plane maintenance announced at ``time``: a platform fact, no tenant."""
    fact = event(
        "platform.maintenance_announced",
        subject,
        time,
        {"starts_at": starts_at, "ends_at": ends_at, "scope": "control_plane"},
    )
    del fact["tenant"]
    return fact


# -- the model: crossings from the published clock facts -----------------------------------


@dataclass
class ModelCycle:
    tenant: str
    start: datetime
    gtr_seconds: int
    end: datetime | None = None
    cancelled: bool = False


def model_cycles(system: System) -> dict[tuple[str, int], ModelCycle]:
    """The clocks of the published records; a control-plane ticket's cycle opened or reopened
    inside a control-plane maintenance announced before its start has none (R-PLAT-1), whatever
    order the announcement and the ticket were published in."""
    engine = system.engine
    outbound = Outbound(engine.recorder, engine.mapper, "model")
    cycles: dict[tuple[str, int], ModelCycle] = {}
    categories: dict[str, str] = {}
    cycle_opened: dict[tuple[str, int], datetime] = {}
    windows: list[tuple[datetime, datetime]] = []
    for notification in engine.recorder.select_notifications(1, 100_000):
        r = outbound.record(notification)
        kind, d = r.type.split(".")[2], r.data
        if r.type.split(".")[1] == "platform":
            start, end = parse_rfc3339(d["starts_at"]), parse_rfc3339(d["ends_at"])
            if kind == "maintenance_announced" and parse_rfc3339(r.time) < start:
                windows.append((start, end))
            continue
        cycle = 1 if kind == "opened" else d.get("cycle")
        if kind == "opened":
            categories[r.subject] = d["category"]
        if kind in ("opened", "reopened"):
            cycle_opened[(r.subject, cycle)] = parse_rfc3339(r.time)
        if kind == "priority_changed" and d.get("new_cycle"):
            # A raise to P1 after a cancelled clock: the cycle keeps the instant of the one
            # before (the opening or reopening is what R-PLAT-1 looks at).
            cycle_opened[(r.subject, cycle)] = cycle_opened[(r.subject, cycle - 1)]
        starts = kind in ("opened", "reopened") or (
            kind == "priority_changed" and d["clock_effect"] == "started"
        )
        if starts and d.get("clock_started_at"):
            start = parse_rfc3339(d["clock_started_at"])
            cycles[(r.subject, cycle)] = ModelCycle(r.tenant, start, d["gtr_minutes"] * 60)
        if kind == "priority_changed" and d["clock_effect"] == "cancelled":
            cycles[(r.subject, cycle)].end = parse_rfc3339(r.time)
            cycles[(r.subject, cycle)].cancelled = True
        if kind in ("service_restored", "resolved", "closed") and d["stopped_clock"]:
            cycles[(r.subject, cycle)].end = parse_rfc3339(r.time)
    return {
        (ticket, number): c
        for (ticket, number), c in cycles.items()
        if categories[ticket] != "control_plane"
        or not any(a <= cycle_opened[(ticket, number)] < b for a, b in windows)
    }


def model_due(cycles: dict[tuple[str, int], ModelCycle], now: datetime) -> dict[str, datetime]:
    """alert id → threshold instant, of every alert due at ``now``."""
    due = {}
    for (ticket, number), c in cycles.items():
        for name, share in (("warning", 0.5), ("at_risk", 0.75), ("breached", 1.0)):
            instant = c.start + timedelta(seconds=c.gtr_seconds * share)
            if instant <= now and (c.end is None or c.end > instant):
                due[f"{ticket}/{number}/{name}"] = instant
        deadline = c.start + timedelta(seconds=c.gtr_seconds)
        if c.end is not None and deadline < c.end <= now:
            due[f"{ticket}/{number}/stopped"] = c.end
    return due


class CrashingStore:
    """The store, whose next transaction fails after the alerter's work, before its commit."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.dialect = store.dialect
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def transaction(self) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def failing() -> Any:
            with self.store.transaction() as c:
                yield c
                if self.armed:
                    self.armed = False
                    raise ConnectionError("lost the database before the commit")

        return failing()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_alerts_equal_the_model(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        system = system_factory(Path(tmp))
        try:
            _run(system, scenario)
        finally:
            system.close()


def _run(system: System, scenario: Scenario) -> None:
    clock = MovingClock(scenario.checks[0])
    store = CrashingStore(system.readmodels)
    alerter = Alerter(store, clock, HORIZON)
    expected: dict[str, tuple[datetime, datetime]] = {}  # id → (threshold, first check)
    for chunk, now, restart, crash in zip(
        scenario.chunks, scenario.checks, scenario.restarts, scenario.crashes, strict=True
    ):
        system.engine.apply_batch([parse_event(f) for f in chunk])  # rejections are life
        system.project()
        clock.at = now
        if restart:
            alerter = Alerter(store, clock, HORIZON)
        if crash:
            store.armed = True
            with pytest.raises(ConnectionError):
                alerter.check()
        alerter.check()
        for key, threshold in model_due(model_cycles(system), now).items():
            expected.setdefault(key, (threshold, now))
    rows = alerts(system.readmodels)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    got = {r["alert_id"]: r for r in rows}
    assert len(got) == len(rows), "an alert was emitted twice"
    assert set(got) == set(expected)
    for key, (threshold, first) in expected.items():
        row = got[key]
        assert parse_rfc3339(row["threshold_at"]) == threshold, key
        assert parse_rfc3339(row["emitted_at"]) == first, key
        assert row["late"] is (first - threshold > timedelta(seconds=5)), key
        assert row["type"] == "sla." + key.rsplit("/", 1)[1]
        if row["type"] == "sla.stopped":
            deadline = parse_rfc3339(row["deadline"])
            assert row["breach_minutes"] == math.ceil((threshold - deadline).total_seconds() / 60)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def system(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """An embedded system on SQLite, or (second run) on its own PostgreSQL database."""
    if request.param == "sqlite":
        opened_system = system_factory(tmp_path)
    else:
        dsn = request.getfixturevalue("pg_database_factory")()
        env = {"TICKETFLOW_STORE": "postgres", "TICKETFLOW_PG_DSN": dsn}
        opened_system = System.open(Settings.from_env(env=env, data_dir=tmp_path / "data"))
    yield opened_system
    opened_system.close()


def test_a_late_fact_yields_the_alert_at_once_flagged_late(system: System) -> None:
    """The opening of a P1 ticket arrives 2.5 h after it happened (GOLD: 4 h GTR): 50 % was
    crossed half an hour ago, so the next check emits ``sla.warning`` with ``late: true``, and
    ``sla.at_risk`` on time when the clock reaches 75 %."""
    facts = [
        event("subscription.started", "acme", at(-86400), {"tier": "GOLD"}),
        opened("T-LATE", at(0)),
    ]
    clock = MovingClock(BASE + timedelta(hours=2.5))
    alerter = Alerter(system.readmodels, clock, timedelta(hours=24))
    assert alerter.check() == []
    system.engine.apply_batch([parse_event(f) for f in facts])
    system.project()
    clock.at += timedelta(seconds=1)
    (warning,) = alerter.check()
    assert (warning["alert_id"], warning["late"]) == ("T-LATE/1/warning", True)
    assert warning["threshold_at"] == at(2 * 3600)
    clock.at = BASE + timedelta(hours=3, seconds=2)
    (at_risk,) = alerter.check()
    assert (at_risk["type"], at_risk["late"]) == ("sla.at_risk", False)
    assert alerter.check() == []


def test_history_older_than_the_horizon_emits_nothing(system: System) -> None:
    """A store loaded with last month's tickets, an alerter started today: replayed history
    emits no alert; a clock still running within the horizon does."""
    facts = [
        event("subscription.started", "acme", at(-40 * 86400), {"tier": "GOLD"}),
        opened("T-OLD", at(-30 * 86400)),
        ticket_fact("service_restored", "T-OLD", at(-30 * 86400 + 5 * 3600)),
        opened("T-NOW", at(-3 * 3600)),
    ]
    system.engine.apply_batch([parse_event(f) for f in facts])
    system.project()
    alerter = Alerter(system.readmodels, FixedClock(BASE), timedelta(hours=24))
    emitted = [r["alert_id"] for r in alerter.check()]
    assert emitted == ["T-NOW/1/warning", "T-NOW/1/at_risk"]


def test_an_exempted_cycle_emits_nothing(system: System) -> None:
    """A control-plane P1 ticket opened inside a control-plane maintenance announced the day
    before (R-PLAT-1): its cycle is ``not_applicable`` and, though its recorded thresholds all
    pass, the alerter emits nothing for it; a compute ticket opened at the same instant is
    alerted as usual."""
    facts = [
        maintenance("MNT-A", at(-86400), at(-3600), at(6 * 3600)),
        event("subscription.started", "acme", at(-86400), {"tier": "GOLD"}),
        opened("T-CP", at(0), category="control_plane"),
        opened("T-VM", at(0), category="compute"),
    ]
    system.engine.apply_batch([parse_event(f) for f in facts])
    system.project()
    with system.readmodels.transaction() as c:
        c.execute("SELECT exempted_by, outcome FROM sla_cycles WHERE ticket = 'T-CP'")
        assert tuple(c.fetchone()) == ("MNT-A", "not_applicable")
    alerter = Alerter(system.readmodels, FixedClock(BASE + timedelta(hours=5)), HORIZON)
    emitted = [r["alert_id"] for r in alerter.check()]
    assert emitted == ["T-VM/1/warning", "T-VM/1/at_risk", "T-VM/1/breached"]


def test_an_exemption_known_late_keeps_what_was_told(system: System) -> None:
    """The announcement (in time) is consumed after the ticket's warning was told (R-PLAT-4):
    the warning stays emitted, nothing is retracted, and no later threshold is alerted."""
    facts = [
        event("subscription.started", "acme", at(-86400), {"tier": "GOLD"}),
        opened("T-CP", at(0), category="control_plane"),
    ]
    system.engine.apply_batch([parse_event(f) for f in facts])
    system.project()
    clock = MovingClock(BASE + timedelta(hours=2, seconds=1))
    alerter = Alerter(system.readmodels, clock, HORIZON)
    assert [r["alert_id"] for r in alerter.check()] == ["T-CP/1/warning"]
    announcement = maintenance("MNT-B", at(-86400), at(-3600), at(6 * 3600))
    system.engine.apply_batch([parse_event(announcement)])
    system.project()
    clock.at = BASE + timedelta(hours=5)
    assert alerter.check() == []
    assert [r["alert_id"] for r in alerts(system.readmodels)] == ["T-CP/1/warning"]


def test_the_alerts_known_at_an_instant(system: System) -> None:
    """``recent`` (the report's alerts) gives the alerts emitted by an instant, whatever their
    threshold instant, within the tenants asked for; on SQLite and PostgreSQL alike, with
    instants that have fractions of a second."""
    facts = [
        event("subscription.started", "acme", at(-86400), {"tier": "GOLD"}),
        event("subscription.started", "globex", at(-86400), {"tier": "GOLD"}),
        opened("T-A", at(0)),
        opened("G-A", at(0), tenant="globex"),
    ]
    system.engine.apply_batch([parse_event(f) for f in facts])
    system.project()
    clock = MovingClock(BASE + timedelta(hours=2, seconds=0.5))
    alerter = Alerter(system.readmodels, clock, HORIZON)
    assert len(alerter.check()) == 2  # both warnings
    first = clock.at
    clock.at = BASE + timedelta(hours=3, seconds=1.25)
    assert len(alerter.check()) == 2  # both at_risk
    everything = recent(system.readmodels, until=clock.at)
    assert [a["type"] for a in everything] == ["sla.at_risk"] * 2 + ["sla.warning"] * 2
    known_then = recent(system.readmodels, until=first)
    assert {a["alert_id"] for a in known_then} == {"T-A/1/warning", "G-A/1/warning"}
    assert recent(system.readmodels, until=first - timedelta(seconds=0.25)) == []
    acme = recent(system.readmodels, until=clock.at, tenants=["acme"])
    assert {a["alert_id"] for a in acme} == {"T-A/1/warning", "T-A/1/at_risk"}
    assert recent(system.readmodels, until=clock.at, tenants=[]) == []
    assert len(recent(system.readmodels, until=clock.at, limit=1)) == 1
    # The report's inputs read from these tables and the weather read model.
    weather, shown = platform(system.readmodels, first, ["globex"])
    assert [a["ticket"] for a in shown] == ["G-A"]
    assert {s["service"] for s in weather.services} >= {"compute", "control_plane"}

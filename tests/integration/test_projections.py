"""The three read models driven by event sequences, with hand-computed expectations."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.factories import apply, event, opened, system_factory, ticket_fact
from ticketflow.bootstrap import System
from ticketflow.contract import parse_event
from ticketflow.domain.calendar import Month
from ticketflow.service import queries


@pytest.fixture
def system(tmp_path: Path) -> System:
    s = system_factory(tmp_path)
    yield s
    s.close()


def sla_row(system: System, ticket: str, as_of: str = "2026-12-01T00:00:00Z") -> dict:
    rows = queries.sla(system.readmodels, as_of=queries.parse_instant(as_of))
    return next(r for r in rows if r["ticket"] == ticket)


def cycle_rows(system: System, ticket: str) -> list[dict[str, Any]]:
    """The ``sla_cycles`` rows of a ticket, as an analyst reads them with SQL."""
    columns = ("cycle", "deadline", "cancelled_at", "stopped_at", "outcome", "breach_minutes")
    with system.readmodels.transaction() as c:
        c.execute(
            f"SELECT {', '.join(columns)} FROM sla_cycles WHERE ticket = ? ORDER BY cycle",
            (ticket,),
        )
        return [dict(zip(columns, row, strict=True)) for row in c.fetchall()]


GOLD = event("subscription.started", "acme", "2026-03-01T00:00:00+01:00", {"tier": "GOLD"})
SILVER = event("subscription.started", "acme", "2026-03-01T00:00:00+01:00", {"tier": "SILVER"})


class TestSlaBreach:
    def test_gold_p1_restored_late_is_breached(self, system: System) -> None:
        # GOLD GTR 4 h (R-SLA-4): opened 10:00Z → deadline 14:00Z; restored 14:31Z → 31 min late.
        apply(
            system,
            [
                GOLD,
                opened("T1", "2026-05-05T10:00:00Z"),
                ticket_fact("service_restored", "T1", "2026-05-05T14:31:00Z"),
            ],
        )
        row = sla_row(system, "T1")
        assert (row["status"], row["tier"], row["deadline"], row["breach_minutes"]) == (
            "breached",
            "GOLD",
            "2026-05-05T14:00:00Z",
            31,
        )

    def test_restored_at_the_deadline_is_met(self, system: System) -> None:
        apply(
            system,
            [
                SILVER,
                opened("T1", "2026-05-05T10:00:00Z"),
                ticket_fact("service_restored", "T1", "2026-05-05T18:00:00Z"),
            ],
        )
        # SILVER 8 h: deadline 18:00Z, restored exactly then → met (R-SLA-10).
        assert sla_row(system, "T1")["status"] == "met"

    def test_status_as_of_an_instant(self, system: System) -> None:
        apply(
            system,
            [
                GOLD,
                opened("T1", "2026-05-05T10:00:00Z"),
                ticket_fact("service_restored", "T1", "2026-05-05T16:00:00Z"),
            ],
        )
        # 4 h GTR: 75 % = 3 h → at_risk from 13:00Z; past 14:00Z breached; before 10:00Z absent.
        assert sla_row(system, "T1", "2026-05-05T12:00:00Z")["status"] == "running"
        assert sla_row(system, "T1", "2026-05-05T13:00:00Z")["status"] == "at_risk"
        late = sla_row(system, "T1", "2026-05-05T15:00:00Z")
        assert (late["status"], late["breach_minutes"], late["restored_at"]) == (
            "breached",
            60,
            None,
        )
        rows = queries.sla(system.readmodels, as_of=queries.parse_instant("2026-05-05T09:00:00Z"))
        assert rows == []

    def test_fractions_of_a_second_are_compared_as_instants(self, system: System) -> None:
        apply(system, [GOLD, opened("T1", "2026-05-05T10:00:00.500Z")])
        # As text "…10:00:00.500000Z" < "…10:00:00Z"; as instants it is half a second later.
        assert (
            queries.sla(system.readmodels, as_of=queries.parse_instant("2026-05-05T10:00:00Z"))
            == []
        )
        assert sla_row(system, "T1", "2026-05-05T10:00:01Z")["status"] == "running"

    def test_no_subscription_means_standard_and_no_gtr(self, system: System) -> None:
        apply(system, [opened("T1", "2026-05-05T10:00:00Z", tenant="solo")])
        row = sla_row(system, "T1")
        assert (row["status"], row["reason"], row["tier"]) == (
            "not_applicable",
            "R-SLA-1",
            "STANDARD",
        )

    def test_beta_and_planned_window_carry_no_sla(self, system: System) -> None:
        # 2026-05-06 is the first Wednesday of May: 00:00–06:00 Paris = 2026-05-05T22:00Z–04:00Z.
        apply(
            system,
            [
                GOLD,
                opened("B1", "2026-05-05T10:00:00Z", beta_feature=True),
                opened("W1", "2026-05-05T23:30:00Z", category="control_plane"),
                opened("W2", "2026-05-05T23:30:00Z", category="network"),
                opened("W3", "2026-05-06T04:00:00Z", category="control_plane"),
            ],
        )
        assert sla_row(system, "B1")["reason"] == "R-SLA-8"
        assert sla_row(system, "W1")["reason"] == "R-SLA-9"
        assert sla_row(system, "W2")["status"] == "breached"  # other categories unaffected
        assert sla_row(system, "W3")["status"] == "breached"  # 06:00 Paris is outside

    def test_raised_to_p1_starts_then_lowered_cancels(self, system: System) -> None:
        apply(
            system,
            [
                GOLD,
                opened("T1", "2026-05-05T08:00:00Z", priority="P3"),
                ticket_fact("priority_changed", "T1", "2026-05-05T09:00:00Z", priority="P1"),
            ],
        )
        row = sla_row(system, "T1", "2026-05-05T10:00:00Z")
        # R-SLA-3: clock from 09:00Z, GOLD 4 h → 13:00Z (not from the 08:00Z opening).
        assert (row["clock_started_at"], row["deadline"]) == (
            "2026-05-05T09:00:00Z",
            "2026-05-05T13:00:00Z",
        )
        apply(
            system, [ticket_fact("priority_changed", "T1", "2026-05-05T10:00:00Z", priority="P2")]
        )
        row = sla_row(system, "T1")
        assert (row["status"], row["reason"]) == ("not_applicable", "R-SLA-3")

    def test_lowered_after_the_deadline_the_row_says_breached_like_the_query(
        self, system: System
    ) -> None:
        # GOLD P1 from 08:00Z: deadline 12:00Z. Lowered to P2 at 20:00Z, resolved at 21:00Z:
        # the breach stands at 20:00 - 12:00 = 480 min (R-SLA-3, R-SLA-10), in SQL as in the query.
        apply(
            system,
            [
                GOLD,
                opened("T1", "2026-05-05T08:00:00Z"),
                ticket_fact("priority_changed", "T1", "2026-05-05T20:00:00Z", priority="P2"),
                ticket_fact("resolved", "T1", "2026-05-05T21:00:00Z"),
            ],
        )
        row = sla_row(system, "T1")
        assert (row["status"], row["breach_minutes"]) == ("breached", 480)
        (cycle,) = cycle_rows(system, "T1")
        assert (cycle["deadline"], cycle["cancelled_at"]) == (
            "2026-05-05T12:00:00Z",
            "2026-05-05T20:00:00Z",
        )
        assert (cycle["outcome"], cycle["breach_minutes"]) == ("breached", 480)

    def test_lowered_before_the_deadline_the_row_says_not_applicable(self, system: System) -> None:
        # Lowered at 10:00Z, before the 12:00Z deadline: no GTR applies any more (R-SLA-3).
        apply(
            system,
            [
                GOLD,
                opened("T1", "2026-05-05T08:00:00Z"),
                ticket_fact("priority_changed", "T1", "2026-05-05T10:00:00Z", priority="P2"),
            ],
        )
        row = sla_row(system, "T1")
        assert (row["status"], row["reason"], row["breach_minutes"]) == (
            "not_applicable",
            "R-SLA-3",
            0,
        )
        (cycle,) = cycle_rows(system, "T1")
        assert (cycle["outcome"], cycle["breach_minutes"]) == ("not_applicable", 0)

    def test_stopped_cycles_settle_in_the_row_like_the_query(self, system: System) -> None:
        # Cycle 1 restored 11:00Z (met), cycle 2 reopened 12:00Z, closed 16:30Z unrestored:
        # deadline 16:00Z, 30 min late (R-SLA-6, R-SLA-7).
        apply(
            system,
            [
                GOLD,
                opened("T1", "2026-05-05T08:00:00Z"),
                ticket_fact("service_restored", "T1", "2026-05-05T11:00:00Z"),
                ticket_fact("reopened", "T1", "2026-05-05T12:00:00Z"),
                ticket_fact("closed", "T1", "2026-05-05T16:30:00Z"),
            ],
        )
        rows = [(r["outcome"], r["breach_minutes"]) for r in cycle_rows(system, "T1")]
        assert rows == [("met", 0), ("breached", 30)]
        row = sla_row(system, "T1")
        assert (row["status"], row["breach_minutes"]) == ("breached", 30)

    def test_upgrade_after_clock_start_keeps_the_deadline(self, system: System) -> None:
        apply(
            system,
            [
                SILVER,
                opened("T1", "2026-05-05T08:00:00Z"),
                event(
                    "subscription.tier_upgraded", "acme", "2026-05-05T09:00:00Z", {"tier": "GOLD"}
                ),
                opened("T2", "2026-05-05T10:00:00Z"),
            ],
        )
        # R-SLA-4: T1 keeps SILVER's 8 h (16:00Z); T2 opened after the upgrade gets GOLD's 4 h.
        assert sla_row(system, "T1")["deadline"] == "2026-05-05T16:00:00Z"
        assert sla_row(system, "T2")["deadline"] == "2026-05-05T14:00:00Z"

    def test_reopened_cycle_breach_marks_the_ticket(self, system: System) -> None:
        apply(
            system,
            [
                GOLD,
                opened("T1", "2026-05-05T08:00:00Z"),
                ticket_fact("service_restored", "T1", "2026-05-05T09:00:00Z"),
                ticket_fact("reopened", "T1", "2026-05-06T08:00:00Z"),
                ticket_fact("service_restored", "T1", "2026-05-06T13:00:00Z"),
            ],
        )
        # cycle 1 met; cycle 2 from 08:00Z, deadline 12:00Z, restored 13:00Z → 60 min (R-SLA-7).
        row = sla_row(system, "T1")
        assert (row["status"], row["breach_minutes"], row["cycles"]) == ("breached", 60, 2)
        assert row["clock_started_at"] == "2026-05-06T08:00:00Z"

    def test_resolved_without_restore_stops_the_clock(self, system: System) -> None:
        apply(
            system,
            [
                GOLD,
                opened("T1", "2026-05-05T08:00:00Z"),
                ticket_fact("resolved", "T1", "2026-05-05T11:00:00Z"),
            ],
        )
        row = sla_row(system, "T1")
        assert (row["status"], row["restored_at"]) == ("met", "2026-05-05T11:00:00Z")  # R-SLA-6

    def test_filters(self, system: System) -> None:
        apply(
            system,
            [
                GOLD,
                opened("T1", "2026-05-05T08:00:00Z"),
                opened("T2", "2026-05-05T08:00:00Z", tenant="other"),
            ],
        )
        store = system.readmodels
        assert [r["ticket"] for r in queries.sla(store, tenant="other")] == ["T2"]
        assert [r["ticket"] for r in queries.sla(store, status="breached")] == ["T1"]
        with pytest.raises(queries.QueryError, match="unknown tenant"):
            queries.sla(store, tenant="nobody")
        with pytest.raises(queries.QueryError, match="unknown status"):
            queries.sla(store, status="late")


class TestBillingEffectiveDate:
    def test_may_change_in_paris_is_billed_from_june(self, system: System) -> None:
        apply(
            system,
            [
                event(
                    "subscription.started", "acme", "2026-03-10T09:00:00+01:00", {"tier": "BRONZE"}
                ),
                # R-BILL-2: 2026-05-01T00:30+02:00 is 2026-04-30T22:30Z but a May change.
                event(
                    "subscription.tier_upgraded",
                    "acme",
                    "2026-05-01T00:30:00+02:00",
                    {"tier": "GOLD"},
                ),
            ],
        )
        result = queries.billing(system.readmodels, tenant="acme")
        upgrade = result["changes"][1]
        assert upgrade == {
            "from_tier": "BRONZE",
            "to_tier": "GOLD",
            "kind": "upgrade",
            "service_effective_at": "2026-04-30T22:30:00Z",
            "billing_effective_at": "2026-05-31T22:00:00Z",
            "rule": "R-BILL-2",
        }
        # R-BILL-3: March (start month) STANDARD, April–May BRONZE, June GOLD.
        assert [(m["month"], m["billed_tier"]) for m in result["months"]] == [
            ("2026-03", "STANDARD"),
            ("2026-04", "BRONZE"),
            ("2026-05", "BRONZE"),
            ("2026-06", "GOLD"),
        ]
        assert result["current_tier"] == "GOLD"

    def test_several_changes_in_a_month_bill_the_last(self, system: System) -> None:
        apply(
            system,
            [
                event(
                    "subscription.started", "acme", "2026-03-01T10:00:00+01:00", {"tier": "BRONZE"}
                ),
                event(
                    "subscription.tier_upgraded",
                    "acme",
                    "2026-04-03T10:00:00+02:00",
                    {"tier": "SILVER"},
                ),
                event(
                    "subscription.tier_upgraded",
                    "acme",
                    "2026-04-20T10:00:00+02:00",
                    {"tier": "GOLD"},
                ),
                event(
                    "subscription.tier_downgraded",
                    "acme",
                    "2026-04-28T10:00:00+02:00",
                    {"tier": "SILVER", "support_ticket": "CS-1"},
                ),
            ],
        )
        store = system.readmodels
        assert (
            queries.billing(store, tenant="acme", month=Month(2026, 4))["billed_tier"] == "BRONZE"
        )
        may = queries.billing(store, tenant="acme", month=Month(2026, 5))
        assert may == {
            "tenant": "acme",
            "month": "2026-05",
            "billed_tier": "SILVER",
            "rule": "R-BILL-3",
        }
        # After the last month listed the last billed tier goes on.
        assert (
            queries.billing(store, tenant="acme", month=Month(2027, 1))["billed_tier"] == "SILVER"
        )
        kinds = [c["kind"] for c in queries.billing(store, tenant="acme")["changes"]]
        assert kinds == ["started", "upgrade", "upgrade", "downgrade"]

    def test_a_start_after_an_implicit_standard_subscription(self, system: System) -> None:
        apply(
            system,
            [
                event(
                    "expertise.pack_purchased",
                    "acme",
                    "2026-03-05T10:00:00+01:00",
                    {"pack_id": "P1", "hours": 2},
                ),
                event(
                    "subscription.started", "acme", "2026-04-10T10:00:00+02:00", {"tier": "SILVER"}
                ),
            ],
        )
        result = queries.billing(system.readmodels, tenant="acme")
        # R-TIER-2 default STANDARD from March; the start in April is billed from May (R-BILL-3).
        assert [(c["kind"], c["to_tier"], c["rule"]) for c in result["changes"]] == [
            ("default", "STANDARD", "R-BILL-3"),
            ("started", "SILVER", "R-BILL-3"),
        ]
        assert [(m["month"], m["billed_tier"]) for m in result["months"]] == [
            ("2026-03", "STANDARD"),
            ("2026-04", "STANDARD"),
            ("2026-05", "SILVER"),
        ]

    def test_upgrade_not_higher_is_rejected(self, system: System) -> None:
        statuses = apply(
            system,
            [
                event(
                    "subscription.started", "acme", "2026-03-01T10:00:00+01:00", {"tier": "GOLD"}
                ),
                event(
                    "subscription.tier_upgraded",
                    "acme",
                    "2026-04-03T10:00:00+02:00",
                    {"tier": "SILVER"},
                ),
            ],
        )
        assert statuses == ["accepted", "rejected:transition_error"]  # R-BILL-4


class TestExpertiseUsage:
    def test_allowance_then_packs_then_overage(self, system: System) -> None:
        apply(
            system,
            [
                event(
                    "subscription.started", "acme", "2026-03-01T10:00:00+01:00", {"tier": "GOLD"}
                ),
                event(
                    "expertise.pack_purchased",
                    "acme",
                    "2026-03-02T10:00:00+01:00",
                    {"pack_id": "P-old", "hours": 2},
                ),
                event(
                    "expertise.pack_purchased",
                    "acme",
                    "2026-03-03T10:00:00+01:00",
                    {"pack_id": "P-new", "hours": 3},
                ),
                event(
                    "expertise.hours_consumed", "acme", "2026-03-10T10:00:00+01:00", {"hours": 3}
                ),
                event(
                    "expertise.hours_consumed", "acme", "2026-03-11T10:00:00+01:00", {"hours": 4.5}
                ),
            ],
        )
        # GOLD 4 h (R-EXP-1): 3 h from allowance; then 1 h allowance + 2 h P-old + 1.5 h P-new.
        march = queries.expertise(system.readmodels, tenant="acme", month=Month(2026, 3))
        assert march == {
            "tenant": "acme",
            "month": "2026-03",
            "included_hours": 4.0,
            "consumed_hours": 7.5,
            "from_allowance_hours": 4.0,
            "from_packs_hours": 3.5,
            "overage_hours": 0.0,
            "unfunded_hours": 0.0,
            "pack_balance_hours": 1.5,
        }
        # April: nothing consumed, unused March hours expired (R-EXP-3), packs did not.
        april = queries.expertise(system.readmodels, tenant="acme", month=Month(2026, 4))
        assert (april["included_hours"], april["pack_balance_hours"]) == (4.0, 1.5)

    def test_standard_without_packs_is_unfunded(self, system: System) -> None:
        apply(
            system,
            [
                event(
                    "expertise.hours_consumed", "solo", "2026-03-10T10:00:00+01:00", {"hours": 1.25}
                )
            ],
        )
        # R-TIER-2 STANDARD, R-EXP-5: 75 min overage, all unfunded.
        got = queries.expertise(system.readmodels, tenant="solo", month=Month(2026, 3))
        assert (got["overage_hours"], got["unfunded_hours"], got["included_hours"]) == (
            1.25,
            1.25,
            0.0,
        )

    def test_bronze_window_and_mid_month_upgrade(self, system: System) -> None:
        apply(
            system,
            [
                event(
                    "subscription.started", "acme", "2026-01-15T10:00:00+01:00", {"tier": "BRONZE"}
                ),
                event(
                    "subscription.tier_upgraded",
                    "acme",
                    "2026-05-20T10:00:00+02:00",
                    {"tier": "GOLD"},
                ),
            ],
        )
        store = system.readmodels
        included = {
            m: queries.expertise(store, tenant="acme", month=Month(2026, m))["included_hours"]
            for m in range(1, 7)
        }
        # R-EXP-2: BRONZE window Jan–Mar (2 h), April none;
        # R-EXP-1: upgraded in May → 4 h at month end.
        assert included == {1: 2.0, 2: 2.0, 3: 2.0, 4: 0.0, 5: 4.0, 6: 4.0}


class TestDeterminismAndCrashSafety:
    EVENTS: ClassVar[list[dict[str, Any]]] = [
        GOLD,
        opened("T1", "2026-05-05T08:00:00Z"),
        opened("T2", "2026-05-05T08:30:00Z", priority="P2"),
        ticket_fact("priority_changed", "T2", "2026-05-05T09:00:00Z", priority="P1"),
        ticket_fact("service_restored", "T1", "2026-05-05T13:00:00Z"),
        event(
            "expertise.pack_purchased",
            "acme",
            "2026-05-06T10:00:00Z",
            {"pack_id": "P1", "hours": 1},
        ),
        event("expertise.hours_consumed", "acme", "2026-05-07T10:00:00Z", {"hours": 6}),
        event(
            "subscription.tier_downgraded",
            "acme",
            "2026-05-08T10:00:00Z",
            {"tier": "SILVER", "support_ticket": "CS-9"},
        ),
        ticket_fact("reopened", "T1", "2026-05-09T10:00:00Z"),
    ]

    def digests(self, system: System) -> dict:
        from projections import ALL
        from ticketflow.service.audit import table_digests

        return table_digests(system.readmodels, [t for p in ALL for t in p.tables])

    def test_crash_mid_batch_then_rerun_equals_uninterrupted(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        reference = system_factory(tmp_path, "reference")
        apply(reference, self.EVENTS)
        expected = self.digests(reference)
        reference.close()

        from projections import expertise_usage

        crashing = system_factory(tmp_path, "crashing")
        crashing.engine.apply_batch([parse_event(e) for e in self.EVENTS])
        original = expertise_usage.PROJECTION.handlers["ticketflow.expertise.hours_consumed.v1"]

        def boom(c, e):  # rows of earlier events in the batch were already written
            raise RuntimeError("worker killed")

        monkeypatch.setitem(
            expertise_usage.PROJECTION.handlers, "ticketflow.expertise.hours_consumed.v1", boom
        )
        with pytest.raises(RuntimeError):
            crashing.project()
        monkeypatch.setitem(
            expertise_usage.PROJECTION.handlers, "ticketflow.expertise.hours_consumed.v1", original
        )
        crashing.project()
        assert self.digests(crashing) == expected
        crashing.close()

    def test_projecting_again_changes_nothing(self, system: System) -> None:
        apply(system, self.EVENTS)
        before = self.digests(system)
        system.project()
        assert self.digests(system) == before

    def test_a_rebuild_equals_the_read_models_caught_up_event_by_event(
        self, tmp_path: Path
    ) -> None:
        """A rebuild fills empty tables in bulk (secondary indexes built at its end); the live
        read models catch up one event at a time with every index in place: the same rows, and
        the same indexes in the end."""
        from projections import ALL
        from projections.worker import catch_up
        from ticketflow.adapters.readmodels import ReadModelStore
        from ticketflow.service.audit import table_digests

        system = system_factory(tmp_path)
        engine = system.engine
        live = ReadModelStore.sqlite(tmp_path / "live.sqlite3")
        for e in self.EVENTS:
            engine.apply_batch([parse_event(e)])
            catch_up(engine.recorder, engine.mapper, live, ALL, upstream=engine.name)
        rebuilt = ReadModelStore.sqlite(tmp_path / "rebuilt.sqlite3")
        catch_up(engine.recorder, engine.mapper, rebuilt, ALL, upstream=engine.name, batch=3)
        system.close()

        def schema(store: ReadModelStore) -> list[tuple[str, str]]:
            sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
            return [tuple(row) for row in store.connection.execute(sql).fetchall()]

        tables = [t for p in ALL for t in p.tables]
        assert table_digests(rebuilt, tables) == table_digests(live, tables)
        assert schema(rebuilt) == schema(live)
        assert len(schema(live)) > len(tables)

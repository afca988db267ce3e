"""The engine against a real SQLite file: batches, idempotency across restarts (R-IN-1),
rejections (R-IN-3), and the tier in force at clock start (R-SLA-4, R-TIER-2)."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ticketflow.contract import InboundEvent, parse_event
from ticketflow.domain.ids import subscription_id, ticket_id
from ticketflow.domain.subscription import Subscription
from ticketflow.domain.ticket import Ticket
from ticketflow.service.engine import REJECTION_REASONS, Engine

_ids = itertools.count(1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def ce(
    type_: str, subject: str, time: str, data: dict[str, Any] | None = None, **attrs: Any
) -> InboundEvent:
    tenant = attrs.pop("tenant", "acme")
    return parse_event(
        {
            "specversion": "1.0",
            "id": attrs.pop("id", f"e-{next(_ids)}"),
            "source": attrs.pop("source", "tests"),
            "type": type_,
            "subject": subject,
            "time": time,
            "tenant": tenant,
            "data": data or {},
        }
    )


def started(tier: str, time: str, tenant: str = "acme", **attrs: Any) -> InboundEvent:
    return ce("subscription.started", tenant, time, {"tier": tier}, tenant=tenant, **attrs)


def upgraded(tier: str, time: str, tenant: str = "acme") -> InboundEvent:
    return ce("subscription.tier_upgraded", tenant, time, {"tier": tier}, tenant=tenant)


def opened(ticket: str, time: str, priority: str = "P1", **attrs: Any) -> InboundEvent:
    data = {"priority": priority, "channel": "portal", "language": "fr", "category": "compute"}
    return ce("ticket.opened", ticket, time, data, **attrs)


def fact(kind: str, ticket: str, time: str, **attrs: Any) -> InboundEvent:
    data = attrs.pop("data", {})
    return ce(f"ticket.{kind}", ticket, time, data, **attrs)


def statuses(outcomes: list[Any]) -> list[str]:
    return [o.status if o.error is None else f"{o.status}:{o.error.reason}" for o in outcomes]


def open_engine(path: Path) -> Engine:
    return Engine(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "e.sqlite3"


@pytest.fixture
def engine(db: Path) -> Iterator[Engine]:
    app = open_engine(db)
    yield app
    app.close()


def events_of(engine: Engine, ticket: str) -> list[Any]:
    return list(engine.repository.event_store.get(ticket_id(ticket)))


def opened_event(engine: Engine, ticket: str) -> Any:
    return events_of(engine, ticket)[0]


class TestBatch:
    def test_a_batch_is_applied_in_order_and_stored(self, engine: Engine) -> None:
        batch = [
            started("GOLD", "2026-05-01T08:00:00Z"),
            opened("T-1", "2026-05-04T10:00:00Z"),
            fact("acknowledged", "T-1", "2026-05-04T10:05:00Z"),
            fact("escalated", "T-1", "2026-05-04T10:10:00Z", data={"level": "L2"}),
            fact("service_restored", "T-1", "2026-05-04T12:00:00Z"),
        ]
        assert statuses(engine.apply_batch(batch)) == ["accepted"] * 5
        # 1 Started + 4 ticket events (Opened, Acknowledged, Escalated, ServiceRestored).
        assert engine.recorder.max_notification_id() == 5
        ticket = engine.ticket("T-1")
        assert (ticket.state, ticket.level, ticket.acknowledged) == ("restored", "L2", True)
        assert engine.subscription("acme").tier_at(utc("2026-05-04T10:00:00Z")).value == "GOLD"

    def test_a_rejection_does_not_hold_up_the_rest_of_its_batch(self, engine: Engine) -> None:
        batch = [
            opened("T-1", "2026-05-04T10:00:00Z"),
            fact("reopened", "T-1", "2026-05-04T10:30:00Z"),  # open: cannot be reopened
            fact("service_restored", "T-1", "2026-05-04T11:00:00Z"),
        ]
        outcomes = engine.apply_batch(batch)
        assert statuses(outcomes) == ["accepted", "rejected:transition_error", "accepted"]
        assert "cannot be reopened" in str(outcomes[1].error)
        assert engine.recorder.max_notification_id() == 2  # Opened, ServiceRestored
        assert engine.ticket("T-1").state == "restored"

    def test_an_empty_or_all_rejected_batch_stores_nothing(self, engine: Engine) -> None:
        assert engine.apply_batch([]) == []
        outcomes = engine.apply_batch([fact("closed", "T-404", "2026-05-04T10:00:00Z")])
        assert statuses(outcomes) == ["rejected:unknown_ticket"]
        assert engine.recorder.max_notification_id() in (None, 0)

    def test_apply_is_a_batch_of_one(self, engine: Engine) -> None:
        assert engine.apply(opened("T-1", "2026-05-04T10:00:00Z")).status == "accepted"
        assert engine.recorder.max_notification_id() == 1


class TestIdempotencyRIn1:
    def events(self) -> list[InboundEvent]:
        return [
            started("SILVER", "2026-03-02T09:00:00+01:00", id="s-1", source="portal"),
            ce(
                "expertise.pack_purchased",
                "acme",
                "2026-03-03T10:00:00+01:00",
                {"pack_id": "PK-1", "hours": 2},
                id="p-1",
            ),
            ce("expertise.hours_consumed", "acme", "2026-03-05T10:00:00Z", {"hours": 3}, id="h-1"),
            upgraded("GOLD", "2026-04-10T10:00:00Z"),
            opened("T-1", "2026-05-04T10:00:00Z", id="o-1", source="portal"),
            fact("service_restored", "T-1", "2026-05-04T11:00:00Z", id="r-1"),
            fact("resolved", "T-1", "2026-05-04T12:00:00Z", id="v-1"),
            fact("reopened", "T-1", "2026-05-05T09:00:00Z", id="x-1"),
        ]

    def test_duplicates_across_restarts_have_no_second_effect(self, db: Path) -> None:
        events = self.events()
        first = open_engine(db)
        try:
            assert statuses(first.apply_batch(events)) == ["accepted"] * len(events)
            stored = first.recorder.max_notification_id()
            assert stored == len(events)  # one stored event per inbound event
        finally:
            first.close()

        second = open_engine(db)  # a fresh process: empty cache, state read back from the file
        try:
            assert statuses(second.apply_batch(events)) == ["duplicate"] * len(events)
            for event in events:  # one by one too
                assert second.apply(event).status == "duplicate"
            assert second.recorder.max_notification_id() == stored
            ticket = second.ticket("T-1")
            assert (ticket.cycle, ticket.state, ticket.version) == (2, "open", 4)
            sub = second.subscription("acme")
            # 180 min consumed once: SILVER's 120 for March, then 60 of the 120 min pack.
            # Applied twice, the pack would be empty (the second 180: 120 from it + overage).
            assert sub.allowance_used == {"2026-03": 120}
            assert sub.packs[0][3] == 60
        finally:
            second.close()

    def test_same_id_from_another_source_is_another_event(self, engine: Engine) -> None:
        engine.apply(opened("T-1", "2026-05-04T10:00:00Z", id="x", source="portal"))
        outcome = engine.apply(fact("acknowledged", "T-1", "2026-05-04T10:01:00Z", id="x"))
        assert outcome.status == "accepted"  # (tests, x) is not (portal, x)

    def test_duplicate_within_one_batch(self, engine: Engine) -> None:
        ack = fact("acknowledged", "T-1", "2026-05-04T10:01:00Z", id="a-1")
        outcomes = engine.apply_batch([opened("T-1", "2026-05-04T10:00:00Z"), ack, ack])
        assert statuses(outcomes) == ["accepted", "accepted", "duplicate"]
        assert engine.recorder.max_notification_id() == 2

    def test_second_opening_under_another_id_is_rejected(self, engine: Engine) -> None:
        engine.apply(opened("T-1", "2026-05-04T10:00:00Z", id="o-1"))
        outcome = engine.apply(opened("T-1", "2026-05-04T10:00:00Z", id="o-2"))
        assert statuses([outcome]) == ["rejected:already_opened"]

    def test_second_start_under_another_id_is_rejected(self, engine: Engine) -> None:
        engine.apply(started("GOLD", "2026-03-02T09:00:00Z", id="s-1"))
        outcome = engine.apply(started("SILVER", "2026-03-03T09:00:00Z", id="s-2"))
        assert statuses([outcome]) == ["rejected:already_started"]


class TestRejections:
    @pytest.mark.parametrize(
        "kind", ["acknowledged", "service_restored", "resolved", "closed", "reopened"]
    )
    def test_fact_about_a_ticket_never_opened(self, engine: Engine, kind: str) -> None:
        outcome = engine.apply(fact(kind, "T-404", "2026-05-04T10:00:00Z", id="f-1"))
        assert outcome.status == "rejected"
        assert outcome.error is not None
        assert outcome.error.reason == "unknown_ticket"
        assert outcome.error.rule == "R-SLA-2"
        assert "T-404" in outcome.error.detail
        assert engine.recorder.max_notification_id() in (None, 0)

    def test_escalation_of_a_ticket_never_opened(self, engine: Engine) -> None:
        event = fact("escalated", "T-404", "2026-05-04T10:00:00Z", data={"level": "L2"})
        assert statuses([engine.apply(event)]) == ["rejected:unknown_ticket"]

    def test_tenant_mismatch(self, engine: Engine) -> None:
        engine.apply(opened("T-1", "2026-05-04T10:00:00Z", tenant="acme"))
        outcome = engine.apply(fact("closed", "T-1", "2026-05-04T11:00:00Z", tenant="globex"))
        assert outcome.error is not None
        assert (outcome.error.reason, outcome.error.rule) == ("tenant_mismatch", "R-ACC-3")
        # The refusal tells the sender nothing about the tenant that owns the ticket (R-ACC-3).
        assert "acme" not in outcome.error.detail
        assert "globex" in outcome.error.detail
        assert engine.ticket("T-1").state == "open"

    def test_opening_another_tenants_ticket_id(self, engine: Engine) -> None:
        """Checked before anything that would describe the ticket: neither "already opened"
        nor, under the owner's (source, id), "duplicate" (R-ACC-3)."""
        first = opened("T-1", "2026-05-04T10:00:00Z", tenant="acme")
        engine.apply(first)
        for attempt in (
            opened("T-1", "2026-05-04T11:00:00Z", tenant="globex"),
            dataclasses.replace(first, tenant="globex"),
        ):
            outcome = engine.apply(attempt)
            assert outcome.error is not None
            assert (outcome.error.reason, outcome.error.rule) == ("tenant_mismatch", "R-ACC-3")
            assert "acme" not in outcome.error.detail
            assert "opened" not in outcome.error.detail
        close = fact("closed", "T-1", "2026-05-04T11:00:00Z", tenant="acme")
        assert statuses([engine.apply(close)]) == ["accepted"]
        outcome = engine.apply(dataclasses.replace(close, tenant="globex"))
        assert outcome.error is not None
        assert outcome.error.reason == "tenant_mismatch"

    def test_transition_error_carries_the_rule(self, engine: Engine) -> None:
        engine.apply(started("SILVER", "2026-03-02T09:00:00Z"))
        outcome = engine.apply(upgraded("BRONZE", "2026-04-02T09:00:00Z"))
        assert outcome.error is not None
        assert (outcome.error.reason, outcome.error.rule) == ("transition_error", "R-BILL-4")

    def test_a_fact_dated_before_the_opening_is_rejected(self, engine: Engine) -> None:
        engine.apply(opened("T-1", "2026-05-04T10:00:00Z"))
        outcome = engine.apply(fact("service_restored", "T-1", "2026-05-04T09:00:00Z"))
        assert outcome.error is not None
        assert (outcome.error.reason, outcome.error.rule) == ("transition_error", "R-SLA-2")
        assert "before its opening" in outcome.error.detail
        assert engine.ticket("T-1").state == "open"

    def test_downgrade_without_subscription(self, engine: Engine) -> None:
        event = ce(
            "subscription.tier_downgraded",
            "acme",
            "2026-04-02T09:00:00Z",
            {"tier": "STANDARD", "support_ticket": "T-9"},
        )
        outcome = engine.apply(event)
        assert outcome.error is not None
        assert (outcome.error.reason, outcome.error.rule) == ("transition_error", "R-BILL-4")
        assert engine.recorder.max_notification_id() in (None, 0)  # no implicit subscription


def pack(pack_id: str, time: str, hours: float = 2, tenant: str = "acme") -> InboundEvent:
    data = {"pack_id": pack_id, "hours": hours}
    return ce("expertise.pack_purchased", tenant, time, data, tenant=tenant)


def downgraded(tier: str, time: str, tenant: str = "acme") -> InboundEvent:
    data = {"tier": tier, "support_ticket": "CS-1"}
    return ce("subscription.tier_downgraded", tenant, time, data, tenant=tenant)


OPEN = opened("T-1", "2026-05-04T10:00:00Z", id="open-T-1")
RESTORE = fact("service_restored", "T-1", "2026-05-04T11:00:00Z")
RESOLVE = fact("resolved", "T-1", "2026-05-04T12:00:00Z")
CLOSE = fact("closed", "T-1", "2026-05-04T13:00:00Z")
START_SILVER = started("SILVER", "2026-03-02T09:00:00Z")


def platform(
    kind: str, subject: str, time: str, data: dict[str, Any] | None = None
) -> InboundEvent:
    """A platform fact: no tenant (R-PLAT-4)."""
    return parse_event(
        {
            "specversion": "1.0",
            "id": f"e-{next(_ids)}",
            "source": "ops",
            "type": f"platform.{kind}",
            "subject": subject,
            "time": time,
            "data": data or {},
        }
    )


WINDOW = {"starts_at": "2026-05-05T10:00:00Z", "ends_at": "2026-05-05T12:00:00Z"}
ANNOUNCE = platform(
    "maintenance_announced", "M-1", "2026-05-04T10:00:00Z", {**WINDOW, "scope": "services"}
)
OUTAGE = {"services": ["compute"], "severity": "outage"}
DECLARE = platform("incident_declared", "I-1", "2026-05-04T10:00:00Z", OUTAGE)
RESOLVE_INCIDENT = platform("incident_resolved", "I-1", "2026-05-04T11:00:00Z")

# One way to provoke each kind of rejection the engine gives: (reason, rule, facts before, the
# rejected fact). Every reason the engine can give appears at least once.
REJECTIONS: list[tuple[str, str, list[InboundEvent], InboundEvent]] = [
    (
        "unknown_platform_subject",
        "R-PLAT-1",
        [],
        platform("maintenance_cancelled", "M-404", "2026-05-04T10:00:00Z"),
    ),
    (
        "unknown_platform_subject",
        "R-PLAT-2",
        [],
        platform("incident_updated", "I-404", "2026-05-04T10:00:00Z", OUTAGE),
    ),
    (
        "transition_error",
        "R-PLAT-1",
        [ANNOUNCE],
        platform(
            "maintenance_announced", "M-1", "2026-05-04T11:00:00Z", {**WINDOW, "scope": "services"}
        ),
    ),
    (
        "transition_error",
        "R-PLAT-1",
        [ANNOUNCE],
        platform("maintenance_cancelled", "M-1", "2026-05-05T12:00:00Z"),  # at its end
    ),
    (
        "transition_error",
        "R-PLAT-2",
        [DECLARE],
        platform("incident_declared", "I-1", "2026-05-04T10:30:00Z", OUTAGE),
    ),
    (
        "transition_error",
        "R-PLAT-2",
        [DECLARE, RESOLVE_INCIDENT],
        platform("incident_updated", "I-1", "2026-05-04T12:00:00Z", OUTAGE),
    ),
    (
        "transition_error",
        "R-PLAT-2",
        [DECLARE],
        platform("incident_resolved", "I-1", "2026-05-04T09:00:00Z"),  # before its declaration
    ),
    (
        "transition_error",
        "R-PLAT-3",
        [
            OPEN,
            fact(
                "linked_to_incident",
                "T-1",
                "2026-05-04T10:10:00Z",
                data={"platform_incident": "I-9"},
            ),
        ],
        fact(
            "linked_to_incident", "T-1", "2026-05-04T10:20:00Z", data={"platform_incident": "I-9"}
        ),
    ),
    (
        "transition_error",
        "R-SLA-2",
        [OPEN],
        fact(
            "linked_to_incident", "T-1", "2026-05-04T09:00:00Z", data={"platform_incident": "I-9"}
        ),
    ),
    ("unknown_ticket", "R-SLA-2", [], fact("service_restored", "T-404", "2026-05-04T10:00:00Z")),
    ("already_opened", "R-SLA-7", [OPEN], opened("T-1", "2026-05-04T10:30:00Z")),
    (
        "tenant_mismatch",
        "R-ACC-3",
        [OPEN],
        fact("acknowledged", "T-1", "2026-05-04T10:30:00Z", tenant="globex"),
    ),
    ("already_started", "R-BILL-3", [START_SILVER], started("GOLD", "2026-03-05T09:00:00Z")),
    # The catalog's first edition is in force from 2025-01-01 (R-TIER-1).
    ("catalog_error", "R-TIER-1", [], opened("T-1", "2024-06-03T10:00:00Z")),
    ("transition_error", "R-SLA-2", [OPEN], fact("acknowledged", "T-1", "2026-05-04T09:00:00Z")),
    (
        "transition_error",
        "R-IN-3",
        [OPEN, fact("escalated", "T-1", "2026-05-04T10:10:00Z", data={"level": "L3"})],
        fact("escalated", "T-1", "2026-05-04T10:20:00Z", data={"level": "L2"}),
    ),
    (
        "transition_error",
        "R-IN-3",
        [OPEN],
        fact("priority_changed", "T-1", "2026-05-04T10:20:00Z", data={"priority": "P1"}),
    ),
    (
        "transition_error",
        "R-SLA-6",
        [OPEN, RESTORE],
        fact("service_restored", "T-1", "2026-05-04T11:30:00Z"),
    ),
    (
        "transition_error",
        "R-SLA-7",
        [OPEN, RESOLVE],
        fact("service_restored", "T-1", "2026-05-04T12:30:00Z"),
    ),
    (
        "transition_error",
        "R-IN-3",
        [OPEN, RESOLVE],
        fact("resolved", "T-1", "2026-05-04T12:30:00Z"),
    ),
    ("transition_error", "R-IN-3", [OPEN, CLOSE], fact("closed", "T-1", "2026-05-04T13:30:00Z")),
    ("transition_error", "R-SLA-7", [OPEN], fact("reopened", "T-1", "2026-05-04T10:30:00Z")),
    ("transition_error", "R-SLA-7", [OPEN, CLOSE], fact("reopened", "T-1", "2026-05-04T14:00:00Z")),
    (
        "transition_error",
        "R-SLA-7",
        [OPEN, RESTORE],
        fact("reopened", "T-1", "2026-05-04T10:30:00Z"),  # before the restoration it reopens
    ),
    (
        "transition_error",
        "R-SLA-7",
        [OPEN, CLOSE],
        fact("acknowledged", "T-1", "2026-05-04T13:30:00Z"),
    ),
    ("transition_error", "R-BILL-4", [START_SILVER], upgraded("BRONZE", "2026-04-02T09:00:00Z")),
    ("transition_error", "R-BILL-4", [START_SILVER], downgraded("GOLD", "2026-04-02T09:00:00Z")),
    ("transition_error", "R-BILL-4", [], downgraded("STANDARD", "2026-04-02T09:00:00Z")),
    (
        "transition_error",
        "R-BILL-4",
        [upgraded("SILVER", "2026-03-01T09:00:00Z")],  # implicit STANDARD, then SILVER
        started("BRONZE", "2026-03-02T09:00:00Z"),
    ),
    (
        "transition_error",
        "R-IN-3",
        [pack("PK-1", "2026-03-01T09:00:00Z")],
        pack("PK-1", "2026-03-02T09:00:00Z"),
    ),
    (
        "transition_error",
        "R-EXP-6",
        [],
        ce(
            "expertise.hours_consumed",
            "acme",
            "2026-03-01T09:00:00Z",
            {"hours": 0.0001},  # 0.006 min: rounds to no minute at all
        ),
    ),
]


class TestEveryRejectionNamesARuleRIn3:
    @pytest.mark.parametrize(
        ("reason", "rule", "before", "rejected"),
        REJECTIONS,
        ids=[f"{r[0]}-{r[1]}-{r[3].type}" for r in REJECTIONS],
    )
    def test_the_rejection_carries_its_reason_and_rule(
        self,
        engine: Engine,
        reason: str,
        rule: str,
        before: list[InboundEvent],
        rejected: InboundEvent,
    ) -> None:
        assert statuses(engine.apply_batch(before)) == ["accepted"] * len(before)
        stored = engine.recorder.max_notification_id()
        outcome = engine.apply(rejected)
        assert outcome.error is not None, outcome
        assert (outcome.status, outcome.error.reason, outcome.error.rule) == (
            "rejected",
            reason,
            rule,
        )
        assert re.fullmatch(r"R-[A-Z]+-\d+", outcome.error.rule or ""), outcome.error.rule
        assert outcome.error.detail
        assert engine.recorder.max_notification_id() == stored  # nothing stored

    def test_every_reason_the_engine_can_give_is_provoked_above(self) -> None:
        assert {reason for reason, *_ in REJECTIONS} == set(REJECTION_REASONS)
        assert set(REJECTION_REASONS) >= {
            "unknown_ticket",
            "already_opened",
            "already_started",
            "tenant_mismatch",
            "transition_error",
        }


class TestTierAtClockStartRSla4:
    """SILVER from March, upgraded to GOLD at 2026-05-04T12:00Z."""

    def subscription(self, engine: Engine) -> None:
        outcomes = engine.apply_batch(
            [started("SILVER", "2026-03-02T09:00:00Z"), upgraded("GOLD", "2026-05-04T12:00:00Z")]
        )
        assert statuses(outcomes) == ["accepted", "accepted"]

    def test_ticket_opened_before_the_upgrade_keeps_silver(self, engine: Engine) -> None:
        self.subscription(engine)
        # Ingested after the upgrade, but its time is before it: SILVER, 8 h.
        engine.apply(opened("T-1", "2026-05-04T11:00:00Z"))
        event = opened_event(engine, "T-1")
        assert (event.tier, event.clock_tier, event.gtr_minutes) == ("SILVER", "SILVER", 480)
        assert event.clock_started_at == utc("2026-05-04T11:00:00Z")  # deadline 19:00Z

    def test_ticket_opened_after_the_upgrade_gets_gold(self, engine: Engine) -> None:
        self.subscription(engine)
        engine.apply(opened("T-2", "2026-05-04T12:00:00Z"))  # at the upgrade instant
        event = opened_event(engine, "T-2")
        assert (event.tier, event.clock_tier, event.gtr_minutes) == ("GOLD", "GOLD", 240)

    def test_upgrade_after_opening_does_not_move_the_deadline(self, engine: Engine) -> None:
        engine.apply(started("SILVER", "2026-03-02T09:00:00Z"))
        engine.apply(opened("T-1", "2026-05-04T11:00:00Z"))
        engine.apply(upgraded("GOLD", "2026-05-04T12:00:00Z"))
        assert opened_event(engine, "T-1").gtr_minutes == 480
        # A later raise to P1 on another ticket uses the tier at the change: GOLD.
        engine.apply(opened("T-3", "2026-05-04T11:30:00Z", priority="P3"))
        engine.apply(
            fact("priority_changed", "T-3", "2026-05-04T12:30:00Z", data={"priority": "P1"})
        )
        change = events_of(engine, "T-3")[-1]
        assert (change.clock_effect, change.clock_tier, change.gtr_minutes) == (
            "started",
            "GOLD",
            240,
        )

    def test_reopen_uses_the_tier_at_reopening(self, engine: Engine) -> None:
        engine.apply(started("SILVER", "2026-03-02T09:00:00Z"))
        engine.apply(opened("T-1", "2026-05-04T10:00:00Z"))
        engine.apply(fact("service_restored", "T-1", "2026-05-04T11:00:00Z"))
        engine.apply(upgraded("GOLD", "2026-05-04T12:00:00Z"))
        engine.apply(fact("reopened", "T-1", "2026-05-04T13:00:00Z"))
        reopened = events_of(engine, "T-1")[-1]
        assert (reopened.cycle, reopened.clock_tier, reopened.gtr_minutes) == (2, "GOLD", 240)

    def test_subscription_and_ticket_in_one_batch(self, engine: Engine) -> None:
        # The subscription created earlier in the same batch is seen by the opening.
        engine.apply_batch(
            [started("GOLD", "2026-03-02T09:00:00Z"), opened("T-1", "2026-05-04T10:00:00Z")]
        )
        assert opened_event(engine, "T-1").gtr_minutes == 240


class TestDefaultStandardRTier2:
    def test_tenant_without_subscription_has_no_gtr(self, engine: Engine) -> None:
        engine.apply(opened("T-1", "2026-05-04T10:00:00Z", tenant="newco"))
        event = opened_event(engine, "T-1")
        assert event.tier == "STANDARD"
        assert event.clock_started_at is None
        assert event.no_clock_rule == "R-SLA-1"
        # Opening a ticket does not create a subscription.
        assert engine.recorder.select_events(subscription_id("newco")) == []

    def test_ticket_opened_before_the_subscription_started(self, engine: Engine) -> None:
        engine.apply(started("GOLD", "2026-05-04T12:00:00Z"))
        engine.apply(opened("T-1", "2026-05-04T11:59:59Z"))
        assert opened_event(engine, "T-1").tier == "STANDARD"

    def test_pack_purchase_creates_an_implicit_standard_subscription(self, engine: Engine) -> None:
        outcome = engine.apply(
            ce(
                "expertise.pack_purchased",
                "newco",
                "2026-03-03T10:00:00+01:00",
                {"pack_id": "PK-1", "hours": 1.5},
                tenant="newco",
            )
        )
        assert outcome.status == "accepted"
        sub = engine.subscription("newco")
        assert isinstance(sub, Subscription)
        assert sub.implicit is True
        assert sub.tier_at(utc("2026-03-03T09:00:00Z")).value == "STANDARD"
        assert sub.packs[0][0] == "PK-1"
        assert sub.packs[0][2] == 90  # 1.5 h = 90 min (R-EXP-6)
        names = [type(e).__name__ for e in engine.repository.event_store.get(sub.id)]
        assert names == ["Started", "PackPurchased"]
        # The explicit start that follows is applied: GOLD from then on (R-BILL-1, R-BILL-3).
        later = engine.apply(started("GOLD", "2026-03-04T10:00:00Z", tenant="newco"))
        assert later.status == "accepted"
        sub = engine.subscription("newco")
        assert sub.implicit is False
        assert sub.tier_at(utc("2026-03-04T10:00:00Z")).value == "GOLD"
        # A second explicit start is refused: change the tier instead.
        refused = engine.apply(started("SILVER", "2026-03-05T10:00:00Z", tenant="newco"))
        assert refused.error is not None
        assert refused.error.reason == "already_started"

    def test_implicit_subscription_can_be_upgraded(self, engine: Engine) -> None:
        engine.apply(upgraded("BRONZE", "2026-03-03T10:00:00Z", tenant="newco"))
        sub = engine.subscription("newco")
        assert sub.implicit is True
        assert sub.tier_at(utc("2026-03-03T10:00:00Z")).value == "BRONZE"
        assert [type(e).__name__ for e in engine.repository.event_store.get(sub.id)] == [
            "Started",
            "TierUpgraded",
        ]


class TestState:
    def test_ticket_aggregate_is_found_by_its_upstream_id(self, engine: Engine) -> None:
        engine.apply(opened("T-1", "2026-05-04T10:00:00Z"))
        assert isinstance(engine.ticket("T-1"), Ticket)
        assert engine.ticket("T-1").id == ticket_id("T-1")


def two_writers(first: Engine, second: Engine) -> None:
    """The second engine acknowledges: the first one's cached ticket is then stale, and its
    next batch is decided again from the store."""
    try:
        assert first.apply(opened("T-2W", "2026-05-04T08:00:00Z")).status == "accepted"
        ack = second.apply(fact("acknowledged", "T-2W", "2026-05-04T08:05:00Z"))
        assert ack.status == "accepted"
        restored = first.apply(fact("service_restored", "T-2W", "2026-05-04T09:00:00Z"))
        assert restored.status == "accepted"
        names = [type(e).__name__ for e in events_of(first, "T-2W")]
        assert names == ["Opened", "Acknowledged", "ServiceRestored"]
    finally:
        first.close()
        second.close()


class TestTwoWriters:
    def test_a_stale_cache_is_dropped_and_the_batch_decided_again(self, db: Path) -> None:
        two_writers(open_engine(db), open_engine(db))


@pytest.mark.postgres
class TestPostgresEventStore:
    """The PostgreSQL recorder (``ticketflow.adapters.pg_eventstore``) behind the same engine."""

    @staticmethod
    def open(dsn: str) -> Engine:
        from ticketflow.adapters.eventstore import eventstore_env
        from ticketflow.adapters.pg_eventstore import PostgresRecorder
        from ticketflow.settings import Settings

        env = {"TICKETFLOW_STORE": "postgres", "TICKETFLOW_PG_DSN": dsn}
        app = Engine(env=eventstore_env(Settings.from_env(env=env, data_dir=Path("."))))
        assert isinstance(app.recorder, PostgresRecorder)
        return app

    def test_a_batch_and_its_tracking_are_stored_together_in_order(
        self, pg_database_factory: Callable[[], str]
    ) -> None:
        from eventsourcing.persistence import Tracking

        app = self.open(pg_database_factory())
        try:
            batch = [
                started("GOLD", "2026-05-01T08:00:00Z"),
                opened("T-1", "2026-05-04T10:00:00Z"),
                fact("escalated", "T-1", "2026-05-04T10:10:00Z", data={"level": "L2"}),
            ]
            decision = app.decide(batch)
            app.commit(decision, Tracking("ticketflow.inbound:0", 3))
            assert app.process_recorder.max_tracking_id("ticketflow.inbound:0") == 3
            notifications = app.recorder.select_notifications(1, 10)
            assert [n.id for n in notifications] == [1, 2, 3]
            assert [n.topic.rsplit(":", 1)[1] for n in notifications] == [
                "Subscription.Started",
                "Ticket.Opened",
                "Ticket.Escalated",
            ]
            assert [n.originator_version for n in notifications] == [1, 1, 2]
            assert app.ticket("T-1").level == "L2"
        finally:
            app.close()

    def test_a_stale_writer_gets_a_conflict_and_decides_again(
        self, pg_database_factory: Callable[[], str]
    ) -> None:
        dsn = pg_database_factory()
        two_writers(self.open(dsn), self.open(dsn))


class TestAggregatesInMemory:
    def test_a_closed_ticket_leaves_memory_and_is_read_back_when_a_fact_comes(
        self, engine: Engine
    ) -> None:
        close = fact("closed", "T-1", "2026-05-04T12:00:00Z", id="c-1")
        batch = [opened("T-1", "2026-05-04T10:00:00Z"), opened("T-2", "2026-05-04T10:01:00Z")]
        assert statuses(engine.apply_batch([*batch, close])) == ["accepted"] * 3
        cached = engine.repository.cache
        assert cached is not None
        assert ticket_id("T-1") not in cached.cache  # closed: final
        assert ticket_id("T-2") in cached.cache  # open: in use
        assert subscription_id("acme") not in cached.cache  # never started
        later = [
            close,  # the same fact again
            fact("reopened", "T-1", "2026-05-04T13:00:00Z"),
            fact(
                "linked_to_incident",
                "T-1",
                "2026-05-04T13:00:00Z",
                data={"platform_incident": "I-1"},
            ),
        ]
        outcomes = engine.apply_batch(later)
        assert statuses(outcomes) == ["duplicate", "rejected:transition_error", "accepted"]
        assert ticket_id("T-1") not in cached.cache
        assert engine.ticket("T-1").incidents == {"I-1": None}

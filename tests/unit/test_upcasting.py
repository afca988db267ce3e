"""Stored events of older shapes still load: Ticket.Opened v1 had no ``edition`` (R-TIER-1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from ticketflow.contract import parse_event
from ticketflow.domain.ids import ticket_id
from ticketflow.domain.ticket import Ticket
from ticketflow.service.engine import Engine

OPENED_TOPIC = "ticketflow.domain.ticket:Ticket.Opened"
OPENED_AT = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine() -> Iterator[Engine]:
    app = Engine(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"})
    yield app
    app.close()


def v1_opened_state(*, ticket: str, with_clock: bool) -> dict[str, Any]:
    """The attributes of a v1 Opened event as written then: no ``edition``."""
    return {
        "timestamp": datetime(2025, 6, 2, 8, 0, 1, tzinfo=UTC),
        "originator_topic": "ticketflow.domain.ticket:Ticket",
        "ticket": ticket,
        "tenant": "acme",
        "at": OPENED_AT,
        "inbound": f"portal open-{ticket}",
        "priority": "P1" if with_clock else "P3",
        "channel": "portal",
        "language": "fr",
        "category": "compute",
        "beta_feature": False,
        "summary": None,
        "tier": "GOLD",
        "in_planned_window": False,
        "clock_started_at": OPENED_AT if with_clock else None,
        "clock_tier": "GOLD" if with_clock else None,
        "gtr_minutes": 240 if with_clock else None,
        "no_clock_rule": None if with_clock else "R-SLA-1",
        "no_clock_detail": None if with_clock else "priority P3 carries no GTR",
    }


def write_v1(engine: Engine, *, ticket: str, with_clock: bool) -> UUID:
    state = v1_opened_state(ticket=ticket, with_clock=with_clock)
    assert "edition" not in state
    assert "class_version" not in state  # the mapper writes class_version only when > 1
    aggregate_id = ticket_id(ticket)
    stored = StoredEvent(
        originator_id=aggregate_id,
        originator_version=1,
        topic=OPENED_TOPIC,
        state=engine.mapper.transcoder.encode(state),
    )
    engine.recorder.insert_events([stored])
    return aggregate_id


def first_event(engine: Engine, aggregate_id: UUID) -> Any:
    return next(iter(engine.repository.event_store.get(aggregate_id)))


class TestOpenedV1:
    def test_the_topic_is_still_the_class(self) -> None:
        assert f"{Ticket.Opened.__module__}:{Ticket.Opened.__qualname__}" == OPENED_TOPIC
        assert Ticket.Opened.class_version == 2

    def test_v1_with_a_clock_loads_with_the_first_edition(self, engine: Engine) -> None:
        aggregate_id = write_v1(engine, ticket="T-OLD", with_clock=True)
        ticket: Any = engine.repository.get(aggregate_id)
        assert isinstance(ticket, Ticket)
        assert (ticket.ticket, ticket.tenant, ticket.state, ticket.priority) == (
            "T-OLD",
            "acme",
            "open",
            "P1",
        )
        assert ticket.clock_running is True
        assert ticket.has_applied("portal open-T-OLD")
        opened = first_event(engine, aggregate_id)
        assert isinstance(opened, Ticket.Opened)
        assert opened.edition == "2025-01"
        assert (opened.clock_started_at, opened.gtr_minutes) == (OPENED_AT, 240)

    def test_v1_without_a_clock_has_no_edition(self, engine: Engine) -> None:
        aggregate_id = write_v1(engine, ticket="T-OLD-P3", with_clock=False)
        opened = first_event(engine, aggregate_id)
        assert opened.edition is None
        assert opened.no_clock_rule == "R-SLA-1"
        assert engine.repository.get(aggregate_id).clock_running is False

    def test_stored_state_is_left_as_written(self, engine: Engine) -> None:
        aggregate_id = write_v1(engine, ticket="T-OLD", with_clock=True)
        (stored,) = engine.recorder.select_events(aggregate_id)
        decoded = engine.mapper.transcoder.decode(stored.state)
        assert "edition" not in decoded
        assert "class_version" not in decoded

    def test_new_facts_apply_on_top_of_a_v1_ticket(self, engine: Engine) -> None:
        aggregate_id = write_v1(engine, ticket="T-OLD", with_clock=True)
        restored = parse_event(
            {
                "specversion": "1.0",
                "id": "restore-1",
                "source": "support-tooling",
                "type": "ticket.service_restored",
                "subject": "T-OLD",
                "time": "2025-06-02T11:00:00Z",
                "tenant": "acme",
                "data": {},
            }
        )
        outcome = engine.apply(restored)
        assert (outcome.status, outcome.error) == ("accepted", None)
        ticket: Any = engine.repository.get(aggregate_id)
        assert (ticket.version, ticket.state) == (2, "restored")
        events: list[Any] = list(engine.repository.event_store.get(aggregate_id))
        assert [type(e).__name__ for e in events] == ["Opened", "ServiceRestored"]
        assert events[1].stopped_clock is True
        # A duplicate of the v1 opening is still recognised (R-IN-1).
        assert ticket.has_applied("portal open-T-OLD")

    def test_current_events_are_written_as_v2(self, engine: Engine) -> None:
        outcome = engine.apply(
            parse_event(
                {
                    "specversion": "1.0",
                    "id": "open-new",
                    "source": "portal",
                    "type": "ticket.opened",
                    "subject": "T-NEW",
                    "time": "2026-05-04T10:00:00Z",
                    "tenant": "acme",
                    "data": {
                        "priority": "P1",
                        "channel": "portal",
                        "language": "fr",
                        "category": "compute",
                    },
                }
            )
        )
        assert outcome.status == "accepted"
        (stored,) = engine.recorder.select_events(ticket_id("T-NEW"))
        decoded = engine.mapper.transcoder.decode(stored.state)
        assert decoded["class_version"] == 2
        assert "edition" in decoded


class TestServiceRestoredV1:
    """v1 stop events had no ``deadline``; the SLA read model then looks it up."""

    def test_a_v1_restoration_loads_and_projects_like_a_v2_one(self, tmp_path: Any) -> None:
        from tests.factories import system_factory
        from ticketflow.service import queries

        system = system_factory(tmp_path)
        try:
            aggregate_id = write_v1(system.engine, ticket="T-OLD", with_clock=True)
            restored = {
                "timestamp": datetime(2025, 6, 2, 13, 0, 1, tzinfo=UTC),
                "at": datetime(2025, 6, 2, 12, 30, tzinfo=UTC),
                "inbound": "portal restore-T-OLD",
                "cycle": 1,
                "stopped_clock": True,
            }
            system.engine.recorder.insert_events(
                [
                    StoredEvent(
                        originator_id=aggregate_id,
                        originator_version=2,
                        topic="ticketflow.domain.ticket:Ticket.ServiceRestored",
                        state=system.engine.mapper.transcoder.encode(restored),
                    )
                ]
            )
            second = list(system.engine.repository.event_store.get(aggregate_id))[1]
            assert second.deadline is None  # upcast v1 → v2
            system.project()
            # GOLD from 08:00Z: deadline 12:00Z, restored 12:30Z → breached by 30 minutes.
            row = queries.sla(system.readmodels, tenant="acme")[0]
            assert (row["status"], row["deadline"], row["breach_minutes"]) == (
                "breached",
                "2025-06-02T12:00:00Z",
                30,
            )
        finally:
            system.close()


SUBSCRIPTION_TOPIC = "ticketflow.domain.subscription:Subscription"


def v1_subscription_events(tenant: str) -> list[tuple[str, dict[str, Any]]]:
    """A tenant's tier changes as written before they carried their rules (R-BILL-5): first
    seen implicitly (a pack), then started, upgraded and downgraded."""

    def at(day: int) -> datetime:
        return datetime(2025, 3, day, 9, 0, tzinfo=UTC)

    def change(day: int, from_tier: str, tier: str) -> dict[str, Any]:
        return {
            "timestamp": at(day),
            "at": at(day),
            "inbound": f"portal {tenant}-{day}",
            "from_tier": from_tier,
            "tier": tier,
            "billing_effective_at": datetime(2025, 3, 31, 22, 0, tzinfo=UTC),
        }

    started = {
        "timestamp": at(1),
        "originator_topic": SUBSCRIPTION_TOPIC,
        "tenant": tenant,
        "at": at(1),
        "inbound": f"portal {tenant}-1",
        "tier": "STANDARD",
        "implicit": True,
        "billing_effective_at": datetime(2025, 3, 31, 22, 0, tzinfo=UTC),
    }
    return [
        ("Started", started),
        ("Subscribed", change(2, "STANDARD", "SILVER")),
        ("TierUpgraded", change(3, "SILVER", "GOLD")),
        ("TierDowngraded", {**change(4, "GOLD", "BRONZE"), "support_ticket": "CS-1"}),
    ]


def write_v1_subscription(engine: Engine, tenant: str) -> UUID:
    from ticketflow.domain.ids import subscription_id

    aggregate_id = subscription_id(tenant)
    stored = []
    for version, (name, state) in enumerate(v1_subscription_events(tenant), start=1):
        assert "billing_rule" not in state
        stored.append(
            StoredEvent(
                originator_id=aggregate_id,
                originator_version=version,
                topic=f"{SUBSCRIPTION_TOPIC}.{name}",
                state=engine.mapper.transcoder.encode(state),
            )
        )
    engine.recorder.insert_events(stored)
    return aggregate_id


class TestTierChangesV1:
    """v1 tier changes had no recorded rules; they load with the rules of their kind."""

    EXPECTED: ClassVar[list[tuple[str, str, str]]] = [
        ("Started", "R-TIER-2", "R-BILL-3"),  # implicit STANDARD
        ("Subscribed", "R-BILL-3", "R-BILL-3"),
        ("TierUpgraded", "R-BILL-1", "R-BILL-2"),
        ("TierDowngraded", "R-BILL-4", "R-BILL-2"),
    ]

    def test_v1_changes_load_with_the_rules_of_their_kind(self, engine: Engine) -> None:
        aggregate_id = write_v1_subscription(engine, "acme")
        events: list[Any] = list(engine.repository.event_store.get(aggregate_id))
        assert [(type(e).__name__, e.service_rule, e.billing_rule) for e in events] == (
            self.EXPECTED
        )
        assert str(engine.subscription("acme").tier_at(datetime(2025, 3, 5, tzinfo=UTC))) == (
            "BRONZE"
        )

    def test_an_explicit_v1_start_is_a_start(self, engine: Engine) -> None:
        from ticketflow.domain.ids import subscription_id

        name, state = v1_subscription_events("acme")[0]
        engine.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=subscription_id("acme"),
                    originator_version=1,
                    topic=f"{SUBSCRIPTION_TOPIC}.{name}",
                    state=engine.mapper.transcoder.encode({**state, "implicit": False}),
                )
            ]
        )
        (event,) = engine.repository.event_store.get(subscription_id("acme"))
        assert (event.service_rule, event.billing_rule) == ("R-BILL-3", "R-BILL-3")

    def test_the_read_model_copies_the_upcast_rules(self, tmp_path: Any) -> None:
        from tests.factories import system_factory
        from ticketflow.service import queries

        system = system_factory(tmp_path)
        try:
            write_v1_subscription(system.engine, "acme")
            system.project()
            changes = queries.billing(system.readmodels, tenant="acme")["changes"]
            assert [(c["kind"], c["rule"]) for c in changes] == [
                ("default", "R-BILL-3"),
                ("started", "R-BILL-3"),
                ("upgrade", "R-BILL-2"),
                ("downgrade", "R-BILL-2"),
            ]
            with system.readmodels.transaction() as c:
                c.execute("SELECT service_rule FROM billing_changes ORDER BY seq")
                assert [r[0] for r in c.fetchall()] == [r for _, r, _ in self.EXPECTED]
        finally:
            system.close()

    def test_current_changes_are_written_as_v2_with_their_rules(self, engine: Engine) -> None:
        from ticketflow.domain.ids import subscription_id

        for type_, data in (
            ("subscription.started", {"tier": "SILVER"}),
            ("subscription.tier_upgraded", {"tier": "GOLD"}),
        ):
            outcome = engine.apply(
                parse_event(
                    {
                        "specversion": "1.0",
                        "id": type_,
                        "source": "portal",
                        "type": type_,
                        "subject": "acme",
                        "time": "2026-05-04T10:00:00Z",
                        "tenant": "acme",
                        "data": data,
                    }
                )
            )
            assert outcome.status == "accepted"
        stored = engine.recorder.select_events(subscription_id("acme"))
        decoded = [engine.mapper.transcoder.decode(s.state) for s in stored]
        assert [(d["class_version"], d["service_rule"], d["billing_rule"]) for d in decoded] == [
            (2, "R-BILL-3", "R-BILL-3"),
            (2, "R-BILL-1", "R-BILL-2"),
        ]

"""Events triggered by the commands (``events.trigger``) are the events, and make the states,
that eventsourcing's ``@event`` methods give when called."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from ticketflow.domain.catalog import Tier
from ticketflow.domain.ids import ticket_id
from ticketflow.domain.subscription import Subscription
from ticketflow.domain.ticket import Ticket

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
CLOCKS = ("timestamp", "_created_on", "_modified_on")


def fields(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(obj).items() if k not in CLOCKS and k != "_pending_events"}


def events(aggregate: Aggregate) -> list[tuple[type, list[tuple[str, Any]]]]:
    return [(type(e), list(fields(e).items())) for e in aggregate.collect_events()]


def test_a_ticket_opened_and_moved_by_commands_as_by_the_decorated_methods() -> None:
    ticket = Ticket.open(
        ticket="T-1",
        tenant="acme",
        at=AT,
        inbound="src 1",
        priority="P1",
        channel="portal",
        language="fr",
        category="compute",
        beta_feature=False,
        summary=None,
        tier=Tier.GOLD,
    )
    ticket.acknowledge(at=AT + timedelta(minutes=5), inbound="src 2")
    ticket.escalate(at=AT + timedelta(minutes=6), inbound="src 3", level="L2")
    ticket.restore_service(at=AT + timedelta(hours=1), inbound="src 4")
    ticket.resolve(at=AT + timedelta(hours=2), inbound="src 5")
    assert ticket.id == ticket_id("T-1")
    assert ticket.version == 5
    assert ticket.modified_on == ticket.pending_events[-1].timestamp
    triggered = events(ticket)

    opened = triggered[0][1]
    same = Ticket(**dict(opened[3:]))  # the created event's fields, after id, version, topic
    same._acknowledged(at=AT + timedelta(minutes=5), inbound="src 2")  # type: ignore[attr-defined]
    same._escalated(at=AT + timedelta(minutes=6), inbound="src 3", level="L2")  # type: ignore[attr-defined]
    stop = {"cycle": 1, "stopped_clock": True, "deadline": ticket.deadline}
    same._service_restored(at=AT + timedelta(hours=1), inbound="src 4", **stop)  # type: ignore[attr-defined]
    stop = {"cycle": 1, "stopped_clock": False, "deadline": None}
    same._resolved(at=AT + timedelta(hours=2), inbound="src 5", **stop)  # type: ignore[attr-defined]
    assert events(same) == triggered
    assert fields(same) == fields(ticket)


def test_hours_consumed_by_command_as_by_the_decorated_method() -> None:
    subscription = Subscription.start(tenant="acme", at=AT, inbound="src 1", tier=Tier.GOLD)
    subscription.purchase_pack(at=AT, inbound="src 2", pack_id="p1", minutes=120)
    subscription.consume(
        at=AT + timedelta(days=1),
        inbound="src 3",
        minutes=30,
        ticket=None,
        expert="e",
        activity="advice",
    )
    triggered = events(subscription)
    same = Subscription(**dict(triggered[0][1][3:]))
    same._pack_purchased(at=AT, inbound="src 2", pack_id="p1", minutes=120)  # type: ignore[attr-defined]
    same._hours_consumed(**dict(triggered[2][1][2:]))  # type: ignore[attr-defined]
    assert events(same) == triggered
    assert fields(same) == fields(subscription)

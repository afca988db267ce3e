"""Property: receipts tell the truth. For generated ticket histories (the histories of the SLA
agreement property), every ticket's receipt (``explain ticket``) at several instants:

- shows ``query sla``'s figures, and names as the status's rule the rule that decided it: the
  ``no_clock_rule`` the aggregate recorded (or R-SLA-3 for a clock cancelled by a lowering) when
  ``not_applicable``, R-SLA-10 otherwise;
- lists one R-SLA-4 / R-SLA-5 pair per clock the event store says was started by then, with the
  tier, GTR and edition recorded and the deadline they give, and one R-SLA-3 per cancellation;
- cites each fact at a position where the event store holds that very event (aggregate,
  version, event class), with the digest the audit chain, recomputed here from the stored
  bytes, has at that position.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.factories import system_factory
from tests.integration.test_sla_agreement import History, apply, histories
from ticketflow.domain.ids import ticket_id
from ticketflow.domain.instants import rfc3339
from ticketflow.domain.sla import deadline_at
from ticketflow.service import queries
from ticketflow.service.audit import GENESIS, link, notifications
from ticketflow.service.explain import explain_ticket

DECISIONS = ("Opened", "PriorityChanged", "Reopened")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(histories())
def test_receipts_cite_the_rules_and_facts_that_decided(history: History) -> None:
    with tempfile.TemporaryDirectory() as directory:
        system = system_factory(Path(directory))
        try:
            apply(system, history.facts)
            chain, stored = {}, {}
            digest = GENESIS
            for n in notifications(system.engine.recorder):
                digest = chain[n.id] = link(digest, n)
                stored[n.id] = n
            tickets = {row["ticket"] for row in queries.sla(system.readmodels)}
            for ticket in sorted(tickets):
                events = list(system.engine.events.get(ticket_id(ticket)))
                for as_of in history.as_of[-2:]:
                    if not queries.sla(system.readmodels, as_of=as_of, ticket=ticket):
                        continue  # not opened yet
                    receipt = explain_ticket(system.engine, system.readmodels, ticket, as_of)
                    check_rules(receipt, events, as_of)
                    check_facts(receipt, chain, stored)
        finally:
            system.close()


def check_rules(receipt: dict[str, Any], events: list[Any], as_of: Any) -> None:
    figures, rules = receipt["figures"], receipt["rules"]
    decided = [e for e in events if type(e).__name__ in DECISIONS and e.at <= as_of]
    status_rule = next(r for r in rules if r["decision"].startswith("status as of"))
    if figures["status"] == "not_applicable":
        recorded = {e.no_clock_rule for e in decided if e.no_clock_rule}
        if any(getattr(e, "clock_effect", None) == "cancelled" for e in decided):
            recorded.add("R-SLA-3")
        # R-PLAT-1 is decided by the read model (R-PLAT-4): a started clock, and the receipt
        # cites the announcement of the maintenance that exempts it
        if any(e.clock_started_at is not None for e in decided) and any(
            fact.get("aggregate") == "Maintenance" for fact in receipt["facts"]
        ):
            recorded.add("R-PLAT-1")
        assert figures["reason"] in recorded, (figures, recorded)
        assert status_rule["rule"] == figures["reason"]
    else:
        assert status_rule["rule"] == "R-SLA-10"
    # an exempted cycle (R-PLAT-1) shows no clock: its receipt ends at the exemption
    exempted = {
        r["cycle"]
        for r in rules
        if r["rule"] == "R-PLAT-1" and r["decision"].startswith("control-plane ticket opened")
    }
    decided = [e for e in decided if getattr(e, "cycle", 1) not in exempted]
    starts = [e for e in decided if e.clock_started_at is not None and e.clock_started_at <= as_of]
    fixed = [r["values"] for r in rules if r["rule"] == "R-SLA-4"]
    deadlines = [r["values"] for r in rules if r["rule"] == "R-SLA-5"]
    assert len(fixed) == len(deadlines) == len(starts), (fixed, starts)
    for event, values, deadline in zip(starts, fixed, deadlines, strict=True):
        assert values == (
            f"tier {event.clock_tier}, GTR {event.gtr_minutes} min, catalog edition {event.edition}"
        )
        assert (
            deadline
            == f"deadline {rfc3339(deadline_at(event.clock_started_at, event.gtr_minutes))}"
        )
    cancelled = [e for e in decided if getattr(e, "clock_effect", None) == "cancelled"]
    in_cycles = [r for r in rules if r["rule"] == "R-SLA-3" and r["cycle"] is not None]
    assert len(in_cycles) == len(cancelled)


def check_facts(receipt: dict[str, Any], chain: dict[int, str], stored: dict[int, Any]) -> None:
    assert receipt["facts"]
    for fact in receipt["facts"]:
        n = stored[fact["position"]]
        assert fact["digest"] == chain[fact["position"]]
        assert n.originator_version == fact["version"]
        assert n.topic.endswith(f"{fact['aggregate']}.{fact['event']}")

"""What if a proposed catalog edition had been in force (``ticketflow whatif``, R-TIER-1).

The GTR of a clock and the funding of each consumption are decided when the fact is applied,
from the edition in force then, and recorded in the event (R-SLA-4, R-EXP-1). So a proposed
edition is tried by deciding history again: each recorded ticket and subscription event is
turned back into the upstream fact it records (its ``(source, id)``, business time and data),
and the facts are applied in log order by a scratch engine whose catalog holds the proposal;
events of other aggregates (no catalog decision) are copied as recorded. Every read model is
then built from the scratch log and compared with the live ones, query by query: the live
store and read models are only read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import StoredEvent

from projections.base import Projection
from projections.storage import ReadModelStorage
from projections.worker import catch_up
from ticketflow.contract import DATA_MODELS, InboundEvent, LinkedToIncidentData
from ticketflow.contract_events import TYPES, Outbound, Published
from ticketflow.domain.calendar import Month
from ticketflow.domain.catalog import Catalog, Edition, Tier, parse_edition
from ticketflow.domain.errors import CatalogError
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.errors import QueryError
from ticketflow.service import queries
from ticketflow.service.diff import compare
from ticketflow.service.engine import Engine

BATCH = 500

# Published type → (inbound type, the data fields of the upstream fact). Each ticket and
# subscription event records its fact whole; ``subscription.started`` of an implicit STANDARD
# subscription (R-TIER-2) records none of its own (the fact that created it follows).
_REDECIDED: dict[str, tuple[str, tuple[str, ...]]] = {
    "ticketflow.ticket.opened.v1": (
        "ticket.opened",
        ("priority", "channel", "language", "category", "beta_feature", "summary"),
    ),
    "ticketflow.ticket.acknowledged.v1": ("ticket.acknowledged", ()),
    "ticketflow.ticket.escalated.v1": ("ticket.escalated", ("level",)),
    "ticketflow.ticket.priority_changed.v1": ("ticket.priority_changed", ("priority",)),
    "ticketflow.ticket.service_restored.v1": ("ticket.service_restored", ()),
    "ticketflow.ticket.resolved.v1": ("ticket.resolved", ()),
    "ticketflow.ticket.closed.v1": ("ticket.closed", ()),
    "ticketflow.ticket.reopened.v1": ("ticket.reopened", ()),
    "ticketflow.ticket.linked_to_incident.v1": (
        "ticket.linked_to_incident",
        ("platform_incident",),
    ),
    "ticketflow.subscription.started.v1": ("subscription.started", ("tier",)),
    "ticketflow.subscription.subscribed.v1": ("subscription.started", ("tier",)),
    "ticketflow.subscription.tier_upgraded.v1": ("subscription.tier_upgraded", ("tier",)),
    "ticketflow.subscription.tier_downgraded.v1": (
        "subscription.tier_downgraded",
        ("tier", "support_ticket"),
    ),
    "ticketflow.expertise.pack_purchased.v1": ("expertise.pack_purchased", ("pack_id", "hours")),
    "ticketflow.expertise.hours_consumed.v1": (
        "expertise.hours_consumed",
        ("hours", "ticket", "expert", "activity"),
    ),
}
# The aggregates whose decisions read the catalog: each of their events must be redecided.
DECIDING = ("Ticket.", "Subscription.")


def redecided_types() -> frozenset[str]:
    """The published types ``whatif`` turns back into upstream facts."""
    return frozenset(_REDECIDED)


class WhatIfError(QueryError):
    """A what-if that cannot be run as asked (an event it cannot decide again, a window)."""


def read_edition(raw: Any, where: str = "the proposed edition") -> Edition:
    """The proposed edition (a JSON value already parsed), or a refusal naming ``where`` and
    what is wrong (R-TIER-1)."""
    try:
        return parse_edition(raw)
    except CatalogError as exc:
        raise WhatIfError(f"{where}: {exc} (R-TIER-1)") from None


def proposed_catalog(catalog: Catalog, edition: Edition, where: str) -> Catalog:
    """``catalog`` with ``edition`` added, or a refusal naming ``where`` (R-TIER-1)."""
    try:
        return catalog.with_edition(edition)
    except CatalogError as exc:
        raise WhatIfError(f"{where}: {exc} (R-TIER-1)") from None


def inbound_of(record: Published) -> InboundEvent | None:
    """The upstream fact a published ticket or subscription event records, or None for the
    implicit start of a subscription (R-TIER-2), which the engine makes again by itself."""
    found = _REDECIDED.get(record.type)
    if found is None:
        raise WhatIfError(f"whatif cannot decide {record.type} events again")
    if record.type == "ticketflow.subscription.started.v1" and record.data["implicit"]:
        return None
    kind, names = found
    values = {name: record.data[name] for name in names if name != "hours"}
    if "hours" in names:
        values["hours"] = Decimal(record.data["minutes"]) / 60
    if "tier" in values:
        values["tier"] = Tier(values["tier"])
    source, _, event_id = record.data["inbound"].partition(" ")
    data = DATA_MODELS[kind].model_construct(**values)
    time = parse_rfc3339(record.time)
    assert time is not None
    if record.tenant is None:
        raise WhatIfError(f"{record.type} of {record.subject} carries no tenant")
    return InboundEvent(event_id, source, kind, record.subject, record.tenant, time, data)


def _linked_at_opening(opened: InboundEvent, link: InboundEvent) -> InboundEvent:
    """One ``ticket.opened`` fact naming its incident records two events, the opening and the
    link (R-PLAT-3): decided again, they are that one fact again (its ``(source, id)`` once)."""
    assert isinstance(link.data, LinkedToIncidentData)
    incident = link.data.platform_incident
    data = opened.data.model_copy(update={"platform_incident": incident})
    return replace(opened, data=data)


@dataclass
class Replayed:
    """What deciding history again gave: facts applied, refused, events copied as recorded."""

    facts: int = 0
    copied: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)


def replay(
    recorder: Any,
    mapper: Any,
    scratch: Engine,
    *,
    upto: int,
    progress: Callable[[int, int], None] | None = None,
) -> Replayed:
    """Decide the live log's facts up to position ``upto`` again with ``scratch`` (whose
    catalog is the proposal); the live log is only read."""
    outbound = Outbound(recorder, mapper, "ticketflow/whatif")
    done = Replayed()
    pending: list[InboundEvent] = []

    def flush() -> None:
        for event, outcome in zip(pending, scratch.apply_batch(pending), strict=True):
            if outcome.status == "accepted":
                done.facts += 1
            else:
                error = outcome.error
                done.refused.append(
                    {
                        "inbound": event.key,
                        "type": event.type,
                        "outcome": outcome.status,
                        "reason": error.reason if error else None,
                        "rule": error.rule if error else None,
                    }
                )
        pending.clear()

    for notification in _notifications(recorder, upto):
        qualname = notification.topic.rsplit(":", 1)[-1]
        if qualname.startswith(DECIDING) or qualname not in TYPES:
            event = inbound_of(outbound.record(notification))
            if event is None:
                pass
            elif (
                event.type == "ticket.linked_to_incident"
                and pending
                and pending[-1].key == event.key
                and pending[-1].type == "ticket.opened"
            ):
                pending[-1] = _linked_at_opening(pending[-1], event)
            else:
                if len(pending) >= BATCH:  # the last fact stays pending: its link may follow
                    flush()
                pending.append(event)
        else:
            flush()  # in log order: what was decided before it is stored first
            scratch.recorder.insert_events([_copy(notification)])
            scratch.forget_cached()
            done.copied += 1
        if progress is not None:
            progress(notification.id, upto)
    flush()
    return done


def _notifications(recorder: Any, upto: int) -> Iterator[Any]:
    start = 1
    while start <= upto:
        page: Sequence[Any] = recorder.select_notifications(start, 5000, stop=upto)
        if not page:
            return
        yield from page
        start = page[-1].id + 1


def _copy(notification: Any) -> StoredEvent:
    return StoredEvent(
        notification.originator_id,
        notification.originator_version,
        notification.topic,
        notification.state,
    )


Scratch = Callable[[Catalog], AbstractContextManager[tuple[Engine, ReadModelStorage]]]


def what_if(
    recorder: Any,
    mapper: Any,
    live: ReadModelStorage,
    *,
    edition: Edition,
    live_catalog: Catalog,
    window: Window,
    scratch: Scratch,
    upto: int,
    projections: Sequence[Projection],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Decide the log up to ``upto`` again with ``edition`` added to ``live_catalog``, in the
    engine and read models ``scratch`` opens, and compare them with ``live``."""
    proposed = proposed_catalog(live_catalog, edition, "the proposed edition")
    with scratch(proposed) as (engine, store):
        replayed = replay(recorder, mapper, engine, upto=upto, progress=progress)
        catch_up(engine.recorder, engine.mapper, store, projections, upstream=engine.name)
        report = compare_read_models(
            live,
            store,
            live_catalog=live_catalog,
            proposed=proposed,
            edition=edition,
            window=window,
            projections=projections,
        )
    report["log"] = {
        "position": upto,
        "facts_decided": replayed.facts,
        "events_copied": replayed.copied,
        "refused": replayed.refused,
    }
    return report


# -- the comparison ------------------------------------------------------------------------

TICKET_FIELDS = ("ticket", "tenant", "field", "live", "proposed")
MONTH_FIELDS = ("tenant", "month", "field", "live", "proposed")
EXPERTISE_COMPARED = (
    "included_hours",
    "from_allowance_hours",
    "from_packs_hours",
    "overage_hours",
    "unfunded_hours",
)


@dataclass(frozen=True)
class Window:
    """The tickets (by opening) and months reported, and the instant statuses are taken at."""

    start: datetime | None
    end: datetime

    def holds(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and at <= self.end

    def months(self, first: Month) -> list[Month]:
        month = max(first, Month.of(self.start)) if self.start else first
        last = Month.of(self.end)
        out = []
        while month <= last:
            out.append(month)
            month = month.next()
        return out


def compare_read_models(
    live: ReadModelStorage,
    scratch: ReadModelStorage,
    *,
    live_catalog: Catalog,
    proposed: Catalog,
    edition: Edition,
    window: Window,
    projections: Sequence[Projection],
) -> dict[str, Any]:
    """The tickets whose status or breach minutes change, the tenants and months whose
    included hours, funding or billed tier change, the rows that differ in every read model,
    and the totals."""
    tickets, sla_totals = _tickets(live, scratch, window)
    months, hour_totals = _expertise(live, scratch, live_catalog, proposed, window)
    billing = _billing(live, scratch, window)
    tables: dict[str, int] = {}
    for difference in compare(live, scratch, projections):
        tables[difference.table] = tables.get(difference.table, 0) + 1
    return {
        "edition": {"id": edition.id, "effective_from": rfc3339(edition.effective_from)},
        "window": {"from": rfc3339(window.start), "to": rfc3339(window.end)},
        "tickets": tickets,
        "expertise": months,
        "billing": billing,
        "tables": [{"table": t, "rows_differing": n} for t, n in sorted(tables.items())],
        "totals": {
            **sla_totals,
            **hour_totals,
            "tickets_changed": len(
                {r["ticket"] for r in tickets if r["field"] in ("status", "breach_minutes")}
            ),
            "deadlines_moved": len({r["ticket"] for r in tickets if r["field"] == "deadline"}),
            "tenant_months_changed": len({(r["tenant"], r["month"]) for r in months}),
            "billed_months_changed": len(billing),
        },
    }


def _tickets(
    live: ReadModelStorage, scratch: ReadModelStorage, window: Window
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    before = {r["ticket"]: r for r in queries.sla(live, as_of=window.end)}
    after = {r["ticket"]: r for r in queries.sla(scratch, as_of=window.end)}
    changed: list[dict[str, Any]] = []
    totals = {"breached_live": 0, "breached_proposed": 0}
    minutes = {"breach_minutes_live": 0, "breach_minutes_proposed": 0}
    for ticket in sorted(before.keys() | after.keys()):
        old, new = before.get(ticket), after.get(ticket)
        shown = old or new
        assert shown is not None
        if not window.holds(parse_rfc3339(shown["opened_at"]) or window.end):
            continue
        for side, row in (("live", old), ("proposed", new)):
            if row is not None:
                totals[f"breached_{side}"] += row["status"] == "breached"
                minutes[f"breach_minutes_{side}"] += row["breach_minutes"] or 0
        for name in ("status", "breach_minutes", "deadline"):
            a, b = (old or {}).get(name), (new or {}).get(name)
            if a != b:
                changed.append(
                    {
                        "ticket": ticket,
                        "tenant": shown["tenant"],
                        "field": name,
                        "live": a,
                        "proposed": b,
                    }
                )
    return changed, {**totals, **minutes}


def _expertise(
    live: ReadModelStorage,
    scratch: ReadModelStorage,
    live_catalog: Catalog,
    proposed: Catalog,
    window: Window,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    changed: list[dict[str, Any]] = []
    totals = {f"{name}_{side}": 0.0 for name in EXPERTISE_COMPARED for side in ("live", "proposed")}
    first = Month.of(proposed.editions[0].effective_from)
    tenants = sorted(set(queries.expertise_tenants(live)) | set(queries.expertise_tenants(scratch)))
    for tenant in tenants:
        start = _first_month(live, tenant) or first
        for month in window.months(max(start, first)):
            old = _month(live, tenant, month, live_catalog)
            new = _month(scratch, tenant, month, proposed)
            for name in EXPERTISE_COMPARED:
                totals[f"{name}_live"] += old.get(name, 0.0)
                totals[f"{name}_proposed"] += new.get(name, 0.0)
                if old.get(name) != new.get(name):
                    changed.append(
                        {
                            "tenant": tenant,
                            "month": str(month),
                            "field": name,
                            "live": old.get(name),
                            "proposed": new.get(name),
                        }
                    )
    return changed, {name: round(value, 2) for name, value in totals.items()}


def _first_month(store: ReadModelStorage, tenant: str) -> Month | None:
    with store.transaction() as c:
        c.execute("SELECT MIN(effective_at) FROM expertise_tiers WHERE tenant = ?", (tenant,))
        row = c.fetchone()
    at = parse_rfc3339(row[0]) if row and row[0] is not None else None
    return Month.of(at) if at else None


def _month(store: ReadModelStorage, tenant: str, month: Month, catalog: Catalog) -> dict[str, Any]:
    try:
        return queries.expertise(store, tenant=tenant, month=month, catalog=catalog)
    except QueryError:  # a tenant only one side knows
        return {}


def _billing(
    live: ReadModelStorage, scratch: ReadModelStorage, window: Window
) -> list[dict[str, Any]]:
    def billed(store: ReadModelStorage) -> dict[tuple[str, str], str]:
        with store.transaction() as c:
            c.execute("SELECT tenant, month, billed_tier FROM billing_months")
            return {(str(t), str(m)): str(b) for t, m, b in c.fetchall()}

    before, after = billed(live), billed(scratch)
    first = Month.of(window.start) if window.start else None
    last = Month.of(window.end)
    changed = []
    for tenant, month in sorted(before.keys() | after.keys()):
        parsed = Month.parse(month)
        if (first is not None and parsed < first) or parsed > last:
            continue
        a, b = before.get((tenant, month)), after.get((tenant, month))
        if a != b:
            changed.append(
                {"tenant": tenant, "month": month, "field": "billed_tier", "live": a, "proposed": b}
            )
    return changed


def default_window(start: datetime | None, end: datetime | None, now: datetime) -> Window:
    """``--from``/``--to``: statuses as of ``--to`` (default now); a window that ends before
    it starts is refused."""
    end = end or now
    if start is not None and start > end:
        raise WhatIfError(f"--from {rfc3339(start)} is after --to {rfc3339(end)}")
    return Window(start, end)


__all__ = [
    "MONTH_FIELDS",
    "TICKET_FIELDS",
    "Replayed",
    "WhatIfError",
    "Window",
    "compare_read_models",
    "default_window",
    "inbound_of",
    "proposed_catalog",
    "read_edition",
    "redecided_types",
    "replay",
    "what_if",
]

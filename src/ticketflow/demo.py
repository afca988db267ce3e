"""``ticketflow demo``: a seeded, realistic operation, ingested and summed up for an analyst.

:func:`generate` writes the upstream side of a support desk as JSON Lines CloudEvents
(DESIGN §3): hundreds of tenants across the tiers, thousands of tickets, tier changes, expertise
packs and expert hours, plus about 1 % of bad lines and re-sent duplicates. Only the standard
library is used, and a seed gives the same file byte for byte. Per subject the events are in
time order and the file is sorted by time (ties keep the per-subject order), as R-IN-4 expects.

:func:`run_demo` writes that file, ingests it into the embedded system, brings the read models
up to date and computes what an analyst looks at first; ``ticketflow.report`` draws it.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from projections.base import parse_ts, ts
from projections.store import ReadModelStore
from ticketflow import queries, render
from ticketflow.bootstrap import System
from ticketflow.domain.calendar import PARIS, Month, maintenance_windows, months_between
from ticketflow.domain.catalog import DEFAULT_CATALOG, Tier
from ticketflow.errors import TicketflowError
from ticketflow.ingest import DeadLetterFile, IngestReport, ingest_lines
from ticketflow.progress import Progress
from ticketflow.settings import Settings

DEFAULT_SEED = 7
DEFAULT_TENANTS = 300
DEFAULT_MONTHS = 6
DEFAULT_START = Month(2026, 1)
DATASET_FILE = "demo-events.jsonl"
DEAD_LETTER_FILE = "demo-deadletter.jsonl"
REPORT_FILE = "demo-report.html"

T = TypeVar("T")
Weighted = Sequence[tuple[T, float]]

TIER_MIX: Weighted[Tier] = (
    (Tier.STANDARD, 70),
    (Tier.BRONZE, 12),
    (Tier.SILVER, 11),
    (Tier.GOLD, 7),
)
TICKETS_PER_MONTH = {Tier.STANDARD: 0.9, Tier.BRONZE: 2.0, Tier.SILVER: 3.0, Tier.GOLD: 4.5}
SESSIONS_PER_MONTH = {Tier.STANDARD: 0.7, Tier.BRONZE: 1.2, Tier.SILVER: 1.4, Tier.GOLD: 2.4}
PRIORITIES: Weighted[str] = (("P1", 7), ("P2", 18), ("P3", 40), ("P4", 35))
CHANNELS: Weighted[str] = (("portal", 60), ("email", 25), ("phone", 15))
LANGUAGES: Weighted[str] = (("fr", 65), ("en", 35))
ACTIVITIES: Weighted[str] = (("support", 45), ("advice", 25), ("architecture", 20), ("training", 10))
CATEGORIES: Weighted[str] = (
    ("compute", 30),
    ("network", 18),
    ("storage", 18),
    ("backup", 10),
    ("control_plane", 12),
    ("other", 12),
)
SUMMARIES = {
    "compute": ("VM injoignable après redémarrage", "VM unreachable after reboot"),
    "network": ("Perte de paquets sur le lien public", "Packet loss on the public link"),
    "storage": ("Latence élevée sur un volume", "High latency on a volume"),
    "backup": ("Sauvegarde nocturne en échec", "Nightly backup failed"),
    "control_plane": ("Portail et API indisponibles", "Portal and APIs unavailable"),
    "other": ("Question sur la facture", "Question about the invoice"),
}
CHANNEL_SOURCES = {"portal": "/customer-space", "email": "/mail-gateway", "phone": "/phone-desk"}
SUPPORT_TOOL = "/support-tooling"
TIMESHEETS = "/expert-timesheets"
PARIS_TIME_SOURCES = ("/phone-desk", SUPPORT_TOOL, TIMESHEETS)  # the others write UTC (Z)
BAD_KINDS = ("not_json", "unknown_type", "language_de", "missing_offset", "unknown_ticket")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


# -- the generator ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One upstream event before it is written out."""

    at: datetime
    order: int
    type: str
    subject: str
    tenant: str
    source: str
    id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Change:
    """A planned change of support tier (``started``, ``upgrade`` or ``downgrade``)."""

    at: datetime
    kind: str
    tier: Tier


@dataclass
class Customer:
    """A tenant and its planned tier history (changes in time order)."""

    id: str
    changes: list[Change] = field(default_factory=list)
    tickets: list[str] = field(default_factory=list)

    def tier_at(self, at: datetime) -> Tier:
        tier = Tier.STANDARD  # R-TIER-2
        for change in self.changes:
            if change.at <= at:
                tier = change.tier
        return tier

    @property
    def started_at(self) -> datetime | None:
        """When the subscription was started explicitly; nothing of the tenant comes before."""
        first = self.changes[0] if self.changes else None
        return first.at if first and first.kind == "started" else None


@dataclass
class TicketPlan:
    """What happens to one ticket, decided up front."""

    priority: str
    category: str
    channel: str = "portal"
    language: str = "fr"
    beta: bool = False
    raise_to_p1: bool = False
    lower_from_p1: bool = False
    late: bool = False
    skip_restore: bool = False
    reopen: bool = False
    close: bool = True


def _pick(rng: random.Random, options: Weighted[T]) -> T:
    values, weights = zip(*options, strict=True)
    return rng.choices(values, weights)[0]


def _poisson(rng: random.Random, rate: float) -> int:
    limit, count, product = math.exp(-rate), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(minutes=rng.uniform(low, high))


class Operation:
    """Builds the facts of a seeded operation; :meth:`lines` writes them out."""

    def __init__(self, seed: int, tenants: int, months: int, start: Month) -> None:
        if tenants < 3 or not 1 <= months <= 36:
            raise TicketflowError("the demo needs at least 3 tenants and 1 to 36 months")
        self.rng = random.Random(seed)
        last = Month.parse(str(start))
        for _ in range(months - 1):
            last = last.next()
        self.months = months_between(start, last)
        self.begin, self.end = start.start(), last.end()
        self.facts: list[Fact] = []
        self.numbers = itertools.count(1)
        self.customers = self._customers(tenants)

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def emit(self, at: datetime, type_: str, subject: str, tenant: str, data: dict[str, Any],
             source: str) -> None:
        """Record a fact; facts after the end of the period have not happened yet."""
        at = at.replace(microsecond=0)
        if at < self.end:
            fact = Fact(at, len(self.facts), type_, subject, tenant, source, self.uid(), data)
            self.facts.append(fact)

    def instant(self, month: Month, business: float = 0.75) -> datetime:
        """A random instant of ``month``, mostly in Paris business hours."""
        rng = self.rng
        day = rng.choice(month.days())
        hour = rng.randint(8, 18) if rng.random() < business else rng.randint(0, 23)
        local = datetime(day.year, day.month, day.day, hour, rng.randint(0, 59),
                         rng.randint(0, 59), tzinfo=PARIS)
        return local.astimezone(UTC)

    # -- tenants and their tiers ----------------------------------------------------------

    def _customers(self, count: int) -> list[Customer]:
        """Three showcase customers (GOLD, SILVER, BRONZE) then a random mix."""
        first, last = self.months[0], self.months[-1]
        gold = Customer("org-0001", [Change(self.begin - 90 * DAY, "started", Tier.GOLD)])
        gold.changes.append(Change(self._local(last, 12, 10), "downgrade", Tier.SILVER))
        silver = Customer("org-0002", [Change(self.begin - 60 * DAY, "started", Tier.SILVER)])
        silver.changes.append(Change(self._local(last, 20, 15), "upgrade", Tier.GOLD))
        bronze = Customer("org-0003", [Change(self._local(first, 2, 9), "started", Tier.BRONZE)])
        return [gold, silver, bronze] + [self._customer(n) for n in range(4, count + 1)]

    def _local(self, month: Month, day: int, hour: int) -> datetime:
        day = min(day, len(month.days()))
        return datetime(month.year, month.month, day, hour, tzinfo=PARIS).astimezone(UTC)

    def _customer(self, number: int) -> Customer:
        rng = self.rng
        customer = Customer(f"org-{number:04d}")
        tier = _pick(rng, TIER_MIX)
        since = self.begin
        if tier is not Tier.STANDARD:
            before = rng.random() < 0.6  # an existing customer, or a new one in the period
            since = self.begin - rng.uniform(15, 330) * DAY if before else self._anytime()
            customer.changes.append(Change(since, "started", tier))
        roll = rng.random()
        if roll < 0.10 and tier is not Tier.GOLD:
            higher = [t for t in Tier if t > tier]
            customer.changes.append(Change(self._after(since), "upgrade", rng.choice(higher)))
        elif roll < 0.17 and tier is not Tier.STANDARD:
            lower = [t for t in Tier if t < tier]
            customer.changes.append(Change(self._after(since), "downgrade", rng.choice(lower)))
        return customer

    def _anytime(self) -> datetime:
        return self.instant(self.rng.choice(self.months))

    def _after(self, since: datetime) -> datetime:
        return max(self._anytime(), since + self.rng.uniform(7, 30) * DAY)

    # -- subscription facts ---------------------------------------------------------------

    def subscriptions(self, customer: Customer) -> None:
        for change in customer.changes:
            tier = {"tier": change.tier.value}
            if change.kind == "started":
                self.emit(change.at, "subscription.started", customer.id, customer.id, tier,
                          "/billing")
            elif change.kind == "upgrade":
                self.emit(change.at, "subscription.tier_upgraded", customer.id, customer.id,
                          tier, "/customer-space")
            else:
                self._downgrade(customer, change)

    def _downgrade(self, customer: Customer, change: Change) -> None:
        """Downgrades go through customer support and name the ticket (R-BILL-4)."""
        rng, tenant = self.rng, customer.id
        ticket = f"TCK-{next(self.numbers):06d}"
        language = _pick(rng, LANGUAGES)
        text = f"Passer notre support en {change.tier}" if language == "fr" else (
            f"Please move our support to {change.tier}")
        opened = change.at - rng.uniform(1, 4) * DAY
        data = {"priority": "P4", "channel": "email", "language": language,
                "category": "other", "summary": text}
        self.emit(opened, "ticket.opened", ticket, tenant, data, "/mail-gateway")
        self.emit(opened + _minutes(rng, 20, 240), "ticket.acknowledged", ticket, tenant, {},
                  SUPPORT_TOOL)
        self.emit(change.at, "subscription.tier_downgraded", tenant, tenant,
                  {"tier": change.tier.value, "support_ticket": ticket}, SUPPORT_TOOL)
        resolved = change.at + _minutes(rng, 5, 60)
        self.emit(resolved, "ticket.resolved", ticket, tenant, {}, SUPPORT_TOOL)
        self.emit(resolved + rng.uniform(2, 7) * DAY, "ticket.closed", ticket, tenant, {},
                  SUPPORT_TOOL)

    # -- tickets --------------------------------------------------------------------------

    def plan(self, priority: str | None = None, category: str | None = None) -> TicketPlan:
        """A random ticket: most are routine, some are reclassified, late or reopened."""
        rng = self.rng
        plan = TicketPlan(
            priority or _pick(rng, PRIORITIES),
            category or _pick(rng, CATEGORIES),
            _pick(rng, CHANNELS),
            _pick(rng, LANGUAGES),
        )
        plan.beta = rng.random() < 0.03
        plan.raise_to_p1 = plan.priority != "P1" and rng.random() < 0.04
        plan.lower_from_p1 = plan.priority == "P1" and rng.random() < 0.08
        plan.late = rng.random() < 0.15
        plan.skip_restore = rng.random() < 0.1
        plan.reopen = rng.random() < 0.06
        plan.close = rng.random() < 0.8
        return plan

    def ticket(self, customer: Customer, at: datetime, plan: TicketPlan) -> str:
        """Emit the life of one ticket, from its opening to its closing."""
        ticket = f"TCK-{next(self.numbers):06d}"
        customer.tickets.append(ticket)
        data: dict[str, Any] = {
            "priority": plan.priority,
            "channel": plan.channel,
            "language": plan.language,
            "category": plan.category,
            "summary": SUMMARIES[plan.category][plan.language == "en"],
        }
        if plan.beta:
            data["beta_feature"] = True
        self.emit(at, "ticket.opened", ticket, customer.id, data, CHANNEL_SOURCES[plan.channel])
        last, incident = self._reclassify(ticket, customer, at, self._triage(ticket, at, plan), plan)
        last = self._restore(ticket, customer, incident, last, plan.skip_restore, plan.late)
        if plan.reopen:
            last = self._reopen(ticket, customer, last, plan)
        if plan.close:
            self.support(last + self.rng.uniform(2, 7) * DAY, "closed", ticket, customer)
        return ticket

    def support(
        self,
        at: datetime,
        what: str,
        ticket: str,
        customer: Customer,
        data: dict[str, Any] | None = None,
    ) -> datetime:
        """A ``ticket.*`` fact from the support tooling; returns its time."""
        self.emit(at, f"ticket.{what}", ticket, customer.id, data or {}, SUPPORT_TOOL)
        return at

    def _triage(self, ticket: str, at: datetime, plan: TicketPlan) -> datetime:
        """Acknowledgement and escalations (L2, L3); returns the time of the last one."""
        rng, urgent = self.rng, plan.priority == "P1"
        customer = Customer(self.facts[-1].tenant)
        if rng.random() < 0.92:
            at = self.support(at + _minutes(rng, 2, 15 if urgent else 90), "acknowledged",
                              ticket, customer)  # fmt: skip
        if rng.random() < (0.6 if urgent else 0.15):
            level = {"level": "L2"}
            at = self.support(at + _minutes(rng, 10, 60), "escalated", ticket, customer, level)
            if rng.random() < 0.35:
                level = {"level": "L3"}
                at = self.support(at + _minutes(rng, 15, 90), "escalated", ticket, customer, level)
        return at

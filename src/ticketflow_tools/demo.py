"""``ticketflow demo``: a seeded, realistic operation, ingested and summed up for an analyst.

:func:`generate` writes the upstream side of a support desk as JSON Lines CloudEvents
(DESIGN §3): hundreds of tenants across the tiers, thousands of tickets, tier changes, expertise
packs and expert hours, plus about 1 % of bad lines and re-sent duplicates. Only the standard
library is used, and a seed gives the same file byte for byte. Per subject the events are in
time order and the file is sorted by time (ties keep the per-subject order), as R-IN-4 expects.

:func:`run_demo` writes that file, ingests it into the embedded system, brings the read models
up to date and computes what an analyst looks at first; ``ticketflow.entrypoints.report`` draws it.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from ticketflow.adapters.deadletter import DeadLetterFile
from ticketflow.adapters.eventstore import eventstore_env
from ticketflow.bootstrap import READMODELS_FILE, System, open_engine
from ticketflow.domain.calendar import PARIS, Month, maintenance_windows, months_between
from ticketflow.domain.catalog import DEFAULT_CATALOG, Tier
from ticketflow.domain.clock import FixedClock
from ticketflow.domain.expertise import TierHistory, has_privileged_access, tier_at
from ticketflow.entrypoints import render, report
from ticketflow.entrypoints.progress import Progress
from ticketflow.entrypoints.report import Summary
from ticketflow.errors import TicketflowError
from ticketflow.service.alerter import Alerter, recent
from ticketflow.service.ingest import IngestReport, ingest_lines
from ticketflow.service.weather import weather
from ticketflow.settings import Settings

DEFAULT_SEED = 7
DEFAULT_TENANTS = 300
DEFAULT_MONTHS = 6
DEFAULT_START = Month(2026, 1)
DATASET_FILE = "demo-events.jsonl"
DEAD_LETTER_FILE = "demo-deadletter.jsonl"
REPORT_FILE = "report.html"

PACKS = (5, 10, 20)
SESSION_HOURS = (0.5, 0.75, 1, 1, 1.5, 2, 3)

T = TypeVar("T")
Weighted = Sequence[tuple[T, float]]

TIER_MIX: Weighted[Tier] = (
    (Tier.STANDARD, 70),
    (Tier.BRONZE, 12),
    (Tier.SILVER, 11),
    (Tier.GOLD, 7),
)
TICKETS_PER_MONTH = {Tier.STANDARD: 0.9, Tier.BRONZE: 2.0, Tier.SILVER: 3.0, Tier.GOLD: 4.5}
SESSIONS_PER_MONTH = {Tier.STANDARD: 0.0, Tier.BRONZE: 1.2, Tier.SILVER: 1.2, Tier.GOLD: 2.0}
PRIORITIES: Weighted[str] = (("P1", 7), ("P2", 18), ("P3", 40), ("P4", 35))
CHANNELS: Weighted[str] = (("portal", 60), ("email", 25), ("phone", 15))
LANGUAGES: Weighted[str] = (("fr", 65), ("en", 35))
ACTIVITIES: Weighted[str] = (
    ("support", 45),
    ("advice", 25),
    ("architecture", 20),
    ("training", 10),
)
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
DOWNGRADE_ASKED = {
    "fr": "Passer notre support en {tier}",
    "en": "Please move our support to {tier}",
}
CHANNEL_SOURCES = {"portal": "/customer-space", "email": "/mail-gateway", "phone": "/phone-desk"}
SUPPORT_TOOL = "/support-tooling"
TIMESHEETS = "/expert-timesheets"
PLATFORM_OPS = "/platform-ops"
PARIS_TIME_SOURCES = ("/phone-desk", SUPPORT_TOOL, TIMESHEETS)  # the others write UTC (Z)
BAD_KINDS = ("not_json", "unknown_type", "language_de", "missing_offset", "unknown_ticket")
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
    tickets: list[tuple[datetime, str]] = field(default_factory=list)

    @property
    def history(self) -> TierHistory:
        """The planned changes as the domain's tier history (service-effective instants)."""
        return [(change.at, change.tier) for change in self.changes]

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
    platform_incident: str | None = None  # linked at opening (R-PLAT-3)


def period(start: Month, months: int) -> list[Month]:
    """``months`` calendar months from ``start``."""
    last = start
    for _ in range(months - 1):
        last = last.next()
    return months_between(start, last)


def _pick(rng: random.Random, options: Weighted[T]) -> T:
    values = [value for value, _ in options]
    return rng.choices(values, [weight for _, weight in options])[0]


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
        self.months = period(start, months)
        self.begin, self.end = start.start(), self.months[-1].end()
        self.facts: list[Fact] = []
        self.numbers = itertools.count(1)
        self.customers = self._customers(tenants)

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def emit(
        self, at: datetime, type_: str, subject: str, tenant: str, data: dict[str, Any], source: str
    ) -> None:
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
        local = datetime(
            day.year, day.month, day.day, hour, rng.randint(0, 59), rng.randint(0, 59), tzinfo=PARIS
        )
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
                self.emit(
                    change.at, "subscription.started", customer.id, customer.id, tier, "/billing"
                )
            elif change.kind == "upgrade":
                self.emit(
                    change.at,
                    "subscription.tier_upgraded",
                    customer.id,
                    customer.id,
                    tier,
                    "/customer-space",
                )
            else:
                self._downgrade(customer, change)

    def _downgrade(self, customer: Customer, change: Change) -> None:
        """Downgrades go through customer support and name the ticket (R-BILL-4)."""
        rng, tenant = self.rng, customer.id
        ticket = f"TCK-{next(self.numbers):06d}"
        language = _pick(rng, LANGUAGES)
        opened = change.at - rng.uniform(1, 4) * DAY
        text = DOWNGRADE_ASKED[language].format(tier=change.tier)
        data = {"priority": "P4", "channel": "email", "language": language}
        data |= {"category": "other", "summary": text}
        self.emit(opened, "ticket.opened", ticket, tenant, data, "/mail-gateway")
        self.support(opened + _minutes(rng, 20, 240), "acknowledged", ticket, customer)
        asked = {"tier": change.tier.value, "support_ticket": ticket}
        self.emit(change.at, "subscription.tier_downgraded", tenant, tenant, asked, SUPPORT_TOOL)
        resolved = self.support(change.at + _minutes(rng, 5, 60), "resolved", ticket, customer)
        self.support(resolved + rng.uniform(2, 7) * DAY, "closed", ticket, customer)

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
        customer.tickets.append((at, ticket))
        data: dict[str, Any] = {
            "priority": plan.priority,
            "channel": plan.channel,
            "language": plan.language,
            "category": plan.category,
            "summary": SUMMARIES[plan.category][plan.language == "en"],
        }
        if plan.beta:
            data["beta_feature"] = True
        if plan.platform_incident is not None:
            data["platform_incident"] = plan.platform_incident
        self.emit(at, "ticket.opened", ticket, customer.id, data, CHANNEL_SOURCES[plan.channel])
        last = self._triage(ticket, customer, at, plan)
        last, incident = self._reclassify(ticket, customer, at, last, plan)
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

    def _triage(self, ticket: str, customer: Customer, at: datetime, plan: TicketPlan) -> datetime:
        """Acknowledgement and escalations (L2, L3); returns the time of the last one."""
        rng, urgent = self.rng, plan.priority == "P1"
        if rng.random() < 0.92:
            delay = _minutes(rng, 2, 15 if urgent else 90)
            at = self.support(at + delay, "acknowledged", ticket, customer)
        if rng.random() < (0.6 if urgent else 0.15):
            level = {"level": "L2"}
            at = self.support(at + _minutes(rng, 10, 60), "escalated", ticket, customer, level)
            if rng.random() < 0.35:
                level = {"level": "L3"}
                at = self.support(at + _minutes(rng, 15, 90), "escalated", ticket, customer, level)
        return at

    def _reclassify(
        self, ticket: str, customer: Customer, opened: datetime, last: datetime, plan: TicketPlan
    ) -> tuple[datetime, datetime | None]:
        """Raised to P1 or lowered from it (R-SLA-3); returns the last time and when the P1
        incident began (None when the ticket is not a P1)."""
        rng = self.rng
        incident = opened if plan.priority == "P1" else None
        if plan.raise_to_p1:
            data = {"priority": "P1"}
            last = self.support(
                last + _minutes(rng, 30, 360), "priority_changed", ticket, customer, data
            )
            incident = last
        elif plan.lower_from_p1:
            data = {"priority": rng.choice(("P2", "P3"))}
            last = self.support(
                last + _minutes(rng, 20, 120), "priority_changed", ticket, customer, data
            )
            incident = None
        return last, incident

    def _gtr(self, customer: Customer, at: datetime) -> timedelta:
        """The GTR of the tier in force (8 h as a working target where there is none)."""
        minutes = DEFAULT_CATALOG.terms(tier_at(customer.history, at), at).gtr_minutes
        return timedelta(minutes=minutes or 480)

    def _restore(
        self,
        ticket: str,
        customer: Customer,
        incident: datetime | None,
        last: datetime,
        skip_restore: bool,
        late: bool,
    ) -> datetime:
        """Service restored then resolved; a P1 mostly within its GTR; returns the resolution
        time. Some tickets are resolved without a restore (R-SLA-6)."""
        rng = self.rng
        if incident is not None:
            share = rng.uniform(1.05, 2.5) if late else rng.uniform(0.15, 0.95)
            restored = max(
                incident + self._gtr(customer, incident) * share, last + _minutes(rng, 1, 20)
            )
        else:
            restored = last + _minutes(rng, 60, 2880)
            skip_restore = skip_restore or rng.random() < 0.65
        if skip_restore:
            return self.support(restored, "resolved", ticket, customer)
        self.support(restored, "service_restored", ticket, customer)
        return self.support(restored + _minutes(rng, 30, 2880), "resolved", ticket, customer)

    def _reopen(
        self, ticket: str, customer: Customer, resolved: datetime, plan: TicketPlan
    ) -> datetime:
        """A new cycle, with a new clock for a P1 (R-SLA-7); returns the new resolution time."""
        rng = self.rng
        at = self.support(resolved + _minutes(rng, 240, 5760), "reopened", ticket, customer)
        p1 = plan.raise_to_p1 or (plan.priority == "P1" and not plan.lower_from_p1)
        return self._restore(ticket, customer, at if p1 else None, at, False, rng.random() < 0.25)

    def tickets(self, customer: Customer) -> None:
        """Routine tickets, more of them for the higher tiers."""
        for month in self.months:
            rate = TICKETS_PER_MONTH[tier_at(customer.history, month.start())]
            for _ in range(_poisson(self.rng, rate)):
                self.ticket(customer, self.instant(month, business=0.7), self.plan())

    def maintenance(self) -> None:
        """Control-plane tickets opened in planned windows: no SLA (R-SLA-9)."""
        rng = self.rng
        for month in self.months:
            for begin, end in maintenance_windows(month):
                for _ in range(rng.choice((0, 1, 1, 2, 3))):
                    at = begin + (end - begin) * rng.uniform(0.02, 0.98)
                    priority = "P1" if rng.random() < 0.35 else rng.choice(("P2", "P3"))
                    plan = self.plan(priority, "control_plane")
                    self.ticket(rng.choice(self.customers), at, plan)

    def showcase(self) -> None:
        """Tickets every dataset has, however small: a GOLD P1 met and one breached, and a
        SILVER control-plane P1 opened in the first planned window (R-SLA-9)."""
        gold, silver = self.customers[0], self.customers[1]
        first = self.months[0]
        self.ticket(gold, self._local(first, 6, 3), TicketPlan("P1", "network", "phone"))
        late = TicketPlan("P1", "storage", "portal", "en", late=True)
        self.ticket(gold, self._local(first, 9, 14), late)
        window = maintenance_windows(first)[0][0] + 40 * MINUTE
        self.ticket(silver, window, TicketPlan("P1", "control_plane"))

    # -- the platform (R-PLAT-*) ------------------------------------------------------------

    def platform(self) -> None:
        """The platform's side of the last month: an incident with tickets linked at opening
        and later; an exceptional control-plane maintenance announced days ahead (its
        control-plane tickets carry no SLA, R-PLAT-1) and one announced once under way (their
        GTR stands); and an outage declared shortly before the end of the period, still open
        then, whose linked P1 tickets have their clocks running (R-PLAT-3)."""
        last = self.months[-1]
        self._incident(f"INC-{last}-01", self._local(last, 14, 10), resolve=True)
        self._maintenance(f"MNT-{last}-01", self._local(last, 9, 21), ahead=5 * DAY)
        self._maintenance(f"MNT-{last}-02", self._local(last, 20, 21), ahead=-25 * MINUTE)
        self._incident(f"INC-{last}-02", self.end - 200 * MINUTE, resolve=False)

    def platform_fact(self, at: datetime, what: str, subject: str, data: dict[str, Any]) -> None:
        """A platform fact: no tenant (R-PLAT-4)."""
        self.emit(at, f"platform.{what}", subject, "", data, PLATFORM_OPS)

    def _with_gtr(self, at: datetime) -> list[Customer]:
        """Customers whose tier in force at ``at`` has a GTR, highest tier first."""
        found = [c for c in self.customers if tier_at(c.history, at) is not Tier.STANDARD]
        found = [c for c in found if self._may_act(c, at)]
        return sorted(found, key=lambda c: -list(Tier).index(tier_at(c.history, at)))

    def _incident(self, incident: str, declared: datetime, resolve: bool) -> None:
        rng = self.rng
        services = ["compute", "network"] if resolve else ["storage"]
        summary = "Hypervisor rack down" if resolve else "Storage cluster unavailable"
        data = {"services": services, "severity": "outage", "status": "investigating"}
        self.platform_fact(declared, "incident_declared", incident, data | {"summary": summary})
        affected = self._with_gtr(declared)[:5]
        for n, customer in enumerate(affected):
            at = declared + (10 + 12 * n) * MINUTE
            plan = TicketPlan("P1" if n < 3 else "P2", services[n % len(services)])
            plan.platform_incident = incident
            plan.late = not resolve  # still unrestored at the end of the period
            self.ticket(customer, at, plan)
        # Tickets opened before the incident was declared, linked to it later.
        for customer in affected[:2]:
            opened = declared - _minutes(rng, 20, 60)
            ticket = self.ticket(customer, opened, TicketPlan("P2", services[0]))
            link = {"platform_incident": incident}
            self.support(declared + 45 * MINUTE, "linked_to_incident", ticket, customer, link)
        if resolve:
            update = {"services": ["compute"], "severity": "degraded", "status": "mitigated"}
            self.platform_fact(declared + 100 * MINUTE, "incident_updated", incident, update)
            self.platform_fact(declared + 5 * 60 * MINUTE, "incident_resolved", incident, {})

    def _maintenance(self, maintenance: str, starts: datetime, ahead: timedelta) -> None:
        """A control-plane window of 2 h 30 (21:00-23:30 Paris, never in a planned window),
        announced ``ahead`` of its start (negative: after it started), with control-plane P1
        tickets opened inside."""
        data = {
            "starts_at": _time_text(starts, PLATFORM_OPS),
            "ends_at": _time_text(starts + 150 * MINUTE, PLATFORM_OPS),
            "scope": "control_plane",
            "summary": "API gateway upgrade: portal and APIs may be unavailable",
        }
        self.platform_fact(starts - ahead, "maintenance_announced", maintenance, data)
        for n, customer in enumerate(self._with_gtr(starts)[:3]):
            at = starts + (35 + 20 * n) * MINUTE
            self.ticket(customer, at, TicketPlan("P1", "control_plane"))

    # -- expertise ------------------------------------------------------------------------

    def expertise(self, customer: Customer) -> None:
        """Packs bought now and then, and expert sessions every month; customers without
        privileged access (R-EXP-5) call the experts less, mostly on their packs."""
        packs = self._packs(customer)
        history = customer.history
        for month in self.months:
            middle = month.start() + 14 * DAY
            if has_privileged_access(history, middle):
                rate = SESSIONS_PER_MONTH[tier_at(history, middle)]
            else:
                rate = 0.6 if packs else 0.04
            for _ in range(_poisson(self.rng, rate)):
                self._session(customer, self.instant(month, business=0.95))

    def _may_act(self, customer: Customer, at: datetime) -> bool:
        """Tenant facts come after an explicit start (else the tenant would be STANDARD)."""
        started = customer.started_at
        return started is None or at > started

    def _packs(self, customer: Customer) -> int:
        rng = self.rng
        tiered = any(change.tier is not Tier.STANDARD for change in customer.changes)
        count = 0
        if rng.random() < (0.25 if tiered else 0.05):
            count = 1 + (rng.random() < 0.3)
        since = customer.started_at or self.begin - 30 * DAY
        for n in range(count):
            at = since + rng.uniform(1, 20) * DAY if n == 0 else self._anytime()
            if self._may_act(customer, at):
                data = {"pack_id": f"PACK-{next(self.numbers):06d}", "hours": rng.choice(PACKS)}
                self.emit(
                    at,
                    "expertise.pack_purchased",
                    customer.id,
                    customer.id,
                    data,
                    "/customer-space",
                )
        return count

    def _session(self, customer: Customer, at: datetime) -> None:
        rng = self.rng
        if not self._may_act(customer, at):
            return
        activity = _pick(rng, ACTIVITIES)
        data: dict[str, Any] = {
            "hours": rng.choice(SESSION_HOURS),
            "expert": f"expert-{rng.randint(1, 12):02d}",
            "activity": activity,
        }
        earlier = [ticket for opened, ticket in customer.tickets if opened < at]
        if activity == "support" and earlier:
            data["ticket"] = rng.choice(earlier)
        self.emit(at, "expertise.hours_consumed", customer.id, customer.id, data, TIMESHEETS)

    # -- the file -------------------------------------------------------------------------

    def lines(self) -> list[str]:
        """The facts in time order, with about 1 % of bad lines and 1 % of duplicates."""
        rng = self.rng
        facts = sorted(self.facts, key=lambda fact: (fact.at, fact.order))
        count = len(facts)
        chosen = rng.sample(range(count), min(count, max(len(BAD_KINDS), round(count * 0.01))))
        bad = {i: BAD_KINDS[n % len(BAD_KINDS)] for n, i in enumerate(chosen)}
        resent = set(rng.sample(range(count), min(count, max(2, round(count * 0.01)))))
        out: list[str] = []
        for i, fact in enumerate(facts):
            line, kind = _line(fact), bad.get(i)
            if kind == "not_json":
                out.append(line[: len(line) // 2])  # a cut transmission, then sent again whole
            out.append(line)
            if i in resent:
                out.append(line)  # an upstream retry: the same event again (R-IN-1)
            if kind is not None and kind != "not_json":
                out.append(self._bad_line(kind, fact))
        return out

    def _bad_line(self, kind: str, near: Fact) -> str:
        """A line the engine must reject (R-IN-2, R-IN-3, R-TIER-3), at ``near``'s time."""
        ghost = f"TCK-X{next(self.numbers):06d}"
        # Near a platform fact (no tenant), the bad line is the first customer's.
        at, tenant, uid = near.at, near.tenant or self.customers[0].id, self.uid()
        if kind == "unknown_type":
            fact = Fact(
                at, 0, "ticket.merged", ghost, tenant, SUPPORT_TOOL, uid, {"into": near.subject}
            )
        elif kind == "language_de":
            data = {
                "priority": "P3",
                "channel": "portal",
                "language": "de",
                "category": "compute",
                "summary": "VM nicht erreichbar",
            }
            fact = Fact(at, 0, "ticket.opened", ghost, tenant, "/customer-space", uid, data)
        elif kind == "missing_offset":
            timesheet: dict[str, Any] = {"hours": 1, "activity": "advice"}
            fact = Fact(
                at, 0, "expertise.hours_consumed", tenant, tenant, TIMESHEETS, uid, timesheet
            )
            return _line(fact, naive=True)
        else:
            fact = Fact(at, 0, "ticket.service_restored", ghost, tenant, SUPPORT_TOOL, uid, {})
        return _line(fact)


def _time_text(at: datetime, source: str, naive: bool = False) -> str:
    """RFC 3339: UTC with ``Z`` or Paris with its offset, depending on the upstream."""
    if naive:
        return at.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M:%S")
    if source in PARIS_TIME_SOURCES:
        return at.astimezone(PARIS).isoformat(timespec="seconds")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(fact: Fact, naive: bool = False) -> str:
    event = {
        "specversion": "1.0",
        "id": fact.id,
        "source": fact.source,
        "type": fact.type,
        "subject": fact.subject,
        "time": _time_text(fact.at, fact.source, naive),
        "tenant": fact.tenant,
        "datacontenttype": "application/json",
        "data": fact.data,
    }
    if fact.type.startswith("platform."):
        del event["tenant"]  # platform facts carry no tenant (R-PLAT-4)
    return json.dumps(event, ensure_ascii=False)


def generate(
    seed: int = DEFAULT_SEED,
    tenants: int = DEFAULT_TENANTS,
    months: int = DEFAULT_MONTHS,
    start: Month = DEFAULT_START,
) -> list[str]:
    """The JSON Lines of a seeded operation (same seed, same lines)."""
    operation = Operation(seed, tenants, months, start)
    operation.showcase()
    for customer in operation.customers:
        operation.subscriptions(customer)
        operation.tickets(customer)
        operation.expertise(customer)
    operation.maintenance()
    operation.platform()
    return operation.lines()


# -- the demo run ----------------------------------------------------------------------------


def run_demo(
    settings: Settings,
    seed: int = DEFAULT_SEED,
    out_dir: Path | None = None,
    tenants: int = DEFAULT_TENANTS,
    months: int = DEFAULT_MONTHS,
    start: Month = DEFAULT_START,
) -> Summary:
    """Generate and write the dataset, ingest it, project it, sum it up and write the report.

    The figures are those of this dataset alone: a store that already holds events, or an
    output directory holding an earlier demo's files, is refused (:class:`NotFreshError`).
    """
    out_dir = out_dir or settings.data_dir / "demo"
    require_fresh(settings, out_dir, seed)
    lines = generate(seed, tenants, months, start)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = out_dir / DATASET_FILE
    dataset.write_text("\n".join(lines) + "\n", encoding="utf-8")
    names = [str(month) for month in period(start, months)]
    system = System.open(settings)
    try:
        ingested = _ingest(system, lines, str(dataset), out_dir / DEAD_LETTER_FILE)
        _project(system)
        now = Month.parse(names[-1]).end()
        # The alerts up to the demo's "now", as ``ticketflow --now <end> alerts`` tells them:
        # one check of the alerter with its clock fixed at the end of the period.
        Alerter(system.readmodels, FixedClock(now), settings.alert_horizon).check()
        figures = report.collect(system.readmodels, now, names)
        figures["weather"] = weather(system.readmodels, as_of=now)
        figures["alerts"] = recent(system.readmodels, until=now)
        note = (
            f"Demo operation: seed {seed}, {tenants} tenants, dataset {dataset}. Alerts: one "
            f"check of the alerter with its clock fixed at the end of the period, looking back "
            f"{_hours(settings.alert_horizon)} h (TICKETFLOW_ALERT_HORIZON_HOURS); told after "
            "their instant, they are all marked late."
        )
        page = report.page_of(system.readmodels, now, notes=[note], live_platform=True)
    finally:
        system.close()
    figures |= _ingest_figures(ingested)
    summary = Summary(seed, tenants, names, dataset=dataset, lines=len(lines), **figures)
    summary.report = report.write_page(out_dir / REPORT_FILE, page)
    return summary


class NotFreshError(TicketflowError):
    """The demo was pointed at a store or an output directory that already holds data."""


def require_fresh(settings: Settings, out_dir: Path, seed: int) -> None:
    """Refuse a data dir holding a store, or ``out_dir`` holding a demo's files, so that the
    data of two seeds never mix; checked before anything is written."""
    if settings.store == "sqlite":
        paths = (settings.data_dir / READMODELS_FILE, _event_store_file(settings))
        held = any(path is not None and path.exists() for path in paths)
        where = str(settings.data_dir)
    else:
        held = _stored_events(settings) > 0
        where = "the PostgreSQL store (TICKETFLOW_PG_DSN)"
    if held:
        raise NotFreshError(
            f"{where} already holds a ticketflow store: the demo loads its dataset into a "
            "fresh one, so that the figures are of this dataset alone. Choose another data "
            f"directory, e.g. 'ticketflow --data-dir ./demo-seed-{seed} demo --seed {seed}' "
            f"or 'TICKETFLOW_HOME=./demo-seed-{seed} ./scripts/demo --seed {seed}' (created if "
            "missing)"
        )
    if any((out_dir / name).exists() for name in (DATASET_FILE, REPORT_FILE)):
        raise NotFreshError(
            f"{out_dir} already holds a demo's dataset or report: give a new --out directory"
        )


def _event_store_file(settings: Settings) -> Path | None:
    if not settings.data_dir.is_dir():
        return None  # checked first: naming the store's file creates its directory
    return Path(eventstore_env(settings)["SQLITE_DBNAME"])


def _stored_events(settings: Settings) -> int:
    engine = open_engine(settings)
    try:
        return engine.recorder.max_notification_id() or 0
    finally:
        engine.close()


def _ingest(system: System, lines: list[str], origin: str, dead_path: Path) -> IngestReport:
    dead_path.unlink(missing_ok=True)  # one run, one dead-letter file
    dead = DeadLetterFile(dead_path, origin=origin)
    progress = Progress("ingest", len(lines))
    size = system.settings.batch_size
    try:
        return ingest_lines(system.engine, lines, dead, batch_size=size, progress=progress)
    finally:
        dead.close()


def _project(system: System) -> None:
    progress = Progress("project", system.engine.recorder.max_notification_id() or 0)
    system.project(progress=progress.update)
    progress.finish()


def _ingest_figures(ingested: IngestReport) -> dict[str, Any]:
    counts = Counter((r.reason, r.rule or "") for r in ingested.rejections)
    dead = str(ingested.dead_letter) if ingested.dead_letter else None
    return {
        "ingest": {
            "accepted": ingested.accepted,
            "duplicate": ingested.duplicate,
            "rejected": ingested.rejected,
            "dead_letter": dead,
        },
        "rejections": [
            {"reason": reason, "rule": rule, "lines": n}
            for (reason, rule), n in sorted(counts.items())
        ],
    }


# -- the summary as text ---------------------------------------------------------------------


def format_summary(summary: Summary, limit: int = 15) -> str:
    """What an analyst looks at first, as text tables."""
    latest = summary.months[-1]
    parts = [
        f"ticketflow demo: seed {summary.seed}, {summary.tenants} tenants, "
        f"{summary.months[0]} to {latest}, figures as of {summary.as_of}",
        *(f"note: {note}" for note in summary.notes),
        _section("Ingest (R-IN-1 duplicates, R-IN-3 rejections)", _ingest_text(summary)),
        _section(
            "P1 tickets with a GTR clock, per tier and month (R-SLA-10)",
            render.table(summary.p1, report.P1_COLUMNS),
        ),
        _section(
            "Tickets per SLA status (R-SLA-10; rule when not applicable)",
            render.table(summary.statuses, report.STATUS_COLUMNS),
        ),
        _section(
            f"Tier changes of {latest} (billed from the 1st of the next month, R-BILL-2)",
            render.table(summary.changes, report.CHANGE_COLUMNS),
        ),
        _section(
            "Customers over their hours (R-EXP-1, R-EXP-4, R-EXP-5)", _over_text(summary, limit)
        ),
    ]
    if summary.alerts is not None:
        parts.append(
            _section(
                f"SLA alerts told at {summary.as_of} (R-ALERT-1, R-ALERT-2)",
                _alerts_text(summary, limit),
            )
        )
    if summary.weather:
        parts.append(
            _section(
                f"Platform weather as of {summary.weather['as_of']} (R-PLAT-1..3)",
                _weather_text(summary.weather),
            )
        )
    return "\n\n".join(parts)


def _weather_text(data: dict[str, Any]) -> str:
    """Services, incidents and exceptional windows, and the P1 clocks still running on
    tickets linked to an incident: whom the mail campaign must reach (R-PLAT-3)."""

    def joined(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: ", ".join(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows]

    running = [link for link in data["linked_tickets"] if link["clock_running"]]
    return "\n\n".join(
        (
            render.table(joined(data["services"]), ("service", "state", "causes")),
            render.table(
                joined(data["incidents"]),
                (
                    "incident",
                    "state",
                    "declared_at",
                    "services",
                    "severity",
                    "tickets",
                    "running_p1_clocks",
                    "tenants",
                ),
            ),
            render.table(
                data["maintenances"],
                (
                    "maintenance",
                    "scope",
                    "starts_at",
                    "ends_at",
                    "announced_at",
                    "in_time",
                    "exempts",
                ),
            ),
            "P1 clocks still running on linked tickets:\n"
            + render.table(running, ("incident", "ticket", "tenant", "sla_status", "deadline")),
        )
    )


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g}"


ALERT_COLUMNS = ("threshold_at", "type", "ticket", "tenant", "tier", "deadline", "late")


def _alerts_text(summary: Summary, limit: int) -> str:
    """The alerts told at the demo's "now", latest threshold first."""
    rows = sorted(summary.alerts or (), key=lambda a: (a["threshold_at"], a["seq"]), reverse=True)
    counts = Counter(a["type"] for a in rows)
    head = (
        f"As 'ticketflow --now {summary.as_of} alerts' tells them: 50 %, 75 % and 100 % of a "
        "running GTR (warning, at_risk, breached) and a stop after a breach (stopped), within "
        "the alerter's look-back; late: told more than 5 s after the threshold was crossed.\n"
        + ("  ".join(f"{kind} {counts[kind]}" for kind in sorted(counts)) or "no alert")
    )
    more = f"\n... and {len(rows) - limit} more in the report" if len(rows) > limit else ""
    return head + "\n" + render.table(rows[:limit], ALERT_COLUMNS) + more


def _section(title: str, body: str) -> str:
    return f"{title}\n{'=' * len(title)}\n{body}"


def _ingest_text(summary: Summary) -> str:
    i = summary.ingest
    head = (
        f"lines {summary.lines}  accepted {i['accepted']}  duplicate {i['duplicate']}  "
        f"rejected {i['rejected']}"
    )
    where = f"\nrejected lines written to {i['dead_letter']}" if i["dead_letter"] else ""
    return head + where + "\n" + render.table(summary.rejections, ("reason", "rule", "lines"))


def _over_text(summary: Summary, limit: int) -> str:
    per_month: dict[str, list[dict[str, Any]]] = {m: [] for m in summary.months}
    for row in summary.overage:
        per_month.setdefault(row["month"], []).append(row)
    counts = [
        {
            "month": m,
            "customers": len(rows),
            "overage_hours": round(sum(r["overage_hours"] for r in rows), 2),
            "unfunded_hours": round(sum(r["unfunded_hours"] for r in rows), 2),
        }
        for m, rows in per_month.items()
    ]
    latest = per_month[summary.months[-1]]
    more = f"\n... and {len(latest) - limit} more in the report" if len(latest) > limit else ""
    return (
        render.table(counts, ("month", "customers", "overage_hours", "unfunded_hours"))
        + f"\n\n{summary.months[-1]}, most over first (tiers: those in force during the "
        "month; included hours: the largest of their allowances):\n"
        + render.table(latest[:limit], report.OVER_COLUMNS)
        + more
    )

"""The engine: an eventsourcing Application that applies validated inbound facts.

Each inbound event touches exactly one aggregate (its subject). Events are applied in batches:
every aggregate changed by a batch is saved in one transaction, together with the inbound
position when one is given (Kafka mode). Idempotency (R-IN-1) is the ``(source, id)`` key kept
in the aggregate's own events: a permanent record, rebuilt with the aggregate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    LRUCache,
    ProcessingEvent,
)
from eventsourcing.persistence import ProcessRecorder, RecordConflictError, Tracking, Transcoder

from ticketflow.contract import (
    HoursConsumedData,
    InboundEvent,
    IncidentData,
    LinkedToIncidentData,
    MaintenanceAnnouncedData,
    PackPurchasedData,
    PriorityChangedData,
    SubscriptionStartedData,
    TicketEscalatedData,
    TicketOpenedData,
    TierDowngradedData,
    TierUpgradedData,
)
from ticketflow.domain.catalog import DEFAULT_CATALOG, Catalog, Tier
from ticketflow.domain.errors import (
    AlreadyOpenedError,
    DomainError,
    PlatformTransitionError,
    TenantMismatchError,
    UnknownPlatformFactError,
    UnknownTicketError,
    rejection_reasons,
)
from ticketflow.domain.expertise import hours_to_minutes, tier_at
from ticketflow.domain.ids import incident_id, maintenance_id, subscription_id, ticket_id
from ticketflow.domain.platform import Incident, Maintenance
from ticketflow.domain.subscription import Subscription
from ticketflow.domain.ticket import Ticket
from ticketflow.errors import RejectedError
from ticketflow.service.transcoding import FastJSONTranscoder

Aggregate = Ticket | Subscription | Maintenance | Incident


@dataclass(frozen=True)
class Outcome:
    """What became of one inbound event."""

    status: str  # accepted | duplicate | rejected
    error: RejectedError | None = None


@dataclass(frozen=True)
class Decision:
    """Outcomes of a batch and the aggregates it changed, not yet stored."""

    outcomes: list[Outcome]
    batch: dict[UUID, Aggregate]


# Every reason a rejection by the engine can carry; each comes with a rule id (R-IN-3).
REJECTION_REASONS = tuple(rejection_reasons())
ACCEPTED = Outcome("accepted")
DUPLICATE = Outcome("duplicate")


class Engine(Application[UUID]):
    """Applies inbound facts to ``Ticket``, ``Subscription``, ``Maintenance`` and ``Incident``
    aggregates."""

    name = "ticketflow"
    # The aggregates in use stay in memory: every subscription and every ticket not closed
    # (see ``commit``), up to a bound, so that the process's memory follows the live state,
    # not the log's size (one evicted is read back from the store when a fact about it
    # comes). ``AGGREGATE_CACHE_MAXSIZE`` in the environment overrides the bound.
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "50000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    _absent: set[UUID] = set()  # noqa: RUF012 (replaced per batch, never mutated)
    # The catalog decisions are taken with (R-TIER-1); ``whatif`` gives its scratch engine a
    # proposed one.
    catalog: Catalog = DEFAULT_CATALOG

    def construct_transcoder(self) -> Transcoder:
        # eventsourcing's JSON with orjson where it gives the same bytes (service/transcoding).
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder, so an inbound position can be written with the events.
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        """The recorder, with its tracking of inbound and relay positions."""
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    # -- commands -------------------------------------------------------------------------

    def apply(self, event: InboundEvent) -> Outcome:
        """Apply one inbound event in its own transaction."""
        return self.apply_batch([event])[0]

    def apply_batch(
        self, events: Sequence[InboundEvent], tracking: Tracking | None = None
    ) -> list[Outcome]:
        """Apply events in order; save every change, and ``tracking``, in one transaction.

        If another writer changed one of the aggregates meanwhile (optimistic concurrency),
        the cached aggregates are dropped and the batch is decided again from the store.
        """
        decision = self.decide(events)
        try:
            self.commit(decision, tracking)
        except RecordConflictError:
            self.forget_cached()
            decision = self.decide(events)
            self.commit(decision, tracking)
        return decision.outcomes

    def forget_cached(self) -> None:
        """Drop every cached aggregate (another process wrote to the store)."""
        if isinstance(self.repository.cache, LRUCache):
            self.repository.cache.clear()

    def decide(self, events: Sequence[InboundEvent]) -> Decision:
        """Run the commands; nothing is stored until :meth:`commit` (or :meth:`abandon`)."""
        batch: dict[UUID, Aggregate] = {}
        self._absent = self._absent_among(events)
        try:
            outcomes = [self._apply_one(event, batch) for event in events]
        finally:
            self._absent = set()
        return Decision(outcomes, batch)

    def _absent_among(self, events: Sequence[InboundEvent]) -> set[UUID]:
        """Ids of new tickets and subscriptions in the batch that have no stored events, found
        with one query instead of one failed load each."""
        cache = self.repository.cache
        if cache is None:
            return set()
        tenants, tickets, maintenances, incidents = set(), set(), set(), set()
        for event in events:  # one pass; each subject's id made once
            tenants.add(event.tenant)
            kind = event.type
            if kind == "ticket.opened":
                tickets.add(event.subject)
            elif kind == "platform.maintenance_announced":
                maintenances.add(event.subject)
            elif kind == "platform.incident_declared":
                incidents.add(event.subject)
        tenants.discard("")  # platform facts carry no tenant (R-PLAT-4)
        wanted = [subscription_id(t) for t in tenants]
        wanted += [ticket_id(t) for t in tickets]
        wanted += [maintenance_id(m) for m in maintenances]
        wanted += [incident_id(i) for i in incidents]
        cached = cache.cache  # eventsourcing's caches keep their entries in this mapping
        unknown = [i for i in wanted if i not in cached]
        if not unknown:
            return set()
        return set(unknown) - self._stored_among(unknown)

    def _stored_among(self, ids: list[UUID]) -> set[UUID]:
        stored_among = getattr(self.recorder, "stored_among", None)
        if stored_among is None:  # a recorder without the shortcut: every id is loaded
            return set(ids)
        found: set[UUID] = stored_among(ids)
        return found

    def commit(self, decision: Decision, tracking: Tracking | None = None) -> None:
        """Store the decided changes, with the inbound position when given, atomically."""
        processing = ProcessingEvent[UUID](tracking)
        closed = []
        for aggregate in decision.batch.values():  # ``collect_events`` without its type checks
            processing.events.extend(aggregate.collect_events())
            if type(aggregate) is Ticket and aggregate.state == "closed":
                closed.append(aggregate.id)  # final: read back in the rare case it is needed
            else:
                processing.aggregates[aggregate.id] = aggregate
        if processing.events or tracking is not None:
            try:
                self._record(processing)  # which caches ``processing.aggregates``
            except Exception:
                self.abandon(decision)
                raise
            for aggregate_id in closed:
                self._evict(aggregate_id)

    def abandon(self, decision: Decision) -> None:
        """Forget decided changes: the aggregates are reloaded from the store next time."""
        for aggregate_id in decision.batch:
            self._evict(aggregate_id)

    def _apply_one(self, event: InboundEvent, batch: dict[UUID, Aggregate]) -> Outcome:
        handler = self._handlers[event.type]
        try:
            return handler(self, event, batch)
        except DomainError as exc:  # the reason and rule are the domain's (R-IN-3)
            return Outcome("rejected", RejectedError(exc.reason, str(exc), exc.rule))

    # -- ticket facts ---------------------------------------------------------------------

    def _opened(self, event: InboundEvent, batch: dict[UUID, Aggregate]) -> Outcome:
        existing = self._find(ticket_id(event.subject), batch)
        if isinstance(existing, Ticket):
            if existing.tenant != event.tenant:  # before anything that would describe it
                raise TenantMismatchError(id_not_available_detail(event.subject, event.tenant))
            if existing.has_applied(event.key):
                return DUPLICATE
            raise AlreadyOpenedError(
                f"ticket {event.subject} was already opened (by another event); "
                "send ticket.reopened to start a new cycle"
            )
        data = _data(event, TicketOpenedData)
        ticket = Ticket.open(
            ticket=event.subject,
            tenant=event.tenant,
            at=event.time,
            inbound=event.key,
            priority=data.priority,
            channel=data.channel,
            language=data.language,
            category=data.category,
            beta_feature=data.beta_feature,
            summary=data.summary,
            tier=self._tier_at(event, batch),
            catalog=self.catalog,
        )
        if data.platform_incident is not None:  # linked at opening (R-PLAT-3)
            ticket.link_incident(
                at=event.time, inbound=event.key, platform_incident=data.platform_incident
            )
        batch[ticket.id] = ticket
        return ACCEPTED

    def _ticket_fact(self, event: InboundEvent, batch: dict[UUID, Aggregate]) -> Outcome:
        ticket = self._find(ticket_id(event.subject), batch)
        if not isinstance(ticket, Ticket):
            raise UnknownTicketError(unknown_ticket_detail(event.type, event.subject))
        ticket.require_tenant(event.tenant)  # first: a duplicate would tell it exists
        if ticket.has_applied(event.key):
            return DUPLICATE
        at, key = event.time, event.key
        match event.type:
            case "ticket.acknowledged":
                ticket.acknowledge(at=at, inbound=key)
            case "ticket.escalated":
                ticket.escalate(at=at, inbound=key, level=_data(event, TicketEscalatedData).level)
            case "ticket.priority_changed":
                priority = _data(event, PriorityChangedData).priority
                tier = self._tier_at(event, batch)
                ticket.change_priority(
                    at=at, inbound=key, priority=priority, tier=tier, catalog=self.catalog
                )
            case "ticket.service_restored":
                ticket.restore_service(at=at, inbound=key)
            case "ticket.resolved":
                ticket.resolve(at=at, inbound=key)
            case "ticket.closed":
                ticket.close(at=at, inbound=key)
            case "ticket.reopened":
                tier = self._tier_at(event, batch)
                ticket.reopen(at=at, inbound=key, tier=tier, catalog=self.catalog)
            case "ticket.linked_to_incident":
                incident = _data(event, LinkedToIncidentData).platform_incident
                ticket.link_incident(at=at, inbound=key, platform_incident=incident)
        batch[ticket.id] = ticket
        return ACCEPTED

    # -- platform facts (R-PLAT-*; no tenant, R-PLAT-4) -----------------------------------

    def _maintenance(self, event: InboundEvent, batch: dict[UUID, Aggregate]) -> Outcome:
        found = self._find(maintenance_id(event.subject), batch)
        if isinstance(found, Maintenance) and found.has_applied(event.key):
            return DUPLICATE
        if event.type == "platform.maintenance_announced":
            if found is not None:
                raise PlatformTransitionError(
                    f"maintenance {event.subject} was already announced; announce a change "
                    "under a new id and cancel this one",
                    rule="R-PLAT-1",
                )
            data = _data(event, MaintenanceAnnouncedData)
            found = Maintenance.announce(
                maintenance=event.subject,
                at=event.time,
                inbound=event.key,
                starts_at=data.starts_at,
                ends_at=data.ends_at,
                scope=data.scope,
                summary=data.summary,
            )
        elif not isinstance(found, Maintenance):
            raise UnknownPlatformFactError(
                f"{event.type} for maintenance {event.subject}, which was never announced",
                rule="R-PLAT-1",
            )
        else:
            found.cancel(at=event.time, inbound=event.key)
        batch[found.id] = found
        return ACCEPTED

    def _incident(self, event: InboundEvent, batch: dict[UUID, Aggregate]) -> Outcome:
        found = self._find(incident_id(event.subject), batch)
        if isinstance(found, Incident) and found.has_applied(event.key):
            return DUPLICATE
        if event.type == "platform.incident_declared":
            if found is not None:
                raise PlatformTransitionError(
                    f"incident {event.subject} was already declared; send "
                    "platform.incident_updated",
                    rule="R-PLAT-2",
                )
            data = _data(event, IncidentData)
            found = Incident.declare(
                incident=event.subject,
                at=event.time,
                inbound=event.key,
                services=data.services,
                severity=data.severity,
                status=data.status,
                summary=data.summary,
            )
        elif not isinstance(found, Incident):
            raise UnknownPlatformFactError(
                f"{event.type} for incident {event.subject}, which was never declared",
                rule="R-PLAT-2",
            )
        elif event.type == "platform.incident_updated":
            data = _data(event, IncidentData)
            found.update(
                at=event.time,
                inbound=event.key,
                services=data.services,
                severity=data.severity,
                status=data.status,
                summary=data.summary,
            )
        else:
            found.resolve(at=event.time, inbound=event.key)
        batch[found.id] = found
        return ACCEPTED

    # -- subscription facts ---------------------------------------------------------------

    def _started(self, event: InboundEvent, batch: dict[UUID, Aggregate]) -> Outcome:
        existing = self._find(subscription_id(event.tenant), batch)
        tier = _data(event, SubscriptionStartedData).tier
        if isinstance(existing, Subscription):
            if existing.has_applied(event.key):
                return DUPLICATE
            existing.subscribe(at=event.time, inbound=event.key, tier=tier)
            batch[existing.id] = existing
            return ACCEPTED
        subscription = Subscription.start(
            tenant=event.tenant, at=event.time, inbound=event.key, tier=tier
        )
        batch[subscription.id] = subscription
        return ACCEPTED

    def _subscription_fact(self, event: InboundEvent, batch: dict[UUID, Aggregate]) -> Outcome:
        found = self._find(subscription_id(event.tenant), batch)
        if isinstance(found, Subscription):
            if found.has_applied(event.key):
                return DUPLICATE
            subscription = found
        else:  # first seen: STANDARD (R-TIER-2); the command below may still refuse the fact
            subscription = Subscription.default(
                tenant=event.tenant, at=event.time, inbound=event.key
            )
        at, key = event.time, event.key
        match event.data:
            case TierUpgradedData(tier=tier):
                subscription.upgrade(at=at, inbound=key, tier=tier)
            case TierDowngradedData(tier=tier, support_ticket=ticket):
                subscription.downgrade(at=at, inbound=key, tier=tier, support_ticket=ticket)
            case PackPurchasedData(pack_id=pack_id, hours=hours):
                minutes = hours_to_minutes(hours)
                subscription.purchase_pack(at=at, inbound=key, pack_id=pack_id, minutes=minutes)
            case HoursConsumedData() as data:
                subscription.consume(
                    at=at,
                    inbound=key,
                    minutes=hours_to_minutes(data.hours),
                    ticket=data.ticket,
                    expert=data.expert,
                    activity=data.activity,
                    catalog=self.catalog,
                )
        batch[subscription.id] = subscription
        return ACCEPTED

    _handlers: ClassVar[dict[str, Callable[[Engine, InboundEvent, dict[UUID, Any]], Outcome]]] = {
        "ticket.opened": _opened,
        "ticket.acknowledged": _ticket_fact,
        "ticket.escalated": _ticket_fact,
        "ticket.priority_changed": _ticket_fact,
        "ticket.service_restored": _ticket_fact,
        "ticket.resolved": _ticket_fact,
        "ticket.closed": _ticket_fact,
        "ticket.reopened": _ticket_fact,
        "ticket.linked_to_incident": _ticket_fact,
        "subscription.started": _started,
        "subscription.tier_upgraded": _subscription_fact,
        "subscription.tier_downgraded": _subscription_fact,
        "expertise.pack_purchased": _subscription_fact,
        "expertise.hours_consumed": _subscription_fact,
        "platform.maintenance_announced": _maintenance,
        "platform.maintenance_cancelled": _maintenance,
        "platform.incident_declared": _incident,
        "platform.incident_updated": _incident,
        "platform.incident_resolved": _incident,
    }

    # -- helpers --------------------------------------------------------------------------

    def _tier_at(self, event: InboundEvent, batch: dict[UUID, Aggregate]) -> Tier:
        """Tier in force for service at the event's time (a tenant without a subscription has
        no tier history: the domain's ``tier_at`` gives R-TIER-2's default)."""
        subscription = self._find(subscription_id(event.tenant), batch)
        if isinstance(subscription, Subscription):
            return subscription.tier_at(event.time)
        return tier_at([], event.time)

    def _find(self, aggregate_id: UUID, batch: dict[UUID, Aggregate]) -> Aggregate | None:
        if aggregate_id in batch:
            return batch[aggregate_id]
        if aggregate_id in self._absent:
            return None
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate

    def _evict(self, aggregate_id: UUID) -> None:
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    # -- queries --------------------------------------------------------------------------

    def ticket(self, ticket: str) -> Ticket:
        return self.repository.get(ticket_id(ticket))

    def subscription(self, tenant: str) -> Subscription:
        return self.repository.get(subscription_id(tenant))


T = TypeVar("T")


def unknown_ticket_detail(type_: str, ticket: str) -> str:
    """What a fact about a ticket never opened is told (R-SLA-2); also what a tenant is told
    about another tenant's ticket, through an API key scoped to it (R-ACC-3)."""
    return f"{type_} for ticket {ticket}, which was never opened (send ticket.opened first)"


def id_not_available_detail(ticket: str, tenant: str) -> str:
    """What a tenant opening a ticket under another tenant's ticket id is told (R-ACC-3):
    ticket ids are one namespace, so the id is refused, but nothing says it was opened, when,
    for whom or in what state."""
    return (
        f"ticket id {ticket} is not available to tenant {tenant} "
        "(ticket ids are unique across tenants): open the ticket under another id"
    )


def as_sender_sees(
    type_: str, ticket: str, reason: str, detail: str, rule: str | None
) -> tuple[str, str, str | None]:
    """A rejection as the tenant that sent the event may be told it (R-ACC-3): a fact about
    another tenant's ticket reads word for word as one about a ticket never opened (R-SLA-2);
    an opening under another tenant's id keeps its own answer, which names no other tenant."""
    if reason != TenantMismatchError.reason or type_ == "ticket.opened":
        return reason, detail, rule
    unknown = UnknownTicketError(unknown_ticket_detail(type_, ticket))
    return unknown.reason, str(unknown), unknown.rule


def _data(event: InboundEvent, model: type[T]) -> T:
    assert isinstance(event.data, model), f"{event.type} carries {type(event.data).__name__}"
    return event.data

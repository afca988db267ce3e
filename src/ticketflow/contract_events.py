"""The outbound contract (DESIGN §3b): what ``ticketflow.events`` and ``ticketflow log`` publish.

One record per stored domain event, a CloudEvent with a stable, versioned ``type`` that does not
depend on where a class lives (``ticketflow.ticket.opened.v1``), ``subject`` = the upstream id
(ticket, or tenant for subscription and expertise facts), ``time`` = the fact's business time,
extensions ``tenant`` and ``position`` (the event store's position), and ``data`` as plain JSON:
RFC 3339 UTC instants, integers for minutes.

:data:`TYPES` is the one mapping from domain events to published types. Each published type
has a pydantic model of its ``data``: it names the fields published (in that order) and is the
single source of ``schemas/events/*.json`` (``ticketflow schemas export``). Records are built
without pydantic (one dictionary per event); the tests validate them against the schemas.

A stored event of an older class version is upcast by the domain class first, then published
under the type version the table declares for it: the published version moves only when the
published ``data`` changes incompatibly (then ``….v2`` gets its own model and schema).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, Notification
from eventsourcing.utils import resolve_topic
from pydantic import BaseModel, ConfigDict, Field

from ticketflow.domain.instants import rfc3339
from ticketflow.domain.sla import deadline_at
from ticketflow.errors import TicketflowError

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
SCHEMA_BASE = "https://ticketflow.dev/schemas/events/"

Instant = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$",
        json_schema_extra={"format": "date-time"},
        description="RFC 3339 instant in UTC (`Z`), with a fraction of a second when it has one",
    ),
]
Minutes = Annotated[int, Field(ge=0, description="whole minutes")]
TierName = Literal["STANDARD", "BRONZE", "SILVER", "GOLD"]
Priority = Literal["P1", "P2", "P3", "P4"]
Rule = Annotated[str, Field(pattern=r"^R-[A-Z]+-\d+$", description="a rule id of DESIGN §2")]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    inbound: str = Field(
        description="the upstream fact that produced this event: its `source`, one space, its "
        "`id` (R-IN-1)"
    )


class _Clock(_Data):
    """Clock fields of a fact that may start a GTR clock (R-SLA-1..4, R-SLA-8, R-SLA-9)."""

    clock_started_at: Instant | None = Field(description="when the GTR clock started, or null")
    clock_tier: TierName | None = Field(description="tier in force for service at clock start")
    gtr_minutes: Minutes | None = Field(description="the GTR fixed at clock start (R-SLA-4)")
    edition: str | None = Field(description="catalog edition that fixed the GTR (R-TIER-1)")
    deadline: Instant | None = Field(
        description="clock start + GTR, counted 24x7 (R-SLA-5); null when no clock started"
    )
    no_clock_rule: Rule | None = Field(description="why no clock started, when none did")
    no_clock_detail: str | None = Field(description="the reason in words")


class TicketOpenedV1(_Clock):
    """A ticket was opened (R-SLA-2); its clock decision."""

    priority: Priority
    channel: Literal["portal", "phone", "email"]
    language: Literal["fr", "en"]
    category: str
    beta_feature: bool
    summary: str | None
    tier: TierName = Field(description="tier in force for service at opening (R-SLA-4)")
    in_planned_window: bool = Field(description="opened in a planned maintenance window (R-SLA-9)")


class TicketAcknowledgedV1(_Data):
    """The ticket was acknowledged."""


class TicketEscalatedV1(_Data):
    """The ticket was escalated (levels only go up)."""

    level: Literal["L2", "L3"]


class TicketPriorityChangedV1(_Clock):
    """The priority changed: a raise to P1 may start a clock (R-SLA-3), a lowering cancels a
    running one."""

    cycle: int = Field(ge=1, description="the cycle the change belongs to (R-SLA-7)")
    priority: Priority
    from_priority: Priority
    tier: TierName = Field(description="tier in force for service at the change")
    clock_effect: Literal["started", "cancelled", "none"]
    new_cycle: bool = Field(description="a raise to P1 after a cancelled clock opens a cycle")


class TicketStoppedV1(_Data):
    """Service restored, ticket resolved or closed: stops the cycle's clock if it still ran
    (R-SLA-6)."""

    cycle: int = Field(ge=1)
    stopped_clock: bool = Field(description="whether this fact stopped a running clock")
    deadline: Instant | None = Field(
        description="deadline of the clock stopped; null when none was, or for facts recorded "
        "before stops carried it (take it from the cycle's start)"
    )


class TicketServiceRestoredV1(TicketStoppedV1):
    """Service was restored (R-SLA-6)."""


class TicketResolvedV1(TicketStoppedV1):
    """The ticket was resolved."""


class TicketClosedV1(TicketStoppedV1):
    """The ticket was closed (final)."""


class TicketReopenedV1(_Clock):
    """The ticket was reopened: a new cycle with its own clock decision (R-SLA-7)."""

    cycle: int = Field(ge=2)
    tier: TierName


class _Change(_Data):
    tier: TierName = Field(description="tier in force for service from `time`")
    billing_effective_at: Instant = Field(description="billed from (R-BILL-2, R-BILL-3)")
    service_rule: Rule
    billing_rule: Rule


class SubscriptionStartedV1(_Change):
    """A subscription began: explicitly, or implicitly at STANDARD (R-TIER-2)."""

    implicit: bool


class _TierChange(_Change):
    from_tier: TierName


class SubscriptionSubscribedV1(_TierChange):
    """The explicit start of a subscription that was implicit STANDARD until then."""


class SubscriptionTierUpgradedV1(_TierChange):
    """An upgrade, in force at once (R-BILL-1)."""


class SubscriptionTierDowngradedV1(_TierChange):
    """A downgrade, through a support ticket (R-BILL-4)."""

    support_ticket: str


class ExpertisePackPurchasedV1(_Data):
    """A pack of expert hours was bought (never expires, R-EXP-3)."""

    pack_id: str
    minutes: Minutes


class ExpertiseHoursConsumedV1(_Data):
    """Expert time was used, and how it was funded (R-EXP-4..6)."""

    minutes: Minutes
    ticket: str | None
    expert: str | None
    activity: str | None
    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="the Europe/Paris month")
    tier: TierName
    privileged: bool
    allowance_minutes: Minutes = Field(description="the month's allowance then (R-EXP-1)")
    from_allowance: Minutes
    from_packs: list[tuple[str, Minutes]] = Field(
        description="`[pack_id, minutes]` drawn from packs, oldest first (R-EXP-4)"
    )
    overage: Minutes
    unfunded: Minutes


class TicketLinkedToIncidentV1(_Data):
    """The ticket was linked to a platform incident (R-PLAT-3); its GTR is unchanged."""

    platform_incident: str


class PlatformMaintenanceAnnouncedV1(_Data):
    """An exceptional maintenance was announced (R-PLAT-1)."""

    starts_at: Instant
    ends_at: Instant
    scope: Literal["control_plane", "services"]
    summary: str | None
    in_time: bool = Field(
        description="announced before it starts (`time` < `starts_at`): only then may a "
        "control_plane maintenance exempt control-plane tickets (R-PLAT-1)"
    )


class PlatformMaintenanceCancelledV1(_Data):
    """The maintenance was withdrawn: before its start it never happens, while under way it
    stops at `time` (R-PLAT-1)."""


Service = Literal["compute", "network", "storage", "backup", "control_plane"]


class PlatformIncidentV1(_Data):
    """A platform incident was declared, or restated (R-PLAT-2)."""

    services: list[Service]
    severity: Literal["degraded", "outage"]
    status: str | None
    summary: str | None


class PlatformIncidentDeclaredV1(PlatformIncidentV1):
    """A platform incident was declared (R-PLAT-2)."""


class PlatformIncidentUpdatedV1(PlatformIncidentV1):
    """The incident's services, severity or status changed (R-PLAT-2)."""


class PlatformIncidentResolvedV1(_Data):
    """The incident is over (R-PLAT-2)."""


Subject = Literal["ticket", "tenant", "maintenance", "incident"]


class EventType(NamedTuple):
    """A published type: its name, the model of its ``data``, and the subject's kind."""

    name: str
    model: type[_Data]
    subject: Subject


def _t(name: str, model: type[_Data], subject: Subject) -> EventType:
    return EventType(f"ticketflow.{name}.v1", model, subject)


# Domain event (the class's qualified name; its module never moves) → published type.
TYPES: dict[str, EventType] = {
    "Ticket.Opened": _t("ticket.opened", TicketOpenedV1, "ticket"),
    "Ticket.Acknowledged": _t("ticket.acknowledged", TicketAcknowledgedV1, "ticket"),
    "Ticket.Escalated": _t("ticket.escalated", TicketEscalatedV1, "ticket"),
    "Ticket.PriorityChanged": _t("ticket.priority_changed", TicketPriorityChangedV1, "ticket"),
    "Ticket.ServiceRestored": _t("ticket.service_restored", TicketServiceRestoredV1, "ticket"),
    "Ticket.Resolved": _t("ticket.resolved", TicketResolvedV1, "ticket"),
    "Ticket.Closed": _t("ticket.closed", TicketClosedV1, "ticket"),
    "Ticket.Reopened": _t("ticket.reopened", TicketReopenedV1, "ticket"),
    "Subscription.Started": _t("subscription.started", SubscriptionStartedV1, "tenant"),
    "Subscription.Subscribed": _t("subscription.subscribed", SubscriptionSubscribedV1, "tenant"),
    "Subscription.TierUpgraded": _t(
        "subscription.tier_upgraded", SubscriptionTierUpgradedV1, "tenant"
    ),
    "Subscription.TierDowngraded": _t(
        "subscription.tier_downgraded", SubscriptionTierDowngradedV1, "tenant"
    ),
    "Subscription.PackPurchased": _t(
        "expertise.pack_purchased", ExpertisePackPurchasedV1, "tenant"
    ),
    "Subscription.HoursConsumed": _t(
        "expertise.hours_consumed", ExpertiseHoursConsumedV1, "tenant"
    ),
    "Ticket.LinkedToIncident": _t("ticket.linked_to_incident", TicketLinkedToIncidentV1, "ticket"),
    "Maintenance.Announced": _t(
        "platform.maintenance_announced", PlatformMaintenanceAnnouncedV1, "maintenance"
    ),
    "Maintenance.Cancelled": _t(
        "platform.maintenance_cancelled", PlatformMaintenanceCancelledV1, "maintenance"
    ),
    "Incident.Declared": _t("platform.incident_declared", PlatformIncidentDeclaredV1, "incident"),
    "Incident.Updated": _t("platform.incident_updated", PlatformIncidentUpdatedV1, "incident"),
    "Incident.Resolved": _t("platform.incident_resolved", PlatformIncidentResolvedV1, "incident"),
}
TYPE_NAMES = frozenset(t.name for t in TYPES.values())


def type_of(stored_topic: str) -> EventType | None:
    """The published type of a stored event's topic (``ticketflow.domain.ticket:Ticket.Opened``)."""
    return TYPES.get(stored_topic.rsplit(":", 1)[-1])


PLATFORM_KEY = "platform"


class Published(NamedTuple):
    """One record of ``ticketflow.events``, as consumers (and the projections) see it.

    ``tenant`` is ``None`` for platform facts (R-PLAT-4): they carry no ``tenant`` attribute
    and are keyed ``platform``."""

    id: str  # ``<aggregate id>:<version>``: stable, unique per event
    source: str
    type: str
    subject: str
    time: str
    tenant: str | None
    position: int
    data: dict[str, Any]

    @property
    def key(self) -> str:
        """The Kafka key on ``ticketflow.events``: the tenant, or ``platform`` (R-IN-5)."""
        return PLATFORM_KEY if self.tenant is None else self.tenant

    @property
    def version(self) -> int:
        """The event's version within its aggregate (1 for the first)."""
        return int(self.id.rsplit(":", 1)[1])

    def structured(self) -> dict[str, Any]:
        """The CloudEvent in structured mode (JSON format); no ``tenant`` for platform facts."""
        event = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time,
            "datacontenttype": CONTENT_TYPE,
            "dataschema": SCHEMA_BASE + self.type + ".json",
            "tenant": self.tenant,
            "position": self.position,
            "data": self.data,
        }
        if self.tenant is None:
            del event["tenant"]
        return event

    def headers(self) -> list[tuple[str, bytes]]:
        """Binary mode: the attributes as ``ce_*`` headers (the value is ``data``); no
        ``ce_tenant`` for platform facts."""
        tenant = [] if self.tenant is None else [("ce_tenant", self.tenant.encode())]
        return [
            ("ce_specversion", b"1.0"),
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_subject", self.subject.encode()),
            ("ce_time", self.time.encode()),
            *tenant,
            ("ce_position", str(self.position).encode()),
            ("content-type", b"application/json"),
        ]

    def value(self) -> bytes:
        """``data`` as compact UTF-8 JSON (orjson: the relay encodes every event)."""
        return orjson.dumps(self.data)


def from_binary(headers: dict[str, bytes], value: bytes) -> Published:
    """A record of ``ticketflow.events`` read back: headers and value decoded once."""
    return Published(
        headers["ce_id"].decode(),
        headers["ce_source"].decode(),
        headers["ce_type"].decode(),
        headers["ce_subject"].decode(),
        headers["ce_time"].decode(),
        headers["ce_tenant"].decode() if "ce_tenant" in headers else None,
        int(headers["ce_position"]),
        orjson.loads(value),
    )


def _encoder(event_type: EventType) -> Callable[[Any], dict[str, Any]]:
    """``data`` of one published type from its domain event: the model's fields, in order;
    ``deadline`` of a fact that may start a clock is derived from it (R-SLA-4, R-SLA-5)."""
    fields = tuple(event_type.model.model_fields)
    derive_deadline = issubclass(event_type.model, _Clock)

    def encode(event: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name in fields:
            if derive_deadline and name == "deadline":
                start = event.clock_started_at
                value = None if start is None else deadline_at(start, event.gtr_minutes)
            else:
                value = getattr(event, name)
            data[name] = rfc3339(value) if isinstance(value, datetime) else value
        return data

    return encode


ENCODERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    qualname: _encoder(t) for qualname, t in TYPES.items()
}


# -- the relay's path: published records from the stored JSON ----------------------------------
#
# The relay publishes every stored event once. Decoding it into a domain event parses each
# instant into a datetime only for :func:`_encoder` to write it back as text; here the stored
# JSON is read as it is and an instant's ISO text becomes RFC 3339 text directly. It gives the
# record :meth:`Outbound.record` gives through the domain event, field for field, for a stored
# event of its class's current version whose values are plain (text, numbers, booleans, null,
# lists of those, instants in UTC as ``isoformat`` writes them); anything else (an older version
# to upcast, another offset, a nested object, a cipher or a compressor) goes the domain
# event's way.


class _NotDirectError(TicketflowError):
    """A stored value the direct path does not read: the domain event's way decides."""


class _Shape(NamedTuple):
    """What the direct path needs of a stored topic's class."""

    cls: type
    qualname: str
    event_type: EventType
    class_version: int
    fields: tuple[str, ...]
    clock: bool  # ``deadline`` derived from the clock's start (R-SLA-4, R-SLA-5)


_SHAPES: dict[str, _Shape | None] = {}
_MISSING = object()


def _shape(topic: str) -> _Shape | None:
    """The :class:`_Shape` of a stored topic, ``None`` for one that is not published."""
    try:
        return _SHAPES[topic]
    except KeyError:
        pass
    shape = None
    try:
        cls = resolve_topic(topic)
    except Exception:  # the domain event's way says what is wrong with it
        cls = None
    if isinstance(cls, type) and (event_type := TYPES.get(cls.__qualname__)) is not None:
        shape = _Shape(
            cls,
            cls.__qualname__,
            event_type,
            getattr(cls, "class_version", 1),
            tuple(event_type.model.model_fields),
            issubclass(event_type.model, _Clock),
        )
    _SHAPES[topic] = shape
    return shape


def _direct(mapper: Any) -> bool:
    """Whether the stored JSON of ``mapper``'s events is read as it is: no cipher, no
    compressor, and instants written by eventsourcing's ``DatetimeAsISO``."""
    names = getattr(getattr(mapper, "transcoder", None), "names", None)
    return (
        getattr(mapper, "cipher", None) is None
        and getattr(mapper, "compressor", None) is None
        and isinstance(names, dict)
        and type(names.get("datetime_iso")) is DatetimeAsISO
    )


def _iso_utc(value: Any) -> str:
    """The stored ISO text of an instant in UTC (``datetime.isoformat``: seconds, or
    microseconds when there are any, then ``+00:00``)."""
    if (
        type(value) is dict
        and len(value) == 2
        and value.get("_type_") == "datetime_iso"
        and type(text := value.get("_data_")) is str
        and text.endswith("+00:00")
        and text[10] == "T"
        and (len(text) == 25 or (len(text) == 32 and text[19] == "." and text[20:26] != "000000"))
    ):
        return text
    raise _NotDirectError


def _no_object(values: list[Any]) -> None:
    """A stored list is published as it is read when it holds no JSON object."""
    for item in values:
        kind = type(item)
        if kind is dict:
            raise _NotDirectError
        if kind is list:
            _no_object(item)


def _data_from_state(shape: _Shape, state: dict[str, Any]) -> dict[str, Any]:
    """``data`` of a stored event, as :func:`_encoder` gives it from the domain event. The
    state is read by orjson: its values are text, numbers, booleans, null, lists or objects."""
    data: dict[str, Any] = {}
    derived = "deadline" if shape.clock else None
    for name in shape.fields:
        if name == derived:  # derived from the clock's start, not stored
            start = state.get("clock_started_at", _MISSING)
            if start is None:
                data[name] = None
                continue
            minutes = state.get("gtr_minutes")
            if type(minutes) is not int:
                raise _NotDirectError
            data[name] = rfc3339(deadline_at(datetime.fromisoformat(_iso_utc(start)), minutes))
            continue
        try:
            value = state[name]
        except KeyError:
            raise _NotDirectError from None
        kind = type(value)
        if kind is dict:
            value = _iso_utc(value)[:-6] + "Z"
        elif kind is list:
            _no_object(value)
        data[name] = value
    return data


def _stored_state(shape: _Shape, stored: bytes) -> dict[str, Any] | None:
    """The stored JSON of an event of ``shape``'s class, parsed, or ``None`` when the direct
    path does not read it (not an object, or an older class version to upcast)."""
    try:
        state = orjson.loads(stored)
    except orjson.JSONDecodeError:
        return None
    if type(state) is not dict or state.get("class_version", 1) != shape.class_version:
        return None
    return state


def _attribute(event: Any, name: str) -> Any:
    """``getattr(event, name, None)`` of a domain event or a :class:`_StoredView`."""
    if type(event) is _StoredView:
        return event.get(name)
    return getattr(event, name, None)


class _StoredView:
    """A stored event as :meth:`Outbound._owner` reads it: its id and version, and the names
    its state holds as plain values; any other attribute is the decoded domain event's."""

    __slots__ = (
        "_cls",
        "_event",
        "_mapper",
        "_notification",
        "_state",
        "originator_id",
        "originator_version",
    )

    def __init__(
        self,
        notification: Callable[[], Any],
        originator_id: UUID,
        originator_version: int,
        state: dict[str, Any],
        cls: type,
        mapper: Any,
    ) -> None:
        """``notification`` gives the stored event, made only if it is decoded."""
        self.originator_id, self.originator_version = originator_id, originator_version
        self._notification, self._state, self._cls, self._mapper = notification, state, cls, mapper
        self._event: Any = None

    def get(self, name: str) -> Any:
        """``getattr(view, name, None)``, without raising an exception for a name the event
        lacks (most of the owner's names: a ticket's event has no ``incident``)."""
        if name not in self._state and not hasattr(self._cls, name):
            return None
        return getattr(self, name, None)

    def __getattr__(self, name: str) -> Any:
        if not hasattr(self._cls, name):  # an instance attribute, as the domain event has it
            value = self._state.get(name, _MISSING)
            if value is _MISSING:
                raise AttributeError(name)
            kind = type(value)
            if value is None or kind is str or kind is int or kind is bool:
                return value
        if self._event is None:
            self._event = self._mapper.to_domain_event(self._notification())
        return getattr(self._event, name)


# -- ticketflow.alerts: the live SLA alerts (R-ALERT-1..3) -------------------------------------

ALERTS_SOURCE = "ticketflow/alerts"


class SlaAlertV1(BaseModel):
    """``data`` of an SLA alert: the clock, the threshold crossed and when it was told."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    alert_id: str = Field(
        description="`<ticket>/<cycle>/<threshold>`: the same alert always has the same id "
        "(R-ALERT-2); receivers deduplicate by it"
    )
    ticket: str = Field(description="upstream ticket id")
    tenant: str = Field(description="the customer")
    cycle: int = Field(ge=1, description="the ticket's clock cycle (R-SLA-7)")
    tier: TierName = Field(description="tier in force at clock start (R-SLA-4)")
    gtr_minutes: Minutes = Field(description="the GTR fixed at clock start")
    clock_started_at: Instant
    threshold_at: Instant = Field(description="when the threshold was crossed")
    deadline: Instant = Field(description="clock start + GTR (R-SLA-4, R-SLA-5)")
    emitted_at: Instant = Field(description="when the alerter emitted the alert")
    late: bool = Field(
        description="emitted more than 5 s after its instant: crossed while the alerter was "
        "down, or learnt from a fact that arrived late (R-ALERT-2)"
    )


class SlaWarningV1(SlaAlertV1):
    """50 % of the GTR elapsed (R-ALERT-1)."""


class SlaAtRiskV1(SlaAlertV1):
    """75 % of the GTR elapsed (R-ALERT-1)."""


class SlaBreachedV1(SlaAlertV1):
    """The deadline passed with the clock running (R-ALERT-1)."""


class SlaStoppedV1(SlaAlertV1):
    """The clock stopped after its deadline (R-ALERT-1); ``threshold_at`` is the stop."""

    breach_minutes: Minutes = Field(description="whole minutes past the deadline, rounded up")
    stopped_by: Literal["restored", "resolved", "closed", "cancelled"] = Field(
        description="what stopped the clock (R-SLA-6), or the priority lowered (R-SLA-3)"
    )


# Threshold (``ticketflow.domain.alerts``) → published alert type.
ALERT_TYPES: dict[str, tuple[str, type[SlaAlertV1]]] = {
    "warning": ("ticketflow.sla.warning.v1", SlaWarningV1),
    "at_risk": ("ticketflow.sla.at_risk.v1", SlaAtRiskV1),
    "breached": ("ticketflow.sla.breached.v1", SlaBreachedV1),
    "stopped": ("ticketflow.sla.stopped.v1", SlaStoppedV1),
}


def alert_cloudevent(threshold: str, data: dict[str, Any]) -> dict[str, Any]:
    """An alert as a CloudEvent in structured mode (webhooks, the SSE stream): ``data`` holds
    the fields of its type's model, in order."""
    name, model = ALERT_TYPES[threshold]
    return {
        "specversion": SPECVERSION,
        "id": data["alert_id"],
        "source": ALERTS_SOURCE,
        "type": name,
        "subject": data["ticket"],
        "time": data["threshold_at"],
        "datacontenttype": CONTENT_TYPE,
        "dataschema": SCHEMA_BASE + name + ".json",
        "tenant": data["tenant"],
        "data": {field: data[field] for field in model.model_fields},
    }


def alert_headers(event: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Binary mode (``ticketflow.alerts``): the attributes of :func:`alert_cloudevent` as
    ``ce_*`` headers; the value is ``data``."""
    attributes = ("specversion", "id", "source", "type", "subject", "time", "tenant")
    return [(f"ce_{a}", str(event[a]).encode()) for a in attributes] + [
        ("content-type", CONTENT_TYPE.encode())
    ]


def _schema(name: str, model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_BASE + name + ".json"
    schema["title"] = name
    return schema


def event_json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas (2020-12) of each published type's ``data`` (``ticketflow.events`` and
    ``ticketflow.alerts``), keyed by type name."""
    schemas = {name: _schema(name, model) for name, model in ALERT_TYPES.values()}
    for t in TYPES.values():
        schema = t.model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = SCHEMA_BASE + t.name + ".json"
        schema["title"] = t.name
        schemas[t.name] = schema
    return schemas


# What :meth:`Outbound._owner` remembers of an aggregate: subject name, tenant, id as text.
_Owner = tuple[str, str | None, str]


class UnpublishedEventError(TicketflowError, LookupError):
    """A stored event whose class has no published type (add it to :data:`TYPES`)."""


class Outbound:
    """Stored events → :class:`Published` records, for the relay, ``ticketflow log`` and the
    embedded projections alike.

    ``recorder`` and ``mapper`` are the event store's (eventsourcing's ``select_events`` and
    ``to_domain_event``): an event after its aggregate's first names neither ticket nor tenant,
    so they are taken from the aggregate's first event, read once and remembered (ids are
    derived from names, ``ticketflow.domain.ids``: the mapping never changes)."""

    # Owners remembered, in bounded memory whatever the log's length. Aggregates named by a
    # ticket, maintenance or incident: the recent ones, in two generations of at most LIMIT
    # (a ticket's events come close together in the log: an owner is forgotten once LIMIT
    # other aggregates have been seen since it was last used). Aggregates named by their tenant
    # (a subscription, one per tenant, used all along the log): up to TENANT_LIMIT.
    LIMIT = 10_000
    TENANT_LIMIT = 100_000

    def __init__(self, recorder: Any, mapper: Any, source: str) -> None:
        self.recorder, self.mapper, self.source = recorder, mapper, source
        self._direct = _direct(mapper)  # stored JSON read as it is (see _from_state)
        self._owners: dict[Any, _Owner] = {}  # the current generation
        self._older: dict[Any, _Owner] = {}  # the one before
        self._tenants: dict[Any, _Owner] = {}

    def decode(self, notification: Any) -> Any:
        """The domain event of a stored event (upcast to its class's current version)."""
        return self.mapper.to_domain_event(notification)

    def record(self, notification: Any, event: Any = None) -> Published:
        """The published record of a stored event (``event``: already decoded, if it was).
        Not decoded, it is read from its stored JSON where that gives the same record
        (:func:`_data_from_state`), else decoded into its domain event first."""
        if event is None:
            direct = self._from_state(notification)
            if direct is not None:
                return direct
            event = self.mapper.to_domain_event(notification)
        qualname = type(event).__qualname__
        event_type = TYPES.get(qualname)
        if event_type is None:
            raise UnpublishedEventError(f"no published type for {notification.topic}")
        originator_id = event.originator_id
        key = originator_id.int if type(originator_id) is UUID else originator_id
        name, tenant, text = self._owner(key, lambda: event)
        return Published(
            f"{text}:{event.originator_version}",
            self.source,
            event_type.name,
            name,
            rfc3339(event.at),
            tenant,
            notification.id,
            ENCODERS[qualname](event),
        )

    def record_stored(self, row: Sequence[Any]) -> Published:
        """The published record of a stored event given as a row ``(notification id, aggregate
        id as stored (text a UUID reads), version, topic, state)``, as a recorder's
        ``select_stored`` reads the log: the same record as :meth:`record` gives, without a
        :class:`~eventsourcing.persistence.Notification` or a UUID made for each event (the
        id's text is remembered with the aggregate's owner)."""
        found = self._stored(row, None)
        assert found is not None  # nothing to leave out
        return found

    def record_stored_as_of(
        self, row: Sequence[Any], admits: Callable[[datetime, datetime], bool]
    ) -> Published | None:
        """:meth:`record_stored` of an event ``admits(at, timestamp)`` keeps, ``None`` for one
        it leaves out: when it happened and when it was recorded, read from the same parse of
        the stored JSON as its record (else from its decoded domain event)."""
        return self._stored(row, admits)

    def _stored(
        self, row: Sequence[Any], admits: Callable[[datetime, datetime], bool] | None
    ) -> Published | None:
        position, stored_id, version, topic, stored = row
        shape = _shape(topic)
        state = None if shape is None or not self._direct else _stored_state(shape, stored)
        if state is not None and admits is not None:
            try:
                instants = (
                    datetime.fromisoformat(_iso_utc(state.get("at"))),
                    datetime.fromisoformat(_iso_utc(state.get("timestamp"))),
                )
            except (_NotDirectError, ValueError):
                state = None  # the domain event's instants decide
            else:
                if not admits(*instants):
                    return None
                admits = None  # decided
        if shape is not None and state is not None:

            def view(parsed: dict[str, Any]) -> _StoredView:
                return _StoredView(
                    lambda: self._notification(row),
                    UUID(stored_id),
                    version,
                    parsed,
                    shape.cls,
                    self.mapper,
                )

            # The owner remembered by the id's integer, as the other paths key it (stored as
            # 32 hex digits or as ``str(UUID)``, the same aggregate is one key).
            key = int(stored_id.replace("-", ""), 16)
            direct = self._direct_record(shape, position, version, state, key, view)
            if direct is not None:
                return direct
        notification = self._notification(row)
        event = self.decode(notification)
        if admits is not None and not admits(event.at, event.timestamp):
            return None
        return self.record(notification, event)

    def _notification(self, row: Sequence[Any]) -> Notification:
        position, stored_id, version, topic, state = row
        return Notification(
            id=position,
            originator_id=UUID(stored_id),
            originator_version=version,
            topic=topic,
            state=state,
        )

    def _from_state(self, notification: Any) -> Published | None:
        """The record of a stored event read from its JSON, or ``None`` when it must be
        decoded into its domain event (see :func:`_data_from_state`)."""
        shape = _shape(notification.topic)
        originator_id = notification.originator_id
        if shape is None or type(originator_id) is not UUID or not self._direct:
            return None
        state = _stored_state(shape, notification.state)
        if state is None:
            return None
        return self._direct_record(
            shape,
            notification.id,
            notification.originator_version,
            state,
            originator_id.int,  # hashed in C, and smaller to keep than the UUID
            lambda parsed: _StoredView(
                lambda: notification,
                originator_id,
                notification.originator_version,
                parsed,
                shape.cls,
                self.mapper,
            ),
        )

    def _direct_record(
        self,
        shape: _Shape,
        position: int,
        version: int,
        state: dict[str, Any],
        key: Any,
        view: Callable[[dict[str, Any]], _StoredView],
    ) -> Published | None:
        try:
            data = _data_from_state(shape, state)
            at = _iso_utc(state.get("at"))[:-6] + "Z"
        except (_NotDirectError, ValueError, OverflowError):
            return None
        name, tenant, text = self._owner(key, lambda: view(state))
        return Published(
            f"{text}:{version}",
            self.source,
            shape.event_type.name,
            name,
            at,
            tenant,
            position,
            data,
        )

    def _owner(self, key: Any, event_of: Callable[[], Any]) -> _Owner:
        """``(subject name, tenant, id as text)`` of the aggregate remembered as ``key`` (its
        id as an integer): the ticket, maintenance or incident id (the tenant for
        a subscription), ``None`` for a platform aggregate's tenant (R-PLAT-4), and the id as
        ``str(UUID)`` writes it. ``event_of`` gives the event (or a view of it) only when the
        owner is not remembered."""
        found = self._owners.get(key) or self._tenants.get(key)
        if found is not None:
            return found
        found = self._older.pop(key, None)
        if found is None:
            event = event_of()
            first = event
            if event.originator_version != 1:
                stored = self.recorder.select_events(event.originator_id, lte=1)[0]
                first = self.mapper.to_domain_event(stored)
            tenant: str | None = _attribute(first, "tenant")
            if type(tenant) is str:
                tenant = sys.intern(tenant)  # one string per tenant, however many owners
            names = [_attribute(first, a) for a in ("ticket", "maintenance", "incident")]
            name = next((n for n in names if n is not None), None)
            if name is None:  # named by its tenant
                found = (str(tenant), tenant, str(event.originator_id))
                if len(self._tenants) >= self.TENANT_LIMIT:
                    self._tenants.clear()
                self._tenants[key] = found
                return found
            found = (str(name), tenant, str(event.originator_id))
        if len(self._owners) >= self.LIMIT:
            self._older, self._owners = self._owners, {}
        self._owners[key] = found
        return found

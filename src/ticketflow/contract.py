"""The wire contract for upstream events (DESIGN §3): CloudEvents 1.0, structured mode.

These pydantic models are the single source of the contract; ``schemas/`` holds the JSON
Schemas generated from them (``ticketflow schemas export``). This is the only module where
pydantic meets the outside world.

Decisions: ``data`` must be an object and unknown ``data`` fields are rejected (a typo in an
optional field would otherwise be silently lost); unknown top-level attributes are accepted as
CloudEvents extensions; for subscription and expertise events ``subject`` must equal ``tenant``.
Platform facts (``platform.*``, R-PLAT-*) concern every tenant: they carry no ``tenant``, and one
that does is rejected (R-PLAT-4) rather than silently filed under a tenant.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Union, cast

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ticketflow.domain.catalog import Tier
from ticketflow.errors import ContractError

NonEmpty = Annotated[str, Field(min_length=1, max_length=256)]


def _json_number(value: Any) -> Any:
    if isinstance(value, str | bool):
        raise ValueError("hours must be a JSON number, not a string or boolean")
    if isinstance(value, int | float):
        return Decimal(str(value))
    return value


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")


def _rfc3339_text(value: Any) -> Any:
    # An offset-less time still reaches pydantic's own check, reported as missing_offset.
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("time must be an RFC 3339 string, e.g. 2026-05-04T12:00:00+02:00")
    return value


def _in_utc(value: datetime) -> datetime:
    """The instant in UTC; one that UTC cannot express (year 0 or 10000 once the offset is
    applied, e.g. ``9999-12-31T23:59:59-14:00``) breaks R-IN-6."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError(
            "time_out_of_range", "instant not representable in UTC (R-IN-6)"
        ) from None


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_in_utc)]
"""An RFC 3339 instant with an offset (R-IN-2), representable in UTC (R-IN-6), kept in UTC."""

# ``datacontenttype``: JSON, with optional parameters such as ``; charset=utf-8`` (DESIGN §3).
JSON_CONTENT_TYPE = r"^(?i:application/json)[ \t]*(;.*)?$"

Hours = Annotated[
    Decimal,
    BeforeValidator(_json_number),
    Field(gt=0, le=10_000),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 10_000}),
]
Priority = Literal["P1", "P2", "P3", "P4"]


class Data(BaseModel):
    """Base of every ``data`` payload: strict, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoData(Data):
    """Types that carry no data: ``data`` is ``{}``."""


class SubscriptionStartedData(Data):
    tier: Tier


class TierUpgradedData(Data):
    tier: Tier = Field(description="the new, higher tier (R-BILL-4)")


class TierDowngradedData(Data):
    tier: Tier
    support_ticket: NonEmpty = Field(description="the support ticket that asked for it (R-BILL-4)")


class PackPurchasedData(Data):
    pack_id: NonEmpty
    hours: Hours


class HoursConsumedData(Data):
    hours: Hours
    ticket: NonEmpty | None = None
    expert: NonEmpty | None = None
    activity: Literal["training", "architecture", "advice", "support"] | None = None


Summary = Annotated[str, Field(max_length=2000)]
Service = Literal["compute", "network", "storage", "backup", "control_plane"]


class TicketOpenedData(Data):
    priority: Priority
    channel: Literal["portal", "phone", "email"]
    language: Literal["fr", "en"] = Field(description="R-TIER-3: French or English only")
    category: Literal["control_plane", "compute", "network", "storage", "backup", "other"]
    beta_feature: bool = False
    summary: Summary | None = None
    platform_incident: NonEmpty | None = Field(
        default=None, description="the platform incident the ticket is about (R-PLAT-3)"
    )


class LinkedToIncidentData(Data):
    platform_incident: NonEmpty = Field(description="the platform incident (R-PLAT-3)")


class MaintenanceAnnouncedData(Data):
    # Not strict: an instant arrives as RFC 3339 text, checked by ``Instant`` itself.
    starts_at: Instant = Field(strict=False, description="start of the window (R-IN-6)")
    ends_at: Instant = Field(
        strict=False, description="end of the window, after its start (R-PLAT-1)"
    )
    scope: Literal["control_plane", "services"] = Field(
        description="control_plane: portal and APIs; services: the customers' services (R-PLAT-1)"
    )
    summary: Summary | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> MaintenanceAnnouncedData:
        if self.ends_at <= self.starts_at:
            raise PydanticCustomError("empty_window", "ends_at must be after starts_at (R-PLAT-1)")
        return self


class IncidentData(Data):
    services: list[Service] = Field(
        min_length=1, max_length=5, description="the services affected (R-PLAT-2)"
    )
    severity: Literal["degraded", "outage"]
    status: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="the operators' word for where the incident stands"
    )
    summary: Summary | None = None

    @model_validator(mode="after")
    def _distinct_services(self) -> IncidentData:
        if len(set(self.services)) != len(self.services):
            raise PydanticCustomError("duplicate_service", "services are listed once each")
        return self


class TicketEscalatedData(Data):
    level: Literal["L2", "L3"]


class PriorityChangedData(Data):
    priority: Priority


DATA_MODELS: dict[str, type[Data]] = {
    "subscription.started": SubscriptionStartedData,
    "subscription.tier_upgraded": TierUpgradedData,
    "subscription.tier_downgraded": TierDowngradedData,
    "expertise.pack_purchased": PackPurchasedData,
    "expertise.hours_consumed": HoursConsumedData,
    "ticket.opened": TicketOpenedData,
    "ticket.acknowledged": NoData,
    "ticket.escalated": TicketEscalatedData,
    "ticket.priority_changed": PriorityChangedData,
    "ticket.service_restored": NoData,
    "ticket.resolved": NoData,
    "ticket.closed": NoData,
    "ticket.reopened": NoData,
    "ticket.linked_to_incident": LinkedToIncidentData,
    "platform.maintenance_announced": MaintenanceAnnouncedData,
    "platform.maintenance_cancelled": NoData,
    "platform.incident_declared": IncidentData,
    "platform.incident_updated": IncidentData,
    "platform.incident_resolved": NoData,
}
EVENT_TYPES = tuple(DATA_MODELS)
TENANT_SUBJECT_PREFIXES = ("subscription.", "expertise.")
PLATFORM_PREFIX = "platform."


def is_platform(type_name: str) -> bool:
    """Whether a type is a platform fact: no tenant, keyed ``platform`` (R-PLAT-4, R-IN-5)."""
    return type_name.startswith(PLATFORM_PREFIX)


class Envelope(BaseModel):
    """A CloudEvents 1.0 envelope with the ``tenant`` extension (DESIGN §3)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type_name: ClassVar[str | None] = None

    specversion: Literal["1.0"]
    id: NonEmpty
    source: NonEmpty
    type: str
    subject: NonEmpty
    time: Instant = Field(
        description="RFC 3339 with an offset (R-IN-2), representable in UTC (R-IN-6)"
    )
    tenant: NonEmpty
    datacontenttype: Annotated[str, Field(pattern=JSON_CONTENT_TYPE, max_length=256)] | None = None
    # Required by the types with data fields (their own models); others may omit it.
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _subject_is_tenant(self) -> Envelope:
        if self.type.startswith(TENANT_SUBJECT_PREFIXES) and self.subject != self.tenant:
            raise ValueError(f"subject must equal tenant for {self.type} events")
        return self


class PlatformEnvelope(BaseModel):
    """The envelope of a platform fact: no ``tenant`` extension (DESIGN §3, R-PLAT-4)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: NonEmpty
    source: NonEmpty
    type: str
    subject: NonEmpty = Field(description="the maintenance or incident id")
    time: Instant = Field(
        description="RFC 3339 with an offset (R-IN-2), representable in UTC (R-IN-6)"
    )
    datacontenttype: Annotated[str, Field(pattern=JSON_CONTENT_TYPE, max_length=256)] | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_tenant(self) -> PlatformEnvelope:
        if "tenant" in (self.model_extra or {}):
            raise PydanticCustomError(
                "tenant_on_platform_fact",
                "platform facts concern every tenant and carry no tenant (R-PLAT-4)",
            )
        return self

    @property
    def tenant(self) -> str:
        return ""


@dataclass(frozen=True)
class InboundEvent:
    """A validated inbound fact: envelope attributes plus its typed data. ``tenant`` is empty
    for platform facts, which carry none (R-PLAT-4)."""

    id: str
    source: str
    type: str
    subject: str
    tenant: str
    time: datetime  # UTC
    data: Data

    @property
    def key(self) -> str:
        """The idempotency key ``(source, id)`` (R-IN-1)."""
        return f"{self.source} {self.id}"


def _typed_envelope(type_name: str, data_model: type[Data]) -> type[BaseModel]:
    """A model of the whole event for one type, used for its JSON Schema."""
    class_name = "".join(p.capitalize() for p in type_name.replace(".", "_").split("_"))
    namespace: dict[str, Any] = {
        "__annotations__": {"type": Literal[type_name], "data": data_model},
        "__module__": __name__,
    }
    if not any(field.is_required() for field in data_model.model_fields.values()):
        # CloudEvents allows an event without data: for a type without required fields, a
        # missing ``data`` is the empty object (DESIGN §3).
        namespace["data"] = Field(default_factory=data_model)
    base = PlatformEnvelope if is_platform(type_name) else Envelope
    return type(class_name + "Event", (base,), namespace)


TYPED_ENVELOPES: dict[str, type[BaseModel]] = {
    name: _typed_envelope(name, model) for name, model in DATA_MODELS.items()
}


# Every typed envelope in one union chosen by ``type``: valid JSON text is parsed once, in
# pydantic's core. A failure is explained by :func:`_diagnose`, the slower path that parses the
# text itself to name the event id, the unknown type or the failing field.
_ANY_ENVELOPE: TypeAdapter[Any] = TypeAdapter(
    cast(Any, Annotated[Union[tuple(TYPED_ENVELOPES.values())], Field(discriminator="type")])  # noqa: UP007
)


def _describe(error: ValidationError, event_id: str | None) -> ContractError:
    """The rejection of a pydantic error: reason code, one-line detail and rule. A timestamp
    without an offset breaks R-IN-2; every other contract violation breaks R-IN-3."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "event"
    for each in error.errors():
        if each["type"] == "tenant_on_platform_fact":
            return ContractError(
                "tenant_on_platform_fact", str(each["msg"]), event_id, rule="R-PLAT-4"
            )
        if each["type"] == "empty_window":
            detail = "data: ends_at must be after starts_at (R-PLAT-1)"
            return ContractError("empty_window", detail, event_id, rule="R-PLAT-1")
        if each["type"] == "time_out_of_range":
            place = ".".join(str(p) for p in each["loc"]) or "event"
            detail = f"{place}: instant not representable in UTC (R-IN-6)"
            return ContractError("time_out_of_range", detail, event_id, rule="R-IN-6")
    if first["type"] == "timezone_aware":
        detail = f"{where}: timestamp has no UTC offset (R-IN-2)"
        return ContractError("missing_offset", detail, event_id, rule="R-IN-2")
    details = "; ".join(_one(e["loc"], e["msg"]) for e in error.errors())
    return ContractError("schema_violation", details, event_id)


RULE_OF_FIELD = {"data.language": "R-TIER-3", "time": "R-IN-2", "data.tier": "R-TIER-4"}


def _one(loc: tuple[int | str, ...], msg: str) -> str:
    where = ".".join(str(p) for p in loc) or "event"
    rule = RULE_OF_FIELD.get(where)
    return f"{where}: {msg}" + (f" ({rule})" if rule else "")


def parse_event(raw: bytes | str | dict[str, Any]) -> InboundEvent:
    """Validate one inbound event; raise :class:`ContractError` with a reason code."""
    if isinstance(raw, dict):
        return _diagnose(raw)
    try:
        envelope = _ANY_ENVELOPE.validate_json(raw)
    except ValidationError:
        return _diagnose(raw)  # raises the error that names what is wrong
    return _inbound(envelope)


def _diagnose(raw: bytes | str | dict[str, Any]) -> InboundEvent:
    """Validate step by step (JSON, object, known type, then its typed model), so that a
    rejection says which step failed and carries the event's id when it has one."""
    if isinstance(raw, dict):
        obj: Any = raw
    else:
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ContractError("not_json", f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ContractError("not_an_object", "a CloudEvent must be a JSON object")
    event_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    type_name = obj.get("type")
    if not isinstance(type_name, str) or type_name not in DATA_MODELS:  # [] is unhashable
        known = ", ".join(EVENT_TYPES)
        raise ContractError(
            "unknown_type", f"unknown type {type_name!r}; expected one of: {known}", event_id
        )
    model = TYPED_ENVELOPES[type_name]
    try:
        text = raw if isinstance(raw, (bytes, str)) else json.dumps(raw)
        envelope: Any = model.model_validate_json(text)
    except ValidationError as exc:
        raise _describe(exc, event_id) from None
    return _inbound(envelope)


def _inbound(envelope: Any) -> InboundEvent:
    return InboundEvent(
        id=envelope.id,
        source=envelope.source,
        type=envelope.type,
        subject=envelope.subject,
        tenant=envelope.tenant,
        time=envelope.time,
        data=envelope.data,
    )


PLATFORM_KEY = "platform"


def kafka_key(event: InboundEvent) -> str:
    """The key an event must carry on Kafka (R-IN-5): ``platform`` for platform facts, the
    tenant for the others. A tenant's facts then share a partition, so each subject keeps its
    order (R-IN-4) and the tier in force is known when a clock starts (R-SLA-4)."""
    return PLATFORM_KEY if is_platform(event.type) else event.tenant


def check_not_future(event: InboundEvent, received: datetime, tolerance: timedelta) -> None:
    """Raise ``time_in_future`` (R-IN-6) when the fact is dated (its ``time``) more than
    ``tolerance`` after ``received``, the instant the event was received. Instants in ``data``
    are not the fact's date: a maintenance is announced ahead of its window by nature
    (R-PLAT-1), so its ``starts_at`` and ``ends_at`` may lie any time ahead."""
    if event.time > received + tolerance:
        raise ContractError(
            "time_in_future",
            f"time: {event.time.isoformat()} is more than {tolerance} after it was received "
            f"({received.isoformat()}) (R-IN-6)",
            event.id,
            rule="R-IN-6",
        )


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas (2020-12): the envelope plus one per event type, keyed by file stem."""
    schemas = {
        "envelope": Envelope.model_json_schema(),
        "platform_envelope": PlatformEnvelope.model_json_schema(),
    }
    for name, model in TYPED_ENVELOPES.items():
        schemas[name] = model.model_json_schema()
    for stem, schema in schemas.items():
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://ticketflow.dev/schemas/{stem}.json"
    return schemas

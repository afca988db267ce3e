"""The API's response bodies as pydantic models: the OpenAPI document is generated from them.

Enumerations come from where they are defined (the domain, the query layer), never restated.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ticketflow.domain.billing import CHANGE_KINDS
from ticketflow.domain.catalog import Tier
from ticketflow.domain.sla import STATUSES

Status = Literal[STATUSES]  # type: ignore[valid-type]
ChangeKind = Literal[CHANGE_KINDS]  # type: ignore[valid-type]
Month = str


class SlaQuery(BaseModel):
    """The query parameters of ``GET /v1/sla``: validated as one model, in one pass, rather
    than one parameter at a time (a tenth of a request's CPU)."""

    as_of: str | None = Field(None, description="RFC 3339 with an offset; default now")
    tenant: str | None = None
    status: Status | None = None
    tier: str | None = None
    priority: str | None = None
    month: str | None = Field(None, description="tickets opened in this month (Paris), YYYY-MM")
    cursor: str | None = Field(None, description="the next page, from the Link header")
    limit: int = Field(1000, ge=1, le=10_000, description="rows per page")
    format: Literal["json", "csv"] = "json"


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable error code")
    message: str = Field(description="what went wrong, for people")


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


class SlaRow(BaseModel):
    """One ticket's SLA status as of an instant (R-SLA-10)."""

    ticket: str
    tenant: str
    priority: str
    tier: Tier
    category: str
    status: Status
    reason: str | None = Field(description="rule id when not_applicable")
    opened_at: str
    clock_started_at: str | None
    deadline: str | None
    restored_at: str | None
    breach_minutes: int = Field(ge=0)
    cycles: int = Field(ge=1)


class BillingChange(BaseModel):
    from_tier: Tier
    to_tier: Tier
    kind: ChangeKind
    service_effective_at: str
    billing_effective_at: str
    rule: str = Field(description="rule of the billing date (R-BILL-5)")


class BilledMonthRow(BaseModel):
    month: Month
    billed_tier: Tier


class Billing(BaseModel):
    """Tier changes and the tier billed for each month (R-BILL-*)."""

    tenant: str
    current_tier: Tier
    changes: list[BillingChange]
    months: list[BilledMonthRow]


class BilledMonth(BaseModel):
    """The tier billed for one month (R-BILL-3)."""

    tenant: str
    month: Month
    billed_tier: Tier
    rule: str


class Expertise(BaseModel):
    """Expert hours of a tenant in a month, decimal hours (R-EXP-*)."""

    tenant: str
    month: Month
    included_hours: float
    consumed_hours: float
    from_allowance_hours: float
    from_packs_hours: float
    overage_hours: float
    unfunded_hours: float
    pack_balance_hours: float


OutcomeStatus = Literal["accepted", "duplicate", "published", "rejected"]


class Outcome(BaseModel):
    id: str | None
    status: OutcomeStatus
    reason: str | None = Field(description="reason code when rejected")
    detail: str | None
    rule: str | None = Field(description="the rule a rejection breaks (R-IN-3)")


class Submission(BaseModel):
    """One outcome per event, in the order sent (R-IN-7)."""

    accepted: int
    duplicate: int
    published: int = Field(description="Kafka mode: sent to the inbound topic")
    rejected: int
    outcomes: list[Outcome]


class HistoryEntry(BaseModel):
    version: int
    event: str
    at: str | None
    recorded_at: str | None
    inbound: str | None = Field(description="the upstream (source, id) of the fact")
    facts: dict[str, Any]


class TicketHistory(BaseModel):
    ticket: str
    events: list[HistoryEntry]


class TenantHistory(BaseModel):
    """A tenant's subscription and each of its tickets."""

    tenant: str
    subscription: list[HistoryEntry]
    tickets: list[TicketHistory]


class DeadLetter(BaseModel):
    line: int
    id: str | None
    reason: str
    detail: str
    rule: str | None
    origin: str | None
    rejected_at: str | None
    tenant: str | None
    original: str | None


class Check(BaseModel):
    ok: bool
    detail: str | None = None


class Readiness(BaseModel):
    """``ready`` and, for operators, each part checked."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, Check] | None = None


class Liveness(BaseModel):
    status: Literal["ok"]


class EventOutcome(BaseModel):
    """What became of an event posted for publishing (R-IN-7): ``pending`` until the engine
    decides it."""

    source: str
    id: str
    status: Literal["pending", "accepted", "duplicate", "rejected"]
    reason: str | None
    detail: str | None
    rule: str | None
    updated_at: str | None

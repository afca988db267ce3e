"""Errors of the domain layer. Each carries a reason code and the id of the rule it applies
(R-IN-3: every rejection names one); the engine turns them into rejections as they are.
``DomainError`` is a ``ticketflow.errors.TicketflowError``: one tree for the whole product.

DomainError                       reason            rule
├── CatalogError                  catalog_error     R-TIER-1: unusable, or no edition in force
└── TransitionError               transition_error  (given where raised)
    ├── TicketTransitionError     transition_error  (given where raised)
    │   ├── UnknownTicketError    unknown_ticket    R-SLA-2: a fact about a ticket never opened
    │   ├── AlreadyOpenedError    already_opened    R-SLA-7: a ticket opens once, then reopens
    │   └── TenantMismatchError   tenant_mismatch   R-ACC-3: the ticket is not the tenant's
    ├── SubscriptionTransitionError transition_error (given where raised)
    │   └── AlreadyStartedError   already_started   R-BILL-3: a subscription starts once
    └── PlatformTransitionError   transition_error  (given where raised: R-PLAT-1, R-PLAT-2)
        └── UnknownPlatformFactError unknown_platform_subject (given where raised)
"""

from __future__ import annotations

from typing import ClassVar

from ticketflow.errors import TicketflowError


class DomainError(TicketflowError):
    """A business rule refused a fact; ``reason`` is its code, ``rule`` the rule applied."""

    reason: ClassVar[str] = "transition_error"

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class CatalogError(DomainError):
    """The support catalog data is missing or inconsistent."""

    reason: ClassVar[str] = "catalog_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, rule="R-TIER-1")


class TransitionError(DomainError):
    """The fact is impossible in the aggregate's current state."""


class TicketTransitionError(TransitionError):
    """A ticket fact that its current state does not allow."""


class UnknownTicketError(TicketTransitionError):
    """A fact about a ticket that was never opened: no ticket, no SLA (R-SLA-2)."""

    reason: ClassVar[str] = "unknown_ticket"

    def __init__(self, message: str) -> None:
        super().__init__(message, rule="R-SLA-2")


class AlreadyOpenedError(TicketTransitionError):
    """A second opening of a ticket: a new cycle comes from reopening it (R-SLA-7)."""

    reason: ClassVar[str] = "already_opened"

    def __init__(self, message: str) -> None:
        super().__init__(message, rule="R-SLA-7")


class TenantMismatchError(TicketTransitionError):
    """A fact about a ticket sent for another tenant than the ticket's (R-ACC-3)."""

    reason: ClassVar[str] = "tenant_mismatch"

    def __init__(self, message: str) -> None:
        super().__init__(message, rule="R-ACC-3")


class SubscriptionTransitionError(TransitionError):
    """A subscription fact that its current state does not allow."""


class AlreadyStartedError(SubscriptionTransitionError):
    """A second explicit start: a subscription starts once, then changes tier (R-BILL-3)."""

    reason: ClassVar[str] = "already_started"

    def __init__(self, message: str) -> None:
        super().__init__(message, rule="R-BILL-3")


class PlatformTransitionError(TransitionError):
    """A maintenance or incident fact that its current state does not allow (R-PLAT-1, 2)."""


class UnknownPlatformFactError(PlatformTransitionError):
    """A fact about a maintenance or an incident never announced or declared."""

    reason: ClassVar[str] = "unknown_platform_subject"


def rejection_reasons() -> dict[str, type[DomainError]]:
    """Every reason code a domain error can carry, with the most general class carrying it."""
    found: dict[str, type[DomainError]] = {}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop(0)
        found.setdefault(cls.reason, cls)
        pending.extend(cls.__subclasses__())
    return found

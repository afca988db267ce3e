"""Errors of the domain layer.

DomainError
├── CatalogError             the catalog data is unusable
└── TransitionError          a fact that cannot happen in the aggregate's current state
    ├── TicketTransitionError
    └── SubscriptionTransitionError
"""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused a fact; ``rule`` names the rule or state involved."""

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


class CatalogError(DomainError):
    """The support catalog data is missing or inconsistent."""


class TransitionError(DomainError):
    """The fact is impossible in the aggregate's current state."""


class TicketTransitionError(TransitionError):
    """A ticket fact that its current state does not allow."""


class SubscriptionTransitionError(TransitionError):
    """A subscription fact that its current state does not allow."""

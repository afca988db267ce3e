"""Errors of ticketflow.

TicketflowError
├── ContractError        an inbound event breaks the wire contract (reason code + detail)
├── RejectedError        a valid event that a business rule or state refuses
├── QueryError           a query asked for something malformed or unknown
└── ConfigurationError   settings that cannot work
Domain errors (``ticketflow.domain.errors``) are turned into ``RejectedError`` at the engine.
"""

from __future__ import annotations


class TicketflowError(Exception):
    """Root of every error ticketflow raises on purpose."""


class ContractError(TicketflowError):
    """An inbound event breaks the wire contract."""

    def __init__(
        self, reason: str, detail: str, event_id: str | None = None, rule: str = "R-IN-3"
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.event_id = event_id
        self.rule = rule


class RejectedError(TicketflowError):
    """A well-formed event that the current state or a rule refuses (R-IN-3)."""

    def __init__(self, reason: str, detail: str, rule: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.rule = rule


class QueryError(TicketflowError):
    """A query that cannot be answered as asked (bad month, unknown tenant, …)."""


class ConfigurationError(TicketflowError):
    """Settings that cannot work."""

"""Errors of ticketflow.

TicketflowError
├── ContractError             an inbound event breaks the wire contract (reason, detail, rule)
├── RejectedError             a valid event that a business rule or state refuses
├── QueryError                a query asked for something malformed or unknown
├── ConfigurationError        settings that cannot work
├── UnavailableError          a server or file the work needs cannot be used
│   ├── StoreUnavailableError     the event store or the read models
│   └── BrokerUnavailableError    the Kafka broker
├── DeliveryError             (``ticketflow.adapters.webhooks``) a webhook did not take an
│                             alert; retried, then dead-lettered
├── DomainError               (``ticketflow.domain.errors``) a business rule refused a fact;
│                             turned into ``RejectedError`` by the engine
└── ApiError                  (``ticketflow.entrypoints.api``) an HTTP error answer

Library errors (eventsourcing's ``PersistenceError``, psycopg's, kafka-python's
``KafkaError``) never cross the adapters: ``ticketflow.adapters.errors.translated`` turns them
into ``UnavailableError``.
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


class UnavailableError(TicketflowError):
    """A server or file the work needs cannot be used; ``hint`` says what to check."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class StoreUnavailableError(UnavailableError):
    """The event store or the read-model database cannot be used."""


class BrokerUnavailableError(UnavailableError):
    """The Kafka broker cannot be reached or refused the work."""

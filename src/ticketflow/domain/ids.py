"""Deterministic aggregate ids: one Ticket per upstream ticket id, one Subscription per tenant,
one Maintenance or Incident per upstream maintenance or incident id."""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID, uuid5

NAMESPACE = UUID("6f0d3c1e-8f1a-5b7e-9a51-7c1e2d4b9f30")

# The ids of the subjects last used are remembered, a bounded number of them (a uuid5 costs
# about a microsecond), so the process's memory stays flat as the log grows.


@lru_cache(maxsize=16384)
def ticket_id(ticket: str) -> UUID:
    return uuid5(NAMESPACE, f"ticket:{ticket}")


@lru_cache(maxsize=16384)
def subscription_id(tenant: str) -> UUID:
    return uuid5(NAMESPACE, f"subscription:{tenant}")


@lru_cache(maxsize=4096)
def maintenance_id(maintenance: str) -> UUID:
    return uuid5(NAMESPACE, f"maintenance:{maintenance}")


@lru_cache(maxsize=4096)
def incident_id(incident: str) -> UUID:
    return uuid5(NAMESPACE, f"incident:{incident}")

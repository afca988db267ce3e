"""Projection workers: the read models of ticketflow and the loop that feeds them.

- ``sla_breach``: GTR clock cycles per ticket (R-SLA-*)
- ``billing_effective_date``: tier changes and the billed tier per month (R-BILL-*)
- ``expertise_usage``: expert hours per tenant and month, and per pack (R-EXP-*)
- ``platform_weather``: maintenance windows, incidents and their linked tickets (R-PLAT-*)
"""

from __future__ import annotations

from projections import billing_effective_date, expertise_usage, platform_weather, sla_breach
from projections.base import Projection

ALL: tuple[Projection, ...] = (
    sla_breach.PROJECTION,
    billing_effective_date.PROJECTION,
    expertise_usage.PROJECTION,
    platform_weather.PROJECTION,
)

__all__ = ["ALL", "Projection"]

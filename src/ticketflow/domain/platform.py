"""The platform's exceptional maintenance and incidents (R-PLAT-*), and the platform weather.

Two aggregates, one per upstream maintenance id and one per incident id; they carry no tenant
(R-PLAT-4). The rules are pure functions over what they record:

- :func:`announced_in_time` and :func:`exempting_window` (R-PLAT-1): which announced
  control-plane maintenance exempts a control-plane ticket from its GTR. A ticket records only
  its category and the instant it was opened; the exemption is decided over the windows known,
  whenever they became known, so the result does not depend on the order in which the
  platform's and the tenants' partitions were consumed (R-PLAT-4).
- :func:`service_states` (R-PLAT-2): each service's state as of an instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ticketflow.domain.calendar import in_planned_window
from ticketflow.domain.errors import PlatformTransitionError
from ticketflow.domain.events import trigger
from ticketflow.domain.ids import incident_id, maintenance_id

SERVICES = ("compute", "network", "storage", "backup", "control_plane")
# What a maintenance of each scope puts in maintenance (R-PLAT-1): the control plane (portal
# and APIs), or the customers' services (VMs keep running only in a control-plane window).
SCOPE_SERVICES = {
    "control_plane": ("control_plane",),
    "services": ("compute", "network", "storage", "backup"),
}
# States from the calmest to the worst; a service in several shows the worst (R-PLAT-2).
STATES = ("operational", "maintenance", "degraded", "outage")


def announced_in_time(announced_at: datetime, starts_at: datetime) -> bool:
    """Whether a maintenance was announced before it starts: the event's ``time`` is strictly
    before ``starts_at`` (R-PLAT-1). Only such a maintenance can exempt anything."""
    return announced_at < starts_at


def window_end(ends_at: datetime, cancelled_at: datetime | None) -> datetime:
    """Where a maintenance window really ends (R-PLAT-1): at its announced end, or earlier at
    its cancellation. Cancelled before it starts, it is empty: it exempts nothing and was never
    a maintenance; cancelled while under way, it stopped then."""
    if cancelled_at is None:
        return ends_at
    return min(ends_at, cancelled_at)


@dataclass(frozen=True)
class Window:
    """An announced exceptional maintenance, as recorded (R-PLAT-1)."""

    maintenance: str
    starts_at: datetime
    ends_at: datetime
    scope: str
    announced_at: datetime
    cancelled_at: datetime | None = None
    summary: str | None = None

    @property
    def in_time(self) -> bool:
        return announced_in_time(self.announced_at, self.starts_at)

    @property
    def end(self) -> datetime:
        return window_end(self.ends_at, self.cancelled_at)

    def covers(self, at: datetime) -> bool:
        """Whether ``at`` falls inside the window as it really ran: ``[starts_at, end)``."""
        return self.starts_at <= at < self.end


def exempting_window(
    *,
    category: str,
    beta_feature: bool,
    opened_at: datetime,
    windows: Iterable[Window],
    clock_started: bool = True,
) -> Window | None:
    """The announced maintenance that exempts a ticket's cycle from its GTR (R-PLAT-1), if any.

    A control-plane ticket opened (or reopened: the instant R-SLA-9 checks too) inside a
    control-plane maintenance announced before it started carries no SLA. Announced late, of
    scope ``services``, or cancelled before the ticket was opened, a maintenance exempts
    nothing. The rules that come first keep their word (R-SLA-8 for a beta feature, R-SLA-9
    inside a planned window): then the cycle is not exempted here. When several windows cover
    the instant, the earliest (then the smallest id) is named, so the answer is the same
    whatever order they became known in. A cycle whose GTR clock never started (a tier with no
    GTR, a priority other than P1: R-SLA-1) has no GTR to exempt: it keeps its own rule, and is
    decided again when a raise to P1 starts its clock."""
    if not clock_started or category != "control_plane" or beta_feature:
        return None
    if in_planned_window(opened_at):
        return None
    covering = [
        w for w in windows if w.scope == "control_plane" and w.in_time and w.covers(opened_at)
    ]
    return min(covering, key=lambda w: (w.starts_at, w.maintenance), default=None)


@dataclass(frozen=True)
class IncidentFact:
    """One declared, updated or resolved fact of an incident (R-PLAT-2)."""

    at: datetime
    services: tuple[str, ...]
    severity: str | None  # None: resolved
    status: str | None = None
    summary: str | None = None


def incident_as_of(facts: Sequence[IncidentFact], as_of: datetime) -> IncidentFact | None:
    """The incident's latest fact dated at or before ``as_of``; ``None`` if it was not declared
    yet, or was resolved by then (R-PLAT-2)."""
    known = [f for f in facts if f.at <= as_of]
    if not known:
        return None
    latest = max(known, key=lambda f: f.at)
    return None if latest.severity is None else latest


@dataclass(frozen=True)
class ServiceWeather:
    """One service's state as of an instant, and what put it there (R-PLAT-2)."""

    state: str
    causes: tuple[str, ...]  # incident and maintenance ids; ``planned`` for R-SLA-9


PLANNED = "planned (R-SLA-9)"


def service_states(
    as_of: datetime,
    windows: Iterable[Window],
    incidents: Mapping[str, Sequence[IncidentFact]],
) -> dict[str, ServiceWeather]:
    """The platform weather (R-PLAT-2): each service's state as of ``as_of``, as the customer
    space would have shown it then (facts dated after ``as_of`` are not known yet), with the
    incidents and maintenances that put it there.

    An incident open at ``as_of`` puts its services in ``degraded`` or ``outage``; a
    maintenance announced by then, and running then as it really ran (``Window.end``), puts
    its scope's services in ``maintenance``, late or not (whether it exempts a GTR is
    R-PLAT-1's question, not the weather's); a planned window (R-SLA-9) puts the control plane
    in ``maintenance``. A service in several states shows the worst (outage > degraded >
    maintenance) and names what caused that state."""
    found: dict[str, dict[str, list[str]]] = {s: {} for s in SERVICES}
    if in_planned_window(as_of):
        found["control_plane"].setdefault("maintenance", []).append(PLANNED)
    for w in sorted(windows, key=lambda w: (w.starts_at, w.maintenance)):
        cancelled = w.cancelled_at if w.cancelled_at and w.cancelled_at <= as_of else None
        running = w.starts_at <= as_of < window_end(w.ends_at, cancelled)
        if w.announced_at <= as_of and running:
            for service in SCOPE_SERVICES[w.scope]:
                found[service].setdefault("maintenance", []).append(w.maintenance)
    for incident in sorted(incidents):
        current = incident_as_of(incidents[incident], as_of)
        if current is not None and current.severity is not None:
            for service in current.services:
                found[service].setdefault(current.severity, []).append(incident)
    weather = {}
    for service, states in found.items():
        worst = max(states, key=STATES.index, default="operational")
        weather[service] = ServiceWeather(worst, tuple(states.get(worst, ())))
    return weather


# -- aggregates ---------------------------------------------------------------------------


class Maintenance(Aggregate):
    """One exceptional maintenance (subject of ``platform.maintenance_*``, R-PLAT-1)."""

    class Announced(Aggregate.Created):
        maintenance: str
        at: datetime
        inbound: str
        starts_at: datetime
        ends_at: datetime
        scope: str
        summary: str | None
        in_time: bool

    @staticmethod
    def create_id(maintenance: str) -> UUID:
        return maintenance_id(maintenance)

    @event(Announced)
    def __init__(
        self,
        *,
        maintenance: str,
        at: datetime,
        inbound: str,
        starts_at: datetime,
        ends_at: datetime,
        scope: str,
        summary: str | None,
        in_time: bool,
    ) -> None:
        self.maintenance = maintenance
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.cancelled_at: datetime | None = None
        self.inbound_keys: dict[str, None] = {inbound: None}

    @classmethod
    def announce(
        cls,
        *,
        maintenance: str,
        at: datetime,
        inbound: str,
        starts_at: datetime,
        ends_at: datetime,
        scope: str,
        summary: str | None,
    ) -> Maintenance:
        """Record an announcement and whether it came in time (R-PLAT-1)."""
        return cls(
            maintenance=maintenance,
            at=at,
            inbound=inbound,
            starts_at=starts_at,
            ends_at=ends_at,
            scope=scope,
            summary=summary,
            in_time=announced_in_time(at, starts_at),
        )

    def has_applied(self, inbound: str) -> bool:
        """Whether the inbound event ``(source, id)`` was already applied (R-IN-1)."""
        return inbound in self.inbound_keys

    def cancel(self, *, at: datetime, inbound: str) -> None:
        """Withdraw the maintenance (R-PLAT-1): before it starts it never happens; while under
        way it stops then. Once over, or once withdrawn, there is nothing left to withdraw."""
        if self.cancelled_at is not None:
            raise PlatformTransitionError(
                f"maintenance {self.maintenance} was already cancelled "
                f"({self.cancelled_at.isoformat()})",
                rule="R-PLAT-1",
            )
        if at >= self.ends_at:
            raise PlatformTransitionError(
                f"maintenance {self.maintenance} ended at {self.ends_at.isoformat()}; a "
                f"cancellation dated {at.isoformat()} withdraws nothing",
                rule="R-PLAT-1",
            )
        trigger(self, "Cancelled", at=at, inbound=inbound)

    @event("Cancelled")
    def _cancelled(self, *, at: datetime, inbound: str) -> None:
        self.cancelled_at = at
        self.inbound_keys[inbound] = None


class Incident(Aggregate):
    """One platform incident (subject of ``platform.incident_*``, R-PLAT-2)."""

    class Declared(Aggregate.Created):
        incident: str
        at: datetime
        inbound: str
        services: list[str]
        severity: str
        status: str | None
        summary: str | None

    @staticmethod
    def create_id(incident: str) -> UUID:
        return incident_id(incident)

    @event(Declared)
    def __init__(
        self,
        *,
        incident: str,
        at: datetime,
        inbound: str,
        services: list[str],
        severity: str,
        status: str | None,
        summary: str | None,
    ) -> None:
        self.incident = incident
        self.declared_at = at
        self.stated_at = at
        self.resolved_at: datetime | None = None
        self.inbound_keys: dict[str, None] = {inbound: None}

    @classmethod
    def declare(
        cls,
        *,
        incident: str,
        at: datetime,
        inbound: str,
        services: Sequence[str],
        severity: str,
        status: str | None,
        summary: str | None,
    ) -> Incident:
        return cls(
            incident=incident,
            at=at,
            inbound=inbound,
            services=list(services),
            severity=severity,
            status=status,
            summary=summary,
        )

    def has_applied(self, inbound: str) -> bool:
        """Whether the inbound event ``(source, id)`` was already applied (R-IN-1)."""
        return inbound in self.inbound_keys

    def update(
        self,
        *,
        at: datetime,
        inbound: str,
        services: Sequence[str],
        severity: str,
        status: str | None,
        summary: str | None,
    ) -> None:
        """A new statement of the incident's services and severity (R-PLAT-2)."""
        self._require_open("update", at)
        trigger(
            self,
            "Updated",
            at=at,
            inbound=inbound,
            services=list(services),
            severity=severity,
            status=status,
            summary=summary,
        )

    def resolve(self, *, at: datetime, inbound: str) -> None:
        """The incident is over: its services are back to operational (R-PLAT-2)."""
        self._require_open("resolve", at)
        trigger(self, "Resolved", at=at, inbound=inbound)

    def _require_open(self, verb: str, at: datetime) -> None:
        if self.resolved_at is not None:
            raise PlatformTransitionError(
                f"cannot {verb} incident {self.incident}: it was resolved "
                f"({self.resolved_at.isoformat()})",
                rule="R-PLAT-2",
            )
        if at < self.stated_at:
            # The weather as of an instant reads the latest fact by then: the facts of an
            # incident follow each other in time.
            raise PlatformTransitionError(
                f"incident {self.incident}: a fact dated {at.isoformat()} is before its latest "
                f"one ({self.stated_at.isoformat()})",
                rule="R-PLAT-2",
            )

    @event("Updated")
    def _updated(
        self,
        *,
        at: datetime,
        inbound: str,
        services: list[str],
        severity: str,
        status: str | None,
        summary: str | None,
    ) -> None:
        self.stated_at = at
        self.inbound_keys[inbound] = None

    @event("Resolved")
    def _resolved(self, *, at: datetime, inbound: str) -> None:
        self.resolved_at = self.stated_at = at
        self.inbound_keys[inbound] = None

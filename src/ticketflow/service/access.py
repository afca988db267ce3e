"""Who may do what through the HTTP API (DESIGN §1, R-ACC-1..4).

An API key has one or more roles and may be scoped to tenants (and, for publishing, to
``source`` values). The keys themselves are kept by an adapter behind :class:`KeyStore`
(hashed, R-ACC-1); this module only says what a key grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

ROLES = ("publisher", "analyst", "auditor", "operator")
"""R-ACC-2. ``auditor`` includes everything ``analyst`` may do."""

_INCLUDES = {"auditor": frozenset({"analyst"})}


@dataclass(frozen=True)
class ApiKey:
    """What is known of a key, never the key itself."""

    id: str
    name: str
    roles: tuple[str, ...]
    tenants: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    created_at: str = ""
    last_used_at: str | None = None
    revoked_at: str | None = None

    def has_role(self, role: str) -> bool:
        """True if one of the key's roles is ``role`` or includes it (R-ACC-2)."""
        return any(r == role or role in _INCLUDES.get(r, ()) for r in self.roles)

    def has_any(self, roles: Iterable[str]) -> bool:
        return any(self.has_role(role) for role in roles)

    @property
    def scoped(self) -> bool:
        """True when the key sees only some tenants (R-ACC-3)."""
        return bool(self.tenants)

    def sees(self, tenant: str) -> bool:
        """True when ``tenant``'s rows are visible to the key."""
        return not self.tenants or tenant in self.tenants

    def may_publish_from(self, source: str) -> bool:
        """True when the key may post events of ``source`` (R-ACC-2)."""
        return not self.sources or source in self.sources

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "tenants": list(self.tenants),
            "sources": list(self.sources),
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
        }


def parse_roles(values: Sequence[str]) -> tuple[str, ...]:
    """Roles given as ``a,b`` (possibly repeated), checked against :data:`ROLES`."""
    roles = [r.strip() for value in values for r in value.split(",") if r.strip()]
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        what = f"unknown role {unknown[0]!r}" if unknown else "no role given"
        raise ValueError(f"{what}; roles are {', '.join(ROLES)}")
    return tuple(dict.fromkeys(roles))


class KeyStore(Protocol):
    """Where API keys are kept: hashed, listed without the key, revoked at once."""

    def create(
        self,
        roles: Sequence[str],
        *,
        tenants: Sequence[str] = (),
        sources: Sequence[str] = (),
        name: str = "",
        secret: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key (or ``secret`` stored as one): what is stored of it, and the key (shown
        once, never stored)."""
        ...

    def list(self) -> list[ApiKey]: ...

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False if there is no such key or it was already revoked."""
        ...

    def authenticate(self, secret: str) -> ApiKey | None:
        """The live key whose secret this is, or None."""
        ...

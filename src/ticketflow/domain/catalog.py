"""The support catalog as dated data (R-TIER-1), and the order of tiers (R-TIER-4).

An *edition* is the catalog in force from an instant on. Rules never branch on a tier's
name: they ask the edition in force at the event's time for the tier's terms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from importlib import resources
from typing import Any, Literal

from ticketflow.domain.errors import CatalogError

PrivilegedAccess = Literal["never", "window", "always"]


class Tier(Enum):
    """A support tier; comparisons follow R-TIER-4 (STANDARD < BRONZE < SILVER < GOLD)."""

    STANDARD = "STANDARD"
    BRONZE = "BRONZE"
    SILVER = "SILVER"
    GOLD = "GOLD"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank >= other.rank

    def __str__(self) -> str:
        return self.value


_RANK = {Tier.STANDARD: 0, Tier.BRONZE: 1, Tier.SILVER: 2, Tier.GOLD: 3}


@dataclass(frozen=True)
class TierTerms:
    """What one tier includes in one edition."""

    gtr_minutes: int | None
    included_minutes_per_month: int
    privileged_access: PrivilegedAccess
    allowance_months: int | None  # months the allowance and access last (None: for ever)


@dataclass(frozen=True)
class Edition:
    """The catalog in force from ``effective_from`` on (R-TIER-1)."""

    id: str
    effective_from: datetime
    tiers: dict[Tier, TierTerms]

    def terms(self, tier: Tier) -> TierTerms:
        return self.tiers[tier]


@dataclass(frozen=True)
class Catalog:
    """All editions, oldest first."""

    editions: tuple[Edition, ...]

    def edition_at(self, at: datetime) -> Edition:
        """The edition in force at ``at`` (R-TIER-1)."""
        current: Edition | None = None
        for edition in self.editions:
            if edition.effective_from <= at:
                current = edition
        if current is None:
            raise CatalogError(f"no catalog edition is in force at {at.isoformat()}")
        return current

    def terms(self, tier: Tier, at: datetime) -> TierTerms:
        return self.edition_at(at).terms(tier)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalog:
        try:
            return cls._from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"catalog data is invalid: {exc!r}") from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Catalog:
        editions = []
        for raw in data["editions"]:
            effective_from = datetime.fromisoformat(raw["effective_from"])
            if effective_from.tzinfo is None:
                raise CatalogError(f"edition {raw['id']}: effective_from needs an offset")
            tiers = {Tier(name): _terms(terms) for name, terms in raw["tiers"].items()}
            if set(tiers) != set(Tier):
                raise CatalogError(f"edition {raw['id']} must define every tier")
            editions.append(Edition(raw["id"], effective_from, tiers))
        editions.sort(key=lambda e: e.effective_from)
        return cls(tuple(editions))


ACCESS_KINDS = ("never", "window", "always")


def _terms(raw: dict[str, Any]) -> TierTerms:
    gtr = raw["gtr_hours"]
    if raw["privileged_access"] not in ACCESS_KINDS:
        raise CatalogError(f"privileged_access {raw['privileged_access']!r} not in {ACCESS_KINDS}")
    return TierTerms(
        gtr_minutes=None if gtr is None else round(gtr * 60),
        included_minutes_per_month=round(raw["included_hours_per_month"] * 60),
        privileged_access=raw["privileged_access"],
        allowance_months=raw["allowance_months"],
    )


def load_default_catalog() -> Catalog:
    """The catalog shipped with ticketflow (``domain/catalog.json``)."""
    text = resources.files("ticketflow.domain").joinpath("catalog.json").read_text("utf-8")
    return Catalog.from_dict(json.loads(text))


DEFAULT_CATALOG = load_default_catalog()

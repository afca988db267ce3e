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

    def with_edition(self, edition: Edition) -> Catalog:
        """This catalog with one more edition (a proposal tried by ``whatif``, R-TIER-1): its
        id and its ``effective_from`` must be new, so that each instant has one edition."""
        for known in self.editions:
            if known.id == edition.id:
                raise CatalogError(f"edition id {edition.id!r} is already in the catalog")
            if known.effective_from == edition.effective_from:
                raise CatalogError(
                    f"edition {known.id} already takes effect at "
                    f"{edition.effective_from.isoformat()}: give another effective_from"
                )
        ordered = sorted((*self.editions, edition), key=lambda e: e.effective_from)
        return Catalog(tuple(ordered))

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
TERMS_FIELDS = ("gtr_hours", "included_hours_per_month", "privileged_access", "allowance_months")


def parse_edition(raw: Any) -> Edition:
    """One edition in the format of an entry of ``catalog.json``'s ``editions`` (R-TIER-1),
    checked field by field: a refusal names the field and what is wrong with it."""
    if not isinstance(raw, dict):
        raise CatalogError("an edition is a JSON object with id, effective_from and tiers")
    missing = [name for name in ("id", "effective_from", "tiers") if name not in raw]
    if missing:
        raise CatalogError(f"edition: missing {', '.join(missing)}")
    if not isinstance(raw["id"], str) or not raw["id"].strip():
        raise CatalogError("edition: id must be a non-empty string")
    where = f"edition {raw['id']}"
    try:
        effective_from = datetime.fromisoformat(str(raw["effective_from"]).replace("Z", "+00:00"))
    except ValueError:
        raise CatalogError(
            f"{where}: effective_from {raw['effective_from']!r} is not an RFC 3339 instant"
        ) from None
    if effective_from.tzinfo is None:
        raise CatalogError(f"{where}: effective_from needs an offset (Z or +01:00)")
    tiers = raw["tiers"]
    if not isinstance(tiers, dict):
        raise CatalogError(f"{where}: tiers must be an object keyed by tier name")
    unknown = sorted(set(tiers) - {t.value for t in Tier})
    if unknown:
        raise CatalogError(f"{where}: unknown tier {', '.join(unknown)} (R-TIER-4)")
    absent = [t.value for t in Tier if t.value not in tiers]
    if absent:
        raise CatalogError(f"{where}: every tier must be defined; missing {', '.join(absent)}")
    parsed = {
        Tier(name): _checked_terms(f"{where}: tiers.{name}", terms) for name, terms in tiers.items()
    }
    return Edition(raw["id"], effective_from, parsed)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _checked_terms(where: str, raw: Any) -> TierTerms:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where} must be an object with {', '.join(TERMS_FIELDS)}")
    missing = [name for name in TERMS_FIELDS if name not in raw]
    if missing:
        raise CatalogError(f"{where}: missing {', '.join(missing)}")
    extra = sorted(set(raw) - set(TERMS_FIELDS))
    if extra:
        raise CatalogError(f"{where}: unknown field {', '.join(extra)}")
    gtr, hours, months = raw["gtr_hours"], raw["included_hours_per_month"], raw["allowance_months"]
    if gtr is not None and (not _number(gtr) or gtr <= 0):
        raise CatalogError(f"{where}.gtr_hours must be a positive number of hours, or null")
    if not _number(hours) or hours < 0:
        raise CatalogError(f"{where}.included_hours_per_month must be a number >= 0")
    if months is not None and (
        not isinstance(months, int) or isinstance(months, bool) or months < 1
    ):
        raise CatalogError(f"{where}.allowance_months must be a whole number >= 1, or null")
    if raw["privileged_access"] not in ACCESS_KINDS:
        raise CatalogError(f"{where}.privileged_access must be one of {', '.join(ACCESS_KINDS)}")
    if gtr is not None and round(gtr * 60) < 1:
        raise CatalogError(f"{where}.gtr_hours must be at least one minute")
    return _terms(raw)


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

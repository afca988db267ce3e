"""What a data directory holds, found without creating anything (DESIGN §7).

Commands that read (``query``, ``history``, ``audit verify``, ``replay``) work on an existing
store: on a directory without one they say so (exit 2) and leave it as it was. A directory that
``replay`` wrote holds read models and a manifest (:data:`MANIFEST`) but no event store; only
``query`` reads it, as of the instant the replay stopped at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ticketflow.adapters.eventstore import eventstore_env
from ticketflow.bootstrap import READMODELS_FILE
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.errors import QueryError
from ticketflow.settings import Settings

MANIFEST = "replay.json"


@dataclass(frozen=True)
class Replayed:
    """The read models of a replay's directory, and the instant they describe."""

    readmodels: Path
    as_of: datetime | None  # None: every fact was replayed, the read models are of now


def has_event_store(settings: Settings) -> bool:
    """Whether the configured event store exists (a PostgreSQL server is taken as it is)."""
    if settings.store != "sqlite":
        return True
    if not settings.data_dir.is_dir():
        return False  # checked first: naming the store's file creates its directory
    return Path(eventstore_env(settings)["SQLITE_DBNAME"]).is_file()


def write_manifest(
    directory: Path,
    *,
    source: Path | None,
    until: datetime | None,
    recorded_until: datetime | None,
    replayed_at: datetime,
) -> None:
    """Record how a replay's read models were made, and the instant they describe: the
    earlier of ``--until`` and ``--recorded-until`` (facts after it were left out)."""
    bounds = [at for at in (until, recorded_until) if at is not None]
    manifest = {
        "source": None if source is None else str(source),
        "until": rfc3339(until),
        "recorded_until": rfc3339(recorded_until),
        "replayed_at": rfc3339(replayed_at),
        "as_of": rfc3339(min(bounds)) if bounds else None,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def replayed(settings: Settings) -> Replayed | None:
    """The read models of a directory that ``replay`` wrote (read models, no event store)."""
    readmodels = settings.data_dir / READMODELS_FILE
    if has_event_store(settings) or not readmodels.is_file():
        return None
    # A directory written before replays kept a manifest: its read models are of now.
    as_of = _manifest(settings.data_dir).get("as_of")
    try:
        return Replayed(readmodels, parse_rfc3339(as_of))
    except (ValueError, TypeError, AttributeError):
        raise QueryError(f"{settings.data_dir / MANIFEST}: as_of {as_of!r} is no instant") from None


def _manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict):
        raise QueryError(f"{path} is not a replay manifest (a JSON object)")
    return manifest


def require_event_store(settings: Settings, command: str) -> None:
    """Refuse, creating nothing, to run ``command`` on a directory with no event store."""
    if has_event_store(settings):
        return
    where = settings.data_dir
    if (where / READMODELS_FILE).is_file():
        source = _manifest(where).get("source")
        raise QueryError(
            f"{where} holds read models rebuilt by replay but no event store: {command} needs "
            "the event store; give the --data-dir it was replayed from"
            + (f" ({source})" if source else "")
        )
    raise QueryError(
        f"no ticketflow store in {where}: nothing to read. Give the --data-dir that holds one "
        f"(default $TICKETFLOW_HOME, else ./.ticketflow), or create it with "
        f"'ticketflow --data-dir {where} ingest FILE'"
    )


__all__ = ["MANIFEST", "Replayed", "has_event_store", "replayed", "require_event_store"]

"""Auditors' commands: ``replay``, ``history``, ``audit verify``."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from projections import ALL
from projections.store import ReadModelStore
from projections.worker import EventFilter
from ticketflow import render
from ticketflow.audit import table_digests, verify
from ticketflow.bootstrap import READMODELS_FILE, System
from ticketflow.errors import QueryError
from ticketflow.history import HISTORY_FIELDS, history
from ticketflow.progress import Progress
from ticketflow.queries import parse_instant
from ticketflow.settings import Settings

TABLES = [table for projection in ALL for table in projection.tables]


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild every read model from the event store, into a separate place by default."""
    until = parse_instant(args.until) if args.until else None
    recorded_until = parse_instant(args.recorded_until) if args.recorded_until else None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    into = Path(args.into or settings.data_dir / "replays" / stamp)
    if args.in_place:
        if until or recorded_until:
            raise QueryError("--in-place rebuilds the live read models in full: drop --until")
        into = settings.data_dir
    elif (into / READMODELS_FILE).exists():
        raise QueryError(f"{into} already holds read models; choose a new --into directory")
    system = System.open(settings)
    try:
        if args.in_place:
            system.readmodels.drop_tables(ALL)
            target = system.readmodels
        else:
            into.mkdir(parents=True, exist_ok=True)
            target = ReadModelStore.sqlite(into / READMODELS_FILE)
        progress = Progress("replay", system.engine.recorder.max_notification_id() or 0)
        progress.enabled = True
        decoded = system.project(
            progress=progress.update, keep=EventFilter(until, recorded_until), into=target
        )
        progress.finish()
        digests = table_digests(target, TABLES)
        if target is not system.readmodels:
            target.close()
    finally:
        system.close()
    rows = [{"table": t, "rows": n, "sha256": d} for t, (n, d) in digests.items()]
    print(f"replayed {decoded} events into {into / READMODELS_FILE}")
    print(render.rows(rows, ("table", "rows", "sha256"), args.format))
    return 0


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    system = System.open(settings)
    try:
        rows = history(system.engine, ticket=args.ticket, tenant=args.tenant)
    finally:
        system.close()
    if args.format != "json":
        rows = [{**row, "facts": json.dumps(row["facts"], ensure_ascii=False)} for row in rows]
    print(render.rows(rows, HISTORY_FIELDS, args.format))
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    expect = _expectation(args.expect) if args.expect else None
    system = System.open(settings)
    try:
        system.project()
        progress = Progress("verify", system.engine.recorder.max_notification_id() or 0)
        verdict = verify(system.engine.recorder, system.readmodels, expect, progress.update)
        progress.finish()
    finally:
        system.close()
    print(f"checked {verdict.checked} events; head {verdict.head_position}:{verdict.head_digest}")
    if verdict.ok:
        print("OK: the event store matches its audit chain")
        return 0
    for problem in verdict.problems:
        print(f"ALTERED: {problem}")
    return 1


def _expectation(text: str) -> tuple[int, str]:
    position, _, digest = text.partition(":")
    if not position.isdigit() or len(digest) != 64:
        raise QueryError(f"--expect {text!r}: give POSITION:SHA256 as printed by audit verify")
    return int(position), digest


def register(sub: Any) -> None:
    fmt: dict[str, Any] = {"choices": render.FORMATS, "default": "table"}
    r = sub.add_parser("replay", help="rebuild all read models from the event store")
    r.add_argument("--until", help="only facts that happened at or before this instant")
    r.add_argument("--recorded-until", help="only facts recorded at or before this instant")
    r.add_argument("--into", help="directory for the rebuilt read models (default: new one)")
    r.add_argument("--in-place", action="store_true", help="rebuild the live read models")
    r.add_argument("--format", **fmt)
    r.set_defaults(func=cmd_replay)
    h = sub.add_parser("history", help="recorded events of a ticket or a tenant")
    h.add_argument("--ticket")
    h.add_argument("--tenant")
    h.add_argument("--format", **fmt)
    h.set_defaults(func=cmd_history)
    a = sub.add_parser("audit", help="prove the event store was not altered")
    v = a.add_subparsers(dest="action", required=True).add_parser(
        "verify", help="recompute the hash chain over every stored event"
    )
    v.add_argument("--expect", help="POSITION:SHA256 of a head kept elsewhere")
    v.set_defaults(func=cmd_verify)


__all__ = ["register"]

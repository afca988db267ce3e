"""Auditors' commands: ``replay``, ``history``, ``audit verify`` (and the checkpoint actions
of :mod:`ticketflow.entrypoints.cli.checkpoints`)."""

from __future__ import annotations

import argparse
import itertools
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from projections import ALL
from projections.worker import EventFilter
from ticketflow.bootstrap import READMODELS_FILE, System, open_readmodels, open_rebuild
from ticketflow.entrypoints import render
from ticketflow.entrypoints.cli import checkpoints, stores
from ticketflow.entrypoints.cli.options import add_format
from ticketflow.entrypoints.progress import Progress
from ticketflow.errors import QueryError
from ticketflow.service.audit import table_digests, verify
from ticketflow.service.checkpoint import Log
from ticketflow.service.diff import DIFF_FIELDS, Difference, compare
from ticketflow.service.history import HISTORY_FIELDS, history
from ticketflow.service.queries import parse_instant
from ticketflow.settings import Settings

TABLES = [table for projection in ALL for table in projection.tables]


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild every read model from the event store, into a separate place by default."""
    until = parse_instant(args.until) if args.until else None
    recorded_until = parse_instant(args.recorded_until) if args.recorded_until else None
    if args.in_place and args.diff:
        raise QueryError("--diff compares a rebuild with the live read models: drop --in-place")
    if args.promote:
        _promotable(args, settings)
        if settings.mode == "kafka":  # a new version from the live log, beside the live one
            from ticketflow.entrypoints.cli.kafka_rebuild import replay_kafka

            return replay_kafka(args, settings)
    if args.in_place:
        if until or recorded_until:
            raise QueryError(
                "--in-place rebuilds the live read models in full: drop --until/--recorded-until"
            )
        if args.into:
            raise QueryError("--in-place rebuilds the live read models: drop --into")
    elif args.into and (Path(args.into) / READMODELS_FILE).exists():
        raise QueryError(f"{args.into} already holds read models; choose a new --into directory")
    stores.require_event_store(settings, "replay")
    started = datetime.now(UTC)
    in_schema = args.promote and settings.store == "postgres"
    if args.in_place:
        into = settings.data_dir
    elif args.into:
        into = Path(args.into)
    elif in_schema:
        into = Path(started.strftime("ticketflow_rebuild_%Y%m%d%H%M%S%f"))
    else:
        into = _new_replay_directory(settings.data_dir / "replays")
    where = f"schema {into}" if in_schema else str(into / READMODELS_FILE)
    differences: list[Difference] = []
    promoted: int | None = None
    system = System.open(settings)
    try:
        if args.in_place:
            system.readmodels.drop_tables(ALL)
            target = system.readmodels
        elif in_schema:  # the rebuild is a schema of the live database, swapped in whole
            target = open_rebuild(settings, str(into))
        else:
            into.mkdir(parents=True, exist_ok=True)
            target = open_readmodels(settings, into)
        try:
            progress = Progress("replay", system.engine.recorder.max_notification_id() or 0)
            progress.enabled = True
            keep = EventFilter(until, recorded_until)
            decoded = system.project(progress=progress.update, keep=keep, into=target)
            progress.finish()
            digests = table_digests(target, TABLES)
            if args.diff:
                system.project()  # the live read models, up to date, against the rebuild
                differences = compare(system.readmodels, target, ALL)
            if args.promote:
                promoted = _promote(system, target)
        finally:
            if in_schema:
                target.drop_schema()  # promoted: gone already; else abandoned
            if target is not system.readmodels:
                target.close()
        if target is not system.readmodels and not in_schema:
            stores.write_manifest(
                into,
                source=settings.data_dir if settings.store == "sqlite" else None,
                until=until,
                recorded_until=recorded_until,
                replayed_at=started,
            )
    finally:
        system.close()
    rows = [{"table": t, "rows": n, "sha256": d} for t, (n, d) in digests.items()]
    unread = decoded - keep.kept - keep.left_out
    print(
        f"replayed {decoded} events into {where}: {keep.kept} applied, "
        f"{keep.left_out} left out by --until/--recorded-until, {unread} read by no read model"
    )
    print(render.rows(rows, ("table", "rows", "sha256"), args.format))
    if args.diff and not differences:
        print("no difference: the rebuild equals the live read models row for row")
    elif args.diff:
        print(f"{len(differences)} rows differ from the live read models:")
        print(render.rows([d.row() for d in differences], DIFF_FIELDS, args.format))
    if promoted is not None:
        print(f"promoted: the live read models are the rebuilt ones, at log position {promoted}")
        return 0
    return 1 if differences else 0


def _promotable(args: argparse.Namespace, settings: Settings) -> None:
    """A rebuild becomes live only whole, from the store the live read models come from."""
    if args.in_place:
        raise QueryError(
            "--promote switches to a rebuild made beside the live read models: drop --in-place"
        )
    if args.until or args.recorded_until:
        raise QueryError(
            "--promote makes the rebuild live: it must hold every fact; drop "
            "--until/--recorded-until"
        )
    if settings.store == "postgres" and args.into:
        raise QueryError(
            "--promote on PostgreSQL rebuilds into a schema of the database: drop --into"
        )


def _promote(system: System, target: Any) -> int:
    """Catch the rebuild up with what was recorded meanwhile, then switch (one transaction)."""
    system.project(into=target)
    system.readmodels.promote(target, ALL)
    names = [f"{p.name}@{system.engine.name}" for p in ALL]
    return min(system.readmodels.position(name) for name in names)


def _new_replay_directory(parent: Path) -> Path:
    """``parent/<UTC time to the microsecond>`` (``-2``, ``-3``… appended if taken), created
    here so that two replays never share a directory."""
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    for attempt in itertools.count(1):
        into = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            into.mkdir()
        except FileExistsError:
            continue
        return into
    raise AssertionError("unreachable")


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    stores.require_event_store(settings, "history")
    system = System.open(settings)
    try:
        if args.ticket:
            system.project()  # the SLA status after each event comes from the read models
        store = system.readmodels if args.ticket else None
        rows = history(system.engine, ticket=args.ticket, tenant=args.tenant, store=store)
    finally:
        system.close()
    if args.format != "json":
        rows = [{**row, "facts": json.dumps(row["facts"], ensure_ascii=False)} for row in rows]
    print(render.rows(rows, HISTORY_FIELDS, args.format))
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    expect = _expectation(args.expect) if args.expect else None
    kept = (
        checkpoints.kept_checkpoint(args.checkpoint, args.public_key) if args.checkpoint else None
    )
    stores.require_event_store(settings, "audit verify")
    system = System.open(settings)
    try:
        system.project()
        progress = Progress("verify", system.engine.recorder.max_notification_id() or 0)
        verdict = verify(system.engine.recorder, system.readmodels, expect, progress.update)
        progress.finish()
        log = Log.read(system.engine.recorder) if kept is not None else None
    finally:
        system.close()
    print(f"checked {verdict.checked} events; head {verdict.head_position}:{verdict.head_digest}")
    problems = list(verdict.problems)
    if kept is not None and log is not None:
        problems += checkpoints.check_checkpoint(log, args.checkpoint, kept)
    if not problems:
        print("OK: the event store matches its audit chain")
        return 0
    for problem in problems:
        print(f"ALTERED: {problem}")
    return 1


def _expectation(text: str) -> tuple[int, str]:
    position, _, digest = text.strip().partition(":")
    digest = digest.lower()
    if not position.isdigit() or not re.fullmatch("[0-9a-f]{64}", digest):
        raise QueryError(
            f"--expect {text!r}: give POSITION:SHA256 (64 hexadecimal digits) as printed by "
            "audit verify"
        )
    return int(position), digest


def register(sub: Any) -> None:
    r = sub.add_parser("replay", help="rebuild all read models from the event store")
    r.add_argument(
        "--until",
        metavar="INSTANT",
        help="only facts that happened at or before this instant (queries of the replay's "
        "directory are then as of it)",
    )
    r.add_argument(
        "--recorded-until",
        metavar="INSTANT",
        help="only facts recorded at or before this instant",
    )
    r.add_argument(
        "--into",
        metavar="DIR",
        help="new directory for the rebuilt read models (default DATA_DIR/replays/<time>)",
    )
    r.add_argument("--in-place", action="store_true", help="rebuild the live read models")
    r.add_argument(
        "--diff",
        action="store_true",
        help="compare the rebuild with the live read models row by row (exit 1 if they "
        "differ, unless promoted)",
    )
    r.add_argument(
        "--promote",
        action="store_true",
        help="switch the live read models to the rebuild at once, in one transaction, while "
        "queries keep answering",
    )
    add_format(r)
    r.set_defaults(func=cmd_replay)
    h = sub.add_parser("history", help="recorded events of a ticket, or of a tenant's subscription")
    h.add_argument("--ticket", help="the ticket whose events to show")
    h.add_argument("--tenant", help="the tenant's subscription (its tickets: --ticket each)")
    add_format(h)
    h.set_defaults(func=cmd_history)
    a = sub.add_parser("audit", help="prove the event store was not altered")
    actions = a.add_subparsers(dest="action", required=True, metavar="ACTION", help="action")
    v = actions.add_parser("verify", help="recompute the hash chain over every stored event")
    v.add_argument(
        "--expect",
        metavar="POSITION:SHA256",
        help="a head printed by an earlier audit verify and kept elsewhere",
    )
    v.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a checkpoint kept elsewhere: check the log only grew since (audit checkpoint)",
    )
    v.add_argument(
        "--public-key", metavar="HEX", help="with --checkpoint: the key it must be signed by"
    )
    v.set_defaults(func=cmd_verify)
    checkpoints.register(actions)


__all__ = ["register"]

"""``ticketflow whatif --catalog FILE``: history decided again with a proposed catalog
edition, in a scratch store, and what would change against the live read models."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ticketflow.bootstrap import System, whatif
from ticketflow.domain.catalog import DEFAULT_CATALOG
from ticketflow.entrypoints import render
from ticketflow.entrypoints.cli import stores
from ticketflow.entrypoints.cli.options import add_format
from ticketflow.entrypoints.progress import Progress
from ticketflow.service.queries import parse_instant
from ticketflow.service.whatif import (
    MONTH_FIELDS,
    TICKET_FIELDS,
    WhatIfError,
    default_window,
    proposed_catalog,
    read_edition,
)
from ticketflow.settings import Settings

CHANGE_FIELDS = ("kind", "ticket", "tenant", "month", "field", "live", "proposed")


def load_edition(path: str) -> Any:
    """The JSON of ``--catalog FILE``, or a refusal naming the file and the fault."""
    file = Path(path)
    if not file.is_file():
        raise WhatIfError(f"--catalog {path}: no such file (give one edition as a JSON object)")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise WhatIfError(f"--catalog {path}: not UTF-8 text (R-TIER-1)") from None
    except json.JSONDecodeError as exc:
        raise WhatIfError(
            f"--catalog {path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "an edition is one JSON object (R-TIER-1)"
        ) from None


def run(
    settings: Settings, raw: Any, where: str, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """The what-if report: nothing live is written."""
    edition = read_edition(raw, where)
    proposed_catalog(DEFAULT_CATALOG, edition, where)  # refused before any store is opened
    window = default_window(start, end, datetime.now(UTC))
    system = System.open(settings)
    try:
        total = system.engine.recorder.max_notification_id() or 0
        progress = Progress("whatif", total)
        _, report = whatif(
            settings, system.engine, system.readmodels, edition, window, progress.update
        )
        progress.finish()
    finally:
        system.close()
    return report


def cmd_whatif(args: argparse.Namespace, settings: Settings) -> int:
    start = parse_instant(args.start) if args.start else None
    end = parse_instant(args.end) if args.end else None
    raw = load_edition(args.catalog)
    read_edition(raw, f"--catalog {args.catalog}")  # a bad file touches no store
    stores.require_event_store(settings, "whatif")
    report = run(settings, raw, f"--catalog {args.catalog}", start, end)
    if args.format == "json":
        print(render.to_json(report))
    elif args.format == "csv":
        print(render.to_csv(changes(report), CHANGE_FIELDS))
    else:
        print(table(report))
    return 0


def changes(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every change as one flat row (CSV)."""
    out = [{"kind": "ticket", **row} for row in report["tickets"]]
    out += [{"kind": "expertise", **row} for row in report["expertise"]]
    out += [{"kind": "billing", **row} for row in report["billing"]]
    return out


def table(report: dict[str, Any]) -> str:
    edition, window, log = report["edition"], report["window"], report["log"]
    lines = [
        f"what if edition {edition['id']} (in force from {edition['effective_from']}) had been "
        f"in the catalog; statuses as of {window['to']}"
        + (f", tickets opened and months from {window['from']}" if window["from"] else ""),
        f"decided again: {log['facts_decided']} facts up to log position {log['position']} "
        f"({log['events_copied']} events copied as recorded, {len(log['refused'])} refused)",
    ]
    sections = (
        (
            "tickets whose status, breach minutes or deadline change",
            report["tickets"],
            TICKET_FIELDS,
        ),
        ("tenants and months whose expert hours change", report["expertise"], MONTH_FIELDS),
        ("tenants and months whose billed tier changes", report["billing"], MONTH_FIELDS),
        (
            "facts refused under the proposed catalog",
            log["refused"],
            ("inbound", "type", "outcome", "reason", "rule"),
        ),
        ("rows differing per read-model table", report["tables"], ("table", "rows_differing")),
    )
    for title, rows, columns in sections:
        lines.append(f"\n{title}: {len(rows)}")
        if rows:
            lines.append(render.rows(rows, columns, "table"))
    lines.append("\ntotals (live -> proposed)")
    lines.append(render.record(report["totals"], "table"))
    return "\n".join(lines)


def register(sub: Any) -> None:
    w = sub.add_parser(
        "whatif", help="history decided again with a proposed catalog edition: what would change"
    )
    w.add_argument(
        "--catalog",
        required=True,
        metavar="FILE",
        help="one edition as a JSON object, in the format of an entry of the catalog's "
        "editions (id, effective_from, tiers)",
    )
    w.add_argument(
        "--from",
        dest="start",
        metavar="INSTANT",
        help="report tickets opened and months from this instant on (default: all)",
    )
    w.add_argument(
        "--to",
        dest="end",
        metavar="INSTANT",
        help="statuses as of this instant, and report up to it (default: now)",
    )
    add_format(w)
    w.set_defaults(func=cmd_whatif)


__all__ = ["changes", "load_edition", "register", "run"]

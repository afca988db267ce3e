"""``ticketflow report --out FILE [--as-of T] [--tenant X]``: the analyst's report as one
self-contained HTML file (the page ``GET /v1/report`` serves)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ticketflow.bootstrap import System
from ticketflow.domain.instants import rfc3339
from ticketflow.entrypoints.cli import stores
from ticketflow.entrypoints.report import page_of, write_page
from ticketflow.service.alerter import Alerter
from ticketflow.service.queries import parse_instant
from ticketflow.settings import Settings


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    # What was asked is checked first: a usage error touches no store.
    as_of = parse_instant(args.as_of) if args.as_of else settings.clock.now()
    stores.require_event_store(settings, "report")
    system = System.open(settings)
    try:
        # The alerts brought up to now first, as ``ticketflow alerts`` does: the report shows
        # those emitted by its instant.
        alerter = Alerter(system.readmodels, settings.clock, settings.alert_horizon)
        system.project()  # read models up to date with the store
        alerter.check()
        page = page_of(system.readmodels, as_of, tenant=args.tenant, live_platform=True)
    finally:
        system.close()
    out = write_page(Path(args.out), page)
    who = f"tenant {args.tenant}" if args.tenant else "every tenant"
    print(f"report of {who} as of {rfc3339(as_of)} written to {out}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser(
        "report",
        help="write the analyst's report (SLA, breaches, clocks at risk, hours, billing) as "
        "one self-contained HTML file",
    )
    r.add_argument("--out", required=True, metavar="FILE", help="the HTML file to write")
    r.add_argument("--as-of", metavar="INSTANT", help="RFC 3339 instant with offset (default: now)")
    r.add_argument("--tenant", help="only this tenant's figures")
    r.set_defaults(func=cmd_report)

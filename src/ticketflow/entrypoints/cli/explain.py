"""``ticketflow explain ticket T``: a ticket's SLA figures and the receipt behind them."""

from __future__ import annotations

import argparse
from typing import Any

from ticketflow.bootstrap import System
from ticketflow.entrypoints import render
from ticketflow.entrypoints.cli import stores
from ticketflow.service.explain import FACT_FIELDS, RULE_FIELDS, explain_ticket
from ticketflow.service.queries import parse_instant
from ticketflow.settings import Settings


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    as_of = parse_instant(args.as_of) if args.as_of else None
    stores.require_event_store(settings, "explain")
    system = System.open(settings)
    try:
        system.project()  # read models and audit chain up to date with the store
        receipt = explain_ticket(system.engine, system.readmodels, args.ticket, as_of)
    finally:
        system.close()
    if args.format == "json":
        print(render.to_json(receipt))
        return 0
    print(render.record(receipt["figures"], "table"))
    print("\nfacts (store position, audit digest, upstream source and id)")
    print(render.rows(receipt["facts"], FACT_FIELDS, "table"))
    print("\nrules applied")
    print(render.rows(receipt["rules"], RULE_FIELDS, "table"))
    print(f"\ntime-zone data: {receipt['time_zone_data']}")
    return 0


def register(sub: Any) -> None:
    e = sub.add_parser("explain", help="the figures of a ticket and the receipt behind them")
    what = e.add_subparsers(dest="what", required=True, metavar="WHAT", help="what to explain")
    t = what.add_parser("ticket", help="a ticket's SLA status, its facts and the rules applied")
    t.add_argument("ticket", help="the upstream ticket id")
    t.add_argument("--as-of", help="instant, RFC 3339 with offset (default: now)")
    t.add_argument(
        "--format", choices=("table", "json"), default="table", help="output format (default table)"
    )
    t.set_defaults(func=cmd_explain)


__all__ = ["register"]

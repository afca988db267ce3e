"""``ticketflow explain ticket T | billing | expertise``: a figure and the receipt behind it."""

from __future__ import annotations

import argparse
from typing import Any

from ticketflow.bootstrap import System
from ticketflow.entrypoints import render
from ticketflow.entrypoints.cli import stores
from ticketflow.entrypoints.cli.options import add_format
from ticketflow.service.explain import (
    FACT_FIELDS,
    RULE_FIELDS,
    explain_billing,
    explain_expertise,
    explain_ticket,
)
from ticketflow.service.queries import parse_instant, parse_month
from ticketflow.settings import Settings


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    # What was asked is checked first: a usage error touches no store.
    as_of = parse_instant(args.as_of) if getattr(args, "as_of", None) else None
    month = parse_month(args.month) if getattr(args, "month", None) else None
    stores.require_event_store(settings, "explain")
    system = System.open(settings)
    try:
        system.project()  # read models and audit chain up to date with the store
        engine, store = system.engine, system.readmodels
        if args.what == "ticket":
            receipt = explain_ticket(engine, store, args.ticket, as_of)
        elif args.what == "billing":
            assert month is not None
            receipt = explain_billing(engine, store, args.tenant, month)
        else:
            assert month is not None
            receipt = explain_expertise(engine, store, args.tenant, month)
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
    e = sub.add_parser("explain", help="a figure and the receipt behind it (facts, rules)")
    what = e.add_subparsers(dest="what", required=True, metavar="WHAT", help="what to explain")
    t = what.add_parser("ticket", help="a ticket's SLA status, its facts and the rules applied")
    t.add_argument("ticket", help="the upstream ticket id")
    t.add_argument("--as-of", help="instant, RFC 3339 with offset (default: now)")
    add_format(t, ("table", "json"))
    b = what.add_parser("billing", help="the tier billed for a month, and the changes behind it")
    e2 = what.add_parser("expertise", help="a month's expert hours, consumption by consumption")
    for p in (b, e2):
        p.add_argument("--tenant", required=True, help="the tenant")
        p.add_argument("--month", required=True, help="YYYY-MM (Europe/Paris)")
        add_format(p, ("table", "json"))
    for p in (t, b, e2):
        p.set_defaults(func=cmd_explain)


__all__ = ["register"]

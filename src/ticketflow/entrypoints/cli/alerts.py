"""``ticketflow alerts``: bring the live SLA alerts (R-ALERT) up to now and print them;
``--follow`` keeps printing new ones until interrupted."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ticketflow.bootstrap import System
from ticketflow.entrypoints import render
from ticketflow.entrypoints.cli import stores
from ticketflow.entrypoints.cli.options import add_format
from ticketflow.service.alerter import FIELDS, Alerter, alerts, create_tables, dead_deliveries
from ticketflow.settings import Settings

FOLLOW_INTERVAL_S = 1.0
DEAD_FIELDS = ("endpoint", "alert_id", "tenant", "attempts", "last_error", "updated_at")


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    stores.require_event_store(settings, "alerts")
    system = System.open(settings)
    try:
        if args.dead_letters:
            create_tables(system.readmodels)
            print(render.rows(dead_deliveries(system.readmodels), DEAD_FIELDS, args.format))
            return 0
        alerter = Alerter(system.readmodels, settings.clock, settings.alert_horizon)
        system.project()
        alerter.check()
        shown = alerts(system.readmodels)
        if not args.follow:
            print(render.rows([_fields(r) for r in shown], FIELDS, args.format))
            return 0
        _follow(system, alerter, shown, args.format)
    finally:
        system.close()
    return 0


def _follow(system: System, alerter: Alerter, shown: list[dict[str, Any]], fmt: str) -> None:
    """Print what is there, then each new alert as it comes: JSON Lines for ``json``, rows
    under one header for ``csv``, a small table per batch for ``table``. Ends on Ctrl-C."""
    _print(shown, fmt, header=True)
    last = shown[-1]["seq"] if shown else 0
    while True:
        time.sleep(FOLLOW_INTERVAL_S)
        system.project()
        alerter.check()
        new = alerts(system.readmodels, after=last)
        if new:
            _print(new, fmt, header=False)
            last = new[-1]["seq"]


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in FIELDS}


def _print(rows: list[dict[str, Any]], fmt: str, *, header: bool) -> None:
    if fmt == "json":
        for row in rows:
            print(json.dumps(_fields(row), ensure_ascii=False))
    elif fmt == "csv":
        lines = render.to_csv(rows, FIELDS).split("\n")
        if lines[0 if header else 1 :]:
            print("\n".join(lines[0 if header else 1 :]))
    elif rows:
        print(render.table(rows, FIELDS))
    sys.stdout.flush()


def register(sub: Any) -> None:
    """Add ``alerts`` to the ``ticketflow`` subcommands."""
    p = sub.add_parser(
        "alerts", help="the live SLA alerts (R-ALERT), brought up to now; --follow for new ones"
    )
    p.add_argument(
        "--now",
        metavar="INSTANT",
        default=argparse.SUPPRESS,
        help="RFC 3339 instant taken as now (as TICKETFLOW_NOW; default: the system clock)",
    )
    p.add_argument("--follow", action="store_true", help="keep printing new alerts until Ctrl-C")
    p.add_argument(
        "--dead-letters",
        action="store_true",
        help="list the webhook deliveries given up after their last retry instead",
    )
    add_format(p)
    p.set_defaults(func=cmd_alerts)

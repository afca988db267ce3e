"""``ticketflow log``: the stored events exactly as ``ticketflow.events`` carries them.

Each line is one CloudEvent in structured mode (JSON format, DESIGN §3b), built by the same code
the relay publishes with (:class:`ticketflow.contract_events.Outbound`): integrators see the
contract without a broker, and tests check it in embedded mode.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ticketflow.bootstrap import open_engine
from ticketflow.contract_events import Outbound
from ticketflow.entrypoints import render
from ticketflow.entrypoints.cli.stores import require_event_store
from ticketflow.errors import QueryError
from ticketflow.settings import Settings

PAGE = 2000
TABLE_COLUMNS = ("position", "time", "type", "subject", "tenant", "id")


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    if args.start < 1:
        raise QueryError(f"--from {args.start}: positions start at 1")
    require_event_store(settings, "log")
    engine = open_engine(settings)
    try:
        outbound = Outbound(engine.recorder, engine.mapper, f"ticketflow/{engine.name}")
        rows: list[dict[str, Any]] = []
        position = args.start
        while True:
            page = engine.recorder.select_notifications(position, PAGE)
            if not page:
                break
            for notification in page:
                record = outbound.record(notification)
                if args.format == "cloudevents":
                    sys.stdout.write(
                        json.dumps(record.structured(), ensure_ascii=False, separators=(",", ":"))
                        + "\n"
                    )
                else:
                    rows.append({c: getattr(record, c) for c in TABLE_COLUMNS})
            position = page[-1].id + 1
        if args.format == "table":
            print(render.table(rows, TABLE_COLUMNS))
    finally:
        engine.close()
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "log",
        help="the stored events as ticketflow.events publishes them (CloudEvents, one per line)",
    )
    p.add_argument(
        "--from",
        dest="start",
        type=int,
        default=1,
        metavar="POSITION",
        help="first event-store position to print (default 1: the whole log)",
    )
    p.add_argument(
        "--format",
        choices=("cloudevents", "table"),
        default="cloudevents",
        help="cloudevents: structured-mode JSON, one per line (default); table: for people",
    )
    p.set_defaults(func=cmd_log)

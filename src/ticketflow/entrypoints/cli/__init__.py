"""The ``ticketflow`` command line (DESIGN §7)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from projections.storage import ReadModelStorage
from ticketflow.adapters.deadletter import DeadLetterFile
from ticketflow.adapters.errors import translated
from ticketflow.adapters.kafka import publish_inbound
from ticketflow.adapters.outcomes import Outcomes, OutcomeTable
from ticketflow.bootstrap import System, open_readmodels
from ticketflow.domain.calendar import Month
from ticketflow.domain.instants import rfc3339
from ticketflow.domain.sla import STATUSES
from ticketflow.entrypoints import render
from ticketflow.entrypoints.cli import alerts as cli_alerts
from ticketflow.entrypoints.cli import audit as cli_audit
from ticketflow.entrypoints.cli import deadletter as cli_deadletter
from ticketflow.entrypoints.cli import explain as cli_explain
from ticketflow.entrypoints.cli import kafka as cli_kafka
from ticketflow.entrypoints.cli import keys as cli_keys
from ticketflow.entrypoints.cli import log as cli_log
from ticketflow.entrypoints.cli import report as cli_report
from ticketflow.entrypoints.cli import serve as cli_serve
from ticketflow.entrypoints.cli import stores
from ticketflow.entrypoints.cli import whatif as cli_whatif
from ticketflow.entrypoints.cli.options import add_format
from ticketflow.entrypoints.progress import Progress
from ticketflow.errors import TicketflowError, UnavailableError
from ticketflow.service.ingest import IngestReport, ingest_lines, publish_lines
from ticketflow.settings import Settings

EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a filter whose reader left


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    source = args.file
    if source != "-" and not Path(source).is_file():
        raise TicketflowError(f"no such file: {source} (give a JSON Lines file, or - for stdin)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    stem = "stdin" if source == "-" else Path(source).stem
    dead_path = Path(args.dead_letter or settings.data_dir / "deadletter" / f"{stem}-{stamp}.jsonl")
    total = None if source == "-" else _count_lines(Path(source))
    progress = Progress("ingest", total)
    dead = DeadLetterFile(dead_path, origin=source)
    stream = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    try:
        if settings.mode == "kafka":
            report = _publish_kafka(settings, stream, dead, progress)
        else:
            report = _ingest_embedded(settings, stream, dead, progress)
    finally:
        dead.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    if args.format == "json":
        print(render.to_json(report.as_dict()))
    elif args.format == "csv":
        rows = [r.as_dict() for r in report.rejections]
        print(render.to_csv(rows, REJECTION_COLUMNS))
    else:
        print(_ingest_table(report, settings))
    return EXIT_REJECTED if report.rejected else 0


REJECTION_COLUMNS = ("line", "id", "reason", "rule", "detail")


def _ingest_table(report: IngestReport, settings: Settings) -> str:
    """The report for people: the counts, one line per rejection, the dead-letter file."""
    counts = f"accepted {report.accepted}  duplicate {report.duplicate}"
    if settings.mode == "kafka":
        counts = f"published {report.published} to {settings.topic_inbound}"
    lines = [f"{counts}  rejected {report.rejected}"]
    for r in report.rejections:
        rule = f" [{r.rule}]" if r.rule else ""
        lines.append(f"  line {r.line}: id={r.id or '-'} {r.reason}{rule}: {r.detail}")
    if report.dead_letter:
        lines.append(f"rejected lines written to {report.dead_letter}")
    return "\n".join(lines)


def _publish_kafka(
    settings: Settings, stream: Any, dead: DeadLetterFile, progress: Progress
) -> IngestReport:
    """Kafka mode: each line published to the inbound topic, its outcome kept to be looked up
    by ``(source, id)`` (R-IN-7): ``pending`` until the engine worker decides it, ``rejected``
    at once for a line refused here."""
    store = open_readmodels(settings)
    try:
        table = OutcomeTable(lambda: store)
        table.create_table()
        kept = Outcomes(table)
        return publish_lines(
            kept.publishing(lambda keyed: publish_inbound(settings, keyed)),
            stream,
            dead,
            batch_size=settings.batch_size,
            progress=progress,
            future_tolerance=settings.future_tolerance,
            clock=settings.clock,
            decided=kept.decided,
        )
    finally:
        store.close()


def _ingest_embedded(
    settings: Settings, stream: Any, dead: DeadLetterFile, progress: Progress
) -> IngestReport:
    system = System.open(settings)
    try:
        report = ingest_lines(
            system.engine,
            stream,
            dead,
            batch_size=settings.batch_size,
            progress=progress,
            future_tolerance=settings.future_tolerance,
            clock=settings.clock,
        )
        project = Progress("project", system.engine.recorder.max_notification_id() or 0)
        system.project(progress=project.update)
        project.finish()
    finally:
        system.close()
    return report


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    from ticketflow.service import queries

    # What was asked is checked first: a usage error touches no store.
    as_of = queries.parse_instant(args.as_of) if getattr(args, "as_of", None) else None
    month = queries.parse_month(args.month) if getattr(args, "month", None) else None
    replayed = stores.replayed(settings)
    if replayed is None:
        stores.require_event_store(settings, "query")
    elif as_of is None and replayed.as_of is not None:
        as_of = replayed.as_of  # the instant the replay stopped at, not now
        print(f"ticketflow: as of {rfc3339(as_of)}, where the replay stopped", file=sys.stderr)
    system = None if replayed is not None else System.open(settings)
    store = open_readmodels(settings, replayed.readmodels.parent) if replayed else None
    try:
        if system is not None:
            system.project()
            store = system.readmodels
        assert store is not None
        print(_answer(args, settings, store, as_of, month))
    finally:
        if system is not None:
            system.close()
        elif store is not None:
            store.close()
    return 0


def _answer(
    args: argparse.Namespace,
    settings: Settings,
    store: ReadModelStorage,
    as_of: datetime | None,
    month: Month | None,
) -> str:
    from ticketflow.service import queries

    if args.what == "sla":
        as_of = as_of or settings.clock.now()
        data = queries.sla(store, as_of=as_of, tenant=args.tenant, status=args.status)
        return render.rows(data, queries.SLA_FIELDS, args.format)
    if args.what == "billing":
        result = queries.billing(store, tenant=args.tenant, month=month)
        if args.format == "csv" and month is None:
            changes = [{"tenant": args.tenant, **c} for c in result["changes"]]
            columns = ["tenant", *(list(result["changes"][0]) if changes else [])]
            return render.to_csv(changes, columns)
        return render.record(result, args.format)
    if args.what == "weather":
        from ticketflow.service.weather import weather

        return weather_text(weather(store, as_of=as_of), args.format)
    assert month is not None  # --month is required for expertise
    return render.record(queries.expertise(store, tenant=args.tenant, month=month), args.format)


def weather_text(data: dict[str, Any], fmt: str) -> str:
    """The platform weather: JSON as is; CSV one row per service; a table per section."""
    from ticketflow.service.weather import (
        INCIDENT_FIELDS,
        LINK_FIELDS,
        MAINTENANCE_FIELDS,
        SERVICE_FIELDS,
    )

    def flat(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {k: ", ".join(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows
        ]

    if fmt == "json":
        return render.to_json(data)
    if fmt == "csv":
        return render.to_csv(flat(data["services"]), SERVICE_FIELDS)
    sections = (
        ("services", SERVICE_FIELDS),
        ("incidents", INCIDENT_FIELDS),
        ("maintenances", MAINTENANCE_FIELDS),
        ("linked_tickets", LINK_FIELDS),
    )
    parts = [f"platform weather as of {data['as_of']}"]
    for name, fields in sections:
        rows = flat(data[name])
        parts.append(
            f"\n{name.replace('_', ' ')}:\n" + (render.table(rows, fields) if rows else "(none)")
        )
    return "\n".join(parts)


def cmd_schemas(args: argparse.Namespace, settings: Settings) -> int:
    """The inbound contract's schemas in DIR, the published events' in DIR/events."""
    from ticketflow.contract import json_schemas
    from ticketflow.contract_events import event_json_schemas

    target = Path(args.dir)
    for directory, schemas in ((target, json_schemas()), (target / "events", event_json_schemas())):
        directory.mkdir(parents=True, exist_ok=True)
        for stem, schema in schemas.items():
            text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
            (directory / f"{stem}.json").write_text(text)
        print(f"wrote {len(schemas)} schemas to {directory}")
    return 0


# -- demo: a seeded dataset, ingested, summed up and reported ------------------------------


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 even though the dataset holds bad lines on purpose: the summary reports them."""
    from ticketflow_tools import demo

    out = Path(args.out) if args.out else settings.data_dir / "demo"
    summary = demo.run_demo(
        settings, seed=args.seed, out_dir=out, tenants=args.tenants, months=args.months
    )
    print(demo.format_summary(summary))
    print(f"\nreport:  {summary.report}\ndataset: {summary.dataset}")
    return 0


def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser(
        "demo",
        help="generate a seeded dataset into a fresh data dir, ingest it and write a report",
    )
    d.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    d.add_argument("--tenants", type=int, default=300, help="number of tenants (default 300)")
    d.add_argument("--months", type=int, default=6, help="months from 2026-01 (default 6)")
    d.add_argument("--out", help="new directory for the dataset and report (default DATA_DIR/demo)")
    d.set_defaults(func=cmd_demo)


def _add_ingest_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help="apply JSON Lines CloudEvents from FILE (- for stdin)")
    p.add_argument("file", metavar="FILE", help="JSON Lines of CloudEvents, or - for stdin")
    p.add_argument(
        "--dead-letter",
        metavar="FILE",
        help="file for rejected lines (default DATA_DIR/deadletter/<name>-<time>.jsonl)",
    )
    p.add_argument(
        "--format",
        choices=render.FORMATS,
        default="table",
        help="table: counts and one line per rejection (default); json: the whole report; "
        "csv: the rejections as rows (line, id, reason, rule, detail)",
    )
    p.set_defaults(func=cmd_ingest)


def _add_query_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    q = sub.add_parser("query", help="query the read models").add_subparsers(
        dest="what", required=True, metavar="READ_MODEL", help="what to query"
    )
    tenant = "only this tenant's rows"
    s = q.add_parser("sla", help="SLA status per ticket (R-SLA-10)")
    s.add_argument(
        "--as-of",
        metavar="INSTANT",
        help="RFC 3339 instant with offset (default: now; in a replay's directory, the "
        "instant the replay stopped at)",
    )
    s.add_argument("--tenant", help=tenant)
    s.add_argument("--status", help=f"one of: {', '.join(STATUSES)}")
    add_format(s)
    b = q.add_parser("billing", help="tier changes and billed tiers (R-BILL-*)")
    b.add_argument("--tenant", required=True, help="the tenant (required)")
    b.add_argument("--month", help="YYYY-MM: the tier billed that month (default: every change)")
    add_format(b)
    e = q.add_parser("expertise", help="expert hours of a month (R-EXP-*)")
    e.add_argument("--tenant", required=True, help="the tenant (required)")
    e.add_argument("--month", required=True, help="YYYY-MM, a Europe/Paris month (required)")
    add_format(e)
    w = q.add_parser(
        "weather",
        help="the platform weather: services, incidents, maintenance, linked tickets (R-PLAT-*)",
    )
    w.add_argument(
        "--as-of",
        metavar="INSTANT",
        help="RFC 3339 instant with offset (default: now): the weather as known then",
    )
    add_format(w)
    for qp in (s, b, e, w):
        qp.set_defaults(func=cmd_query)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ticketflow",
        description="Event-sourced support tickets and subscriptions: SLA, billing, expertise.",
        epilog="Exit status: 0 done; 1 lines rejected (ingest) or store altered (audit verify); "
        "2 usage error, or a question that cannot be answered; 3 store or broker unreachable; "
        "141 output pipe closed by its reader (as `| head` does).",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where the embedded default keeps its files "
        "(default $TICKETFLOW_HOME, else ./.ticketflow)",
    )
    parser.add_argument(
        "--now",
        metavar="INSTANT",
        help="RFC 3339 instant taken as now by every command (as TICKETFLOW_NOW; default: the "
        "system clock)",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND --help: more)"
    )
    _add_ingest_parser(sub)
    _add_query_parser(sub)
    sc = sub.add_parser("schemas", help="the JSON Schemas of the inbound and published events")
    sc_sub = sc.add_subparsers(dest="action", required=True, metavar="ACTION", help="action")
    ex = sc_sub.add_parser(
        "export", help="write schemas/*.json and schemas/events/*.json from the pydantic models"
    )
    ex.add_argument("--dir", default="schemas", help="target directory (default ./schemas)")
    ex.set_defaults(func=cmd_schemas)
    cli_audit.register(sub)
    cli_serve.register(sub)
    cli_kafka.register(sub)
    cli_deadletter.register(sub)
    cli_explain.register(sub)
    cli_whatif.register(sub)
    cli_log.register(sub)
    cli_keys.register(sub)
    cli_alerts.register(sub)
    cli_report.register(sub)
    _add_demo_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a closed output pipe ends it quietly with :data:`EXIT_BROKEN_PIPE`."""
    try:
        return _run(build_parser(), argv)
    except BrokenPipeError:
        # The reader went away (``| head``): nothing more can be shown. Point stdout at
        # /dev/null so that the interpreter's last flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(data_dir=args.data_dir, now=getattr(args, "now", None))
        with translated():
            return int(args.func(args, settings))
    except UnavailableError as exc:
        print(f"ticketflow: error: {exc}\n  {exc.hint}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except TicketflowError as exc:
        print(f"ticketflow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ticketflow: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

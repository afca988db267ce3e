"""``ticketflow deadletter list | redrive``: dead letters inspected and redriven through the
submit path once their cause is fixed: the embedded mode's files, or in Kafka mode the
records of the dead-letter topic (:mod:`ticketflow.adapters.kafka_deadletters`)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from ticketflow.adapters.deadletter import DeadLetterFile, read_directory, record_redriven
from ticketflow.adapters.kafka import DeadLetterTopic, producer
from ticketflow.adapters.kafka_deadletters import RedriveLedger, candidates, read_letters
from ticketflow.bootstrap import System, open_readmodels
from ticketflow.entrypoints import render
from ticketflow.entrypoints.cli import stores
from ticketflow.entrypoints.cli.options import add_format
from ticketflow.service.deadletters import (
    FIELDS,
    DeadLetter,
    preview,
    preview_candidates,
    redrive,
    redrive_candidates,
    select,
)
from ticketflow.service.submit import Result
from ticketflow.settings import Settings

OUTCOME_FIELDS = ("file", "entry", "id", "was", "now", "reason", "rule", "detail")


def _directory(settings: Settings) -> Any:
    return settings.data_dir / "deadletter"


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    if settings.mode == "kafka":
        store = open_readmodels(settings)
        try:
            done = RedriveLedger(store).outcomes()
        finally:
            store.close()
        found = [t.letter for t in read_letters(settings, done)]
    else:
        found = read_directory(_directory(settings))
    letters = select(found, reason=args.reason, pending=False)
    print(render.rows([letter.row() for letter in letters], FIELDS, args.format))
    return 0


def _outcomes(letters: list[DeadLetter], results: list[Result]) -> list[dict[str, Any]]:
    rows = []
    for letter, result in zip(letters, results, strict=True):
        rejection = result.rejection
        rows.append(
            {
                "file": letter.file,
                "entry": letter.entry,
                "id": letter.id,
                "was": letter.reason,
                "now": result.status,
                "reason": rejection.reason if rejection else None,
                "rule": rejection.rule if rejection else None,
                "detail": rejection.detail if rejection else None,
            }
        )
    return rows


def cmd_redrive(args: argparse.Namespace, settings: Settings) -> int:
    if settings.mode == "kafka":
        return _redrive_topic(args, settings)
    directory = _directory(settings)
    letters = select(read_directory(directory), reason=args.reason, pending=True)
    if not letters:
        print("no dead letters to redrive" + (f" with reason {args.reason}" if args.reason else ""))
        return 0
    stores.require_event_store(settings, "deadletter redrive")
    system = System.open(settings)
    tolerance = settings.future_tolerance  # R-IN-6, as ingest applies it
    try:
        if args.dry_run:
            results = preview(system.engine, letters, future_tolerance=tolerance)
        else:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            dead = DeadLetterFile(directory / f"redrive-{stamp}.jsonl", "deadletter redrive")
            try:
                results = redrive(system.engine, letters, dead, future_tolerance=tolerance)
            finally:
                dead.close()
            record_redriven(directory, zip(letters, (r.status for r in results), strict=True))
            system.project()
    finally:
        system.close()
    print(render.rows(_outcomes(letters, results), OUTCOME_FIELDS, args.format))
    if args.dry_run:  # a note for people, kept out of the table, CSV or JSON
        print("dry run: nothing was applied (redrive without --dry-run to apply)", file=sys.stderr)
    return 0


def _redrive_topic(args: argparse.Namespace, settings: Settings) -> int:
    """Kafka mode: the topic's letters not yet redriven, decoded as the inbound worker decodes
    records and submitted through the one submit path to the event store (the relay publishes
    what is accepted); one refused again goes back to the dead-letter topic, naming the letter
    it came from. Each outcome is kept in the ledger: a letter is redriven once, and an event
    applied already is a duplicate anyway (R-IN-1)."""
    system = System.open(settings)
    ledger = RedriveLedger(system.readmodels)
    tolerance = settings.future_tolerance
    try:
        topic_letters = [
            t
            for t in read_letters(settings, ledger.outcomes())
            if t.letter.redriven is None and (args.reason is None or t.letter.reason == args.reason)
        ]
        if not topic_letters:
            print(
                "no dead letters to redrive"
                + (f" with reason {args.reason}" if args.reason else "")
            )
            return 0
        batch = candidates(settings, topic_letters)
        if args.dry_run:
            results = preview_candidates(system.engine, batch, future_tolerance=tolerance)
        else:
            client = producer(settings)
            try:
                sink = DeadLetterTopic(client, settings.topic_deadletter)
                results = redrive_candidates(system.engine, batch, sink, future_tolerance=tolerance)
            finally:
                client.close()
            ledger.record(zip(topic_letters, (r.status for r in results), strict=True))
    finally:
        system.close()
    letters = [t.letter for t in topic_letters]
    print(render.rows(_outcomes(letters, results), OUTCOME_FIELDS, args.format))
    if args.dry_run:
        print("dry run: nothing was applied (redrive without --dry-run to apply)", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    d = sub.add_parser("deadletter", help="rejected inputs: list them, redrive them")
    actions = d.add_subparsers(dest="action", required=True, metavar="ACTION", help="action")
    ls = actions.add_parser("list", help="every dead letter, and the outcome of its redrive")
    ls.add_argument("--reason", help="only this reason code (e.g. unknown_ticket)")
    add_format(ls)
    ls.set_defaults(func=cmd_list)
    r = actions.add_parser(
        "redrive", help="submit dead letters not yet redriven again, through the submit path"
    )
    r.add_argument("--reason", help="only this reason code (e.g. unknown_ticket)")
    r.add_argument(
        "--dry-run", action="store_true", help="show what each would do now; apply nothing"
    )
    add_format(r)
    r.set_defaults(func=cmd_redrive)


__all__ = ["register"]

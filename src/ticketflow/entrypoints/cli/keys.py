"""``ticketflow keys create | list | revoke``: the HTTP API's keys (R-ACC-1).

Keys are kept hashed in the store's database (the read models' SQLite file, or the PostgreSQL
database); ``create`` prints the key once, and nothing can show it again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ticketflow.bootstrap import open_keys
from ticketflow.entrypoints import render
from ticketflow.entrypoints.cli.options import add_format
from ticketflow.errors import TicketflowError
from ticketflow.service.access import ROLES, parse_roles
from ticketflow.settings import Settings

LIST_COLUMNS = (
    "id",
    "name",
    "roles",
    "tenants",
    "sources",
    "created_at",
    "last_used_at",
    "revoked_at",
)


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    try:
        roles = parse_roles(args.role)
    except ValueError as exc:
        raise TicketflowError(str(exc)) from None
    given = None
    if args.secret_file:
        try:
            given = Path(args.secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TicketflowError(f"cannot read {args.secret_file}: {exc.strerror}") from None
    keys, store = open_keys(settings)
    try:
        stored, secret = keys.create(
            roles,
            tenants=args.tenant or (),
            sources=args.source or (),
            name=args.name or "",
            secret=given,
        )
    except ValueError as exc:
        raise TicketflowError(str(exc)) from None
    finally:
        store.close()
    if given is not None:
        print(f"key {stored.id} stored from {args.secret_file}")
        return 0
    if args.format == "json":
        print(render.to_json({**stored.as_dict(), "key": secret}))
    else:
        print(secret)
        scope = ", ".join(stored.tenants) or "every tenant"
        print(
            f"key {stored.id} ({', '.join(stored.roles)}; {scope}): shown once, keep it now",
            file=sys.stderr,
        )
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    keys, store = open_keys(settings)
    try:
        found = keys.list()
    finally:
        store.close()
    if args.format == "json":
        print(render.to_json([k.as_dict() for k in found]))
        return 0
    rows = [
        {
            **k.as_dict(),
            "roles": ",".join(k.roles),
            "tenants": ",".join(k.tenants) or "*",
            "sources": ",".join(k.sources) or "*",
        }
        for k in found
    ]
    print(render.rows(rows, LIST_COLUMNS, args.format))
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    keys, store = open_keys(settings)
    try:
        revoked = keys.revoke(args.id)
    finally:
        store.close()
    if not revoked:
        raise TicketflowError(f"no live key {args.id!r} (see ticketflow keys list)")
    print(f"revoked {args.id}")
    return 0


def register(sub: Any) -> None:
    """Add ``keys`` to the ``ticketflow`` subcommands."""
    k = sub.add_parser("keys", help="API keys: create, list, revoke (R-ACC)")
    ks = k.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    c = ks.add_parser("create", help="make a key and print it (once)")
    c.add_argument(
        "--role",
        action="append",
        required=True,
        metavar="ROLE[,ROLE]",
        help=f"one or more of {', '.join(ROLES)}",
    )
    c.add_argument("--tenant", action="append", metavar="T", help="scope to tenant T (repeat)")
    c.add_argument(
        "--source", action="append", metavar="S", help="publisher: only events of source S"
    )
    c.add_argument("--name", help="what the key is for")
    c.add_argument(
        "--secret-file",
        metavar="FILE",
        help="store the key written in FILE (a deployment secret) instead of making one; "
        "again with the same file, nothing changes",
    )
    c.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: the key alone on stdout; json: the key with what is stored of it",
    )
    c.set_defaults(func=cmd_create)
    ls = ks.add_parser("list", help="keys without the keys: ids, roles, scope, use")
    add_format(ls)
    ls.set_defaults(func=cmd_list)
    r = ks.add_parser("revoke", help="revoke a key at once")
    r.add_argument("id", help="the key's id (ticketflow keys list)")
    r.set_defaults(func=cmd_revoke)

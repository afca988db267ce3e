"""``audit keygen | checkpoint | prove`` and ``audit verify --checkpoint``: a log whose
integrity someone who does not trust the operator can check (RFC 6962 Merkle tree, Ed25519
signed checkpoints)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ticketflow.bootstrap import open_engine
from ticketflow.entrypoints.cli import stores
from ticketflow.errors import QueryError
from ticketflow.service.checkpoint import (
    Checkpoint,
    CheckpointError,
    Log,
    check_signature,
    load_key,
    new_key,
    prove_consistency,
    prove_inclusion,
    sign,
)
from ticketflow.settings import Settings


def _log(settings: Settings, command: str) -> Log:
    stores.require_event_store(settings, command)
    engine = open_engine(settings)
    try:
        return Log.read(engine.recorder)
    finally:
        engine.close()


def _read_checkpoint(path: str) -> Checkpoint:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise QueryError(f"cannot read the checkpoint {path}: {exc.strerror}") from None
    return Checkpoint.parse(text, path)


def _trusted_key(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise QueryError(f"--public-key {text!r}: give the 64 hexadecimal digits keygen printed")
    return key


def cmd_keygen(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.out)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        message = f"{path} exists: choose another --out (a key is never overwritten)"
        raise QueryError(message) from None
    except OSError as exc:
        raise QueryError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "wb") as out:
        out.write(new_key())
    public = load_key(path).public_key().public_bytes_raw().hex()
    print(f"private key written to {path} (keep it private)")
    print(f"public key: {public}")
    return 0


def cmd_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    key = load_key(Path(args.key))
    checkpoint = sign(_log(settings, "audit checkpoint"), key, datetime.now(UTC))
    text = json.dumps(checkpoint.as_dict(), indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"checkpoint of {checkpoint.size} events written to {args.out}")
    else:
        print(text, end="")
    return 0


def cmd_prove(args: argparse.Namespace, settings: Settings) -> int:
    if (args.position is None) == (args.from_checkpoint is None):
        raise QueryError("give --position P (inclusion) or --from CHECKPOINT (consistency)")
    log = _log(settings, "audit prove")
    answer: dict[str, Any]
    if args.position is not None:
        answer = prove_inclusion(log, args.position, args.size)
    else:
        checkpoint = _read_checkpoint(args.from_checkpoint)
        check_signature(checkpoint, _trusted_key(args.public_key))
        answer = prove_consistency(log, checkpoint)
    print(json.dumps(answer, indent=2))
    return 0


def kept_checkpoint(path: str, public_key: str | None) -> tuple[Checkpoint, bytes | None]:
    """The checkpoint and trusted key an ``audit verify`` was given (usage errors first)."""
    return _read_checkpoint(path), _trusted_key(public_key)


def check_checkpoint(log: Log, path: str, kept: tuple[Checkpoint, bytes | None]) -> list[str]:
    """Problems of ``log`` against a kept checkpoint (none: it only grew since)."""
    checkpoint, trusted = kept
    try:
        check_signature(checkpoint, trusted)
        proved = prove_consistency(log, checkpoint)
    except CheckpointError as exc:
        return [f"checkpoint {path}: {exc}"]
    print(
        f"checkpoint {path}: the log grew from {proved['first_size']} to "
        f"{proved['second_size']} events; the first {proved['first_size']} are unchanged"
    )
    return []


def register(actions: Any) -> None:
    """The checkpoint actions under ``audit``."""
    k = actions.add_parser("keygen", help="make an Ed25519 key to sign checkpoints with")
    k.add_argument("--out", required=True, metavar="FILE", help="new file for the private key")
    k.set_defaults(func=cmd_keygen)
    c = actions.add_parser("checkpoint", help="sign the size and Merkle root of the log")
    c.add_argument("--key", required=True, metavar="FILE", help="private key (audit keygen)")
    c.add_argument("--out", metavar="FILE", help="write the checkpoint here (default: stdout)")
    c.set_defaults(func=cmd_checkpoint)
    p = actions.add_parser("prove", help="an inclusion or a consistency proof, as JSON")
    p.add_argument("--position", type=int, metavar="P", help="prove the event at position P")
    p.add_argument(
        "--size", type=int, metavar="N", help="with --position: in the tree of the first N events"
    )
    p.add_argument(
        "--from",
        dest="from_checkpoint",
        metavar="CHECKPOINT",
        help="prove the log only grew since this checkpoint",
    )
    p.add_argument(
        "--public-key", metavar="HEX", help="with --from: the key the checkpoint must be signed by"
    )
    p.set_defaults(func=cmd_prove)


__all__ = ["check_checkpoint", "kept_checkpoint", "register"]

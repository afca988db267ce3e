"""Signed checkpoints of the event log, and the proofs an auditor checks them with.

Each stored event is a leaf of a Merkle tree (:mod:`ticketflow.service.merkle`); its data is
the event's position, aggregate id, version, topic and stored state. A checkpoint is the size
and root of the tree at one moment, signed with an Ed25519 key: an auditor who keeps a
checkpoint (and trusts its public key) can later be shown, with a consistency proof, that the
log only grew, and, with an inclusion proof, that one event is in it. Neither needs the
operator's own records: the proofs are checked against the checkpoint alone.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ticketflow.domain.instants import rfc3339
from ticketflow.errors import QueryError, TicketflowError
from ticketflow.service.audit import notifications
from ticketflow.service.merkle import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

NOTE_HEADER = b"ticketflow event log checkpoint\n"


class CheckpointError(TicketflowError):
    """A checkpoint whose signature does not hold, or that this log cannot have grown from."""


def event_leaf(n: Any) -> bytes:
    """The leaf data of one stored event: position, aggregate, version, topic, stored state."""
    state = n.state
    head = f"{n.id}|{n.originator_id}|{n.originator_version}|{n.topic}|".encode()
    return head + (state.encode() if isinstance(state, str) else bytes(state))


@dataclass(frozen=True)
class Log:
    """The leaf hashes of the stored events, in store order, with their positions."""

    positions: list[int]
    leaves: list[bytes]

    @classmethod
    def read(cls, recorder: Any) -> Log:
        positions: list[int] = []
        leaves: list[bytes] = []
        for n in notifications(recorder):
            positions.append(int(n.id))
            leaves.append(leaf_hash(event_leaf(n)))
        return cls(positions, leaves)

    def index_of(self, position: int) -> int:
        """The leaf index of the event at store ``position``."""
        low, high = 0, len(self.positions)
        while low < high:
            middle = (low + high) // 2
            if self.positions[middle] < position:
                low = middle + 1
            else:
                high = middle
        if low == len(self.positions) or self.positions[low] != position:
            raise QueryError(f"no stored event at position {position}")
        return low


@dataclass(frozen=True)
class Checkpoint:
    """The size and root of the log's tree at ``made_at``, signed."""

    size: int
    root: bytes
    last_position: int
    made_at: str
    public_key: bytes
    signature: bytes

    def note(self) -> bytes:
        """The signed text: what the signature covers, in a fixed form."""
        return (
            NOTE_HEADER
            + (f"{self.size}\n{self.root.hex()}\n{self.last_position}\n{self.made_at}\n").encode()
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": self.root.hex(),
            "last_position": self.last_position,
            "made_at": self.made_at,
            "public_key": self.public_key.hex(),
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def parse(cls, text: str, where: str) -> Checkpoint:
        """A checkpoint from its JSON; a usage error names what is wrong."""
        try:
            data = json.loads(text)
            return cls(
                size=_natural(data["size"]),
                root=_hash(data["root"]),
                last_position=_natural(data["last_position"]),
                made_at=str(data["made_at"]),
                public_key=bytes.fromhex(data["public_key"]),
                signature=base64.b64decode(data["signature"], validate=True),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise QueryError(
                f"{where} is not a checkpoint written by 'ticketflow audit checkpoint' ({exc})"
            ) from None


def _natural(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{value!r} is not a whole number")
    return value


def _hash(text: Any) -> bytes:
    raw = bytes.fromhex(str(text))
    if len(raw) != 32:
        raise ValueError(f"{text!r} is not a SHA-256 hash")
    return raw


def new_key() -> bytes:
    """A new Ed25519 private key, PEM (PKCS#8, unencrypted: keep the file private)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (PEM, as ``audit keygen`` writes it)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise QueryError(
            f"{path}: not a readable, unencrypted PEM private key ({exc}); "
            "make one with 'ticketflow audit keygen --out FILE'"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise QueryError(f"{path}: an Ed25519 key is needed, not {type(key).__name__}")
    return key


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(log: Log, key: Ed25519PrivateKey, now: datetime) -> Checkpoint:
    """A checkpoint of the whole ``log``, signed with ``key``."""
    unsigned = Checkpoint(
        size=len(log.leaves),
        root=root(log.leaves),
        last_position=log.positions[-1] if log.positions else 0,
        made_at=rfc3339(now) or "",
        public_key=public_bytes(key),
        signature=b"",
    )
    return replace(unsigned, signature=key.sign(unsigned.note()))


def check_signature(checkpoint: Checkpoint, trusted_key: bytes | None = None) -> None:
    """Raise :class:`CheckpointError` unless the checkpoint is signed by its key, and that
    key is ``trusted_key`` when one is given (a key inside a checkpoint proves nothing alone)."""
    if trusted_key is not None and checkpoint.public_key != trusted_key:
        raise CheckpointError("the checkpoint is signed with another key than the trusted one")
    try:
        Ed25519PublicKey.from_public_bytes(checkpoint.public_key).verify(
            checkpoint.signature, checkpoint.note()
        )
    except (InvalidSignature, ValueError):
        raise CheckpointError("the checkpoint's signature does not hold") from None


def prove_inclusion(log: Log, position: int, size: int | None = None) -> dict[str, Any]:
    """An inclusion proof of the event at ``position`` in the tree of the first ``size``
    events (default: all), checked before it is given."""
    size = len(log.leaves) if size is None else size
    index = log.index_of(position)
    if not 0 < size <= len(log.leaves) or index >= size:
        raise QueryError(f"the event at position {position} is not among the first {size}")
    tree = log.leaves[:size]
    proof = inclusion_proof(index, tree)
    expected = root(tree)
    verify_inclusion(index, size, tree[index], proof, expected)
    return {
        "position": position,
        "index": index,
        "size": size,
        "leaf_hash": tree[index].hex(),
        "proof": [p.hex() for p in proof],
        "root": expected.hex(),
    }


def prove_consistency(log: Log, checkpoint: Checkpoint) -> dict[str, Any]:
    """A consistency proof from ``checkpoint`` to the log as it is, checked against the
    checkpoint's root; :class:`CheckpointError` when the log did not only grow."""
    size = len(log.leaves)
    if checkpoint.size > size:
        raise CheckpointError(
            f"the log holds {size} events, fewer than the {checkpoint.size} of the checkpoint"
        )
    current = root(log.leaves)
    proof = consistency_proof(checkpoint.size, log.leaves) if checkpoint.size else []
    try:
        verify_consistency(checkpoint.size, size, proof, checkpoint.root, current)
    except ProofError:
        raise CheckpointError(
            f"the first {checkpoint.size} events no longer hash to the checkpoint's root: "
            "the log was rewritten, not only extended"
        ) from None
    return {
        "first_size": checkpoint.size,
        "first_root": checkpoint.root.hex(),
        "second_size": size,
        "second_root": current.hex(),
        "proof": [p.hex() for p in proof],
    }

"""A Merkle tree over the event log in the manner of RFC 6962 (§2.1), with the verification
algorithms of RFC 9162 (§2.1.3.2, §2.1.4.2).

Leaves and inner nodes are hashed with distinct prefixes (``0x00`` and ``0x01``), so no leaf can
pass for a node. Everything here is pure: lists of 32-byte leaf hashes in, hashes and proofs out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ticketflow.errors import TicketflowError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(TicketflowError):
    """A proof that does not verify, or a question no proof can answer."""


def leaf_hash(data: bytes) -> bytes:
    """MTH of one entry: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An inner node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of the leaf hashes ``leaves`` (the empty tree: SHA-256 of nothing).

    Computed level by level, so a log of millions of events needs no deep recursion: at each
    level, pairs are hashed left to right and a last odd node is carried up, which gives the
    same tree as RFC 6962's split at the largest power of two."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(index, leaves): the audit path of the leaf at ``index`` (RFC 6962 §2.1.1)."""
    if not 0 <= index < len(leaves):
        raise ProofError(f"leaf {index} is not in a tree of {len(leaves)}")
    return _path(index, leaves)


def _path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*_path(index, leaves[:k]), root(leaves[k:])]
    return [*_path(index - k, leaves[k:]), root(leaves[:k])]


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(first, leaves): that the tree of the first ``first`` leaves is a prefix of the
    tree of all of them (RFC 6962 §2.1.2)."""
    if not 0 < first <= len(leaves):
        raise ProofError(f"no consistency proof from size {first} to size {len(leaves)}")
    if first == len(leaves):
        return []
    return _subproof(first, leaves, complete=True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def _check_hashes(*hashes: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError("every hash of a proof is 32 bytes")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows the leaf hash ``leaf`` at ``index`` in
    the tree of ``size`` leaves whose root is ``expected_root`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    _check_hashes(leaf, expected_root, *proof)
    fn, sn, computed = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the path")
        if fn & 1 or fn == sn:
            computed = node_hash(sibling, computed)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            computed = node_hash(computed, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the path")
    if computed != expected_root:
        raise ProofError("the proof leads to another root")


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows the tree of ``first`` leaves with root
    ``first_root`` to be a prefix of the tree of ``second`` leaves with root ``second_root``:
    the log only grew (RFC 9162 §2.1.4.2)."""
    if first > second:
        raise ProofError(f"a log of {second} events cannot follow one of {first}")
    _check_hashes(*proof)
    if first == second:
        if proof or first_root != second_root:
            raise ProofError("equal sizes must have equal roots and an empty proof")
        return
    if first == 0:
        if proof:
            raise ProofError("the empty tree is a prefix of every tree: the proof must be empty")
        return
    if not proof:
        raise ProofError("an empty proof cannot show that a log grew")
    _check_hashes(first_root, second_root)
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a node of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the path")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(node, fr), node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the path")
    if fr != first_root:
        raise ProofError("the proof does not lead to the earlier root")
    if sr != second_root:
        raise ProofError("the proof does not lead to the later root")

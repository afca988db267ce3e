"""The Merkle tree of the event log against RFC 6962's published test vectors, and forged
proofs rejected.

The vectors (eight leaves, the root of each prefix, inclusion and consistency proofs) are the
ones published with Certificate Transparency's reference implementation and kept in
transparency-dev/merkle (``proof/verify_test.go``); they are data, reproduced here so that the
tests need nothing outside this repository.
"""

from __future__ import annotations

import pytest

from ticketflow.service.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [  # the root of the tree of the first 1, 2, … 8 leaves
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


INCLUSION = [  # (leaf number from 1, tree size, audit path)
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY = [  # (first size, second size, proof)
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
HASHES = [leaf_hash(leaf) for leaf in LEAVES]
SOME = h("abacaba000000000000000000000000000000000000000000060061e00123456")


class TestRoots:
    @pytest.mark.parametrize("size", range(1, 9))
    def test_the_root_of_each_prefix(self, size: int) -> None:
        assert root(HASHES[:size]) == ROOTS[size - 1]

    def test_the_empty_tree(self) -> None:
        assert (
            root([])
            == EMPTY_ROOT
            == h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        )


class TestInclusion:
    @pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
    def test_published_paths(self, leaf: int, size: int, path: list[bytes]) -> None:
        assert inclusion_proof(leaf - 1, HASHES[:size]) == path
        verify_inclusion(leaf - 1, size, HASHES[leaf - 1], path, ROOTS[size - 1])

    @pytest.mark.parametrize("size", range(1, 9))
    def test_every_leaf_of_every_tree(self, size: int) -> None:
        for index in range(size):
            proof = inclusion_proof(index, HASHES[:size])
            verify_inclusion(index, size, HASHES[index], proof, ROOTS[size - 1])

    @pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
    def test_forged_proofs_are_rejected(self, leaf: int, size: int, path: list[bytes]) -> None:
        index, good_root, good_leaf = leaf - 1, ROOTS[size - 1], HASHES[leaf - 1]
        forged: list[tuple[int, int, bytes, list[bytes], bytes]] = [
            (index - 1, size, good_leaf, path, good_root),
            (index + 1, size, good_leaf, path, good_root),
            (index ^ 2, size, good_leaf, path, good_root),
            (index, size * 2, good_leaf, path, good_root),
            (index, size // 2, good_leaf, path, good_root),
            (index, size, leaf_hash(b"wrong leaf"), path, good_root),
            (index, size, good_leaf, path, EMPTY_ROOT),
            (index, size, good_leaf, path, SOME),
            (index, size, good_leaf, [*path, good_root], good_root),  # trailing
            (index, size, good_leaf, [good_root, *path], good_root),  # leading garbage
            (index, size, good_leaf, path[:-1], good_root),  # truncated path
        ]
        for position in range(len(path)):
            flipped = list(path)
            flipped[position] = bytes([flipped[position][0] ^ 8]) + flipped[position][1:]
            forged.append((index, size, good_leaf, flipped, good_root))
        for case in forged:
            with pytest.raises(ProofError):
                verify_inclusion(*case)

    def test_a_hash_of_the_wrong_length_is_rejected(self) -> None:
        with pytest.raises(ProofError, match="32 bytes"):
            verify_inclusion(0, 1, b"", [], ROOTS[0])

    def test_no_proof_for_a_leaf_outside_the_tree(self) -> None:
        with pytest.raises(ProofError):
            inclusion_proof(8, HASHES)


class TestConsistency:
    @pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
    def test_published_proofs(self, first: int, second: int, proof: list[bytes]) -> None:
        assert consistency_proof(first, HASHES[:second]) == proof
        verify_consistency(first, second, proof, ROOTS[first - 1], ROOTS[second - 1])

    def test_every_pair_of_sizes(self) -> None:
        for second in range(1, 9):
            for first in range(1, second + 1):
                proof = consistency_proof(first, HASHES[:second])
                verify_consistency(first, second, proof, ROOTS[first - 1], ROOTS[second - 1])

    @pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
    def test_forged_proofs_are_rejected(self, first: int, second: int, proof: list[bytes]) -> None:
        r1, r2 = ROOTS[first - 1], ROOTS[second - 1]
        forged: list[tuple[int, int, list[bytes], bytes, bytes]] = [
            (first - 1, second, proof, r1, r2),
            (first + 1, second, proof, r1, r2),
            (first ^ 2, second, proof, r1, r2),
            (first, second * 2, proof, r1, r2),
            (first, second // 2, proof, r1, r2),
            (first, second, proof, SOME, r2),
            (first, second, proof, r1, SOME),
            (first, second, proof, r2, r1),
            (first, second, [], r1, r2),
            (first, second, [*proof, r1], r1, r2),
            (first, second, [r2, *proof], r1, r2),
            (first, second, [proof[0], *proof], r1, r2),
            (first, second, proof[:-1], r1, r2),
        ]
        for position in range(len(proof)):
            flipped = list(proof)
            flipped[position] = bytes([flipped[position][0] ^ 16]) + flipped[position][1:]
            forged.append((first, second, flipped, r1, r2))
        for case in forged:
            with pytest.raises(ProofError):
                verify_consistency(*case)

    def test_a_log_never_shrinks(self) -> None:
        with pytest.raises(ProofError, match="cannot follow"):
            verify_consistency(2, 1, [], ROOTS[1], ROOTS[0])

    def test_the_empty_log_is_a_prefix_of_every_log(self) -> None:
        verify_consistency(0, 5, [], EMPTY_ROOT, ROOTS[4])
        with pytest.raises(ProofError):
            verify_consistency(0, 5, [SOME], EMPTY_ROOT, ROOTS[4])

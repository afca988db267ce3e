"""The verifiable log over HTTP, for auditors who do not trust the operator: the head of the
Merkle tree over the stored events, an inclusion proof for one event, and a consistency proof
from a tree head the auditor kept (in the manner of RFC 6962; ``ticketflow audit`` gives the
same, and signs checkpoints with the operator's key). The answers are hashes of every tenant's
events: only a key that sees every tenant asks (R-ACC-3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from ticketflow.entrypoints.api.access import Caller
from ticketflow.entrypoints.api.backend import Backend
from ticketflow.entrypoints.api.errors import ApiError
from ticketflow.errors import QueryError
from ticketflow.service.checkpoint import (
    Checkpoint,
    CheckpointError,
    Log,
    prove_consistency,
    prove_inclusion,
)
from ticketflow.service.merkle import root

HEX_HASH = r"^[0-9a-f]{64}$"


class TreeHead(BaseModel):
    """The tree over the first ``size`` stored events, whose last is at ``last_position``."""

    size: int
    root: str
    last_position: int


class InclusionProof(BaseModel):
    position: int
    index: int
    size: int
    leaf_hash: str
    proof: list[str]
    root: str


class ConsistencyProof(BaseModel):
    first_size: int
    first_root: str
    second_size: int
    second_root: str
    proof: list[str]


def register(app: FastAPI, backend: Backend) -> None:
    """The log's routes of ``app``."""
    from ticketflow.entrypoints.api.app import _params, json_response

    def log() -> Log:
        return backend.read(lambda _store: Log.read(backend.system().engine.recorder))

    @app.get("/v1/audit/head", response_model=TreeHead)
    def head(request: Request, key: Caller) -> Response:
        """The size and root of the tree over every stored event now: keep it, and ask later
        for a consistency proof from it."""
        _params(request, ())
        current = log()
        last = current.positions[-1] if current.positions else 0
        size = len(current.leaves)
        return json_response(
            {"size": size, "root": root(current.leaves).hex(), "last_position": last}
        )

    @app.get("/v1/audit/inclusion", response_model=InclusionProof)
    def inclusion(
        request: Request,
        key: Caller,
        position: Annotated[int, Query(ge=1, description="the event's store position")],
        size: Annotated[
            int | None, Query(ge=1, description="the tree's size; default every stored event")
        ] = None,
    ) -> Response:
        """The audit path of the event at ``position`` to the root of the tree of ``size``
        events, checked before it is given (404 when no such event is in that tree)."""
        _params(request, ("position", "size"))
        try:
            proof = prove_inclusion(log(), position, size)
        except QueryError as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        return json_response(proof)

    @app.get(
        "/v1/audit/consistency",
        response_model=ConsistencyProof,
        responses={409: {"description": "the log was rewritten, not only extended"}},
    )
    def consistency(
        request: Request,
        key: Caller,
        first_size: Annotated[int, Query(ge=0, description="the size of the head you kept")],
        first_root: Annotated[
            str, Query(pattern=HEX_HASH, description="its root, 64 lowercase hex digits")
        ],
    ) -> Response:
        """A proof that the tree of ``first_size`` events whose root you kept is the start of
        the log now; 409 ``log_rewritten`` when the log did not only grow."""
        _params(request, ("first_size", "first_root"))
        kept = Checkpoint(first_size, bytes.fromhex(first_root), 0, "", b"", b"")
        try:
            proof: dict[str, Any] = prove_consistency(log(), kept)
        except CheckpointError as exc:
            raise ApiError(409, "log_rewritten", str(exc)) from None
        return json_response(proof)

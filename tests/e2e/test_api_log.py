"""The verifiable log over HTTP (``/v1/audit/...``): the head, inclusion proofs checked by the
auditor's own verifier, consistency from a kept head, and a rewritten log refused (409)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from tests.api import Api
from tests.e2e.test_whatif import LINES
from ticketflow.service.merkle import verify_consistency, verify_inclusion

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with Api.start(tmp_path_factory.mktemp("log") / "data") as client:
        reply = client.post_events([json.loads(line) for line in LINES[:6]])
        assert reply.status_code == 202, reply.text
        yield client


def test_inclusion_and_consistency_verify_against_the_head(api: Api) -> None:
    kept = api.get("/v1/audit/head").json()
    assert kept["size"] >= 6
    for position in (1, kept["last_position"]):
        answer = api.get("/v1/audit/inclusion", params={"position": position}).json()
        verify_inclusion(  # raises on a bad proof
            answer["index"],
            answer["size"],
            bytes.fromhex(answer["leaf_hash"]),
            [bytes.fromhex(p) for p in answer["proof"]],
            bytes.fromhex(kept["root"]),
        )
    assert api.post_events([json.loads(line) for line in LINES[6:10]]).status_code == 202
    now = api.get("/v1/audit/head").json()
    assert now["size"] > kept["size"]
    proof = api.get(
        "/v1/audit/consistency",
        params={"first_size": kept["size"], "first_root": kept["root"]},
    ).json()
    assert (proof["second_size"], proof["second_root"]) == (now["size"], now["root"])
    verify_consistency(
        kept["size"],
        now["size"],
        [bytes.fromhex(p) for p in proof["proof"]],
        bytes.fromhex(kept["root"]),
        bytes.fromhex(now["root"]),
    )


def test_a_rewritten_log_and_unknown_positions_are_refused(api: Api) -> None:
    kept = api.get("/v1/audit/head").json()
    missing = api.get("/v1/audit/inclusion", params={"position": kept["last_position"] + 50})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    db = sqlite3.connect(api.data_dir / "events.sqlite3")
    db.execute("UPDATE stored_events SET state = replace(state, 'GOLD', 'SILVER')")
    db.commit()
    db.close()
    answer = api.get(
        "/v1/audit/consistency", params={"first_size": kept["size"], "first_root": kept["root"]}
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "log_rewritten"


def test_a_tenant_scoped_auditor_is_refused(api: Api) -> None:
    headers = api.as_key(api.key(["auditor"], tenants=("acme",)))
    assert api.get("/v1/audit/head", headers=headers).status_code == 403

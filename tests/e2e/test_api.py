"""The HTTP API end to end: the FastAPI application over a real embedded system, spoken to with
its test client (and, for the command, a real uvicorn server).

Expected values are worked out by hand from the rules (DESIGN §2):

- acme starts SILVER on 2026-03-10T09:00Z and upgrades to GOLD on 2026-04-30T22:30Z, which is
  00:30 on 1 May in Paris: a May change, billed from 2026-06-01T00:00+02:00 (R-BILL-2); the start
  is billed from April (R-BILL-3), March at STANDARD.
- T-1, P1, opened 2026-05-06T10:00Z under GOLD: GTR 4 h (R-SLA-4), deadline 14:00Z; restored
  14:31Z, so breached by 31 minutes (R-SLA-10).
- In May acme's allowance rises to GOLD's 4 h (R-EXP-1); a 10 h pack bought on 2 May; 5 h used on
  7 May: 4 h from the allowance, 1 h from the pack, 9 h left on it (R-EXP-4).
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api import Api, api_factory_fixture
from tests.cli import embedded_env
from tests.factories import event, opened, ticket_fact
from ticketflow.entrypoints import api
from ticketflow.service import queries

pytestmark = pytest.mark.timeout(120)

AS_OF = "2026-05-07T00:00:00Z"

GOOD = [
    event("subscription.started", "acme", "2026-03-10T09:00:00Z", {"tier": "SILVER"}, id="a-1"),
    event("subscription.tier_upgraded", "acme", "2026-04-30T22:30:00Z", {"tier": "GOLD"}, id="a-2"),
    event(
        "expertise.pack_purchased",
        "acme",
        "2026-05-02T08:00:00Z",
        {"pack_id": "PK-1", "hours": 10},
        id="a-3",
    ),
    {**opened("T-1", "2026-05-06T10:00:00Z", "P1"), "id": "a-4"},
    {**ticket_fact("service_restored", "T-1", "2026-05-06T14:31:00Z"), "id": "a-5"},
    event("expertise.hours_consumed", "acme", "2026-05-07T09:00:00Z", {"hours": 5}, id="a-6"),
]
DUPLICATE = {**opened("T-1", "2026-05-06T10:00:00Z", "P1"), "id": "a-4"}
UNKNOWN_TYPE = event("ticket.deleted", "T-1", "2026-05-06T15:00:00Z", id="b-1")
MISSING_OFFSET = {**ticket_fact("acknowledged", "T-1", "2026-05-06T11:00:00"), "id": "b-2"}
NEVER_OPENED = {**ticket_fact("service_restored", "T-404", "2026-05-06T11:00:00Z"), "id": "b-3"}
BATCH = [*GOOD, DUPLICATE, UNKNOWN_TYPE, MISSING_OFFSET, NEVER_OPENED]

api_factory = api_factory_fixture()


def assert_error(reply: Any, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].split(";")[0] == "application/json"
    error = reply.json()["error"]
    assert error["code"] == code
    assert error["message"]


def submit_batch(client: Api) -> dict[str, Any]:
    """POST ``BATCH``: acme's story, a duplicate and three rejections (207, R-IN-7)."""
    reply = client.post("/v1/events", json=BATCH)
    assert reply.status_code == 207, reply.text
    result: dict[str, Any] = reply.json()
    return result


@pytest.fixture(scope="module")
def read_only_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One API holding ``BATCH``, shared by the tests that only read from it; its teardown
    fails if its event store or dead-letter file changed."""
    with Api.start(tmp_path_factory.mktemp("api") / "data") as client:
        submit_batch(client)
        recorder = client.backend.system().engine.recorder
        dead_letters = client.data_dir / api.DEAD_LETTER_FILE
        stored, dead = recorder.max_notification_id(), dead_letters.read_bytes()
        yield client
        assert recorder.max_notification_id() == stored
        assert dead_letters.read_bytes() == dead


# -- POST /v1/events ----------------------------------------------------------------------


def test_batch_outcomes(api_factory: Callable[[], Api]) -> None:
    submitted = submit_batch(api_factory())
    outcomes = submitted["outcomes"]
    assert [(o["id"], o["status"]) for o in outcomes] == [
        *((e["id"], "accepted") for e in GOOD),
        ("a-4", "duplicate"),
        ("b-1", "rejected"),
        ("b-2", "rejected"),
        ("b-3", "rejected"),
    ]
    assert (submitted["accepted"], submitted["duplicate"], submitted["rejected"]) == (6, 1, 3)
    no_error = {"reason": None, "detail": None, "rule": None}
    assert outcomes[0] == {"id": "a-1", "status": "accepted", **no_error}
    assert outcomes[6] == {"id": "a-4", "status": "duplicate", **no_error}
    reasons = [(o["reason"], o["rule"]) for o in outcomes[-3:]]
    assert reasons == [
        ("unknown_type", "R-IN-3"),
        ("missing_offset", "R-IN-2"),
        ("unknown_ticket", "R-SLA-2"),
    ]
    assert all(o["detail"] for o in outcomes[-3:])


def test_rejections_go_to_the_dead_letter_file(api_factory: Callable[[], Api]) -> None:
    server = api_factory()
    submit_batch(server)
    lines = (server.data_dir / api.DEAD_LETTER_FILE).read_text(encoding="utf-8")
    records = [json.loads(line) for line in lines.splitlines()]
    assert [(r["id"], r["reason"]) for r in records] == [
        ("b-1", "unknown_type"),
        ("b-2", "missing_offset"),
        ("b-3", "unknown_ticket"),
    ]
    assert json.loads(records[1]["original"]) == MISSING_OFFSET


def test_resend_changes_nothing(api_factory: Callable[[], Api]) -> None:
    server = api_factory()
    submit_batch(server)
    before = server.get(f"/v1/sla?as_of={AS_OF}").json()
    reply = server.post_events(GOOD)
    assert reply.status_code == 202
    assert {o["status"] for o in reply.json()["outcomes"]} == {"duplicate"}
    assert server.get(f"/v1/sla?as_of={AS_OF}").json() == before


def test_single_cloudevent(api_factory: Callable[[], Api]) -> None:
    server = api_factory()
    single = event("subscription.started", "beta-co", "2026-05-01T08:00:00Z", {"tier": "BRONZE"})
    reply = server.post_events(single, "application/cloudevents+json; charset=utf-8")
    assert reply.status_code == 202, reply.content
    assert reply.json()["outcomes"] == [
        {"id": single["id"], "status": "accepted", "reason": None, "detail": None, "rule": None}
    ]
    assert server.get("/v1/billing/beta-co").json()["current_tier"] == "BRONZE"


def test_an_array_item_that_is_not_an_object_is_rejected_alone(
    api_factory: Callable[[], Api],
) -> None:
    reply = api_factory().post_events([42])
    assert reply.status_code == 422  # every event rejected (R-IN-7)
    assert reply.json()["outcomes"][0]["reason"] == "not_an_object"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"specversion": "1.0", ', "application/json", 400, "not_json"),
        (b"\xff\xfe not utf-8", "application/json", 400, "not_json"),
        (b"42", "application/json", 400, "not_an_object"),
        (b'"text"', "application/cloudevents+json", 400, "not_an_object"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_bad_bodies(
    api_factory: Callable[[], Api], body: bytes, content_type: str, status: int, code: str
) -> None:
    reply = api_factory().post("/v1/events", content=body, headers={"Content-Type": content_type})
    assert_error(reply, status, code)


def _raw_post(api: Api, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Headers only, no body: what a client announcing a body gets before sending it."""
    reply = api.post("/v1/events", headers=headers)
    return reply.status_code, reply.json()


def test_body_over_10_mb_is_refused(api_factory: Callable[[], Api]) -> None:
    too_big = str(api.MAX_BODY_BYTES + 1)
    status, body = _raw_post(
        api_factory(), {"Content-Type": "application/json", "Content-Length": too_big}
    )
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_chunked_body_over_10_mb_is_refused(api_factory: Callable[[], Api]) -> None:
    chunks = iter([b"[" + b" " * api.MAX_BODY_BYTES, b"]"])
    reply = api_factory().post(
        "/v1/events", content=chunks, headers={"Content-Type": "application/json"}
    )
    assert_error(reply, 413, "payload_too_large")


# -- queries ------------------------------------------------------------------------------

T1_ROW = {
    "ticket": "T-1",
    "tenant": "acme",
    "priority": "P1",
    "tier": "GOLD",
    "category": "compute",
    "status": "breached",
    "reason": None,
    "opened_at": "2026-05-06T10:00:00Z",
    "clock_started_at": "2026-05-06T10:00:00Z",
    "deadline": "2026-05-06T14:00:00Z",
    "restored_at": "2026-05-06T14:31:00Z",
    "breach_minutes": 31,
    "cycles": 1,
}


def test_sla(read_only_server: Api) -> None:
    reply = read_only_server.get(f"/v1/sla?as_of={AS_OF}&tenant=acme")
    assert reply.status_code == 200
    assert reply.headers["content-type"].split(";")[0] == "application/json"
    assert reply.json() == [T1_ROW]


def test_sla_as_of_before_the_deadline(read_only_server: Api) -> None:
    # 15:00+02:00 = 13:00Z: 3 h of a 4 h GTR, 75 % elapsed, still running → at_risk.
    [row] = read_only_server.get("/v1/sla?as_of=2026-05-06T15:00:00%2B02:00").json()
    assert (row["status"], row["restored_at"], row["breach_minutes"]) == ("at_risk", None, 0)


def test_sla_status_filter(read_only_server: Api) -> None:
    assert read_only_server.get(f"/v1/sla?as_of={AS_OF}&status=met").json() == []
    assert [
        r["ticket"] for r in read_only_server.get(f"/v1/sla?as_of={AS_OF}&status=breached").json()
    ] == ["T-1"]


def test_sla_csv(read_only_server: Api) -> None:
    reply = read_only_server.get(f"/v1/sla?as_of={AS_OF}&format=csv")
    assert reply.status_code == 200
    assert reply.headers["content-type"].split(";")[0] == "text/csv"
    reader = csv.DictReader(io.StringIO(reply.content.decode("utf-8")))
    assert tuple(reader.fieldnames or ()) == queries.SLA_FIELDS
    [row] = list(reader)
    assert (row["ticket"], row["status"], row["deadline"], row["breach_minutes"]) == (
        "T-1",
        "breached",
        "2026-05-06T14:00:00Z",
        "31",
    )


def test_billing(read_only_server: Api) -> None:
    reply = read_only_server.get("/v1/billing/acme")
    assert reply.status_code == 200
    assert reply.json() == {
        "tenant": "acme",
        "current_tier": "GOLD",
        "changes": [
            {
                "from_tier": "STANDARD",
                "to_tier": "SILVER",
                "kind": "started",
                "service_effective_at": "2026-03-10T09:00:00Z",
                "billing_effective_at": "2026-03-31T22:00:00Z",
                "rule": "R-BILL-3",
            },
            {
                "from_tier": "SILVER",
                "to_tier": "GOLD",
                "kind": "upgrade",
                "service_effective_at": "2026-04-30T22:30:00Z",
                "billing_effective_at": "2026-05-31T22:00:00Z",
                "rule": "R-BILL-2",
            },
        ],
        "months": [
            {"month": "2026-03", "billed_tier": "STANDARD"},
            {"month": "2026-04", "billed_tier": "SILVER"},
            {"month": "2026-05", "billed_tier": "SILVER"},
            {"month": "2026-06", "billed_tier": "GOLD"},
        ],
    }


@pytest.mark.parametrize(
    ("month", "tier"),
    [("2026-02", "STANDARD"), ("2026-05", "SILVER"), ("2026-06", "GOLD"), ("2027-01", "GOLD")],
)
def test_billing_of_a_month(read_only_server: Api, month: str, tier: str) -> None:
    reply = read_only_server.get(f"/v1/billing/acme?month={month}")
    assert reply.status_code == 200
    assert reply.json() == {
        "tenant": "acme",
        "month": month,
        "billed_tier": tier,
        "rule": "R-BILL-3",
    }


def test_expertise(read_only_server: Api) -> None:
    reply = read_only_server.get("/v1/expertise/acme?month=2026-05")
    assert reply.status_code == 200
    assert reply.json() == {
        "tenant": "acme",
        "month": "2026-05",
        "included_hours": 4.0,
        "consumed_hours": 5.0,
        "from_allowance_hours": 4.0,
        "from_packs_hours": 1.0,
        "overage_hours": 0.0,
        "unfunded_hours": 0.0,
        "pack_balance_hours": 9.0,
    }


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/billing/acme?month=2026-13", 400, "invalid_query"),
        ("/v1/billing/acme?month=May", 400, "invalid_query"),
        ("/v1/expertise/acme?month=2026-5", 400, "invalid_query"),
        ("/v1/expertise/acme", 400, "invalid_query"),
        ("/v1/sla?as_of=2026-05-07T00:00:00", 400, "invalid_query"),
        ("/v1/sla?as_of=yesterday", 400, "invalid_query"),
        ("/v1/sla?status=late", 400, "invalid_query"),
        ("/v1/sla?format=xml", 400, "invalid_query"),
        ("/v1/sla?asof=2026-05-07T00:00:00Z", 400, "unknown_parameter"),
        ("/v1/sla?tenant=acme&tenant=other", 400, "invalid_query"),
        ("/v1/billing/nobody", 404, "unknown_tenant"),
        ("/v1/expertise/nobody?month=2026-05", 404, "unknown_tenant"),
        ("/v1/sla?tenant=nobody", 404, "unknown_tenant"),
        ("/v1/nothing", 404, "not_found"),
        ("/v1/billing/", 404, "not_found"),
        ("/v1/sla/extra", 404, "not_found"),
    ],
)
def test_query_errors(read_only_server: Api, path: str, status: int, code: str) -> None:
    assert_error(read_only_server.get(path), status, code)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("DELETE", "/v1/sla", "GET"), ("POST", "/v1/sla", "GET"), ("GET", "/v1/events", "POST")],
)
def test_wrong_method(api_factory: Callable[[], Api], method: str, path: str, allowed: str) -> None:
    reply = api_factory().request(method, path, content=b"{}" if method == "POST" else None)
    assert_error(reply, 405, "method_not_allowed")
    assert reply.headers["Allow"] == allowed


def test_internal_errors_stay_generic(
    api_factory: Callable[[], Api],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = api_factory()

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(queries, "sla", broken)
    reply = server.get("/v1/sla")
    assert_error(reply, 500, "internal_error")
    assert b"secret" not in reply.content
    assert "secret detail" in caplog.text


# -- liveness and description ---------------------------------------------------------------


def test_livez_needs_no_key(read_only_server: Api) -> None:
    reply = read_only_server.get("/livez", headers=read_only_server.as_key(None))
    assert (reply.status_code, reply.json()) == (200, {"status": "ok"})


def test_openapi(read_only_server: Api) -> None:
    reply = read_only_server.get("/openapi.json")
    assert reply.status_code == 200
    document = reply.json()
    assert document["openapi"].startswith("3.1")
    documented = {re.sub(r":\w+}", "}", path) for _, path in api.ACCESS}  # {source:path}
    assert set(document["paths"]) == documented - {"/openapi.json"}
    assert list(document["components"]["schemas"]["SlaRow"]["properties"]) == list(
        queries.SLA_FIELDS
    )
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    refs = {
        ref.rsplit("/", 1)[-1] for ref in _refs(document) if ref.startswith("#/components/schemas/")
    }
    assert refs <= set(document["components"]["schemas"])


def test_openapi_document_is_valid(read_only_server: Api) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(read_only_server.get("/openapi.json").json())


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_a_broker_address_alone_keeps_the_embedded_mode(api_factory: Callable[..., Api]) -> None:
    server = api_factory({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"})
    assert server.backend.embedded is True


# -- the command ----------------------------------------------------------------------------


def _serving(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    env = embedded_env()
    command = [sys.executable, "-m", "ticketflow", "--data-dir", str(tmp_path), "serve"]
    process = subprocess.Popen(
        [*command, "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    url = banner.split(" on ", 1)[1].split()[0]
    assert url.startswith("http://127.0.0.1:")
    return process, url


def _wait_live(url: str) -> None:
    import time

    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "/livez", timeout=5) as response:
                assert json.loads(response.read()) == {"status": "ok"}
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the API did not come up")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_command_serves_concurrently_and_stops_cleanly(tmp_path: Path, workers: str) -> None:
    """A real uvicorn server, one process or two sharing the port (each with its own engine
    and write lock on the same SQLite files): a key made with the CLI, posts and queries from
    6 clients at once, every event stored once and projected."""
    env = embedded_env()
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "ticketflow",
            "--data-dir",
            str(tmp_path),
            "keys",
            "create",
            "--role",
            "publisher,analyst",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    secret = made.stdout.strip()
    process, url = _serving(tmp_path, "--workers", workers)
    try:
        _wait_live(url)

        def call(method: str, path: str, body: bytes | None = None) -> int:
            request = urllib.request.Request(url + path, data=body, method=method)
            request.add_header("Authorization", f"Bearer {secret}")
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return int(error.code)

        assert call("POST", "/v1/events", json.dumps(BATCH).encode()) == 207
        statuses: list[int] = []

        def client(number: int) -> None:
            for turn in range(5):
                statuses.append(call("GET", f"/v1/sla?as_of={AS_OF}"))
                new = opened(f"N-{number}-{turn}", "2026-05-06T12:00:00Z")
                statuses.append(call("POST", "/v1/events", json.dumps([new, *GOOD[:2]]).encode()))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert (statuses.count(200), statuses.count(202)) == (30, 30)
        # Every ticket once in the read model, whichever process answers.
        for _ in range(4):
            request = urllib.request.Request(f"{url}/v1/sla?as_of={AS_OF}")
            request.add_header("Authorization", f"Bearer {secret}")
            with urllib.request.urlopen(request, timeout=30) as response:
                tickets = [row["ticket"] for row in json.loads(response.read())]
            assert sorted(tickets) == sorted(
                ["T-1", *(f"N-{n}-{t}" for n in range(6) for t in range(5))]
            )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

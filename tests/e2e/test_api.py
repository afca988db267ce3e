"""The HTTP API end to end: a real server on 127.0.0.1, spoken to with urllib.

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

import contextlib
import csv
import http.client
import io
import itertools
import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from tests.cli import embedded_env
from tests.factories import event, opened, ticket_fact
from ticketflow.entrypoints import api
from ticketflow.entrypoints.api import ApiServer, make_server
from ticketflow.service import queries
from ticketflow.settings import Settings

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


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    server: ApiServer,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> Reply:
    request = urllib.request.Request(server.url + path, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers, error.read())


def get(server: ApiServer, path: str) -> Reply:
    return call(server, "GET", path)


def post_json(server: ApiServer, data: Any, content_type: str = "application/json") -> Reply:
    return call(server, "POST", "/v1/events", json.dumps(data).encode(), content_type)


def assert_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert reply.headers.get_content_type() == "application/json"
    error = reply.json()["error"]
    assert error["code"] == code
    assert error["message"]


def data_dir_of(server: ApiServer) -> Path:
    return server.service.system.settings.data_dir


def submit_batch(server: ApiServer) -> dict[str, Any]:
    """POST ``BATCH`` (a few events): acme's story, a duplicate and three rejections."""
    reply = post_json(server, BATCH)
    assert reply.status == 202, reply.body
    result: dict[str, Any] = reply.json()
    return result


@contextlib.contextmanager
def running(data_dir: Path) -> Iterator[ApiServer]:
    """An embedded-mode server on ``data_dir``, serving from a thread until the block ends."""
    server = make_server(Settings.from_env(env={}, data_dir=data_dir), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[[], ApiServer]]:
    """Starts a server of the test's own, each on a new empty data directory."""
    with contextlib.ExitStack() as servers:
        numbers = itertools.count(1)

        def start() -> ApiServer:
            return servers.enter_context(running(tmp_path / f"data-{next(numbers)}"))

        yield start


@pytest.fixture(scope="module")
def read_only_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One server holding ``BATCH``, shared by the tests that only read from it.

    Once loaded it refuses events (a POST /v1/events answers 500) and its teardown fails if
    any were sent, or if its event store or dead-letter file changed: no test can leave
    anything behind for another one to see.
    """
    refused: list[Sequence[str]] = []

    def refuse(originals: Sequence[str]) -> list[dict[str, Any]]:
        refused.append(originals)
        raise AssertionError("the shared read-only server takes no events")

    with running(tmp_path_factory.mktemp("api") / "data") as server:
        submit_batch(server)
        recorder = server.service.system.engine.recorder
        dead_letters = data_dir_of(server) / api.DEAD_LETTER_FILE
        stored, dead = recorder.max_notification_id(), dead_letters.read_bytes()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(server.service, "submit", refuse)
            yield server
        assert refused == [], "events were posted to the shared read-only server"
        assert recorder.max_notification_id() == stored
        assert dead_letters.read_bytes() == dead


# -- POST /v1/events ----------------------------------------------------------------------


def test_batch_outcomes(server_factory: Callable[[], ApiServer]) -> None:
    submitted = submit_batch(server_factory())
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


def test_rejections_go_to_the_dead_letter_file(server_factory: Callable[[], ApiServer]) -> None:
    server = server_factory()
    submit_batch(server)
    lines = (data_dir_of(server) / api.DEAD_LETTER_FILE).read_text(encoding="utf-8")
    records = [json.loads(line) for line in lines.splitlines()]
    assert [(r["id"], r["reason"]) for r in records] == [
        ("b-1", "unknown_type"),
        ("b-2", "missing_offset"),
        ("b-3", "unknown_ticket"),
    ]
    assert json.loads(records[1]["original"]) == MISSING_OFFSET


def test_resend_changes_nothing(server_factory: Callable[[], ApiServer]) -> None:
    server = server_factory()
    submit_batch(server)
    before = get(server, f"/v1/sla?as_of={AS_OF}").json()
    reply = post_json(server, GOOD)
    assert reply.status == 202
    assert {o["status"] for o in reply.json()["outcomes"]} == {"duplicate"}
    assert get(server, f"/v1/sla?as_of={AS_OF}").json() == before


def test_single_cloudevent(server_factory: Callable[[], ApiServer]) -> None:
    server = server_factory()
    single = event("subscription.started", "beta-co", "2026-05-01T08:00:00Z", {"tier": "BRONZE"})
    reply = post_json(server, single, "application/cloudevents+json; charset=utf-8")
    assert reply.status == 202, reply.body
    assert reply.json()["outcomes"] == [
        {"id": single["id"], "status": "accepted", "reason": None, "detail": None, "rule": None}
    ]
    assert get(server, "/v1/billing/beta-co").json()["current_tier"] == "BRONZE"


def test_an_array_item_that_is_not_an_object_is_rejected_alone(
    server_factory: Callable[[], ApiServer],
) -> None:
    reply = post_json(server_factory(), [42])
    assert reply.status == 202
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
    server_factory: Callable[[], ApiServer], body: bytes, content_type: str, status: int, code: str
) -> None:
    assert_error(call(server_factory(), "POST", "/v1/events", body, content_type), status, code)


def _raw_post(server: ApiServer, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Headers only, no body: what a client announcing a body gets before sending it."""
    host, port = server.server_address[0], server.server_address[1]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=30)
    try:
        connection.putrequest("POST", "/v1/events")
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_body_over_10_mb_is_refused(server_factory: Callable[[], ApiServer]) -> None:
    too_big = str(api.MAX_BODY_BYTES + 1)
    status, body = _raw_post(
        server_factory(), {"Content-Type": "application/json", "Content-Length": too_big}
    )
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_body_without_length_is_refused(server_factory: Callable[[], ApiServer]) -> None:
    status, body = _raw_post(server_factory(), {"Content-Type": "application/json"})
    assert (status, body["error"]["code"]) == (411, "length_required")


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


def test_sla(read_only_server: ApiServer) -> None:
    reply = get(read_only_server, f"/v1/sla?as_of={AS_OF}&tenant=acme")
    assert reply.status == 200
    assert reply.headers.get_content_type() == "application/json"
    assert reply.json() == [T1_ROW]


def test_sla_as_of_before_the_deadline(read_only_server: ApiServer) -> None:
    # 15:00+02:00 = 13:00Z: 3 h of a 4 h GTR, 75 % elapsed, still running → at_risk.
    [row] = get(read_only_server, "/v1/sla?as_of=2026-05-06T15:00:00%2B02:00").json()
    assert (row["status"], row["restored_at"], row["breach_minutes"]) == ("at_risk", None, 0)


def test_sla_status_filter(read_only_server: ApiServer) -> None:
    assert get(read_only_server, f"/v1/sla?as_of={AS_OF}&status=met").json() == []
    assert [
        r["ticket"] for r in get(read_only_server, f"/v1/sla?as_of={AS_OF}&status=breached").json()
    ] == ["T-1"]


def test_sla_csv(read_only_server: ApiServer) -> None:
    reply = get(read_only_server, f"/v1/sla?as_of={AS_OF}&format=csv")
    assert reply.status == 200
    assert reply.headers.get_content_type() == "text/csv"
    reader = csv.DictReader(io.StringIO(reply.body.decode("utf-8")))
    assert tuple(reader.fieldnames or ()) == queries.SLA_FIELDS
    [row] = list(reader)
    assert (row["ticket"], row["status"], row["deadline"], row["breach_minutes"]) == (
        "T-1",
        "breached",
        "2026-05-06T14:00:00Z",
        "31",
    )


def test_billing(read_only_server: ApiServer) -> None:
    reply = get(read_only_server, "/v1/billing/acme")
    assert reply.status == 200
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
def test_billing_of_a_month(read_only_server: ApiServer, month: str, tier: str) -> None:
    reply = get(read_only_server, f"/v1/billing/acme?month={month}")
    assert reply.status == 200
    assert reply.json() == {
        "tenant": "acme",
        "month": month,
        "billed_tier": tier,
        "rule": "R-BILL-3",
    }


def test_expertise(read_only_server: ApiServer) -> None:
    reply = get(read_only_server, "/v1/expertise/acme?month=2026-05")
    assert reply.status == 200
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
def test_query_errors(read_only_server: ApiServer, path: str, status: int, code: str) -> None:
    assert_error(get(read_only_server, path), status, code)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("DELETE", "/v1/sla", "GET"), ("POST", "/v1/sla", "GET"), ("GET", "/v1/events", "POST")],
)
def test_wrong_method(
    server_factory: Callable[[], ApiServer], method: str, path: str, allowed: str
) -> None:
    reply = call(server_factory(), method, path, b"{}" if method == "POST" else None)
    assert_error(reply, 405, "method_not_allowed")
    assert reply.headers["Allow"] == allowed


def test_internal_errors_stay_generic(
    server_factory: Callable[[], ApiServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = server_factory()

    def broken(**_: Any) -> Any:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(server.service, "sla", broken)
    reply = get(server, "/v1/sla")
    assert_error(reply, 500, "internal_error")
    assert b"secret" not in reply.body
    assert "RuntimeError: secret detail" in capsys.readouterr().err


def test_concurrent_requests(server_factory: Callable[[], ApiServer]) -> None:
    server = server_factory()
    submit_batch(server)
    statuses: list[int] = []

    def client() -> None:
        for _ in range(5):
            statuses.append(get(server, f"/v1/sla?as_of={AS_OF}").status)
            statuses.append(post_json(server, GOOD[:2]).status)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert (statuses.count(200), statuses.count(202)) == (30, 30)


# -- health and description ---------------------------------------------------------------


def test_health(read_only_server: ApiServer) -> None:
    reply = get(read_only_server, "/v1/health")
    assert (reply.status, reply.json()) == (200, {"status": "ok"})
    head = call(read_only_server, "HEAD", "/v1/health")
    assert (head.status, head.body) == (200, b"")


def test_openapi(read_only_server: ApiServer) -> None:
    reply = get(read_only_server, "/openapi.json")
    assert reply.status == 200
    document = reply.json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/v1/sla",
        "/v1/billing/{tenant}",
        "/v1/expertise/{tenant}",
        "/v1/events",
        "/v1/health",
        "/openapi.json",
    }
    assert list(document["components"]["schemas"]["SlaRow"]["properties"]) == list(
        queries.SLA_FIELDS
    )
    refs = {
        ref.rsplit("/", 1)[-1] for ref in _refs(document) if ref.startswith("#/components/schemas/")
    }
    assert refs <= set(document["components"]["schemas"])


def test_openapi_document_is_valid() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(api.openapi())


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


def test_in_kafka_mode_the_workers_own_the_read_models(tmp_path: Path) -> None:
    env = {"TICKETFLOW_MODE": "kafka", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    server = make_server(Settings.from_env(env=env, data_dir=tmp_path), "127.0.0.1", 0)
    try:
        assert server.service.project_read_models is False
    finally:
        server.server_close()


def test_a_broker_address_alone_keeps_the_embedded_mode(tmp_path: Path) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    server = make_server(Settings.from_env(env=env, data_dir=tmp_path), "127.0.0.1", 0)
    try:
        assert server.service.project_read_models is True
    finally:
        server.server_close()


# -- the command ----------------------------------------------------------------------------


def test_serve_command_starts_and_stops_cleanly(tmp_path: Path) -> None:
    env = embedded_env()
    command = [sys.executable, "-m", "ticketflow", "--data-dir", str(tmp_path), "serve"]
    with subprocess.Popen(
        [*command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            url = banner.split(" on ", 1)[1].split()[0]
            assert url.startswith("http://127.0.0.1:")
            with urllib.request.urlopen(url + "/v1/health", timeout=30) as response:
                assert json.loads(response.read()) == {"status": "ok"}
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)

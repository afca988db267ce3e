"""The API for operators and upstream systems: /livez, /readyz (with a PostgreSQL server that
stops and comes back), /metrics, HTTP binary mode from the official CloudEvents SDK, and
schemathesis against the application's own OpenAPI document."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from prometheus_client.parser import text_string_to_metric_families

from tests.api import Api, api_factory_fixture
from tests.factories import event, opened, ticket_fact

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
api_factory = api_factory_fixture()

STORY = [
    event("subscription.started", "acme", "2026-03-10T09:00:00Z", {"tier": "GOLD"}),
    opened("T-1", "2026-05-06T10:00:00Z", "P1"),  # GTR 4 h: breached now
    opened("T-2", "2026-05-06T10:00:00Z", "P3"),
    ticket_fact("service_restored", "T-404", "2026-05-06T11:00:00Z"),  # never opened
]


def _families(client: Api) -> dict[str, Any]:
    reply = client.get("/metrics")
    assert reply.status_code == 200, reply.text
    return {f.name: f for f in text_string_to_metric_families(reply.text)}


def _value(families: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    for s in families[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise AssertionError(f"no sample {sample} {labels}")


def test_metrics(api_factory: Callable[[], Api]) -> None:
    client = api_factory()
    assert client.post("/v1/events", json=STORY).status_code == 207
    assert client.post("/v1/events", json=STORY[0]).status_code == 202  # a duplicate
    client.get("/v1/sla")
    families = _families(client)
    events = "ticketflow_events_total"
    assert _value(families, "ticketflow_events", events, status="accepted") == 3
    assert _value(families, "ticketflow_events", events, status="duplicate") == 1
    assert (
        _value(families, "ticketflow_events", events, status="rejected", reason="unknown_ticket")
        == 1
    )
    for read_model in ("sla_breach", "billing_effective_date", "expertise_usage"):
        lag = "ticketflow_projection_lag_events"
        assert _value(families, lag, lag, read_model=read_model) == 0
    assert _value(families, "ticketflow_sla_breached", "ticketflow_sla_breached") == 1
    assert _value(families, "ticketflow_sla_open_p1_clocks", "ticketflow_sla_open_p1_clocks") == 1
    assert _value(families, "ticketflow_sla_at_risk", "ticketflow_sla_at_risk") == 0
    latency = "ticketflow_http_request_duration_seconds"
    assert _value(families, latency, latency + "_count", method="GET", route="/v1/sla") == 1


def test_requests_are_counted_by_route_and_status(api_factory: Callable[[], Api]) -> None:
    client = api_factory()
    client.get("/v1/sla")
    client.get("/v1/sla", headers=client.as_key("tfk_000000000000_" + "x" * 40))  # 401
    client.get("/v1/nowhere")  # no route: 404
    families = _families(client)
    total = "ticketflow_http_requests_total"
    family = "ticketflow_http_requests"
    assert _value(families, family, total, method="GET", route="/v1/sla", status="200") == 1
    assert _value(families, family, total, method="GET", route="/v1/sla", status="401") == 1
    assert _value(families, family, total, method="GET", route="unmatched", status="404") == 1


def test_lag_is_seen_before_the_read_models_catch_up(api_factory: Callable[[], Api]) -> None:
    client = api_factory()
    engine = client.backend.system().engine
    from ticketflow.contract import parse_event

    decision = engine.decide([parse_event(STORY[0])])  # stored, not projected
    engine.commit(decision)
    families = _families(client)
    lag = "ticketflow_projection_lag_events"
    assert _value(families, lag, lag, read_model="billing_effective_date") == 1
    seconds = "ticketflow_projection_lag_seconds"
    assert _value(families, seconds, seconds, read_model="billing_effective_date") >= 0


def test_readyz_and_livez(api_factory: Callable[[], Api]) -> None:
    client = api_factory()
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert set(ready["checks"]) == {"event_store", "read_models"}
    analyst = client.as_key(client.key(["analyst"]))
    assert client.get("/readyz", headers=analyst).json() == {"status": "ready"}
    assert client.get("/livez", headers={"Authorization": ""}).status_code == 200


def test_binary_mode_from_the_cloudevents_sdk(api_factory: Callable[[], Api]) -> None:
    from cloudevents.v1.conversion import to_binary
    from cloudevents.v1.http import CloudEvent

    client = api_factory()
    attributes = {
        "specversion": "1.0",
        "id": "bin-1",
        "source": "portal/eu west",
        "type": "subscription.started",
        "subject": "acme",
        "time": "2026-03-10T09:00:00+01:00",
        "tenant": "acme",
        "datacontenttype": "application/json",
    }
    headers, body = to_binary(CloudEvent(attributes, {"tier": "SILVER"}))
    assert "ce-id" in headers
    reply = client.post("/v1/events", content=body, headers=headers)
    assert reply.status_code == 202, reply.text
    assert reply.json()["outcomes"][0] == {
        "id": "bin-1",
        "status": "accepted",
        "reason": None,
        "detail": None,
        "rule": None,
    }
    assert client.get("/v1/billing/acme").json()["current_tier"] == "SILVER"
    history = client.get("/v1/history/tenants/acme").json()
    assert history["subscription"][0]["inbound"] == "portal/eu west bin-1"
    bad = client.post("/v1/events", content=b"{", headers={**headers, "ce-id": "bin-2"})
    assert bad.status_code == 422
    assert bad.json()["outcomes"][0]["reason"] == "not_json"


def test_an_instant_beyond_utc_is_a_422_with_a_reason(api_factory: Callable[[], Api]) -> None:
    late = event("subscription.started", "acme", "9999-12-31T23:59:59-14:00", {"tier": "GOLD"})
    reply = api_factory().post("/v1/events", json=late)
    assert reply.status_code == 422, reply.text
    [outcome] = reply.json()["outcomes"]
    assert outcome["status"] == "rejected"
    assert outcome["reason"]
    assert outcome["rule"]


# -- schemathesis ---------------------------------------------------------------------------

MAX_EXAMPLES = 15


def test_the_api_keeps_to_its_openapi_document(api_factory: Callable[[], Api]) -> None:
    """Generated requests to every operation: no 5xx, and every answer matches the document."""
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    client = api_factory()
    assert client.post("/v1/events", json=STORY).status_code == 207
    auth = {"Authorization": f"Bearer {client.secret}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app, headers=auth)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            if case.path == "/v1/alerts/stream":
                # A stream lasts as long as asked: here, what is there, then its end.
                case.query = {**(case.query or {}), "max_seconds": 0}
            case.call_and_validate(headers=auth, checks=checks)

        run()


# -- readiness while PostgreSQL stops and comes back ------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_postgres() -> Iterator[tuple[Callable[[str], None], str]]:
    """A PostgreSQL server of this test's own (scripts/pg-local on another port and directory),
    which the test may stop and start; the shared server is never touched."""
    installed = list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not installed and os.environ.get("CI", "").lower() != "true" and os.geteuid() != 0:
        pytest.skip("PostgreSQL server binaries are not installed (scripts/pg-local installs them)")
    home = Path("/var/tmp") / f"ticketflow-pg-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TICKETFLOW_PG_HOME": str(home), "PGPORT": str(_free_port())}

    def pg(command: str) -> None:
        done = subprocess.run(
            [str(ROOT / "scripts" / "pg-local"), command],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]

    pg("start")
    dsn = subprocess.run(
        [str(ROOT / "scripts" / "pg-local"), "env"], env=env, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield pg, dsn.split("=", 1)[1]
    finally:
        subprocess.run([str(ROOT / "scripts" / "pg-local"), "reset"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.postgres
@pytest.mark.slow
def test_readyz_follows_postgres_and_queries_work_again(
    api_factory: Callable[..., Api], own_postgres: tuple[Callable[[str], None], str]
) -> None:
    pg, dsn = own_postgres
    client = api_factory({"TICKETFLOW_STORE": "postgres", "TICKETFLOW_PG_DSN": dsn})
    assert client.post("/v1/events", json=STORY[:2]).status_code == 202
    assert client.get("/readyz").status_code == 200
    pg("stop")
    down = client.get("/readyz")
    assert down.status_code == 503
    checks = down.json()["checks"]
    assert checks["event_store"]["ok"] is False
    assert checks["read_models"]["ok"] is False
    assert client.get("/v1/sla").json()["error"]["code"] == "unavailable"
    pg("start")
    assert client.get("/readyz").status_code == 200
    rows = client.get("/v1/sla").json()
    assert [r["ticket"] for r in rows] == ["T-1"]
    assert client.post("/v1/events", json=STORY[2]).status_code == 202
    assert json.loads(client.get("/v1/sla?tenant=acme").text)[-1]["ticket"] == "T-2"

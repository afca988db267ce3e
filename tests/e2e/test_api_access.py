"""Access control of the API (R-ACC-1..4): every route of the application's own route table,
every role, with and without tenant scope; tenant isolation on every endpoint; the keys
command."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from tests.api import Api, api_factory_fixture
from tests.cli import embedded_env
from tests.factories import event, opened, ticket_fact
from ticketflow.entrypoints.api import ACCESS
from ticketflow.service.access import ROLES

pytestmark = pytest.mark.timeout(120)

api_factory = api_factory_fixture()

ACME = [
    event("subscription.started", "acme", "2026-03-10T09:00:00Z", {"tier": "GOLD"}, id="a-1"),
    {**opened("T-1", "2026-05-06T10:00:00Z", "P1", tenant="acme"), "id": "a-2"},
    event("expertise.hours_consumed", "acme", "2026-05-07T09:00:00Z", {"hours": 1}, id="a-3"),
]
GLOBEX = [
    event("subscription.started", "globex", "2026-03-10T09:00:00Z", {"tier": "SILVER"}, id="g-1"),
    {**opened("G-1", "2026-05-06T11:00:00Z", "P1", tenant="globex"), "id": "g-2"},
    event("expertise.hours_consumed", "globex", "2026-05-07T09:00:00Z", {"hours": 2}, id="g-3"),
]
# One rejected event per tenant, for the dead letters.
REJECTED = [
    {
        **ticket_fact("service_restored", "NOPE-A", "2026-05-06T11:00:00Z", tenant="acme"),
        "id": "x-a",
    },
    {
        **ticket_fact("service_restored", "NOPE-G", "2026-05-06T11:00:00Z", tenant="globex"),
        "id": "x-g",
    },
]

# A proposed catalog edition: the shipped one, halving GOLD's GTR from 2026-05.
WHATIF_EDITION = {
    "id": "proposal",
    "effective_from": "2026-05-01T00:00:00+02:00",
    "tiers": {
        tier: terms | ({"gtr_hours": 2} if tier == "GOLD" else {})
        for tier, terms in json.loads(
            (Path(__file__).parents[2] / "src/ticketflow/domain/catalog.json").read_text()
        )["editions"][-1]["tiers"].items()
    },
}
# A platform incident (no tenant, R-PLAT-4) with a ticket of each tenant linked to it.
INCIDENT = {
    **event(
        "platform.incident_declared",
        "INC-1",
        "2026-05-06T09:30:00Z",
        {"services": ["compute"], "severity": "outage"},
        id="p-1",
    )
}
del INCIDENT["tenant"]
LINKS = [
    {
        **ticket_fact(
            "linked_to_incident", "T-1", "2026-05-06T10:05:00Z", platform_incident="INC-1"
        ),
        "id": "l-a",
    },
    {
        **ticket_fact(
            "linked_to_incident",
            "G-1",
            "2026-05-06T11:05:00Z",
            tenant="globex",
            platform_incident="INC-1",
        ),
        "id": "l-g",
    },
]

# A request for each route, about acme (a new route without one fails the matrix test).
SAMPLES: dict[tuple[str, str], tuple[str, Any]] = {
    ("GET", "/livez"): ("/livez", None),
    ("GET", "/readyz"): ("/readyz", None),
    ("GET", "/metrics"): ("/metrics", None),
    ("GET", "/openapi.json"): ("/openapi.json", None),
    ("POST", "/v1/events"): ("/v1/events", ACME[0]),
    ("GET", "/v1/events/{source:path}/{event_id}"): ("/v1/events/tests/a-2", None),
    ("GET", "/v1/sla"): ("/v1/sla", None),
    ("GET", "/v1/billing/{tenant}"): ("/v1/billing/acme", None),
    ("GET", "/v1/expertise"): ("/v1/expertise?month=2026-05", None),
    ("GET", "/v1/expertise/{tenant}"): ("/v1/expertise/acme?month=2026-05", None),
    ("GET", "/v1/history/tickets/{ticket}"): ("/v1/history/tickets/T-1", None),
    ("GET", "/v1/history/tenants/{tenant}"): ("/v1/history/tenants/acme", None),
    ("GET", "/v1/deadletters"): ("/v1/deadletters", None),
    ("GET", "/v1/alerts"): ("/v1/alerts?tenant=acme", None),
    ("GET", "/v1/alerts/stream"): ("/v1/alerts/stream?max_seconds=0", None),
    ("GET", "/v1/alerts/deadletters"): ("/v1/alerts/deadletters", None),
    ("GET", "/v1/explain/tickets/{ticket}"): ("/v1/explain/tickets/T-1", None),
    ("GET", "/v1/explain/billing/{tenant}"): ("/v1/explain/billing/acme?month=2026-05", None),
    ("GET", "/v1/explain/expertise/{tenant}"): (
        "/v1/explain/expertise/acme?month=2026-05",
        None,
    ),
    ("POST", "/v1/whatif"): ("/v1/whatif", WHATIF_EDITION),
    ("GET", "/v1/audit/head"): ("/v1/audit/head", None),
    ("GET", "/v1/audit/inclusion"): ("/v1/audit/inclusion?position=1", None),
    ("GET", "/v1/audit/consistency"): (
        "/v1/audit/consistency?first_size=0&first_root=" + "0" * 64,
        None,
    ),
    ("GET", "/v1/report"): ("/v1/report", None),
    ("GET", "/v1/weather"): ("/v1/weather", None),
    ("GET", "/v1/weather/incidents/{incident}"): ("/v1/weather/incidents/INC-1", None),
}
# What a key of the right role scoped to another tenant (globex) gets for the acme samples:
# 403 where a tenant is named, 404 for a ticket (not its own: "not found", R-ACC-3), 403 for
# figures over every tenant; elsewhere its answer is filtered, never refused.
OTHER_SCOPE = {
    ("POST", "/v1/events"): 403,
    ("GET", "/v1/events/{source:path}/{event_id}"): 404,
    ("GET", "/v1/billing/{tenant}"): 403,
    ("GET", "/v1/expertise/{tenant}"): 403,
    ("GET", "/v1/history/tickets/{ticket}"): 404,
    ("GET", "/v1/history/tenants/{tenant}"): 403,
    ("GET", "/metrics"): 403,
    ("GET", "/v1/alerts"): 403,
    ("GET", "/v1/explain/tickets/{ticket}"): 404,
    ("GET", "/v1/explain/billing/{tenant}"): 403,
    ("GET", "/v1/explain/expertise/{tenant}"): 403,
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with Api.start(tmp_path_factory.mktemp("access") / "data") as client:
        reply = client.post_events([*ACME, *GLOBEX, INCIDENT, *LINKS, *REJECTED])
        assert reply.status_code == 207, reply.text
        yield client


def _routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            found.extend((method, route.path) for method in sorted(route.methods))
    return found


def test_every_route_has_an_access_rule_and_a_sample(loaded: Api) -> None:
    routes = _routes(loaded.app)
    assert set(routes) == set(ACCESS), "a route without an access rule, or a rule without a route"
    assert set(routes) == set(SAMPLES)


def _send(client: Api, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    if method == "POST":
        return client.post(
            url, content=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
        )
    return client.request(method, url, headers=headers)


def test_role_route_matrix(loaded: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "ticketflow.api.access")
    wrong: list[str] = []
    keys = {
        (role, scope): loaded.key([role], tenants=(scope,) if scope else ())
        for role in ROLES
        for scope in (None, "acme", "globex")
    }
    revoked = loaded.key(list(ROLES))
    assert loaded.backend.keys.revoke(revoked.split("_")[1])
    for method, path in _routes(loaded.app):
        rule = ACCESS[(method, path)]
        url, body = SAMPLES[(method, path)]
        anonymous = {"Authorization": ""}
        for name, headers in (
            ("no key", anonymous),
            ("unknown key", {"Authorization": "Bearer tfk_000000000000_nope"}),
            ("revoked key", {"Authorization": f"Bearer {revoked}"}),
            ("not bearer", {"Authorization": f"Basic {revoked}"}),
        ):
            status = _send(loaded, method, url, body, headers).status_code
            expected = 200 if rule.public else 401
            if status != expected:
                wrong.append(f"{method} {path} {name}: {status}, expected {expected}")
        for (role, scope), secret in keys.items():
            status = _send(
                loaded, method, url, body, {"Authorization": f"Bearer {secret}"}
            ).status_code
            if rule.public:
                expected_set = {200}
            elif not _granted(role, rule.roles) or (scope and rule.unscoped):
                expected_set = {403}
            elif scope == "globex" and (method, path) in OTHER_SCOPE:
                expected_set = {OTHER_SCOPE[(method, path)]}
            else:
                expected_set = {200, 202}
            if status not in expected_set:
                wrong.append(
                    f"{method} {path} {role} scope={scope}: {status}, expected {expected_set}"
                )
    assert wrong == []
    analyst = loaded.backend.keys.authenticate(keys[("analyst", None)])
    assert analyst is not None
    assert f"denied GET /metrics: forbidden_role (key {analyst.id})" in caplog.text
    assert revoked not in caplog.text
    assert keys[("analyst", None)] not in caplog.text


def _granted(role: str, roles: frozenset[str]) -> bool:
    """R-ACC-2 written out: the auditor may do what the analyst may."""
    return role in roles or (role == "auditor" and "analyst" in roles)


def _scoped(loaded: Api, tenant: str) -> dict[str, str]:
    return loaded.as_key(loaded.key(["auditor", "operator", "publisher"], tenants=(tenant,)))


def test_lists_and_exports_show_only_the_keys_tenants(loaded: Api) -> None:
    acme = _scoped(loaded, "acme")
    rows = loaded.get("/v1/sla", headers=acme).json()
    assert [r["ticket"] for r in rows] == ["T-1"]
    csv_text = loaded.get("/v1/sla?format=csv", headers=acme).text
    assert "T-1" in csv_text
    assert "G-1" not in csv_text
    assert "globex" not in csv_text
    months = loaded.get("/v1/expertise?month=2026-05", headers=acme).json()
    assert [m["tenant"] for m in months] == ["acme"]
    dead = loaded.get("/v1/deadletters", headers=acme).json()
    assert [d["id"] for d in dead] == ["x-a"]
    unscoped = loaded.get("/v1/sla").json()
    assert {r["ticket"] for r in unscoped} == {"T-1", "G-1"}


def test_the_weather_shows_a_scoped_key_only_its_tenants_tickets(loaded: Api) -> None:
    """Services and incidents concern every tenant; linked tickets and affected tenants are
    the key's own only (R-ACC-3, R-PLAT-3)."""
    acme = _scoped(loaded, "acme")
    at = "?as_of=2026-05-06T12:00:00Z"
    full = loaded.get("/v1/weather" + at).json()
    scoped = loaded.get("/v1/weather" + at, headers=acme).json()
    assert scoped["services"] == full["services"]
    assert {s["service"]: s["state"] for s in scoped["services"]}["compute"] == "outage"
    assert [t["ticket"] for t in full["linked_tickets"]] == ["T-1", "G-1"]
    assert [t["ticket"] for t in scoped["linked_tickets"]] == ["T-1"]
    assert full["incidents"][0]["tenants"] == ["acme", "globex"]
    assert scoped["incidents"][0]["tenants"] == ["acme"]
    one = loaded.get("/v1/weather/incidents/INC-1" + at, headers=acme)
    assert one.status_code == 200, one.text
    assert [t["ticket"] for t in one.json()["linked_tickets"]] == ["T-1"]
    assert "globex" not in one.text
    assert "globex" not in loaded.get("/v1/weather?format=csv", headers=acme).text
    assert "G-1" not in json.dumps(scoped)
    missing = loaded.get("/v1/weather/incidents/INC-404", headers=acme)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "template",
    [
        "/v1/sla?tenant={}",
        "/v1/sla?tenant={}&format=csv",
        "/v1/alerts?tenant={}",
        "/v1/alerts/stream?max_seconds=0&tenant={}",
        "/v1/billing/{}",
        "/v1/expertise/{}?month=2026-05",
        "/v1/history/tenants/{}",
    ],
)
def test_another_tenant_looks_like_no_tenant(loaded: Api, template: str) -> None:
    acme = _scoped(loaded, "acme")
    existing = loaded.get(template.format("globex"), headers=acme)
    missing = loaded.get(template.format("nobody"), headers=acme)
    assert existing.status_code == missing.status_code == 403
    assert existing.text.replace("globex", "X") == missing.text.replace("nobody", "X")


def test_a_ticket_of_another_tenant_is_not_found(loaded: Api) -> None:
    acme = _scoped(loaded, "acme")
    existing = loaded.get("/v1/history/tickets/G-1", headers=acme)
    missing = loaded.get("/v1/history/tickets/G-404", headers=acme)
    assert existing.status_code == missing.status_code == 404
    assert existing.text.replace("G-1", "X") == missing.text.replace("G-404", "X")
    assert loaded.get("/v1/history/tickets/T-1", headers=acme).json()["events"]


def test_posting_for_another_tenant(loaded: Api) -> None:
    acme = _scoped(loaded, "acme")
    foreign = {**ticket_fact("acknowledged", "G-1", "2026-05-06T12:00:00Z", tenant="globex")}
    assert loaded.post("/v1/events", json=foreign, headers=acme).status_code == 403
    # A fact about globex's ticket sent as acme's: the same answer as for no such ticket.
    claimed = ticket_fact("acknowledged", "G-1", "2026-05-06T12:00:00Z", tenant="acme")
    unknown = ticket_fact("acknowledged", "G-404", "2026-05-06T12:00:00Z", tenant="acme")
    outcomes = loaded.post("/v1/events", json=[claimed, unknown], headers=acme).json()["outcomes"]
    assert [(o["reason"], o["rule"]) for o in outcomes] == [("unknown_ticket", "R-SLA-2")] * 2
    assert outcomes[0]["detail"].replace("G-1", "X") == outcomes[1]["detail"].replace("G-404", "X")
    assert "globex" not in json.dumps(outcomes)
    platform = event("platform.incident_declared", "INC-1", "2026-05-06T12:00:00Z", tenant=None)
    assert loaded.post("/v1/events", json=platform, headers=acme).status_code == 403


def test_a_publisher_limited_to_sources(loaded: Api) -> None:
    portal = loaded.as_key(loaded.key(["publisher"], sources=("portal",)))
    fact = event("expertise.hours_consumed", "acme", "2026-05-08T09:00:00Z", {"hours": 1})
    assert (
        loaded.post("/v1/events", json={**fact, "source": "phone"}, headers=portal).status_code
        == 403
    )
    assert (
        loaded.post("/v1/events", json={**fact, "source": "portal"}, headers=portal).status_code
        == 202
    )


def test_a_revoked_key_fails_at_once(api_factory: Callable[[], Api]) -> None:
    client = api_factory()
    secret = client.key(["analyst"])
    headers = client.as_key(secret)
    assert client.get("/v1/sla", headers=headers).status_code == 200
    key_id = secret.split("_")[1]
    assert client.backend.keys.revoke(key_id)
    assert client.get("/v1/sla", headers=headers).status_code == 401


def test_a_key_revoked_by_another_process_fails_at_once(tmp_path: Path) -> None:
    """A key the API has verified (and keeps while its database does not change) fails on the
    request after ``ticketflow keys revoke`` in another process (R-ACC-1)."""
    with Api.start(tmp_path) as client:
        secret = client.key(["analyst"])
        headers = client.as_key(secret)
        for _ in range(3):
            assert client.get("/v1/sla", headers=headers).status_code == 200
        assert _cli(tmp_path, "revoke", secret.split("_")[1]).returncode == 0
        assert client.get("/v1/sla", headers=headers).status_code == 401
        assert client.get("/v1/sla").status_code == 200


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticketflow", "--data-dir", str(data_dir), "keys", *args],
        capture_output=True,
        text=True,
        env=embedded_env(),
        timeout=60,
    )


def test_keys_command(tmp_path: Path) -> None:
    made = _cli(tmp_path, "create", "--role", "analyst,auditor", "--tenant", "acme", "--name", "bi")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("tfk_")
    listed = json.loads(_cli(tmp_path, "list", "--format", "json").stdout)
    [key] = listed
    assert (key["name"], key["roles"], key["tenants"]) == ("bi", ["analyst", "auditor"], ["acme"])
    assert secret not in json.dumps(listed)
    stored = (tmp_path / "readmodels.sqlite3").read_bytes()
    assert secret.encode() not in stored
    assert secret.split("_", 2)[2].encode() not in stored
    assert _cli(tmp_path, "revoke", key["id"]).returncode == 0
    assert json.loads(_cli(tmp_path, "list", "--format", "json").stdout)[0]["revoked_at"]
    assert _cli(tmp_path, "revoke", key["id"]).returncode == 2
    assert _cli(tmp_path, "create", "--role", "admin").returncode == 2


def test_a_key_from_a_secret_file(tmp_path: Path) -> None:
    secret = "tfk_0123456789ab_" + "s" * 43
    (tmp_path / "key").write_text(secret + "\n")
    data = tmp_path / "data"
    for _ in range(2):  # again with the same file: nothing changes
        done = _cli(data, "create", "--role", "operator", "--secret-file", str(tmp_path / "key"))
        assert done.returncode == 0, done.stderr
    assert [k["id"] for k in json.loads(_cli(data, "list", "--format", "json").stdout)] == [
        "0123456789ab"
    ]
    (tmp_path / "other").write_text("tfk_0123456789ab_" + "t" * 43)
    assert (
        _cli(
            data, "create", "--role", "operator", "--secret-file", str(tmp_path / "other")
        ).returncode
        == 2
    )
    (tmp_path / "short").write_text("tfk_0123456789ab_short")
    assert (
        _cli(
            data, "create", "--role", "operator", "--secret-file", str(tmp_path / "short")
        ).returncode
        == 2
    )


def test_another_tenants_ticket_id_reveals_nothing_to_a_scoped_publisher(tmp_path: Path) -> None:
    """Opening a ticket under another tenant's id says only that the id is not available: not
    that it was opened, nor a duplicate when the (source, id) is the other tenant's too; a fact
    under the other tenant's (source, id) reads as one about a ticket never opened (R-ACC-3).
    The scoped operator's dead letters say no more."""
    with Api.start(tmp_path) as client:
        theirs = {**opened("G-1", "2026-05-06T10:00:00Z", tenant="globex"), "id": "g-open"}
        assert client.post_events([theirs]).status_code == 202
        acme = client.as_key(client.key(["publisher", "operator"], tenants=("acme",)))
        again = {**theirs, "tenant": "acme", "id": "a-open"}
        same_key = {**theirs, "tenant": "acme"}
        posted = client.post("/v1/events", json=[again, same_key], headers=acme)
        assert posted.status_code == 422, posted.text
        first, second = posted.json()["outcomes"]
        assert first["status"] == second["status"] == "rejected"
        assert (first["reason"], first["rule"]) == ("tenant_mismatch", "R-ACC-3")
        assert {k: v for k, v in first.items() if k != "id"} == {
            k: v for k, v in second.items() if k != "id"
        }
        assert "opened" not in first["detail"]
        claimed = {**ticket_fact("acknowledged", "G-1", "2026-05-06T12:00:00Z"), "id": "g-open"}
        unknown = {**ticket_fact("acknowledged", "G-404", "2026-05-06T12:00:00Z"), "id": "a-404"}
        facts = client.post("/v1/events", json=[claimed, unknown], headers=acme).json()
        fact_outcomes = facts["outcomes"]
        assert [(o["status"], o["reason"]) for o in fact_outcomes] == [
            ("rejected", "unknown_ticket")
        ] * 2
        assert fact_outcomes[0]["detail"].replace("G-1", "X") == fact_outcomes[1]["detail"].replace(
            "G-404", "X"
        )
        letters = client.get("/v1/deadletters", headers=acme).json()
        assert [(d["id"], d["reason"]) for d in letters] == [
            ("a-open", "tenant_mismatch"),
            ("g-open", "tenant_mismatch"),
            ("g-open", "unknown_ticket"),
            ("a-404", "unknown_ticket"),
        ]
        for text in (posted.text, json.dumps(facts), json.dumps(letters)):
            assert "globex" not in text
            assert "already" not in text

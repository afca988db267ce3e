"""The auditors' endpoints: receipts (``/v1/explain/...``) and what-if (``POST /v1/whatif``),
tenant-scoped (R-ACC-3), bounded, and equal to the command line's answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import Api
from tests.e2e.test_whatif import LINES, TO, digests, proposal
from ticketflow.entrypoints.api import auditors

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    events = [json.loads(line) for line in LINES]
    events.append({**events[2], "id": "g-1", "subject": "G-1", "tenant": "globex"})
    with Api.start(tmp_path_factory.mktemp("auditors") / "data") as client:
        reply = client.post_events(events)
        assert reply.status_code == 202, reply.text
        yield client


def scoped(api: Api, tenant: str, role: str = "auditor") -> dict[str, str]:
    return api.as_key(api.key([role], tenants=(tenant,)))


def test_a_receipt_s_figures_are_the_sla_query_s(api: Api) -> None:
    answer = api.get("/v1/explain/tickets/T-3", params={"as_of": TO}).json()
    row = next(r for r in api.get("/v1/sla", params={"as_of": TO}).json() if r["ticket"] == "T-3")
    assert answer["figures"] == row
    assert [f["inbound"] for f in answer["facts"]][-2:] == ["portal o-3", "portal r-3"]
    assert {"R-SLA-4", "R-SLA-10"} <= {r["rule"] for r in answer["rules"]}
    assert answer["time_zone_data"]


def test_billing_and_expertise_receipts(api: Api) -> None:
    billing = api.get("/v1/explain/billing/acme", params={"month": "2026-04"}).json()
    assert billing["figures"]["billed_tier"] == "GOLD"
    hours = api.get("/v1/explain/expertise/acme", params={"month": "2026-04"}).json()
    assert hours["figures"]["overage_hours"] == 1.0
    assert any(r["rule"] == "R-EXP-4" for r in hours["rules"])


def test_another_tenant_s_ticket_is_not_found_like_no_ticket(api: Api) -> None:
    acme = scoped(api, "acme")
    existing = api.get("/v1/explain/tickets/G-1", headers=acme)
    missing = api.get("/v1/explain/tickets/G-404", headers=acme)
    assert existing.status_code == missing.status_code == 404
    assert existing.text.replace("G-1", "X") == missing.text.replace("G-404", "X")
    assert api.get("/v1/explain/tickets/T-1", headers=acme).status_code == 200
    other = api.get("/v1/explain/billing/globex", params={"month": "2026-04"}, headers=acme)
    assert other.status_code == 403


def test_whatif_gives_the_command_s_answer_and_moves_nothing(api: Api) -> None:
    files = [api.data_dir / "events.sqlite3", api.data_dir / "readmodels.sqlite3"]
    before = [digests(f) for f in files]
    reply = api.post("/v1/whatif", params={"to": TO}, json=proposal("2026-04-01T00:00:00+02:00"))
    assert reply.status_code == 200, reply.text
    totals = reply.json()["totals"]
    assert (totals["breached_live"], totals["breached_proposed"]) == (1, 3)
    assert (totals["breach_minutes_live"], totals["breach_minutes_proposed"]) == (60, 240)
    assert [digests(f) for f in files] == before


@pytest.mark.parametrize(
    ("edition", "message"),
    [
        ({"id": "x"}, "missing effective_from, tiers"),
        (proposal("2026-04-01T00:00:00+02:00", gold_gtr=0), "gtr_hours must be a positive"),
        ([1], "invalid_query"),
    ],
)
def test_an_invalid_edition_is_a_400_naming_the_fault(api: Api, edition: Any, message: str) -> None:
    reply = api.post("/v1/whatif", json=edition)
    assert reply.status_code == 400
    assert message in reply.text
    if isinstance(edition, dict):
        assert "R-TIER-1" in reply.json()["error"]["message"]


def test_whatif_needs_an_unscoped_auditor(api: Api) -> None:
    body = proposal("2026-04-01T00:00:00+02:00")
    assert api.post("/v1/whatif", json=body, headers=scoped(api, "acme")).status_code == 403
    analyst = api.as_key(api.key(["analyst"]))
    assert api.post("/v1/whatif", json=body, headers=analyst).status_code == 403


def test_one_whatif_at_a_time_and_a_bounded_log(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    body = proposal("2026-04-01T00:00:00+02:00")
    assert auditors._Busy.lock.acquire(blocking=False)
    try:
        busy = api.post("/v1/whatif", json=body)
    finally:
        auditors._Busy.lock.release()
    assert (busy.status_code, busy.headers["Retry-After"]) == (429, "5")
    monkeypatch.setattr(auditors, "WHATIF_MAX_EVENTS", 3)
    large = api.post("/v1/whatif", json=body)
    assert large.status_code == 413
    assert "ticketflow whatif --catalog FILE" in large.json()["error"]["message"]
    assert api.post("/v1/whatif", json=body).status_code == 413  # the lock was given back

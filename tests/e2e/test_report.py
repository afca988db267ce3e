"""The analyst's report through its entry points: ``GET /v1/report`` (analyst role, the key's
tenants only) and ``ticketflow report --out FILE``; its figures are those ``ticketflow query``
prints for the same instant (R-SLA-11)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api import Api
from tests.cli import run
from tests.report_story import AS_OF, OTHERS, SCRIPT, STORY, write_story

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with Api.start(tmp_path_factory.mktemp("report") / "data") as client:
        assert client.post_events(STORY).status_code == 202
        yield client


def _rows(page: str, table: str) -> list[list[str]]:
    """The cells' texts of a table of the page, tags removed."""
    start = page.index(f'id="{table}"')
    body = page[page.index("<tbody>", start) : page.index("</tbody>", start)]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.DOTALL)
    ]


class TestServed:
    def test_an_analyst_gets_the_page(self, loaded: Api) -> None:
        analyst = loaded.as_key(loaded.key(["analyst"]))
        reply = loaded.get(f"/v1/report?as_of={AS_OF}", headers=analyst)
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == "text/html; charset=utf-8"
        page = reply.text
        assert [r[0] for r in _rows(page, "breached-table")] == ["G-1", "T-1"]
        assert '<a href="/v1/history/tickets/G-1">history</a>' in page
        assert "ticketflow explain ticket G-1" in page
        assert '<a href="/v1/report?tenant=globex&amp;as_of=2026-05-07T12%3A00%3A00Z"' in page
        assert SCRIPT not in page
        assert "&lt;script&gt;" in page

    def test_the_same_figures_as_the_queries(self, loaded: Api) -> None:
        page = loaded.get(f"/v1/report?as_of={AS_OF}").text
        sla = loaded.get(f"/v1/sla?as_of={AS_OF}&status=breached").json()
        shown = {(r[0], r[6]) for r in _rows(page, "breached-table")}
        assert shown == {(r["ticket"], str(r["breach_minutes"])) for r in sla}
        expertise = {r["tenant"]: r for r in loaded.get("/v1/expertise?month=2026-05").json()}
        hours = _rows(page, "hours-table")
        assert len(hours) == 2 + len(OTHERS)
        for month, tenant, included, consumed, allowance, packs, overage, unfunded, _ in hours:
            figures = expertise[tenant]
            assert month == "2026-05"
            assert [
                float(v) for v in (included, consumed, allowance, packs, overage, unfunded)
            ] == [
                figures[k]
                for k in (
                    "included_hours",
                    "consumed_hours",
                    "from_allowance_hours",
                    "from_packs_hours",
                    "overage_hours",
                    "unfunded_hours",
                )
            ]
        billing = loaded.get("/v1/billing/acme").json()
        upgrade = next(c for c in billing["changes"] if c["kind"] == "upgrade")
        assert f'datetime="{upgrade["billing_effective_at"]}"' in page

    def test_a_scoped_key_sees_its_tenants_only(self, loaded: Api) -> None:
        acme = loaded.as_key(loaded.key(["analyst"], tenants=("acme",)))
        page = loaded.get(f"/v1/report?as_of={AS_OF}", headers=acme).text
        assert [r[0] for r in _rows(page, "breached-table")] == ["T-1"]
        for other in ("globex", "G-1", "G-2", *OTHERS):
            assert other not in page
        assert loaded.get(f"/v1/report?as_of={AS_OF}&tenant=acme", headers=acme).status_code == 200
        for tenant in ("globex", "nobody"):
            refused = loaded.get(f"/v1/report?tenant={tenant}", headers=acme)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "outside_scope"

    def test_one_tenant(self, loaded: Api) -> None:
        page = loaded.get(f"/v1/report?as_of={AS_OF}&tenant=globex").text
        assert [r[0] for r in _rows(page, "open-table")] == ["G-2"]
        assert "acme" not in page
        assert loaded.get("/v1/report?tenant=nobody").status_code == 404

    @pytest.mark.parametrize(
        ("query", "status"),
        [("as_of=yesterday", 400), ("month=2026-05", 400), ("as_of=2026-05-07T12:00:00", 400)],
    )
    def test_a_request_it_cannot_read(self, loaded: Api, query: str, status: int) -> None:
        reply = loaded.get(f"/v1/report?{query}")
        assert reply.status_code == status
        assert set(reply.json()["error"]) == {"code", "message"}

    def test_not_for_a_publisher(self, loaded: Api) -> None:
        publisher = loaded.as_key(loaded.key(["publisher"]))
        assert loaded.get("/v1/report", headers=publisher).status_code == 403


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory loaded with ``ticketflow ingest``."""
    base = tmp_path_factory.mktemp("report-cli")
    done = run(base / "data", "ingest", str(write_story(base / "story.jsonl")))
    assert done.returncode == 0, done.stderr
    return base / "data"


class TestCommand:
    def test_writes_the_file(self, data_dir: Path) -> None:
        out = data_dir.parent / "out" / "report.html"
        done = run(data_dir, "report", "--out", str(out), "--as-of", AS_OF)
        assert done.returncode == 0, done.stderr
        assert str(out) in done.stdout
        page = out.read_text(encoding="utf-8")
        assert [r[0] for r in _rows(page, "breached-table")] == ["G-1", "T-1"]
        # Offline, a history is named (the API path, the command), not linked.
        assert "<code>GET /v1/history/tickets/G-1</code>" in page
        assert 'href="/v1/' not in page
        query = run(
            data_dir, "query", "sla", "--as-of", AS_OF, "--status", "at_risk", "--format", "json"
        )
        at_risk: list[dict[str, Any]] = json.loads(query.stdout)
        assert [r["ticket"] for r in at_risk] == ["G-2"]
        assert f'datetime="{at_risk[0]["deadline"]}"' in page

    def test_one_tenant(self, data_dir: Path) -> None:
        out = data_dir.parent / "acme.html"
        done = run(data_dir, "report", "--out", str(out), "--as-of", AS_OF, "--tenant", "acme")
        assert done.returncode == 0, done.stderr
        page = out.read_text(encoding="utf-8")
        assert "globex" not in page
        assert "T-2" in page

    def test_usage_errors(self, data_dir: Path, tmp_path: Path) -> None:
        out = str(tmp_path / "r.html")
        assert run(data_dir, "report", "--out", out, "--as-of", "soon").returncode == 2
        assert run(data_dir, "report", "--out", out, "--tenant", "nobody").returncode == 2
        assert run(tmp_path / "empty", "report", "--out", out).returncode == 2
        assert not (tmp_path / "empty").exists()
        assert not Path(out).exists()

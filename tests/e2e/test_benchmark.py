"""The benchmark runs end to end on a few events and reports every line; timings are never
asserted (the machines are noisy), only that each phase ran and the report says what it
measured."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from ticketflow_tools import benchmark
from ticketflow_tools.benchmark_report import build_lines, render

NUMBER = r"[\d,]+"
RATIO = r"\d+\.\d\d"


def figures(
    ingest: float, base_ingest: float, rebuild: float, base_decode: float, rss: float
) -> dict[str, dict[str, Any]]:
    return {
        "ingest": {"seconds": ingest, "peak_rss_mb": 90.0},
        "baseline-ingest": {"seconds": base_ingest},
        "rebuild": {"seconds": rebuild, "peak_rss_mb": rss},
        "baseline-decode": {"seconds": base_decode},
        "query": {
            "sla": {"p50_ms": 0.5, "p99_ms": 1.0},
            "billing": {"p50_ms": 0.5, "p99_ms": 6.0},
            "expertise": {"p50_ms": 0.5, "p99_ms": 2.0},
        },
    }


def test_report_sets_each_size_side_by_side_with_ratios_growth_and_verdicts() -> None:
    results = {
        # ingest 0.80 of its baseline at both sizes, cost per event flat (×1.00)
        "1000": figures(1.0, 0.8, 1.0, 0.5, 100.0),
        # rebuild 0.50 then 0.40 of its baseline, cost ×1.25 then RSS ×3: not flat
        "10000": figures(10.0, 8.0, 12.5, 5.0, 300.0),
    }
    lines = build_lines(results)
    by_name = {line["line"]: line for line in lines}
    assert by_name["embedded ingest"]["ok"] is True
    assert by_name["embedded ingest"]["growth"]["flat"] is True
    rebuild = by_name["rebuild of all read models"]
    assert rebuild["ok"] is False
    assert rebuild["growth"]["cost"] == pytest.approx(1.25)
    assert rebuild["growth"]["peak_rss"] == pytest.approx(3.0)
    assert rebuild["growth"]["flat"] is False
    assert by_name["query: billing per tenant"]["ok"] is False  # p99 6 ms > 5 ms
    assert by_name["query: SLA per tenant"]["ok"] is True
    text = render(lines, [1000, 10000], [], results, kafka_asked=False)
    assert re.search(r"embedded ingest\s+target >= 0\.80 x baseline\s+ok: yes", text)
    assert re.search(r"\s+1,000\s+1,000\s+1,250\s+0\.80\s+1000\.0\s+800\.0\s+90 MB\s+yes", text)
    assert re.search(r"\s+10,000\s+800\s+2,000\s+0\.40\s+1250\.0\s+500\.0\s+300 MB\s+NO", text)
    assert "peak RSS ×3.00: NOT flat" in text
    assert "kafka lines: not measured (they need KAFKA_BOOTSTRAP_SERVERS" in text
    assert "alert latency: not measured" in text


ALERTS = {
    "tickets": 20,
    "target_p99_s": 5.0,
    "table": {"count": 20, "p50_s": 0.2, "p99_s": 0.4, "max_s": 0.4},
    "sse": {"count": 19, "p50_s": 0.3, "p99_s": 0.6, "max_s": 0.6},
    "meets_target": False,
}


def test_the_alert_line_judges_each_surface() -> None:
    """Measured once (at the smallest size): a surface is ok with every crossing told and its
    p99 under 5 s; one missed alert fails its surface and the line; the line is in the JSON's
    lines and replaces "not measured" in the text."""
    results: dict[str, dict[str, Any]] = {"1000": {"alerts": ALERTS}, "10000": {}}
    [line] = build_lines(results)
    assert line["line"] == "alert latency, threshold crossed → alert"
    assert line["events"] == 1000
    assert line["surfaces"]["table"]["ok"] is True
    assert line["surfaces"]["sse"]["missed"] == 1
    assert line["surfaces"]["sse"]["ok"] is False
    assert line["ok"] is False
    slow = {**ALERTS, "sse": {"count": 20, "p50_s": 1.0, "p99_s": 5.2, "max_s": 5.2}}
    [slow_line] = build_lines({"1000": {"alerts": slow}})
    assert slow_line["surfaces"]["sse"]["ok"] is False
    told = {**ALERTS, "sse": {"count": 20, "p50_s": 0.3, "p99_s": 0.6, "max_s": 0.6}}
    [good] = build_lines({"1000": {"alerts": told}})
    assert good["ok"] is True
    text = render([line], [1000, 10000], [], results, kafka_asked=False)
    assert re.search(
        r"alert latency, threshold crossed → alert\s+target p99 < 5 s on every surface, "
        r"none missed\s+ok: NO",
        text,
    )
    assert re.search(r"sla_alerts row\s+20\s+0\s+0\.200\s+0\.400\s+0\.400\s+yes", text)
    assert re.search(r"SSE stream\s+19\s+1\s+0\.300\s+0\.600\s+0\.600\s+NO", text)
    assert "alerts topic: not measured" in text
    assert "alert latency: not measured" not in text
    json.dumps(line)  # as --json writes it


def test_kafka_lines_set_the_pipeline_against_both_references() -> None:
    results = {
        "1000": {
            "baseline-kafka": {"seconds": 1.0},
            "topology-kafka": {"seconds": 2.5, "cpu_seconds": {"forward": 1.0, "consume": 0.5}},
            "kafka": {
                "seconds": 5.0,
                "cpu_seconds": {"inbound": 2.0, "relay": 1.0, "projections": 1.5},
                "worker_peak_rss_mb": {"inbound": 80.0, "relay": 70.0, "projections": 60.0},
            },
        }
    }
    lines = build_lines(results)
    text = render(lines, [], [1000], results, kafka_asked=True)
    assert re.search(r"kafka pipeline\s+target >= 0\.25 x baseline\s+ok: NO", text)
    assert re.search(r"\s+1,000\s+200\s+1,000\s+0\.20\s+5000\.0\s+1000\.0\s+80 MB\s+NO", text)
    assert re.search(
        r"kafka pipeline vs topology alone\s+target >= 0\.70 x baseline\s+ok: NO", text
    )
    assert re.search(r"\s+1,000\s+200\s+400\s+0\.50", text)
    assert re.search(r"projections\s+1\.50\s+1500\.0\s+60", text)
    assert re.search(r"total\s+4\.50\s+4500\.0", text)


@pytest.mark.slow
def test_embedded_phases_run_at_two_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "bench.json"
    argv = ["--events", "300,600", "--no-kafka", "--work", str(tmp_path), "--json", str(out_file)]
    assert benchmark.main(argv) == 0
    captured = capsys.readouterr()
    out = captured.out
    for line in ("embedded ingest", "rebuild of all read models"):
        assert re.search(rf"{line}\s+target >= 0\.\d\d x baseline", out)
    for n in ("300", "600"):
        assert re.search(rf"\s+{n}\s+{NUMBER}\s+{NUMBER}\s+{RATIO}\s+[\d.]+\s+[\d.]+\s+\d+ MB", out)
    assert "growth, smallest → largest: cost per event ×" in out
    for query in ("SLA per tenant", "billing per tenant", "expertise per tenant-month"):
        assert f"query: {query}" in out
    assert "HTTP API, SLA per tenant, 8 clients" in out
    assert captured.err == ""  # progress is for a terminal only
    document = json.loads(out_file.read_text())
    assert document["sizes"] == [300, 600]
    assert set(document["phases"]) == {"300", "600"}
    assert {"ingest", "rebuild", "query", "api"} <= set(document["phases"]["600"])
    assert {line["line"] for line in document["lines"]} >= {
        "embedded ingest",
        "query: SLA per tenant",
        "alert latency, threshold crossed → alert",
    }
    # The alert latency is measured once, with the smallest size, on the table and the stream.
    assert "alerts" in document["phases"]["300"]
    assert "alerts" not in document["phases"]["600"]
    alerts = document["phases"]["300"]["alerts"]
    for surface in ("table", "sse"):
        assert alerts[surface]["count"] == alerts["tickets"], alerts
    assert re.search(r"sla_alerts row\s+20\s+0\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(yes|NO)", out)
    assert re.search(r"SSE stream\s+20\s+0\s+[\d.]+", out)
    assert "alert latency: not measured" not in out


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.postgres
def test_kafka_phases_run(
    kafka_bootstrap: str,
    pg_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("TICKETFLOW_PG_DSN", pg_dsn)
    out_file = tmp_path / "bench.json"
    argv = ["--kafka-only", "--events", "300", "--work", str(tmp_path), "--json", str(out_file)]
    assert benchmark.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(rf"\s+300\s+{NUMBER}\s+{NUMBER}\s+{RATIO}", out)
    assert "kafka pipeline vs topology alone" in out
    assert "CPU of each process, kafka pipeline" in out
    assert "embedded ingest" not in out
    phases = json.loads(out_file.read_text())["phases"]["300"]
    assert set(phases) == {"baseline-kafka", "topology-kafka", "kafka"}
    # The timed topologies report the CPU time and peak RSS of each of their processes.
    assert set(phases["kafka"]["cpu_seconds"]) == {"inbound", "relay", "projections"}
    assert set(phases["kafka"]["worker_peak_rss_mb"]) == {"inbound", "relay", "projections"}
    assert set(phases["topology-kafka"]["cpu_seconds"]) == {"forward", "consume"}


def test_kafka_phases_without_the_postgres_extra_say_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("TICKETFLOW_PG_DSN", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg → ModuleNotFoundError
    assert benchmark.main(["--kafka-only", "--events", "10", "--work", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "pip install 'ticketflow[postgres]'" in captured.err
    assert "--no-kafka" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_kafka_phases_asked_for_without_servers_say_which_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("TICKETFLOW_PG_DSN", raising=False)
    assert benchmark.main(["--kafka-only", "--events", "10", "--work", str(tmp_path)]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS and TICKETFLOW_PG_DSN" in capsys.readouterr().err


def test_a_phase_that_fails_leaves_the_others_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    figures_of = figures(1.0, 0.8, 1.0, 0.5, 100.0)

    def run_phase(name: str, n: int, work: Path, env: Any = None) -> dict[str, Any]:
        if name == "rebuild":
            return {"error": "exit status 1"}
        if name == "alerts":
            return ALERTS
        if name == "api":
            return {"requests_per_s": 50.0, "baseline_per_s": 100.0, "p50_ms": 1.0, "p99_ms": 2.0}
        return dict(figures_of[name])

    monkeypatch.setattr(benchmark, "run_phase", run_phase)
    out_file = tmp_path / "bench.json"
    argv = ["--events", "1000", "--no-kafka", "--work", str(tmp_path), "--json", str(out_file)]
    assert benchmark.main(argv) == 1
    out = capsys.readouterr().out
    assert "embedded ingest" in out
    assert "rebuild of all read models" not in out
    assert "failed (no figures; see the output above): rebuild at 1,000" in out
    assert "alert latency, threshold crossed → alert" in out
    document = json.loads(out_file.read_text())
    assert document["phases"]["1000"]["rebuild"] == {"error": "exit status 1"}

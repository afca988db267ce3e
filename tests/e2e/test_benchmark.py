"""The benchmark runs end to end on a few events and reports every line; timings are never
asserted (the machines are noisy), only that each phase ran and the report says what it
measured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from projections import ALL
from ticketflow_tools import benchmark
from ticketflow_tools.benchmark_kafka import kafka_report

NUMBER = r"[\d,]+"


def test_report_ratios_and_verdicts() -> None:
    results = {
        "ingest": {"seconds": 2.0},
        "baseline-ingest": {"seconds": 1.0},  # ratio 0.50: met exactly
        "rebuild": {"seconds": 5.0},
        "baseline-decode": {"seconds": 1.0},  # ratio 0.20: below 0.25
        "query": {"p50_ms": 0.5, "p99_ms": 25.0},
    }
    results["rebuild"]["peak_rss_mb"] = 120.0
    text = benchmark.report(1000, results)
    assert re.search(r"embedded ingest\s+500\s+1,000\s+0\.50\s+0\.50\s+yes", text)
    assert re.search(rf"rebuild {len(ALL)} read models\s+200\s+1,000\s+0\.20\s+0\.25\s+NO", text)
    assert re.search(r"rebuild peak RSS\s+120 MB.*yes", text)
    assert re.search(r"p99 25\.00 ms\s+target p99 < 20 ms\s+NO", text)


def test_kafka_report_sets_the_pipeline_against_both_references() -> None:
    text = kafka_report(
        1000,
        {
            "baseline-kafka": {"seconds": 1.0},
            "topology-kafka": {"seconds": 2.5},
            "kafka": {"seconds": 5.0},
        },
    )
    assert re.search(r"kafka pipeline\s+200\s+1,000\s+0\.20\s+0\.25\s+NO", text)
    assert re.search(r"kafka topology alone\s+400\s+1,000\s+0\.40\s+—", text)
    assert "pipeline / topology alone = 0.50" in text


@pytest.mark.slow
def test_embedded_phases_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmark.main(["--events", "400", "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for line in ("embedded ingest", f"rebuild {len(ALL)} read models"):
        assert re.search(rf"{line}\s+{NUMBER}\s+{NUMBER}\s+\d+\.\d\d\s+0\.\d\d\s+(yes|NO)", out)
    assert "rebuild peak RSS" in out
    assert "SLA query per tenant" in out
    assert re.search(
        rf"HTTP API, SLA, 8 clients\s+{NUMBER}\s+{NUMBER}\s+\d+\.\d\d\s+0\.50\s+(yes|NO)"
        r"\s+\(requests/s; p99 \d+\.\d\d ms",
        out,
    )


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
    argv = ["--kafka-only", "--kafka-events", "300", "--work", str(tmp_path), "--json"]
    assert benchmark.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(rf"kafka pipeline\s+{NUMBER}\s+{NUMBER}\s+\d+\.\d\d\s+0\.25", out)
    assert re.search(rf"kafka topology alone\s+{NUMBER}\s+{NUMBER}\s+\d+\.\d\d", out)
    assert "embedded ingest" not in out
    # Both timed topologies report the CPU time of each of their processes.
    results = json.loads(out[out.index("{") :])
    assert set(results) == {"baseline-kafka", "topology-kafka", "kafka"}
    # inbound, relay and one per read model; forward and one consumer per read model
    assert len(results["kafka"]["cpu_seconds"]) == len(ALL) + 2
    assert len(results["topology-kafka"]["cpu_seconds"]) == len(ALL) + 1

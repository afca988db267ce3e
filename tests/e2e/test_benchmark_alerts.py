"""The alert latency measure runs end to end and accounts for every crossing (its figures
depend on the machine and are not asserted)."""

from __future__ import annotations

import pytest

from ticketflow_tools.benchmark_alerts import measure

pytestmark = pytest.mark.timeout(180)


@pytest.mark.kafka
def test_every_crossing_is_timed_on_every_surface(kafka_bootstrap: str) -> None:
    result = measure(tickets=3, lead_s=3.0, kafka=kafka_bootstrap)
    for surface in ("table", "sse", "kafka"):
        assert result[surface]["count"] == 3, result
        assert 0 <= result[surface]["p50_s"] <= result[surface]["p99_s"], result

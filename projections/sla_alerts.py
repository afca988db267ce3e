"""Live SLA alerts (R-ALERT-1..3): the tables the alerter writes, not a projection of the log.

``sla_alerts`` holds one row per alert, ``sla_alerter`` the alerter's own tracking (the instant
it last checked), written in the same transaction as the alerts it emitted; ``alert_deliveries``
the webhook deliveries and their dead letters. Rebuilding or replaying the read models never
touches them (they are not in ``projections.ALL``): alerts are emitted by the alerter only,
following ``sla_cycles`` and a clock (``ticketflow.service.alerter``).
"""

from __future__ import annotations

from projections.base import Projection

DDL = (
    """CREATE TABLE IF NOT EXISTS sla_alerts (
        alert_id TEXT PRIMARY KEY,
        seq BIGINT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        ticket TEXT NOT NULL,
        tenant TEXT NOT NULL,
        cycle INTEGER NOT NULL,
        tier TEXT NOT NULL,
        gtr_minutes INTEGER NOT NULL,
        clock_started_at {instant} NOT NULL,
        threshold_at {instant} NOT NULL,
        deadline {instant} NOT NULL,
        breach_minutes INTEGER,
        stopped_by TEXT,
        emitted_at {instant} NOT NULL,
        late {flag} NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sla_alerts_tenant ON sla_alerts (tenant, seq)",
    "CREATE INDEX IF NOT EXISTS sla_alerts_threshold_at ON sla_alerts (threshold_at)",
    "CREATE INDEX IF NOT EXISTS sla_alerts_ticket ON sla_alerts (ticket, cycle)",
    """CREATE TABLE IF NOT EXISTS sla_alerter (
        name TEXT PRIMARY KEY,
        checked_at {instant} NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS alert_deliveries (
        endpoint TEXT NOT NULL,
        alert_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        tenant TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at {instant},
        last_error TEXT,
        updated_at {instant} NOT NULL,
        PRIMARY KEY (endpoint, alert_id)
    )""",
    "CREATE INDEX IF NOT EXISTS alert_deliveries_state ON alert_deliveries (state, endpoint)",
)

COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "sla_alerts": (
        "One row per live SLA alert (R-ALERT-1..3), emitted once per threshold per cycle.",
        {
            "alert_id": "<ticket>/<cycle>/<threshold>: the alert's identity (R-ALERT-2)",
            "seq": "emission order, from 1 (the SSE stream's event id)",
            "type": "sla.warning (50 %), sla.at_risk (75 %), sla.breached (100 %) or sla.stopped",
            "ticket": "upstream ticket id",
            "tenant": "the customer",
            "cycle": "the ticket's clock cycle (R-SLA-7)",
            "tier": "tier in force at clock start (R-SLA-4)",
            "gtr_minutes": "the GTR fixed at clock start, minutes",
            "clock_started_at": "when the GTR clock started",
            "threshold_at": "when the threshold was crossed (for stopped: the stop)",
            "deadline": "clock start + GTR (R-SLA-4, R-SLA-5)",
            "breach_minutes": "stopped only: whole minutes past the deadline, rounded up",
            "stopped_by": "stopped only: restored, resolved, closed or cancelled",
            "emitted_at": "when the alerter emitted it, by its clock",
            "late": "emitted more than 5 s after threshold_at (R-ALERT-2)",
        },
    ),
    "sla_alerter": (
        "The alerter's tracking: the clock instant it last checked, with the alerts it emitted.",
        {
            "name": "the alerter (one per read-model database)",
            "checked_at": "the clock instant of its last check",
        },
    ),
    "alert_deliveries": (
        "Webhook deliveries of the alerts: pending, delivered, or dead after the last retry.",
        {
            "endpoint": "the webhook's name in the webhooks file",
            "alert_id": "the alert delivered",
            "seq": "the alert's seq",
            "tenant": "the alert's tenant",
            "state": "pending, delivered or dead (the dead-letter list)",
            "attempts": "POSTs tried so far",
            "next_attempt_at": "when the next retry is due; NULL once delivered or dead",
            "last_error": "the last failure: HTTP status or connection error",
            "updated_at": "when the delivery last changed",
        },
    ),
}

TABLES = Projection(
    name="sla_alerts",
    tables=("sla_alerts", "sla_alerter", "alert_deliveries"),
    ddl=DDL,
    comments=COMMENTS,
)

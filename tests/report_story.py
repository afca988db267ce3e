"""A small operation for the report's tests, worked out by hand from the rules (DESIGN §2).

As of 2026-05-07T12:00Z (14:00 in Paris):

- acme, SILVER from 2026-03-10, upgraded to GOLD at 2026-04-30T22:30Z (00:30 on 1 May in Paris:
  a May change, billed from 2026-06-01T00:00+02:00, R-BILL-2). T-1, P1 opened 2026-05-06T10:00Z
  under GOLD (GTR 4 h), restored 14:31Z: breached by 31 minutes; its summary holds a script.
  T-2, P1 opened 2026-05-07T10:00Z: running, 120 minutes left (50 % elapsed). T-3, P1 opened
  2026-05-05T08:00Z, restored at 09:00Z: met (GOLD: 1 of 2 met, 50 %). A 10 h pack; 5 h
  used on 7 May: 4 h from the allowance, 1 h from the pack.
- globex, SILVER from 2026-03-10 (GTR 8 h). G-1, P1 opened 2026-05-06T08:00Z, restored 17:00Z:
  breached by 60 minutes. G-2, P1 opened 2026-05-07T05:00Z: at risk (87.5 %), 60 minutes left.
  5 h used on 7 May: 2 h from the allowance, 3 h overage.
- t-01 … t-27: STANDARD, 1 h each on 5 May, unfunded (R-EXP-5): enough rows to page a table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.factories import event, opened, ticket_fact

AS_OF = "2026-05-07T12:00:00Z"
SCRIPT = "<script>window.__pwned = 1</script>"
SUMMARY = f"{SCRIPT} VM down"
OTHERS = [f"t-{n:02d}" for n in range(1, 28)]

STORY: list[dict[str, Any]] = [
    event("subscription.started", "acme", "2026-03-10T09:00:00Z", {"tier": "SILVER"}),
    event("subscription.tier_upgraded", "acme", "2026-04-30T22:30:00Z", {"tier": "GOLD"}),
    event(
        "expertise.pack_purchased", "acme", "2026-05-02T08:00:00Z", {"pack_id": "PK-1", "hours": 10}
    ),
    opened("T-3", "2026-05-05T08:00:00Z", "P1"),
    ticket_fact("service_restored", "T-3", "2026-05-05T09:00:00Z"),
    opened("T-1", "2026-05-06T10:00:00Z", "P1", summary=SUMMARY),
    ticket_fact("service_restored", "T-1", "2026-05-06T14:31:00Z"),
    opened("T-2", "2026-05-07T10:00:00Z", "P1", summary="Portal down"),
    event("expertise.hours_consumed", "acme", "2026-05-07T09:00:00Z", {"hours": 5}),
    event("subscription.started", "globex", "2026-03-10T09:00:00Z", {"tier": "SILVER"}),
    opened("G-1", "2026-05-06T08:00:00Z", "P1", tenant="globex", summary="Disk lost"),
    ticket_fact("service_restored", "G-1", "2026-05-06T17:00:00Z", tenant="globex"),
    opened("G-2", "2026-05-07T05:00:00Z", "P1", tenant="globex", summary="Network slow"),
    event("expertise.hours_consumed", "globex", "2026-05-07T09:00:00Z", {"hours": 5}),
    *(event("expertise.hours_consumed", t, "2026-05-05T09:00:00Z", {"hours": 1}) for t in OTHERS),
]


def write_story(path: Path) -> Path:
    """The story as a JSON Lines file for ``ticketflow ingest``."""
    path.write_text("".join(json.dumps(e) + "\n" for e in STORY), encoding="utf-8")
    return path

"""Running ``python -m ticketflow`` as a user does: a separate process on a data directory, with
no server named in its environment (the embedded default)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def embedded_env() -> dict[str, str]:
    """This process's environment without the variables that name servers or settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TICKETFLOW_", "KAFKA_"))}


def run(data_dir: Path, *args: str, stdin: str | None = None) -> Run:
    env = embedded_env()
    done = subprocess.run(
        [sys.executable, "-m", "ticketflow", "--data-dir", str(data_dir), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=data_dir.parent,
        timeout=120,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def ce(type_: str, subject: str, id_: str, time: str, data: dict[str, Any], **attrs: Any) -> str:
    """One line of an ingest file: a CloudEvent from the ``portal`` source (tenant ``acme``
    unless given)."""
    tenant = attrs.pop("tenant", "acme")
    return json.dumps(
        {
            "specversion": "1.0",
            "id": id_,
            "source": "portal",
            "type": type_,
            "subject": subject,
            "time": time,
            "tenant": tenant,
            "data": data,
        }
    )

"""The layers of DESIGN §4 hold: import-linter's contracts (pyproject.toml) are kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = (
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.exit(lint_imports_command())"
)


def test_import_contracts_are_kept() -> None:
    done = subprocess.run(
        [sys.executable, "-c", RUN, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout


def test_every_contract_is_checked() -> None:
    """A contract that names a module which does not exist would be vacuous: each layer and
    source module is a real package or module."""
    import importlib
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    names: set[str] = set()
    for contract in config["contracts"]:
        for layer in contract.get("layers", []):
            names.update(part.strip() for part in layer.split("|"))
        names.update(contract.get("source_modules", []))
    for name in sorted(names):
        importlib.import_module(name)

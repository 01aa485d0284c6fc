"""`pip install plugins/finance` adds a domain; uninstalling removes it and nothing else.

The install and uninstall happen in a throwaway virtual environment that borrows the
test environment's packages (links to them, the finance plugin's own files left out),
so the test environment itself is never changed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FINANCE = "workforce_graph_plugin_finance"


def _throwaway_venv(where: Path) -> Path:
    """A venv whose site-packages links every package of this one except the plugin."""
    venv.create(where, with_pip=False, symlinks=True)
    python = where / "bin" / "python"
    target = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if FINANCE in entry.name.lower().replace("-", "_"):
            continue
        link = target / entry.name
        if not link.exists():
            link.symlink_to(entry)
    return python


def _plugins(python: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "WORKFORCE_GRAPH_PLUGINS"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [str(python), "-m", "workforce_graph.cli", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    listing = json.loads(out.stdout)
    return {w["name"]: w for p in listing["plugins"] for w in p["workers"]}


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "-q", *args],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(os.name != "posix", reason="venv layout of POSIX")
def test_installing_and_uninstalling_the_finance_plugin(tmp_path: Path) -> None:
    python = _throwaway_venv(tmp_path / "venv")
    without = _plugins(python)
    assert "finance" not in without and "reasoning" in without

    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    _pip(python, "install", "--no-deps", *isolation, str(ROOT / "plugins" / "finance"))
    installed = _plugins(python)
    assert installed["finance"]["capabilities"] == [
        "finance",
        "time_value_of_money",
        "portfolio_analytics",
    ]
    assert {k: v for k, v in installed.items() if k != "finance"} == without

    _pip(python, "uninstall", "-y", "workforce-graph-plugin-finance")
    assert _plugins(python) == without

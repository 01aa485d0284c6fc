"""`pip install plugins/finance` adds a domain; uninstalling removes it and nothing else.

This test really uninstalls and reinstalls the plugin distribution in the test
environment (always reinstalling it, editable, at the end).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "workforce_graph.cli"]


def _plugins() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "WORKFORCE_GRAPH_PLUGINS"}
    out = subprocess.run(
        [*CLI, "plugins", "--json"], capture_output=True, text=True, check=True, env=env
    )
    listing = json.loads(out.stdout)
    return {w["name"]: w for p in listing["plugins"] for w in p["workers"]}


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, capture_output=True)


def test_installing_and_uninstalling_the_finance_plugin() -> None:
    pytest.importorskip("workforce_graph_plugin_finance", reason="install -e plugins/finance")
    installed = _plugins()
    assert installed["finance"]["capabilities"] == [
        "finance",
        "time_value_of_money",
        "portfolio_analytics",
    ]
    try:
        _pip("uninstall", "-y", "workforce-graph-plugin-finance")
        uninstalled = _plugins()
        assert "finance" not in uninstalled
        assert uninstalled == {k: v for k, v in installed.items() if k != "finance"}
    finally:
        _pip("install", "--no-deps", "-e", str(ROOT / "plugins" / "finance"))
    assert _plugins() == installed

"""The compiled graph's Mermaid drawing, one snapshot per combination of graph options.

A change to the graph's shape shows up here as a diff of ``tests/snapshots/*.mmd``.
Run with ``UPDATE_SNAPSHOTS=1`` to rewrite them after an intended change.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from tests.conftest import spec
from workforce_graph import build_workforce_graph
from workforce_graph.testing import ScriptedChatModel

SNAPSHOTS = Path(__file__).parent / "snapshots"
OPTIONS = {"approve_plan": (False, True), "verify_results": (False, True)}
COMBINATIONS = [
    dict(zip(OPTIONS, values, strict=True)) for values in itertools.product(*OPTIONS.values())
]


@pytest.mark.parametrize(
    "options", COMBINATIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items())
)
def test_mermaid_drawing_matches_its_snapshot(options: dict[str, bool]) -> None:
    graph = build_workforce_graph(
        model=ScriptedChatModel(), workers=[spec("w", "x")], **options
    ).compile()
    drawing = graph.get_graph().draw_mermaid()
    name = "graph-" + "-".join(f"{k}-{str(v).lower()}" for k, v in options.items()) + ".mmd"
    snapshot = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(drawing)
    assert snapshot.exists(), f"no snapshot {snapshot.name}; run with UPDATE_SNAPSHOTS=1"
    assert drawing == snapshot.read_text()

"""``workforce-graph show`` reads a stored run without building the graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_graph
from workforce_graph import deps, plugins
from workforce_graph import graph as graph_module
from workforce_graph.cli import execute
from workforce_graph.cli.show import show_run
from workforce_graph.persistence import open_run_store
from workforce_graph.testing import ScriptedChatModel, plan_reply


async def test_show_needs_neither_the_graph_nor_the_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.sqlite")
    model = ScriptedChatModel(
        responders={
            "planner": plan_reply({"id": "s1", "description": "d", "capabilities": ["reasoning"]}),
            "worker": "the result",
            "generator": "the answer",
        }
    )
    async with open_run_store(db) as store:
        await run_graph(model, checkpointer=store.checkpointer, thread_id="stored-thread")

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("show built the graph or loaded plugins")

    for module, name in [
        (graph_module, "build_workforce_graph"),
        (deps, "usable_workers"),
        (plugins, "collect_workers"),
        (execute, "build_graph"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    assert await show_run("stored-thread", db=db, as_json=True) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["answer"] == "the answer" and shown["complete"] is True
    assert [r["status"] for r in shown["results"]] == ["done"]

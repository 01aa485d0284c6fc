"""An unavailable worker is never planned for; the run still works for the rest."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import run_graph
from workforce_graph import collect_workers
from workforce_graph.testing import plan_reply


async def test_without_tavily_key_the_planner_never_sees_web_work(
    scripted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    registry = collect_workers()
    web = registry.workers["web"]
    assert not web.available and "TAVILY_API_KEY" in (web.unavailable_reason or "")
    plans = iter(
        [
            plan_reply(
                {"id": "s1", "description": "search the web", "capabilities": ["web_search"]}
            ),
            plan_reply({"id": "s1", "description": "reason it out", "capabilities": ["reasoning"]}),
        ]
    )
    model = scripted(planner=lambda m: next(plans), worker=lambda m: "done")
    final, _ = await run_graph(model, workers=list(registry.workers.values()))
    first_prompt = model.calls_by_role("planner")[0]["prompt"]
    assert "- web:" not in first_prompt and "- reasoning:" in first_prompt
    assert "(got 'web_search')" in model.calls_by_role("planner")[1]["prompt"]
    assert final["subtasks"][0]["worker"] == "reasoning" and final["answer"]["complete"]

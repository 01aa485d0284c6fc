"""The leakage guard: web results that would hand over a benchmark's answer are withheld
and counted (web worker against a local server speaking Tavily's API)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from tests.fake_tavily import FakeTavily, fake_tavily_env
from workforce_graph.default_plugins.web import build_web_worker, make_web_tools
from workforce_graph.evaluation.datasets import EvalDataset, EvalTask
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.leakage import LeakageGuard, guarding
from workforce_graph.evaluation.runner import Evaluation
from workforce_graph.testing import ScriptedChatModel, plan_reply

QUESTION = "Which river flows through the capital of the country that won the 1998 World Cup?"
RESULTS = [
    {
        "url": "https://huggingface.co/datasets/gaia-benchmark/GAIA",
        "title": "GAIA",
        "content": "answers",
    },
    {
        "url": "https://forum.example/q",
        "title": "Q",
        "content": f"Someone asked: {QUESTION} It is the Seine.",
    },
    {
        "url": "https://travel.example/paris",
        "title": "Paris",
        "content": "The Seine flows through Paris.",
    },
]


@pytest.fixture
def tavily(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTavily]:
    for server in fake_tavily_env(monkeypatch):
        server.results = [dict(r) for r in RESULTS]
        yield server


async def test_search_results_that_leak_are_withheld_and_counted(tavily: FakeTavily) -> None:
    search = next(t for t in make_web_tools() if t.name == "web_search")
    unguarded = await search.ainvoke({"query": "river capital"})
    assert "huggingface.co" in unguarded and "forum.example" in unguarded
    guard = LeakageGuard(QUESTION)
    with guarding(guard):
        text = await search.ainvoke({"query": "river capital"})
    assert "travel.example" in text and "huggingface.co" not in text and "forum.example" not in text
    assert [w.split(": ", 1)[1] for w in guard.withheld] == [
        "blocklisted host huggingface.co",
        "contains the question verbatim",
    ]
    assert guard.leak("https://docs.python.org/3/", "short text") is None


def searcher(messages: list[BaseMessage]) -> AIMessage:
    if any(isinstance(m, ToolMessage) for m in messages):
        return AIMessage("The Seine.")
    return AIMessage(
        "", tool_calls=[{"name": "web_search", "args": {"query": "river"}, "id": "c1"}]
    )


async def test_an_evaluation_counts_what_the_guard_withheld(
    tavily: FakeTavily, tmp_path: Any
) -> None:
    plan = plan_reply({"id": "s1", "description": "search", "capabilities": ["web_search"]})
    model = ScriptedChatModel(
        responders={"planner": plan, "worker": searcher, "generator": "FINAL ANSWER: Seine"}
    )
    data = EvalDataset(
        name="leaky", tasks=[EvalTask("t1", QUESTION, "Seine")], answer_format="FINAL ANSWER: x"
    )
    spec = GraphSpec(model_factory=lambda: model, workers_factory=lambda: [build_web_worker()])
    summary = await Evaluation(data, spec, tmp_path).run()
    assert summary["pass@1"] == 1.0 and summary["withheld_results"] == 2

"""A failure's kind is set where it happens and read by the evaluation, never guessed
from the reason's words: rewording a reason changes no kind."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from tests.conftest import run_graph, spec
from tests.test_degradation import waits_for_the_budget
from workforce_graph.evaluation.outcome import run_failure
from workforce_graph.flow.turns import generator_view
from workforce_graph.testing import ScriptedChatModel, plan_reply


def sub(sid: str, *deps: str) -> dict[str, Any]:
    return {
        "id": sid,
        "description": f"do {sid}",
        "capabilities": ["reasoning"],
        "depends_on": deps,
    }


def one_subtask(worker: Any, generator: Any = "a") -> ScriptedChatModel:
    """A model that plans one subtask, and answers as its worker and as the generator."""
    responders = {"planner": plan_reply(sub("s1")), "worker": worker, "generator": generator}
    return ScriptedChatModel(responders=responders)


def kinds(final: dict[str, Any]) -> dict[str, str | None]:
    return {f["id"]: f.get("kind") for f in final["answer"]["failed"]}


def reworded(final: dict[str, Any], reason: str) -> dict[str, Any]:
    """``final`` with every failed entry's reason replaced by ``reason``."""
    failed = [{**f, "reason": reason} for f in final["answer"]["failed"]]
    return {**final, "answer": {**final["answer"], "failed": failed}}


async def test_a_tool_budget_overrun_is_a_budget_failure_whatever_its_words() -> None:
    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return "nothing yet"

    def keeps_calling(messages: list[Any]) -> AIMessage:
        n = sum(1 for m in messages if m.type == "tool")
        return AIMessage(
            "", tool_calls=[{"name": "lookup", "args": {"query": f"q{n}"}, "id": f"c{n}"}]
        )

    model = one_subtask(keeps_calling)
    searcher = spec("searcher", "reasoning", tools=(lookup,))
    once = {"max_retries": 0, "max_replans": 0}
    final, _ = await run_graph(model, workers=[searcher], max_tool_calls=2, **once)
    assert final["subtasks"][0].get("failure_kind") == "tool_budget"
    assert kinds(final) == {"s1": "tool_budget"}
    assert run_failure(final, None) == "budget"
    assert run_failure(reworded(final, "too many lookups"), None) == "budget"


async def test_the_time_budget_is_a_budget_failure_whatever_its_words() -> None:
    worker = spec("reasoning", "reasoning", factory=waits_for_the_budget(asyncio.Event()))
    plan = plan_reply(sub("s1"), sub("s2", "s1"), sub("s3", "s2"))
    model = ScriptedChatModel(responders={"planner": plan, "generator": "from r1"})
    final, _ = await run_graph(model, workers=[worker], max_run_s=0.3)
    assert kinds(final) == {"s2": "time_budget", "s3": "dependency", "time": "time_budget"}
    assert run_failure(final, None) == "budget"
    assert run_failure(reworded(final, "the clock said no"), None) == "budget"


async def test_a_model_error_is_no_budget_failure_even_when_its_words_say_budget() -> None:
    model = one_subtask(lambda m: RuntimeError("the account's token budget is spent"))
    final, _ = await run_graph(model, max_retries=0, max_replans=0)
    assert "budget" in final["subtasks"][0]["failure_reason"]
    assert kinds(final) == {"s1": "model_error"}
    assert run_failure(final, None) == "worker_failure"
    assert run_failure(reworded(final, "over budget"), None) == "worker_failure"


async def test_a_generator_that_cannot_answer_says_what_kind_of_failure() -> None:
    model = one_subtask("r1", generator=lambda m: RuntimeError("HTTP 500"))
    final, _ = await run_graph(model)
    assert kinds(final) == {"answer": "model_error"}


def test_a_flow_stopped_by_its_turn_budget_says_so_in_the_kind() -> None:
    view = generator_view(
        {"messages": [], "task": "t", "memory": [], "stop": "max_turns", "stop_reason": "any words"}
    )
    (stop,) = view.get("subtasks") or []
    assert stop.get("failure_kind") == "turn_budget"


def test_an_answer_recorded_before_kinds_falls_back_to_its_words() -> None:
    old = {"answer": {"text": "x", "complete": False, "failed": [{"id": "s1", "reason": "a"}]}}
    assert run_failure(old, None) == "worker_failure"
    old["answer"]["failed"] = [
        {"id": "s1", "reason": "tool-call budget exceeded (3 calls allowed)"}
    ]
    assert run_failure(old, None) == "budget"

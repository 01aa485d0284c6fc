"""Degrading honestly, on scripted models: a verifier that cannot check, a model server
that keeps failing, the whole-run time budget, made-up tool names, and reasons in plain
words."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from tests.conftest import run_graph, spec, subtask_id_of
from workforce_graph import WorkforceContext, build_flow_graph, build_workforce_graph
from workforce_graph.calls.errors import (
    SERVER_ERROR_LIMIT,
    ServerUnavailableError,
    is_fatal,
    server_error_streak,
)
from workforce_graph.lifecycle import NOT_RUN_IN_TIME
from workforce_graph.nodes.execution import STOPPED_IN_TIME
from workforce_graph.testing import ScriptedChatModel, plan_reply
from workforce_graph.worker_runtime import ANSWER_NOW


class HTTPError(Exception):
    """What an OpenAI-compatible client raises for an HTTP error status."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"the server said {status_code}")
        self.status_code = status_code


def sub(sid: str, *deps: str) -> dict[str, Any]:
    return {
        "id": sid,
        "description": f"do {sid}",
        "capabilities": ["reasoning"],
        "depends_on": list(deps),
    }


TWO = plan_reply(sub("s1"), sub("s2"))


# -- a verifier that cannot check ----------------------------------------------------


@pytest.mark.parametrize(
    ("verifier", "why"),
    [
        (lambda m: HTTPError(400), "HTTP 400"),
        (lambda m: HTTPError(500), "HTTP 500"),
        (lambda m: "no json here", "reply was unusable"),
    ],
)
async def test_a_verifier_that_cannot_check_keeps_the_result_and_says_so(
    scripted: Any, verifier: Any, why: str
) -> None:
    model = scripted(planner=TWO, worker=lambda m: f"good {subtask_id_of(m)}", verifier=verifier)
    final, events = await run_graph(model, verify_results=True)
    assert [(s["status"], s["result"]) for s in final["subtasks"]] == [
        ("done", "good s1"),
        ("done", "good s2"),
    ]
    assert all(why in s["unverified"] for s in final["subtasks"])
    # The worker ran once per subtask, and each of its calls is in the usage.
    assert len(model.calls_by_role("worker")) == 2
    assert final["usage"]["worker:reasoning"]["calls"] == 2
    skipped = [e for e in events if e["event"] == "verify_skipped"]
    assert sorted(e["subtask_id"] for e in skipped) == ["s1", "s2"]
    assert all(why in e["reason"] for e in skipped)
    answer = final["answer"]
    assert answer["complete"] is True and answer["failed"] == []
    assert "the verifier could not check the results of s1, s2" in answer["text"]
    assert "retry" not in [e["event"] for e in events] and final.get("replans", 0) == 0


async def test_a_verifier_that_checks_leaves_no_note(scripted: Any) -> None:
    model = scripted(planner=TWO, worker=lambda m: "good", verifier={"ok": True})
    final, events = await run_graph(model, verify_results=True)
    assert final["answer"]["text"] == "the final answer" and final["answer"]["complete"]
    assert all("unverified" not in s for s in final["subtasks"])
    assert "verify_skipped" not in [e["event"] for e in events]


async def test_a_fatal_verifier_error_still_ends_the_run(scripted: Any) -> None:
    model = scripted(planner=TWO, worker=lambda m: "good", verifier=lambda m: HTTPError(401))
    with pytest.raises(HTTPError):
        await run_graph(model, verify_results=True)


# -- a model server that keeps failing -----------------------------------------------


def test_the_streak_counts_server_errors_and_any_answer_ends_it() -> None:
    assert server_error_streak(1, HTTPError(500)) == 2
    assert server_error_streak(1, HTTPError(429)) == 2
    assert server_error_streak(2, None) == 0
    assert server_error_streak(2, HTTPError(400)) == 0  # the server answered
    assert server_error_streak(2, TimeoutError()) == 2  # says nothing either way
    with pytest.raises(ServerUnavailableError, match="HTTP 429 \\(rate limit\\) to 3 calls"):
        server_error_streak(SERVER_ERROR_LIMIT - 1, HTTPError(429))
    assert is_fatal(ServerUnavailableError("down"))


async def test_server_errors_across_roles_stop_the_run(scripted: Any) -> None:
    plans = [plan_reply(sub("s1"))]

    def planner(messages: list[BaseMessage]) -> Any:
        return plans.pop() if plans else HTTPError(503)

    model = scripted(planner=planner, worker=lambda m: HTTPError(500))
    with pytest.raises(ServerUnavailableError, match="HTTP 503 to 3 calls in a row"):
        await run_graph(model)
    # The worker's attempt and its retry, then the replan: no call after the third.
    assert [c["role"] for c in model.calls] == ["planner", "worker", "worker", "planner"]


async def test_an_answered_call_ends_the_streak(scripted: Any) -> None:
    # Four server errors in all, never three in a row: the run goes on.
    replies = iter([HTTPError(500), HTTPError(500), "fine", HTTPError(500), HTTPError(500), "ok"])
    model = scripted(planner=plan_reply(sub("s1"), sub("s2", "s1")), worker=lambda m: next(replies))
    final, _ = await run_graph(model, max_retries=2)
    assert [s["result"] for s in final["subtasks"]] == ["fine", "ok"]
    assert final["answer"]["complete"] is True and final["server_errors"] == 0


async def test_server_errors_stop_the_flow_too() -> None:
    model = ScriptedChatModel(
        responders={
            role: (lambda m: HTTPError(502))
            for role in ("query_analysis", "planner", "executor", "verifier", "generator")
        }
    )
    graph = build_flow_graph(model=model, workers=[spec("reasoning", "reasoning")]).compile()
    with pytest.raises(ServerUnavailableError, match="HTTP 502 to 3 calls in a row"):
        await graph.ainvoke({"task": "t"})
    assert [c["role"] for c in model.calls] == ["query_analysis", "planner", "verifier"]


# -- the whole-run time budget -------------------------------------------------------


def waits_for_the_budget(never: asyncio.Event) -> Any:
    """A worker that finishes s1 at once and works on anything else until stopped."""

    async def work(context: dict[str, Any]) -> str:
        if context["subtask_id"] == "s1":
            return "r1"
        await never.wait()
        return "too late"

    return lambda model: RunnableLambda(work)


async def test_the_time_budget_ends_the_run_with_what_finished() -> None:
    never = asyncio.Event()
    worker = spec("reasoning", "reasoning", factory=waits_for_the_budget(never))
    plan = plan_reply(sub("s1"), sub("s2", "s1"), sub("s3", "s2"))
    model = ScriptedChatModel(responders={"planner": plan, "generator": "from r1"})
    final, events = await run_graph(model, workers=[worker], max_run_s=0.5)
    statuses = {s["id"]: (s["status"], s["failure_reason"]) for s in final["subtasks"]}
    assert statuses["s1"] == ("done", None)
    assert statuses["s2"] == ("failed", STOPPED_IN_TIME)
    assert final["stop_reason"].startswith("the time budget ran out (0.5 s of ")
    answer = final["answer"]
    assert answer["complete"] is False and answer["text"].startswith("from r1")
    assert {"id": "time", "reason": final["stop_reason"], "kind": "time_budget"} in answer["failed"]
    assert "time budget ran out" in answer["text"]
    # No retry and no replan once the time is spent.
    assert len(model.calls_by_role("planner")) == 1
    assert [e["event"] for e in events].count("stopped") == 1


async def test_no_subtask_starts_once_the_time_is_spent() -> None:
    model = ScriptedChatModel(responders={"planner": TWO, "generator": "nothing"})
    final, _ = await run_graph(model, max_run_s=1e-9)
    assert [s["failure_reason"] for s in final["subtasks"]] == [NOT_RUN_IN_TIME] * 2
    assert model.calls_by_role("worker") == []
    assert final["answer"]["complete"] is False and final["answer"]["failed"][-1]["id"] == "time"


async def test_a_resumed_run_counts_the_time_it_spent_before() -> None:
    model = ScriptedChatModel(
        responders={"planner": plan_reply(sub("s1")), "worker": "FAILED: not yet"}
    )
    graph = build_workforce_graph(
        model=model, workers=[spec("reasoning", "reasoning")], max_retries=0
    ).compile(checkpointer=InMemorySaver(), interrupt_before=["verifier"])
    config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
    await graph.ainvoke({"task": "t"}, config)
    spent = (await graph.aget_state(config)).values["elapsed_s"]
    assert spent > 0
    # Resumed with a budget of what the first part already spent: no replan, an answer.
    final = await graph.ainvoke(None, config, context=WorkforceContext(max_run_s=spent))
    assert len(model.calls_by_role("planner")) == 1
    assert final["answer"]["complete"] is False
    assert [f["id"] for f in final["answer"]["failed"]] == ["s1", "time"]


async def test_a_new_run_on_the_thread_gets_the_whole_budget_again(scripted: Any) -> None:
    model = scripted(planner=plan_reply(sub("s1")), worker=lambda m: "fine")
    graph = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")]).compile(
        checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
    await graph.ainvoke({"task": "t"}, config)
    # As if the first run had used the whole budget: the next request starts afresh.
    await graph.aupdate_state(config, {"elapsed_s": 10_000.0})
    second = await graph.ainvoke({"task": "again"}, config)
    assert second["answer"]["complete"] is True and second.get("stop_reason") is None


# -- made-up tool names --------------------------------------------------------------


async def test_a_worker_naming_unknown_tools_is_asked_to_answer_without_tools(
    scripted: Any,
) -> None:
    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return "found"

    asked: list[str] = []

    def invents_tools(messages: list[BaseMessage]) -> AIMessage:
        last = str(messages[-1].content)
        if ANSWER_NOW in last:
            asked.append(last)
            return AIMessage("the answer without tools")
        n = sum(1 for m in messages if m.type == "tool")
        return AIMessage("", tool_calls=[{"name": f"made_up_{n}", "args": {}, "id": f"c{n}"}])

    model = scripted(planner=plan_reply(sub("s1")), worker=invents_tools)
    final, _ = await run_graph(model, workers=[spec("searcher", "reasoning", tools=(lookup,))])
    (s1,) = final["subtasks"]
    assert s1["status"] == "done" and s1["result"] == "the answer without tools"
    # Two made-up names in a row, then one call without tools: not 15 calls.
    assert len(model.calls_by_role("worker")) == 3 and len(asked) == 1
    assert "Call: made_up_0" in asked[0]


async def test_one_unknown_tool_name_gets_the_error_and_a_second_chance(scripted: Any) -> None:
    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return f"found {query}"

    def one_slip(messages: list[BaseMessage]) -> AIMessage:
        tools = [m for m in messages if m.type == "tool"]
        if not tools:
            return AIMessage("", tool_calls=[{"name": "search", "args": {}, "id": "a"}])
        if len(tools) == 1:
            assert "no tool named 'search'" in str(tools[0].content)
            call = {"name": "lookup", "args": {"query": "q"}, "id": "b"}
            return AIMessage("", tool_calls=[call])
        return AIMessage(str(tools[-1].content))

    model = scripted(planner=plan_reply(sub("s1")), worker=one_slip)
    final, _ = await run_graph(model, workers=[spec("searcher", "reasoning", tools=(lookup,))])
    assert final["subtasks"][0]["result"] == "found q"


# -- reasons in plain words ----------------------------------------------------------


async def test_a_plan_reply_without_json_is_explained_in_plain_words(scripted: Any) -> None:
    model = scripted(planner="I would rather chat.", worker=lambda m: "fine")
    final, events = await run_graph(model, max_plan_attempts=1)
    reason = "no valid plan after 1 attempt: the reply contains no JSON object"
    assert final["plan_fallback"] == reason and reason in final["answer"]["text"]
    (fallback,) = [e for e in events if e["event"] == "plan_fallback"]
    assert fallback["reason"] == reason and "ValueError" in fallback["detail"]

    final, events = await run_graph(model, max_plan_attempts=1, plan_fallback=False)
    assert final["error"] == reason and reason in final["answer"]["text"]


async def test_plain_reasons_name_no_python_class(scripted: Any) -> None:
    replies = iter(['{"subtasks": [{"id": "s1"}]}', '{"subtasks": "many"}'])
    model = scripted(planner=lambda m: next(replies), worker=lambda m: "fine")
    final, _ = await run_graph(model, max_plan_attempts=2)
    reason = final["plan_fallback"]
    assert reason.startswith("no valid plan after 2 attempts; the last problem: ")
    assert "subtasks" in reason
    for internal in ("Plan ", "ValidationError", "ValueError", "pydantic", "errors.pydantic.dev"):
        assert internal not in reason and internal not in final["answer"]["text"]

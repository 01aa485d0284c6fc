"""The Workforce graph end to end on scripted models."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from tests.conftest import run_graph, spec, subtask_id_of
from workforce_graph import build_workforce_graph
from workforce_graph.generator import SYSTEM as GENERATOR_SYSTEM
from workforce_graph.testing import ScriptedChatModel, plan_reply
from workforce_graph.worker_runtime import _RESULT_RULES, EMPTY_REPLY

ROOT = Path(__file__).resolve().parents[1]


def sub(sid: str, *deps: str, caps: tuple[str, ...] = ("reasoning",)) -> dict[str, Any]:
    return {
        "id": sid,
        "description": f"do {sid}",
        "capabilities": list(caps),
        "depends_on": list(deps),
    }


async def test_simple_request_gives_answer_message_and_events(scripted: Any) -> None:
    model = scripted(planner=lambda m: plan_reply(sub("s1")), worker=lambda m: "42")
    final, events = await run_graph(model, task="What is six times seven?")
    assert final["answer"] == {"text": "the final answer", "complete": True, "failed": []}
    assert isinstance(final["messages"][-1], AIMessage)
    assert final["messages"][-1].content == "the final answer"
    assert [s["result"] for s in final["subtasks"]] == ["42"]
    kinds = [e["event"] for e in events]
    assert kinds == ["plan", "assigned", "started", "finished", "answer"]
    started = next(e for e in events if e["event"] == "started")
    assert started["subtask_id"] == "s1" and started["worker"] == "reasoning"
    usage = final["usage"]
    assert usage["planner"]["calls"] == 1 and usage["worker:reasoning"]["calls"] == 1
    assert usage["generator"]["calls"] == 1 and usage["planner"]["input_tokens"] > 0


async def test_messages_input_works_like_a_langchain_chat(scripted: Any) -> None:
    model = scripted(planner=lambda m: plan_reply(sub("s1")), worker=lambda m: "hi")
    graph = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")]).compile()
    out = await graph.ainvoke({"messages": [HumanMessage("Say hi")]})
    assert out["task"] == "Say hi"
    assert [type(m) for m in out["messages"]] == [HumanMessage, AIMessage]
    assert "Say hi" in model.calls_by_role("planner")[0]["prompt"]


async def test_independent_subtasks_run_concurrently() -> None:
    in_flight = 0
    peak = 0
    meeting: asyncio.Barrier

    async def work(context: dict[str, Any]) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        # Every subtask waits for the others allowed at once: only concurrent ones meet.
        await asyncio.wait_for(meeting.wait(), 10)
        in_flight -= 1
        return f"done {context['subtask_id']}"

    worker = spec("par", "reasoning", factory=lambda model: RunnableLambda(work))
    plan = plan_reply(*(sub(f"s{i}") for i in range(6)))
    meeting = asyncio.Barrier(6)
    final, _ = await run_graph(ScriptedChatModel(responders={"planner": plan}), workers=[worker])
    assert peak == 6
    assert all(s["status"] == "done" for s in final["subtasks"])

    peak = 0
    meeting = asyncio.Barrier(2)
    final, _ = await run_graph(
        ScriptedChatModel(responders={"planner": plan}), workers=[worker], max_concurrency=2
    )
    assert peak == 2 and all(s["status"] == "done" for s in final["subtasks"])


async def test_dependencies_run_in_order_and_see_only_their_inputs(scripted: Any) -> None:
    order: list[str] = []

    def worker(messages: list[Any]) -> str:
        sid = subtask_id_of(messages)
        order.append(sid)
        return f"result-of-{sid}"

    plan = plan_reply(sub("a"), sub("b", "a"), sub("c"), sub("d", "b", "c"))
    model = scripted(planner=plan, worker=worker)
    final, _ = await run_graph(model)
    assert order.index("a") < order.index("b") < order.index("d")
    assert order.index("c") < order.index("d")
    prompts = {
        subtask_id_of([HumanMessage(c["prompt"])]): c["prompt"]
        for c in model.calls_by_role("worker")
    }
    assert "result-of-a" in prompts["b"] and "result-of-c" not in prompts["b"]
    assert "result-of-b" in prompts["d"] and "result-of-c" in prompts["d"]
    assert "do c" not in prompts["a"]  # siblings stay out of a worker's context
    assert final["answer"]["complete"]


async def test_failed_subtask_is_retried_then_succeeds(scripted: Any) -> None:
    attempts = {"n": 0}

    def flaky(messages: list[Any]) -> str:
        attempts["n"] += 1
        return "FAILED: service busy" if attempts["n"] == 1 else "fine"

    final, events = await run_graph(scripted(planner=plan_reply(sub("s1")), worker=flaky))
    (s1,) = final["subtasks"]
    assert s1["status"] == "done" and s1["attempts"] == 2 and s1["result"] == "fine"
    assert [e["event"] for e in events].count("retry") == 1
    assert final["answer"]["complete"] and final.get("replans", 0) == 0


async def test_failure_replans_and_reuses_finished_results(scripted: Any) -> None:
    plans = iter(
        [
            plan_reply(sub("a"), sub("b", "a")),
            plan_reply({**sub("b2", "a"), "description": "do b differently"}),
        ]
    )
    ran: list[str] = []

    def worker(messages: list[Any]) -> str:
        sid = subtask_id_of(messages)
        ran.append(sid)
        return "FAILED: b cannot be done this way" if sid == "b" else f"result-of-{sid}"

    model = scripted(planner=lambda m: next(plans), worker=worker)
    final, events = await run_graph(model)
    assert ran == ["a", "b", "b", "b2"]  # a ran once; b once plus one retry; then the new plan
    replan_prompt = model.calls_by_role("planner")[1]["prompt"]
    assert "b cannot be done this way" in replan_prompt and "result-of-a" in replan_prompt
    assert final["replans"] == 1
    assert [(s["id"], s["status"]) for s in final["subtasks"]] == [("a", "done"), ("b2", "done")]
    assert final["failed_plans"][0]["reasons"] == [
        "subtask b (reasoning) failed: b cannot be done this way"
    ]
    assert "result-of-a" in model.calls_by_role("worker")[-1]["prompt"]
    assert final["answer"]["complete"] and "replan" in [e["event"] for e in events]


async def test_exhausted_replans_give_an_incomplete_answer_that_says_why(scripted: Any) -> None:
    model = scripted(
        planner=lambda m: plan_reply(sub("ok"), sub("bad")),
        worker=lambda m: "FAILED: no data source" if subtask_id_of(m) == "bad" else "fine",
    )
    final, _ = await run_graph(model, max_replans=1, max_retries=0)
    answer = final["answer"]
    assert answer["complete"] is False
    assert answer["failed"] == [{"id": "bad", "reason": "no data source", "kind": "gave_up"}]
    assert "incomplete" in answer["text"] and "bad: no data source" in answer["text"]
    assert final["replans"] == 1 and len(model.calls_by_role("planner")) == 2


async def test_invalid_plan_is_repaired_with_the_validation_error(scripted: Any) -> None:
    replies = iter(
        [
            "this is not json",
            plan_reply(sub("a", "ghost")),
            plan_reply(sub("a")),
        ]
    )
    model = scripted(planner=lambda m: next(replies), worker=lambda m: "fine")
    final, _ = await run_graph(model)
    prompts = [c["prompt"] for c in model.calls_by_role("planner")]
    assert len(prompts) == 3
    assert "depends on unknown id 'ghost'" in prompts[2]
    assert final["answer"]["complete"]


@pytest.mark.parametrize(
    ("bad_plan", "problem"),
    [
        (plan_reply(sub("a", "b"), sub("b", "a")), "cycle"),
        (plan_reply(sub("a", "nowhere")), "unknown id 'nowhere'"),
        (plan_reply(sub("a", caps=("astrology",))), "(got 'astrology')"),
        ({"subtasks": []}, "should have at least 1 item"),
    ],
)
async def test_invalid_plans_end_with_a_clear_error_without_fallback(
    scripted: Any, bad_plan: Any, problem: str
) -> None:
    model = scripted(planner=bad_plan, worker=lambda m: "unused")
    final, events = await run_graph(model, max_plan_attempts=2, plan_fallback=False)
    assert len(model.calls_by_role("planner")) == 2
    assert model.calls_by_role("worker") == [] and model.calls_by_role("generator") == []
    assert problem in final["error"]
    assert final["answer"]["complete"] is False and problem in final["answer"]["text"]
    assert events[-2]["event"] == "plan_error"
    # What people read names no Python class; the event's detail keeps it for debugging.
    for internal in ("Plan ", "ValidationError", "PlanValidationError", "ValueError"):
        assert internal not in final["error"]


async def test_no_valid_plan_falls_back_to_one_subtask_on_the_general_worker(
    scripted: Any,
) -> None:
    bad = plan_reply(sub("a", "b", caps=("writing",)), sub("b", "a", caps=("writing",)))
    model = scripted(planner=bad, worker=lambda m: "forty-two", generator=lambda m: "42.")
    workers = [spec("coder", "python", "math", "data"), spec("talker", "writing")]
    final, events = await run_graph(
        model, task="What is six times seven?", workers=workers, max_plan_attempts=2
    )
    assert len(model.calls_by_role("planner")) == 2
    fallback = [e for e in events if e["event"] == "plan_fallback"]
    assert len(fallback) == 1 and "cycle" in fallback[0]["reason"]
    assert [(s["description"], s["worker"], s["status"]) for s in final["subtasks"]] == [
        ("What is six times seven?", "talker", "done")
    ]
    assert final["error"] is None and "cycle" in final["plan_fallback"]
    assert final["answer"]["complete"] is True
    assert final["answer"]["text"].startswith("42.")
    assert "without decomposition" in final["answer"]["text"]


async def test_coordinator_retries_unknown_worker_then_falls_back(scripted: Any) -> None:
    workers = [spec("alpha", "reasoning"), spec("beta", "reasoning")]
    replies = iter(
        [
            {"assignments": [{"subtask_id": "s1", "worker": "gamma"}]},
            {"assignments": [{"subtask_id": "s1", "worker": "beta"}]},
        ]
    )
    model = scripted(
        planner=plan_reply(sub("s1")), coordinator=lambda m: next(replies), worker=lambda m: "x"
    )
    final, events = await run_graph(model, workers=workers)
    second = model.calls_by_role("coordinator")[1]["prompt"]
    assert "'gamma' is not a candidate for s1" in second
    assert final["subtasks"][0]["worker"] == "beta"

    model = scripted(
        planner=plan_reply(sub("s1")),
        coordinator={"assignments": [{"subtask_id": "s1", "worker": "gamma"}]},
        worker=lambda m: "x",
    )
    final, events = await run_graph(model, workers=workers)
    assert len(model.calls_by_role("coordinator")) == 2
    assigned = next(e for e in events if e["event"] == "assigned")
    assert assigned["worker"] == "alpha" and assigned["by"] == "capability match (fallback)"


async def test_single_fitting_worker_needs_no_coordinator_call(scripted: Any) -> None:
    workers = [spec("maths", "math"), spec("writer", "writing")]
    model = scripted(
        planner=plan_reply(sub("m", caps=("math",)), sub("w", "m", caps=("writing",))),
        worker=lambda m: "x",
    )
    final, _ = await run_graph(model, workers=workers)
    assert model.calls_by_role("coordinator") == []
    assert {s["id"]: s["worker"] for s in final["subtasks"]} == {"m": "maths", "w": "writer"}


async def test_timeout_becomes_a_failed_subtask() -> None:
    async def slow(context: dict[str, Any]) -> str:
        await asyncio.sleep(5)
        return "too late"

    worker = spec("slow", "reasoning", factory=lambda model: RunnableLambda(slow))
    model = ScriptedChatModel(responders={"planner": plan_reply(sub("s1"))})
    final, _ = await run_graph(
        model, workers=[worker], subtask_timeout_s=0.05, max_retries=0, max_replans=0
    )
    (s1,) = final["subtasks"]
    assert s1["status"] == "failed" and s1["failure_reason"] == "timed out after 0.05 s"
    assert final["answer"]["complete"] is False


async def test_tool_budget_overrun_becomes_a_failed_subtask(scripted: Any) -> None:
    counter = {"n": 0}

    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        counter["n"] += 1
        return "nothing yet"

    def keeps_calling(messages: list[Any]) -> AIMessage:
        n = sum(1 for m in messages if m.type == "tool")
        call = {"name": "lookup", "args": {"query": f"q{n}"}, "id": f"c{n}"}
        return AIMessage("", tool_calls=[call])

    model = scripted(planner=plan_reply(sub("s1")), worker=keeps_calling)
    final, _ = await run_graph(
        model,
        workers=[spec("searcher", "reasoning", tools=(lookup,))],
        max_tool_calls=3,
        max_retries=0,
        max_replans=0,
    )
    (s1,) = final["subtasks"]
    assert s1["status"] == "failed"
    assert s1["failure_reason"] == "tool-call budget exceeded (3 calls allowed)"
    assert counter["n"] == 3


async def test_a_repeated_tool_call_is_not_run_and_the_worker_is_asked_to_answer(
    scripted: Any,
) -> None:
    # A greedy model that repeats a call would repeat it until the budget runs out.
    runs: list[str] = []
    answer_prompts: list[str] = []

    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        runs.append(query)
        return f"found {query}"

    def repeats_then_answers(messages: list[Any]) -> AIMessage:
        last = str(messages[-1].content)
        if "Tools are no longer available" in last:
            answer_prompts.append(last)
            return AIMessage("the answer from what I found")
        return AIMessage("", tool_calls=[{"name": "lookup", "args": {"query": "q"}, "id": "c"}])

    model = scripted(planner=plan_reply(sub("s1")), worker=repeats_then_answers)
    final, _ = await run_graph(
        model, workers=[spec("searcher", "reasoning", tools=(lookup,))], max_tool_calls=15
    )
    (s1,) = final["subtasks"]
    assert s1["status"] == "done" and s1["result"] == "the answer from what I found"
    assert runs == ["q"]  # the repeat was not run
    # The answer is asked for in plain text, with the call and its result.
    (prompt,) = answer_prompts
    assert 'Call: lookup {"query": "q"}' in prompt and "Result: found q" in prompt


async def test_a_worker_that_keeps_calling_tools_when_asked_to_answer_fails(
    scripted: Any,
) -> None:
    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return "nothing"

    def always_the_same_call(messages: list[Any]) -> AIMessage:
        return AIMessage("", tool_calls=[{"name": "lookup", "args": {"query": "q"}, "id": "c"}])

    model = scripted(planner=plan_reply(sub("s1")), worker=always_the_same_call)
    final, _ = await run_graph(
        model,
        workers=[spec("searcher", "reasoning", tools=(lookup,))],
        max_retries=0,
        max_replans=0,
    )
    (s1,) = final["subtasks"]
    assert s1["status"] == "failed"
    assert s1["failure_reason"] == "the worker kept calling tools after being asked to answer"
    # The call, its repeat, and the repeat when asked to answer: no more.
    assert len(model.calls_by_role("worker")) == 3


async def test_an_empty_worker_reply_is_asked_for_once_more_in_other_words(
    scripted: Any,
) -> None:
    asked: list[str] = []

    def empty_then_answers(messages: list[Any]) -> AIMessage:
        asked.append(str(messages[-1].content))
        return AIMessage("84" if "reply was empty" in asked[-1] else "  \n")

    model = scripted(planner=plan_reply(sub("s1")), worker=empty_then_answers)
    final, _ = await run_graph(model, max_retries=0, max_replans=0)
    assert final["subtasks"][0]["result"] == "84"
    assert len(asked) == 2


async def test_a_worker_that_stays_empty_fails_after_one_more_ask(scripted: Any) -> None:
    model = scripted(planner=plan_reply(sub("s1")), worker="")
    final, _ = await run_graph(model, max_retries=0, max_replans=0)
    (s1,) = final["subtasks"]
    assert s1["failure_reason"] == "the worker returned an empty result"
    assert len(model.calls_by_role("worker")) == 2


async def test_instructions_a_small_model_echoes_stay_out_of_results_and_the_answer(
    scripted: Any,
) -> None:
    asked: list[str] = []

    def echoes(messages: list[Any]) -> str:
        asked.append(str(messages[-1].content))
        if len(asked) == 1:  # nothing but the rules it was given: asked once more
            return f"{_RESULT_RULES}\n"
        return f"84\n{EMPTY_REPLY}"

    model = scripted(
        planner=plan_reply(sub("s1")),
        worker=echoes,
        generator=lambda m: f"[s1] The answer is 84. {GENERATOR_SYSTEM.split('. ')[1]}.\nOK?",
    )
    final, _ = await run_graph(model, max_retries=0, max_replans=0)
    assert final["subtasks"][0]["result"] == "84"
    assert len(asked) == 2 and EMPTY_REPLY in asked[1]
    assert final["answer"]["text"] == "The answer is 84.\nOK?"
    assert final["answer"]["complete"] is True


async def test_worker_exception_becomes_a_failed_subtask(scripted: Any) -> None:
    model = scripted(planner=plan_reply(sub("s1")), worker=RuntimeError("model server exploded"))
    final, _ = await run_graph(model, max_retries=0, max_replans=0)
    assert final["subtasks"][0]["failure_reason"] == "RuntimeError: model server exploded"
    assert final["answer"]["complete"] is False


STRICT_ROUND_TRIP = """
import asyncio, json, os, sys
assert os.environ["LANGGRAPH_STRICT_MSGPACK"] == "true"
from langgraph.checkpoint.serde import _msgpack
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langchain_core.messages import AIMessage
from tests.conftest import run_graph, spec
from workforce_graph import build_workforce_graph
from workforce_graph.testing import ScriptedChatModel, plan_reply

assert _msgpack.STRICT_MSGPACK_ENABLED  # read once, at import: set before it, here

async def main(db):
    plan = plan_reply(
        {"id": "a", "description": "do a", "capabilities": ["reasoning"]},
        {"id": "b", "description": "do b", "capabilities": ["reasoning"], "depends_on": ["a"]},
    )
    model = ScriptedChatModel(responders={"planner": plan, "worker": "r", "generator": "fin"})
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        final, _ = await run_graph(model, checkpointer=saver, thread_id="t1")
    graph = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")])
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        compiled = graph.compile(checkpointer=saver)
        values = (await compiled.aget_state({"configurable": {"thread_id": "t1"}})).values
    assert values["answer"] == final["answer"] and values["answer"]["complete"]
    assert values["subtasks"] == final["subtasks"]
    assert isinstance(values["messages"][-1], AIMessage)
    assert values["usage"] == final["usage"]
    print("round trip ok")

asyncio.run(main(sys.argv[1]))
"""


def test_checkpoint_round_trip_under_strict_msgpack(tmp_path: Any) -> None:
    # LangGraph reads LANGGRAPH_STRICT_MSGPACK when it is imported, so the check runs
    # in a fresh interpreter with the variable set from the start.
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", STRICT_ROUND_TRIP, str(tmp_path / "runs.sqlite")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "round trip ok" in done.stdout


async def test_subtask_no_worker_can_take_fails_boundedly() -> None:
    from langgraph.runtime import Runtime

    from workforce_graph.deps import NodeDeps
    from workforce_graph.lifecycle import PlannedSubtask, pending_subtask
    from workforce_graph.models import ModelSet
    from workforce_graph.nodes.coordinator import make_coordinator
    from workforce_graph.nodes.verifier import make_verifier
    from workforce_graph.plugins import WorkerRegistry
    from workforce_graph.settings import WorkforceSettings

    deps = NodeDeps(
        registry=WorkerRegistry.of([spec("reasoning", "reasoning")]),
        models=ModelSet(default=ScriptedChatModel()),
        settings=WorkforceSettings(max_retries=1, max_replans=0),
    )
    state: dict[str, Any] = {
        "subtasks": [
            pending_subtask(
                PlannedSubtask(id="s1", description="read the stars", capabilities=["astrology"])
            )
        ]
    }
    coordinator, verifier = make_coordinator(deps), make_verifier(deps)
    runtime = Runtime(context=None)
    verdicts = []
    for _ in range(5):
        state.update(await coordinator(state, {}, runtime))
        state.update(verifier(state, runtime))
        verdicts.append(state["verdict"])
        if state["verdict"] == "finish":
            break
    assert verdicts == ["dispatch", "finish"]
    assert state["subtasks"][0]["failure_reason"] == "no available worker offers astrology"


async def test_dispatched_subtasks_are_running_in_the_checkpoint(scripted: Any) -> None:
    model = scripted(planner=plan_reply(sub("a"), sub("b", "a")), worker=lambda m: "r")
    graph = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")]).compile(
        checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": "running"}}
    seen = [
        [(s["id"], s["status"]) for s in update["coordinator"]["subtasks"]]
        async for update in graph.astream({"task": "t"}, config, stream_mode="updates")
        if "coordinator" in update
    ]
    # b waits for a inside the same workers round: dispatched once, b still pending then.
    assert seen == [[("a", "running"), ("b", "pending")]]
    history = [c.values.get("subtasks") async for c in graph.aget_state_history(config)]
    assert [(s["id"], s["status"]) for s in history[0]] == [("a", "done"), ("b", "done")]

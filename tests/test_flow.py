"""The flow topology end to end on scripted models."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from tests.conftest import spec
from workforce_graph import ModelConfigError, WorkerSpec, build_flow_graph
from workforce_graph.testing import ScriptedChatModel

WORKERS = [spec("reasoning", "reasoning"), spec("web", "web")]
ANALYSIS = {"needs": "a number", "capabilities": ["reasoning"], "answer_form": "a number"}


def turn_of(messages: list[BaseMessage]) -> int:
    """The turn a planner prompt is for (``Turn 3 of at most 10``)."""
    found = re.search(r"Turn (\d+) of at most", str(messages[-1].content))
    assert found, "not a planner prompt"
    return int(found.group(1))


def step(goal: str, worker: str = "reasoning", context: str = "") -> dict[str, Any]:
    return {"justification": "next", "context": context, "sub_goal": goal, "worker": worker}


def verdict(decision: str, reason: str = "because") -> dict[str, Any]:
    return {"reason": reason, "decision": decision}


def flow_model(
    *,
    planner: Callable[[int], dict[str, Any]] = lambda turn: step(f"goal {turn}"),
    executor: Any = "result",
    verifier: Any = lambda m: verdict("STOP"),
    **responders: Any,
) -> ScriptedChatModel:
    return ScriptedChatModel(
        responders={
            "query_analysis": ANALYSIS,
            "planner": lambda m: planner(turn_of(m)),
            "executor": executor,
            "verifier": verifier,
            "generator": "the final answer",
            **responders,
        }
    )


def compile_flow(model: ScriptedChatModel, **options: Any) -> Any:
    workers = options.pop("workers", WORKERS)
    checkpointer = options.pop("checkpointer", None) or InMemorySaver()
    return build_flow_graph(model=model, workers=workers, **options).compile(
        checkpointer=checkpointer
    )


async def run_flow(
    model: ScriptedChatModel, task: str = "the task", **options: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    graph = compile_flow(model, **options)
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    events: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    async for mode, chunk in graph.astream(
        {"task": task}, config, stream_mode=["custom", "values"]
    ):
        if mode == "custom":
            events.append(chunk)
        else:
            final = chunk
    return final, events


class RoleCalls(BaseCallbackHandler):
    """Records the role metadata of every chat model call, as the trajectory recorder does."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def on_chat_model_start(
        self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        metadata = kwargs.get("metadata") or {}
        self.calls.append(
            {
                "tags": kwargs.get("tags") or [],
                "role": metadata.get("workforce_role"),
                "node": metadata.get("workforce_node"),
                "turn": metadata.get("turn"),
                "subtask_id": metadata.get("subtask_id"),
                "messages": messages[0],
            }
        )


async def test_stop_after_one_turn() -> None:
    model = flow_model(executor="42")
    roles = RoleCalls()
    graph = compile_flow(model)
    events: list[dict[str, Any]] = []
    config = {"configurable": {"thread_id": "t"}, "callbacks": [roles]}
    async for event in graph.astream({"task": "six times seven?"}, config, stream_mode="custom"):
        events.append(event)
    final = (await graph.aget_state(config)).values

    assert final["answer"] == {"text": "the final answer", "complete": True, "failed": []}
    assert [(type(m), m.content) for m in final["messages"]] == [
        (HumanMessage, "six times seven?"),
        (AIMessage, "the final answer"),
    ]
    assert [
        (r["turn"], r["worker"], r["status"], r["result"], r["verdict"]) for r in final["memory"]
    ] == [(1, "reasoning", "done", "42", "stop")]
    assert [e["event"] for e in events] == ["turn", "started", "finished", "verdict", "answer"]
    assert events[1]["subtask_id"] == "t1" and events[3]["verdict"] == "stop"
    assert set(final["usage"]) == {
        "query_analysis",
        "planner",
        "executor:reasoning",
        "verifier",
        "generator",
    }
    assert [(c["role"], c["node"], c["turn"]) for c in roles.calls] == [
        ("query_analysis", "query_analysis", None),
        ("planner", "planner", 1),
        ("executor", "executor", 1),
        ("verifier", "verifier", 1),
        ("generator", "generator", None),
    ]
    assert all(f"workforce:{c['role']}" in c["tags"] for c in roles.calls)
    assert roles.calls[2]["subtask_id"] == "t1"


async def test_continue_then_stop_with_fresh_planner_prompts() -> None:
    verdicts = iter([verdict("CONTINUE", "the unit is missing"), verdict("STOP")])
    model = flow_model(
        executor=lambda m: "first result" if "goal 1" in str(m[-1].content) else "second result",
        verifier=lambda m: next(verdicts),
    )
    roles = RoleCalls()
    graph = compile_flow(model)
    config = {"configurable": {"thread_id": "t"}, "callbacks": [roles]}
    final = await graph.ainvoke({"task": "the task"}, config)

    assert [r["verdict"] for r in final["memory"]] == ["continue", "stop"]
    assert final["answer"]["complete"] is True
    planner_calls = [c for c in roles.calls if c["role"] == "planner"]
    # Each turn is one call whose prompt is rebuilt, not a growing chat.
    assert [len(c["messages"]) for c in planner_calls] == [2, 2]
    second = str(planner_calls[1]["messages"][-1].content)
    assert "first result" in second and "the unit is missing" in second
    assert "Turn 2 of at most 10" in second


async def test_unknown_worker_is_a_failed_turn_the_next_planner_sees() -> None:
    model = flow_model(
        planner=lambda turn: step("look it up", worker="oracle" if turn == 1 else "web"),
        verifier=lambda m: verdict("STOP" if "done" in str(m[-1].content) else "CONTINUE"),
    )
    final, events = await run_flow(model)
    first, second = final["memory"]
    assert first["status"] == "failed" and "no worker named 'oracle'" in str(
        first["failure_reason"]
    )
    assert "choose one of: reasoning, web" in str(first["failure_reason"])
    assert second["worker"] == "web" and second["status"] == "done"
    second_prompt = model.calls_by_role("planner")[1]["prompt"]
    assert "no worker named 'oracle'" in second_prompt
    failed = next(e for e in events if e["event"] == "failed")
    assert failed["subtask_id"] == "t1"
    assert final["answer"]["complete"] is True


async def test_unavailable_worker_is_a_failed_turn() -> None:
    workers = [*WORKERS, spec("search", "web", unavailable_reason="set TAVILY_API_KEY")]
    model = flow_model(planner=lambda turn: step("search", worker="search" if turn == 1 else "web"))
    verdicts = iter([verdict("CONTINUE"), verdict("STOP")])
    model.responders["verifier"] = lambda m: next(verdicts)
    final, _ = await run_flow(model, workers=workers)
    assert "unavailable (set TAVILY_API_KEY)" in str(final["memory"][0]["failure_reason"])
    assert final["memory"][1]["status"] == "done"


async def test_max_turns_gives_an_incomplete_answer_that_says_why() -> None:
    model = flow_model(verifier=lambda m: verdict("CONTINUE", "not yet"))
    final, events = await run_flow(model, max_turns=3)
    assert len(final["memory"]) == 3 and final["stop"] == "max_turns"
    answer = final["answer"]
    assert answer["complete"] is False
    assert "turn budget ran out (3 turns)" in answer["text"]
    assert answer["failed"][0]["reason"] == final["stop_reason"]
    assert len(model.calls_by_role("planner")) == 3
    assert events[-1] == {**events[-1], "event": "answer", "complete": False}


async def test_time_budget_ends_the_turns() -> None:
    model = flow_model(verifier=lambda m: verdict("CONTINUE"))
    final, _ = await run_flow(model, max_run_s=1e-9)
    assert final["stop"] == "time" and len(final["memory"]) == 1
    assert final["answer"]["complete"] is False and "time budget" in final["answer"]["text"]


async def test_the_word_stop_in_a_continue_reason_does_not_stop() -> None:
    verdicts = iter([verdict("CONTINUE", "do not stop: the year is missing"), verdict("STOP")])
    model = flow_model(verifier=lambda m: next(verdicts))
    final, _ = await run_flow(model)
    assert [r["verdict"] for r in final["memory"]] == ["continue", "stop"]


async def test_unusable_verifier_reply_continues() -> None:
    replies = iter(["no json here", "still none", verdict("STOP")])
    model = flow_model(verifier=lambda m: next(replies))
    final, _ = await run_flow(model)
    assert final["memory"][0]["verdict"] == "continue"
    assert "unusable" in str(final["memory"][0]["feedback"])
    assert final["answer"]["complete"] is True


async def test_executor_failure_is_visible_to_the_next_planner_turn() -> None:
    replies = iter(["FAILED: the site is down", "found it"])
    verdicts = iter([verdict("CONTINUE"), verdict("STOP")])
    model = flow_model(executor=lambda m: next(replies), verifier=lambda m: next(verdicts))
    final, events = await run_flow(model)
    assert final["memory"][0]["status"] == "failed"
    assert final["memory"][0]["failure_reason"] == "the site is down"
    assert "Failure: the site is down" in model.calls_by_role("planner")[1]["prompt"]
    assert [e["event"] for e in events].count("failed") == 1
    assert final["answer"]["complete"] is True


async def test_repeated_failing_action_is_named_for_the_planner() -> None:
    model = flow_model(
        planner=lambda turn: step("fetch the page", worker="web"),
        executor="FAILED: HTTP 404",
        verifier=lambda m: verdict("CONTINUE", "nothing yet"),
    )
    final, _ = await run_flow(model, max_turns=3)
    first, second, _third = final["memory"]
    assert "Repeated failure" not in str(first["feedback"])
    assert "Repeated failure: worker 'web' failed 2 times" in str(second["feedback"])
    assert "Repeated failure: worker 'web'" in model.calls_by_role("planner")[2]["prompt"]
    assert "Repeated failure" in model.calls_by_role("verifier")[1]["prompt"]


async def test_planner_prompt_memory_stays_within_budget_at_turn_10() -> None:
    budget = 400
    model = flow_model(
        executor=lambda m: "x" * 50_000, verifier=lambda m: verdict("CONTINUE", "more " * 200)
    )
    final, _ = await run_flow(model, max_turns=10, memory_budget_tokens=budget)
    prompts = [c["prompt"] for c in model.calls_by_role("planner")]
    assert len(prompts) == 10
    memory_of = [p.split("Memory of the turns so far:\n")[1].split("\n\nTurn ")[0] for p in prompts]
    assert all(len(m) <= budget * 4 for m in memory_of)
    assert "Turn 9 · worker reasoning · done" in memory_of[-1]  # the newest turn in full
    assert "[cut:" in memory_of[-1] and "Turns 1-" in memory_of[-1]
    # Stored results are bounded too, with a note.
    assert all(len(r["result"]) <= 8_000 and "[cut:" in r["result"] for r in final["memory"])


async def test_empty_request_is_an_incomplete_answer() -> None:
    model = flow_model()
    final, _ = await run_flow(model, task="  ")
    assert final["answer"]["complete"] is False and "empty" in final["answer"]["text"]
    assert model.calls_by_role("planner") == []


async def test_custom_worker_factory_runs_in_the_flow() -> None:
    from langchain_core.runnables import RunnableLambda

    seen: list[str] = []

    def work(context: dict[str, Any]) -> str:
        seen.append(context["description"])
        return "custom result"

    worker = WorkerSpec(
        name="custom",
        description="Custom.",
        capabilities=("reasoning",),
        factory=lambda model: RunnableLambda(work),
    )
    model = flow_model(planner=lambda turn: step("compute", worker="custom", context="x=1"))
    final, _ = await run_flow(model, workers=[worker])
    assert final["memory"][0]["result"] == "custom result"
    assert seen == ["compute\n\nContext from earlier turns:\nx=1"]


def test_roles_the_flow_does_not_have_are_refused() -> None:
    with pytest.raises(ModelConfigError, match="no role coordinator"):
        build_flow_graph(model=flow_model(), workers=WORKERS, role_models={"coordinator": "x"})


class HTTPError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"status {status_code}")
        self.status_code = status_code


async def test_a_failed_planner_call_is_a_failed_turn_and_a_fatal_one_ends_the_run() -> None:
    def planner(turn: int) -> Any:
        if turn == 1:
            raise HTTPError(400)
        return step("compute")

    verdicts = iter([verdict("CONTINUE"), verdict("STOP")])
    model = flow_model(planner=planner, verifier=lambda m: next(verdicts))
    final, events = await run_flow(model)
    first, second = final["memory"]
    assert first["status"] == "failed" and "HTTP 400" in str(first["failure_reason"])
    assert second["status"] == "done" and final["answer"]["complete"] is True
    assert any(e["event"] == "call_failed" and e["role"] == "planner" for e in events)

    def refused(turn: int) -> Any:
        raise HTTPError(401)

    with pytest.raises(HTTPError):
        await run_flow(flow_model(planner=refused))

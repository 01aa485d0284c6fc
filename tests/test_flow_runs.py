"""The flow topology across runs: resume after a kill, threads side by side, a thread's
next request, the sync API, and what the trajectory recorder sees."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from tests.test_flow import compile_flow, flow_model, step, verdict


class Killed(Exception):
    pass


async def test_resume_after_a_kill_mid_flow_does_not_redo_finished_turns() -> None:
    killed = False

    def planner(turn: int) -> dict[str, Any]:
        nonlocal killed
        if turn == 3 and not killed:
            killed = True
            raise Killed  # the process dies while planning turn 3
        return step(f"goal {turn}")

    model = flow_model(
        planner=planner,
        executor=lambda m: re.findall(r"goal \d+", str(m[-1].content))[0] + " done",
        verifier=lambda m: verdict("STOP" if "goal 4 done" in str(m[-1].content) else "CONTINUE"),
    )
    saver = InMemorySaver()
    graph = compile_flow(model, checkpointer=saver)
    config = {"configurable": {"thread_id": "killed"}}
    with pytest.raises(Killed):
        await graph.ainvoke({"task": "the task"}, config, durability="sync")
    state = await graph.aget_state(config)
    assert state.next == ("planner",) and len(state.values["memory"]) == 2

    final = await compile_flow(model, checkpointer=saver).ainvoke(None, config)
    assert [r["result"] for r in final["memory"]] == [f"goal {n} done" for n in (1, 2, 3, 4)]
    worker_goals = [
        re.findall(r"goal \d+", c["prompt"])[0] for c in model.calls_by_role("executor")
    ]
    assert worker_goals == ["goal 1", "goal 2", "goal 3", "goal 4"]
    assert len(model.calls_by_role("query_analysis")) == 1
    assert final["answer"]["complete"] is True


async def test_concurrent_threads_keep_their_memories_apart() -> None:
    both_planning = asyncio.Barrier(2)

    async def planner_barrier() -> None:
        await both_planning.wait()

    model = flow_model(
        executor=lambda m: "result for " + re.findall(r"request (\w+)", str(m[-1].content))[0],
        verifier=lambda m: verdict("STOP" if "Turn 2" in str(m[-1].content) else "CONTINUE"),
    )
    graph = compile_flow(model)

    async def run(name: str) -> dict[str, Any]:
        config = {"configurable": {"thread_id": name}}
        await planner_barrier()  # both runs are in flight together
        out: dict[str, Any] = await graph.ainvoke({"task": f"request {name}"}, config)
        return out

    a, b = await asyncio.gather(run("alpha"), run("beta"))
    assert {r["result"] for r in a["memory"]} == {"result for alpha"}
    assert {r["result"] for r in b["memory"]} == {"result for beta"}
    for call in model.calls_by_role("planner"):
        mine = "alpha" if "request alpha" in call["prompt"] else "beta"
        other = "beta" if mine == "alpha" else "alpha"
        assert f"result for {other}" not in call["prompt"]


async def test_new_request_on_a_finished_thread_is_a_new_run() -> None:
    verdicts = iter([verdict("CONTINUE"), verdict("STOP"), verdict("STOP")])
    model = flow_model(
        executor=lambda m: (
            "about "
            + str(m[-1].content).split("Overall request (for context only):\n")[1].split("\n")[0]
        ),
        verifier=lambda m: next(verdicts),
    )
    graph = compile_flow(model, max_turns=2)
    config = {"configurable": {"thread_id": "chat"}}
    first = await graph.ainvoke({"messages": [HumanMessage("What is X?")]}, config)
    assert first["turn"] == 2 and first["task"] == "What is X?"
    second = await graph.ainvoke({"messages": [HumanMessage("And Y?")]}, config)
    assert second["task"] == "And Y?"
    assert [r["result"] for r in second["memory"]] == ["about And Y?"]
    assert second["turn"] == 1 and second["answer"]["complete"] is True
    assert second["usage"]["planner"]["calls"] == 1  # this run's, not the thread's
    assert [type(m).__name__ for m in second["messages"]] == [
        "HumanMessage",
        "AIMessage",
        "HumanMessage",
        "AIMessage",
    ]
    # The follow-up's planner sees the earlier exchange, not the earlier memory.
    last_prompt = model.calls_by_role("planner")[-1]["prompt"]
    assert "user: What is X?" in last_prompt and "about What is X?" not in last_prompt


def test_sync_invoke_and_stream() -> None:
    model = flow_model()
    graph = compile_flow(model)
    out = graph.invoke({"task": "the task"}, {"configurable": {"thread_id": "s"}})
    assert out["answer"]["complete"] is True
    events = list(
        graph.stream({"task": "again"}, {"configurable": {"thread_id": "s2"}}, stream_mode="custom")
    )
    assert [e["event"] for e in events] == ["turn", "started", "finished", "verdict", "answer"]


async def test_trajectory_recorder_gets_one_planner_call_per_turn() -> None:
    from workforce_graph.trajectory import TrajectoryRecorder

    verdicts = iter([verdict("CONTINUE"), verdict("STOP")])
    model = flow_model(verifier=lambda m: next(verdicts))
    recorder = TrajectoryRecorder(topology="flow")
    graph = compile_flow(model)
    config = {"configurable": {"thread_id": "rec"}, "callbacks": [recorder]}
    await graph.ainvoke({"task": "the task"}, config)
    (trajectory,) = recorder.trajectories
    assert trajectory.question == "the task" and trajectory.complete is True
    planner = [c for c in trajectory.calls if c.role == "planner"]
    assert [(c.turn, c.node, len(c.messages)) for c in planner] == [
        (1, "planner", 2),
        (2, "planner", 2),
    ]
    assert [c.role for c in trajectory.calls] == [
        "query_analysis",
        *["planner", "executor", "verifier"] * 2,
        "generator",
    ]

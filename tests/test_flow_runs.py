"""The flow topology across runs: resume after a kill, threads side by side, a thread's
next request, the sync API, and what the trajectory recorder sees."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver

from tests.test_flow import compile_flow, flow_model, verdict
from workforce_graph import WorkerSpec


class Killed(BaseException):  # not an Exception: nothing in a node catches it, as a kill
    pass


async def test_resume_after_a_kill_mid_flow_does_not_redo_finished_turns() -> None:
    worked: list[str] = []

    def work(context: dict[str, Any]) -> str:
        goal = re.findall(r"goal \d+", context["description"])[0]
        worked.append(goal)
        if goal == "goal 3" and worked.count(goal) == 1:
            raise Killed  # the process dies while turn 3's worker runs
        return f"{goal} done"

    worker = WorkerSpec(
        name="reasoning",
        description="Reasons.",
        capabilities=("reasoning",),
        factory=lambda model: RunnableLambda(work),
    )
    model = flow_model(
        verifier=lambda m: verdict("STOP" if "goal 4 done" in str(m[-1].content) else "CONTINUE"),
    )
    saver = InMemorySaver()
    graph = compile_flow(model, checkpointer=saver, workers=[worker])
    config: Any = {"configurable": {"thread_id": "killed"}}
    with pytest.raises(Killed):
        await graph.ainvoke({"task": "the task"}, config, durability="sync")
    state = await graph.aget_state(config)
    assert state.next == ("executor",) and len(state.values["memory"]) == 2

    final = await compile_flow(model, checkpointer=saver, workers=[worker]).ainvoke(None, config)
    assert [r["result"] for r in final["memory"]] == [f"goal {n} done" for n in (1, 2, 3, 4)]
    # Finished turns are not redone; turn 3 goes on from its checkpointed plan.
    assert worked == ["goal 1", "goal 2", "goal 3", "goal 3", "goal 4"]
    assert len(model.calls_by_role("planner")) == 4
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


STRICT_ROUND_TRIP = """
import asyncio, sys
from langgraph.checkpoint.serde import _msgpack
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from tests.test_flow import compile_flow, flow_model, verdict

assert _msgpack.STRICT_MSGPACK_ENABLED  # read once, at import: set before it, here

async def main(db):
    verdicts = iter([verdict("CONTINUE"), verdict("STOP"), verdict("STOP")])
    model = flow_model(verifier=lambda m: next(verdicts))
    config = {"configurable": {"thread_id": "t1"}}
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        await compile_flow(model, checkpointer=saver).ainvoke({"task": "first"}, config)
        final = await compile_flow(model, checkpointer=saver).ainvoke({"task": "second"}, config)
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        values = (await compile_flow(model, checkpointer=saver).aget_state(config)).values
    assert values["memory"] == final["memory"] and len(values["memory"]) == 1
    assert values["analysis"] == final["analysis"] and values["answer"]["complete"]
    assert values["usage"] == final["usage"] and values["usage"]["planner"]["calls"] == 1
    print("round trip ok")

asyncio.run(main(sys.argv[1]))
"""


def test_flow_checkpoints_round_trip_under_strict_msgpack(tmp_path: Path) -> None:
    # LangGraph reads LANGGRAPH_STRICT_MSGPACK when it is imported: a fresh interpreter.
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true", "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", STRICT_ROUND_TRIP, str(tmp_path / "runs.sqlite")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "round trip ok" in done.stdout

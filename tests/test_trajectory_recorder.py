"""The recorder on the Workforce graph (scripted model), and tool record/replay."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool

from tests.conftest import spec
from workforce_graph import build_workforce_graph
from workforce_graph.models import ModelConfigError
from workforce_graph.testing import ScriptedChatModel, plan_reply
from workforce_graph.trajectory import (
    TRAJECTORY_FILE,
    TrajectoryRecorder,
    read_trajectories,
    replay_workers,
    with_recording,
)

PLAN = plan_reply({"id": "s1", "description": "look it up", "capabilities": ["lookup"]})
looked_up: list[str] = []


@tool
def lookup(query: str) -> str:
    """Look something up."""
    looked_up.append(query)
    return f"live result for {query}"


def worker_reply(messages: list[BaseMessage]) -> AIMessage:
    seen = [m for m in messages if isinstance(m, ToolMessage)]
    if not seen:
        call = {"name": "lookup", "args": {"query": "capital"}, "id": "c1"}
        return AIMessage("", tool_calls=[call])
    return AIMessage(f"worker saw: {seen[-1].content}")


def model() -> ScriptedChatModel:
    return ScriptedChatModel(
        responders={"planner": PLAN, "worker": worker_reply, "generator": "FINAL ANSWER: Paris"}
    )


async def run(recorder: TrajectoryRecorder, workers: Any = None, m: Any = None) -> dict[str, Any]:
    graph = build_workforce_graph(
        model=m or model(), workers=workers or [spec("w", "lookup", tools=(lookup,))]
    ).compile()
    config = with_recording({"configurable": {"thread_id": uuid.uuid4().hex}}, record=recorder)
    return await graph.ainvoke({"task": "Capital of France?"}, config)


async def test_records_each_model_and_tool_call_with_its_place(tmp_path: Path) -> None:
    recorder = TrajectoryRecorder(tmp_path, meta={"task_id": "t1"})
    out = await run(recorder)
    assert out["answer"]["text"] == "FINAL ANSWER: Paris"
    [trajectory] = list(read_trajectories([tmp_path / TRAJECTORY_FILE]))
    assert trajectory == recorder.trajectories[0]
    assert trajectory.question == "Capital of France?" and trajectory.meta["task_id"] == "t1"
    assert trajectory.answer == "FINAL ANSWER: Paris" and trajectory.complete is True
    assert [c.role for c in trajectory.calls] == ["planner", "worker", "worker", "generator"]
    planner = trajectory.calls[0]
    assert planner.parsed == PLAN and planner.node == "planner"
    assert planner.messages[0]["role"] == "system"
    assert planner.messages[0]["content"].startswith("You are the planner")
    assert planner.input_tokens and planner.output_tokens and planner.latency_s >= 0
    first_worker = trajectory.calls[1]
    assert first_worker.subtask_id == "s1" and tool_call_subtask(trajectory) == "s1"
    assert first_worker.tool_calls == [{"id": "c1", "name": "lookup", "args": {"query": "capital"}}]
    assert trajectory.calls[2].text == "worker saw: live result for capital"
    assert trajectory.calls[2].messages[-1]["role"] == "tool"
    [tool_call] = trajectory.tools
    assert (tool_call.name, tool_call.input, tool_call.output) == (
        "lookup",
        {"query": "capital"},
        "live result for capital",
    )
    assert trajectory.meta["subtasks"][0]["status"] == "done"
    assert [d.index for d in trajectory.decisions()] == [0]


async def test_a_failing_model_call_and_a_crashed_run_are_recorded() -> None:
    recorder = TrajectoryRecorder()
    # A fatal error (one no later call can fix) ends the run; others are retried.
    broken = ScriptedChatModel(responders={"planner": ModelConfigError("server down")})
    with pytest.raises(ModelConfigError, match="server down"):
        await run(recorder, m=broken)
    [trajectory] = recorder.trajectories
    assert trajectory.calls[0].error == "ModelConfigError: server down"
    assert trajectory.error is not None and "server down" in trajectory.error
    assert trajectory.decisions() == []


async def test_replayed_tools_answer_from_the_recording_not_the_world() -> None:
    recorder = TrajectoryRecorder()
    await run(recorder)
    looked_up.clear()
    replayed = replay_workers([spec("w", "lookup", tools=(lookup,))], recorder.trajectories)
    again = TrajectoryRecorder()
    await run(again, workers=replayed)
    assert looked_up == []  # the real tool never ran
    assert again.trajectories[0].tools[0].output == "live result for capital"
    assert again.trajectories[0].calls[2].text == "worker saw: live result for capital"

    def other_query(messages: list[BaseMessage]) -> AIMessage:
        if any(isinstance(m, ToolMessage) for m in messages):
            return AIMessage("gave up")
        return AIMessage("", tool_calls=[{"name": "lookup", "args": {"query": "x"}, "id": "c"}])

    unknown = ScriptedChatModel(responders={"planner": PLAN, "worker": other_query})
    out = await run(TrajectoryRecorder(), workers=replayed, m=unknown)
    [failed] = out["answer"]["failed"]
    assert "was not recorded" in failed["reason"] and looked_up == []


def test_trajectory_lines_are_plain_json(tmp_path: Path) -> None:
    # Readers in other languages need nothing but a JSON parser.
    line = json.dumps(
        {
            "format": "workforce-graph/trajectory",
            "version": 1,
            "trajectory_id": "a",
            "group_id": "g",
        }
    )
    (tmp_path / "trajectories.jsonl").write_text(line + "\n")
    [trajectory] = read_trajectories([tmp_path])
    assert json.loads(trajectory.model_dump_json())["calls"] == []


def tool_call_subtask(trajectory: Any) -> str | None:
    return trajectory.tools[0].subtask_id if trajectory.tools else None


async def test_the_local_model_gives_token_ids_and_logprobs() -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("llama_cpp")
    from workforce_graph.models.local import local_chat_model

    model = local_chat_model(max_tokens=8, logprobs=True)
    recorder = TrajectoryRecorder()
    graph = build_workforce_graph(
        model=model, workers=[spec("w", "lookup", tools=(lookup,))]
    ).compile()
    config = with_recording({"configurable": {"thread_id": uuid.uuid4().hex}}, record=recorder)
    await graph.ainvoke({"task": "Say hi."}, config)
    calls = recorder.trajectories[0].calls
    assert calls and all(c.token_ids and c.logprobs for c in calls)
    for c in calls:
        assert c.token_ids is not None and c.logprobs is not None
        assert len(c.token_ids) == len(c.logprobs) == c.output_tokens
        assert all(lp <= 0 for lp in c.logprobs)


async def test_records_the_flow_topology_turn_by_turn(tmp_path: Path) -> None:
    from workforce_graph import build_flow_graph

    verdicts = iter(
        [{"reason": "more", "decision": "CONTINUE"}, {"reason": "ok", "decision": "STOP"}]
    )
    model = ScriptedChatModel(
        responders={
            "query_analysis": {"needs": "x", "capabilities": ["lookup"], "answer_form": "a word"},
            "planner": {"justification": "j", "context": "", "sub_goal": "look", "worker": "w"},
            "executor": worker_reply,
            "verifier": lambda m: next(verdicts),
            "generator": "FINAL ANSWER: Paris",
        }
    )
    graph = build_flow_graph(model=model, workers=[spec("w", "lookup", tools=(lookup,))]).compile()
    recorder = TrajectoryRecorder(tmp_path, topology="flow")
    await graph.ainvoke({"task": "Capital of France?"}, {"callbacks": [recorder]})
    [trajectory] = read_trajectories([tmp_path])
    assert trajectory.topology == "flow" and trajectory.answer == "FINAL ANSWER: Paris"
    roles = [c.role for c in trajectory.calls]
    assert roles[0] == "query_analysis" and roles[-1] == "generator"
    planner_turns = [(c.turn, c.parsed["sub_goal"]) for c in trajectory.decisions()]
    assert planner_turns == [(1, "look"), (2, "look")]
    verifier = [c.parsed["decision"] for c in trajectory.calls if c.role == "verifier"]
    assert verifier == ["CONTINUE", "STOP"]
    assert {c.role for c in trajectory.calls} == {
        "query_analysis",
        "planner",
        "executor",
        "verifier",
        "generator",
    }
    assert [t.name for t in trajectory.tools] == ["lookup", "lookup"]
    assert trajectory.tools[0].turn == 1 and trajectory.meta["stop"] == "verifier"

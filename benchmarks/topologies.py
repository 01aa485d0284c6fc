"""The two topologies side by side on the same scripted tasks.

A scripted model answers every call after a fixed latency, so the figures measure the
orchestration, not the model. For each task it prints the model calls and the wall time
of the Workforce graph (a DAG of subtasks run in parallel) and of the flow (one worker
a turn), then the flow's orchestration overhead per turn (wall time less the same model
calls made one after another without the graph) and the size of the planner's
prompt at turn 10 over turn 1 (the memory budget at work: results of 1,500 characters a
turn would otherwise grow it tenfold). The workers carry the built-in workers' cards, so
the planner's prompts have their real size.

    python benchmarks/topologies.py          # table
    python benchmarks/topologies.py --json   # one JSON object
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
import uuid
from dataclasses import replace
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel
from typing_extensions import TypedDict

from workforce_graph import build_flow_graph, build_workforce_graph, collect_workers
from workforce_graph.calls.roles import role_config
from workforce_graph.calls.structured import structured_call
from workforce_graph.flow.nodes.analysis import analysis_schema
from workforce_graph.flow.nodes.planner import next_step_schema
from workforce_graph.flow.nodes.verifier import FlowVerdict
from workforce_graph.testing import ScriptedChatModel, plan_reply

LATENCY_S = 0.02
RESULT = "A finding with its source and figures. " * 38  # about 1,500 characters
TASKS = {
    # name: (subtasks, chained): the workforce plans them at once; the flow takes a turn each
    "one_step": (1, False),
    "three_independent": (3, False),
    "three_chained": (3, True),
    "ten_chained": (10, True),
}


def cards() -> list[Any]:
    """The built-in workers' declarations, without their runnables (nothing real runs)."""
    return [replace(s, factory=None) for s in collect_workers().available.values()]


class TimedModel(ScriptedChatModel):
    """Scripted model that records the seconds spent inside its calls."""

    model_seconds: float = 0.0

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        started = time.perf_counter()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        reply = self._reply(messages, run_manager)
        result = ChatResult(generations=[ChatGeneration(message=reply)])
        self.model_seconds += time.perf_counter() - started
        return result


async def replay_time(model: TimedModel, *, structured: bool = False) -> float:
    """Seconds the same calls take on their own, one after another, with no graph.

    With ``structured``, the calls the flow makes for structured output go through the
    same structured-output call again (LangChain's output parsers hop to a thread, about
    1 ms a call), so what is left of the wall time is the graph's own cost: nodes,
    state, memory rendering, checkpoints.
    """
    replay = TimedModel(responders=model.responders)
    schemas: dict[str, type[BaseModel]] = {
        "query_analysis": analysis_schema(
            tuple(sorted({c for s in cards() for c in s.capabilities}))
        ),
        "planner": next_step_schema(tuple(s.name for s in cards())),
        "verifier": FlowVerdict,
    }
    calls = [
        ([SystemMessage(call["prompt"])], call["role"], role_config(None, call["role"], node="-"))
        for call in model.calls
    ]
    started = time.perf_counter()
    for prompt, role, config in calls:
        if structured and role in schemas:
            await structured_call(replay, schemas[role], prompt, attempts=1, config=config)
        else:
            await replay.ainvoke(prompt, config=config)
    return time.perf_counter() - started


def workforce_model(steps: int, chained: bool, latency_s: float) -> TimedModel:
    tag = cards()[0].capabilities[0]
    plan = plan_reply(
        *(
            {
                "id": f"s{i + 1}",
                "description": f"Part {i + 1} of the question.",
                "capabilities": [tag],
                "depends_on": [f"s{i}"] if chained and i else [],
            }
            for i in range(steps)
        )
    )
    return TimedModel(
        responders={"planner": plan, "worker": RESULT, "generator": "the answer"},
        latency_s=latency_s,
    )


def flow_model(steps: int, latency_s: float) -> TimedModel:
    worker = cards()[0].name

    def planner(messages: list[BaseMessage]) -> dict[str, Any]:
        turn = re.findall(r"Turn (\d+) of at most", str(messages[-1].content))[0]
        return {
            "justification": "The next part.",
            "context": "",
            "sub_goal": f"Part {turn} of the question.",
            "worker": worker,
        }

    def verifier(messages: list[BaseMessage]) -> dict[str, Any]:
        turns = [int(n) for n in re.findall(r"Turn (\d+) ·", str(messages[-1].content))]
        done = max(turns, default=0) >= steps
        return {
            "reason": "enough" if done else "more parts",
            "decision": "STOP" if done else "CONTINUE",
        }

    analysis = {"needs": "the parts", "capabilities": [], "answer_form": "a paragraph"}
    return TimedModel(
        responders={
            "query_analysis": analysis,
            "planner": planner,
            "executor": RESULT,
            "verifier": verifier,
            "generator": "the answer",
        },
        latency_s=latency_s,
    )


async def run(
    topology: str, steps: int, chained: bool, latency_s: float
) -> tuple[float, TimedModel]:
    if topology == "flow":
        model = flow_model(steps, latency_s)
        builder = build_flow_graph(model=model, workers=cards(), max_turns=max(10, steps))
    else:
        model = workforce_model(steps, chained, latency_s)
        builder = build_workforce_graph(model=model, workers=cards())
    graph = builder.compile(checkpointer=InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": uuid.uuid4().hex}}
    started = time.perf_counter()
    final = await graph.ainvoke({"task": "A question with several parts."}, config)
    wall = time.perf_counter() - started
    assert final["answer"]["complete"], final["answer"]
    return wall, model


async def langgraph_floor_ms_per_turn(turns: int = 10) -> float:
    """A bare LangGraph loop of three no-op nodes, same checkpointer: the per-turn cost
    of the supersteps themselves, for scale (the flow has three nodes a turn)."""

    class Loop(TypedDict):
        n: int

    async def planner(state: Loop) -> dict[str, Any]:
        return {}

    async def executor(state: Loop) -> dict[str, Any]:
        return {}

    async def verifier(state: Loop) -> dict[str, Any]:
        return {"n": state["n"] + 1}

    graph = StateGraph(Loop)
    graph.add_node("planner", planner)
    graph.add_node("executor", executor)
    graph.add_node("verifier", verifier)
    graph.add_edge(START, "planner")
    graph.add_edge("planner", "executor")
    graph.add_edge("executor", "verifier")
    graph.add_conditional_edges("verifier", lambda s: END if s["n"] >= turns else "planner")
    compiled = graph.compile(checkpointer=InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": uuid.uuid4().hex}}
    started = time.perf_counter()
    await compiled.ainvoke({"n": 0}, config)
    return (time.perf_counter() - started) / turns * 1000


async def measure(repeats: int) -> dict[str, Any]:
    await run("flow", 2, True, 0.0)  # warm-up: imports, plugin loading, first compile
    await run("workforce", 2, True, 0.0)
    tasks: dict[str, dict[str, float]] = {}
    for name, (steps, chained) in TASKS.items():
        row: dict[str, float] = {}
        for topology in ("workforce", "flow"):
            walls, calls = [], 0
            for _ in range(repeats):
                wall, model = await run(topology, steps, chained, LATENCY_S)
                walls.append(wall)
                calls = len(model.calls)
            row[f"{topology}_model_calls"] = calls
            row[f"{topology}_wall_s"] = statistics.median(walls)
        tasks[name] = row

    flow_overheads, flow_gross, workforce_overheads, floors = [], [], [], []
    prompt_ratio = 0.0
    prompt_sizes = (0, 0)
    for _ in range(repeats):
        wall, model = await run("flow", 10, True, 0.0)
        flow_overheads.append((wall - await replay_time(model, structured=True)) / 10 * 1000)
        flow_gross.append((wall - await replay_time(model)) / 10 * 1000)
        floors.append(await langgraph_floor_ms_per_turn())
        prompts = [len(c["prompt"]) for c in model.calls_by_role("planner")]
        prompt_ratio = prompts[9] / prompts[0]
        prompt_sizes = (prompts[0], prompts[9])
        wall, model = await run("workforce", 10, True, 0.0)
        workforce_overheads.append((wall - await replay_time(model)) / 10 * 1000)
    return {
        "latency_ms": LATENCY_S * 1000,
        "tasks": tasks,
        "flow_overhead_ms_per_turn": statistics.median(flow_overheads),
        # The least of the repeats: the cost with the least interference from other load.
        "flow_overhead_ms_per_turn_min": min(flow_overheads),
        "flow_overhead_ms_per_turn_with_structured_output": statistics.median(flow_gross),
        "langgraph_three_node_loop_ms_per_turn": statistics.median(floors),
        "workforce_overhead_ms_per_subtask": statistics.median(workforce_overheads),
        "flow_planner_prompt_turn10_over_turn1": prompt_ratio,
        "flow_planner_prompt_chars_turn1": prompt_sizes[0],
        "flow_planner_prompt_chars_turn10": prompt_sizes[1],
    }


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args()
    results = asyncio.run(measure(args.repeats))
    if args.json:
        print(json.dumps(_rounded(results)))
        return
    print(f"model latency {results['latency_ms']:.0f} ms a call\n")
    print(f"{'task':18} {'calls wf':>8} {'calls flow':>10} {'wall wf s':>10} {'wall flow s':>11}")
    for name, row in results["tasks"].items():
        print(
            f"{name:18} {row['workforce_model_calls']:>8.0f} {row['flow_model_calls']:>10.0f} "
            f"{row['workforce_wall_s']:>10.3f} {row['flow_wall_s']:>11.3f}"
        )
    overhead = results["flow_overhead_ms_per_turn"]
    ratio = results["flow_planner_prompt_turn10_over_turn1"]
    print()
    print(f"flow overhead per turn       {overhead:7.3f} ms  (target < 2 ms: {overhead < 2})")
    least = results["flow_overhead_ms_per_turn_min"]
    print(f"  least of {args.repeats} runs                {least:7.3f} ms")
    gross = results["flow_overhead_ms_per_turn_with_structured_output"]
    print(f"  with LangChain's structured-output parsing (3 calls a turn): {gross:.3f} ms")
    floor = results["langgraph_three_node_loop_ms_per_turn"]
    print(f"  a bare LangGraph loop of three no-op nodes, for scale: {floor:.3f} ms a turn")
    print(f"workforce overhead/subtask   {results['workforce_overhead_ms_per_subtask']:7.3f} ms")
    sizes = (
        results["flow_planner_prompt_chars_turn1"],
        results["flow_planner_prompt_chars_turn10"],
    )
    print(f"planner prompt turn 10 / 1   {ratio:7.3f}     (target <= 2.0: {ratio <= 2.0})")
    print(f"  {sizes[0]:,} characters at turn 1, {sizes[1]:,} at turn 10")


if __name__ == "__main__":
    main()

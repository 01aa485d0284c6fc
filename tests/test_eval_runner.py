"""The evaluation runner: honest denominators, failure kinds, resume, exports of it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableLambda

from tests.conftest import spec
from tests.test_eval_datasets import make_gaia
from workforce_graph.evaluation.datasets import EvalDataset, EvalTask, load_dataset
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.runner import EvalError, Evaluation
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT
from workforce_graph.exports import sft_rows
from workforce_graph.folders import FolderError
from workforce_graph.models import ModelConfigError
from workforce_graph.testing import ScriptedChatModel, plan_reply
from workforce_graph.trajectory import read_trajectories

PLAN = plan_reply({"id": "s1", "description": "work", "capabilities": ["reasoning"]})


def text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


def planner(messages: list[BaseMessage]) -> Any:
    prompt = text(messages)
    if "PLANFAIL" in prompt:
        return "no plan here"
    if "CRASH" in prompt:
        # Fatal (no later call can fix it), so the run crashes rather than retrying.
        return ModelConfigError("model server exploded")
    return PLAN


def worker(messages: list[BaseMessage]) -> Any:
    return RuntimeError("tool broke") if "WORKERFAIL" in text(messages) else "worked"


def generator(messages: list[BaseMessage]) -> str:
    prompt = text(messages)
    return "Thinking. FINAL ANSWER: 4" if "2+2" in prompt else "FINAL ANSWER: Lyon"


async def hang(context: Any) -> str:
    await asyncio.Event().wait()  # never set: only the evaluation's time limit ends it
    return "never"


def scripted() -> ScriptedChatModel:
    return ScriptedChatModel(
        responders={"planner": planner, "worker": worker, "generator": generator}
    )


def dataset(*questions: str) -> EvalDataset:
    return EvalDataset(
        name="mini",
        tasks=[
            EvalTask(
                task_id=f"q{i}",
                question=q,
                answer="4" if "2+2" in q else "Paris",
                family=f"level {1 + i % 2}",
            )
            for i, q in enumerate(questions)
        ],
        answer_format=GAIA_ANSWER_FORMAT,
    )


def workers() -> list[Any]:
    hanging = spec("hang", "waiting", factory=lambda model: RunnableLambda(hang))
    return [spec("reasoning", "reasoning"), hanging]


def hang_planner(messages: list[BaseMessage]) -> Any:
    if "HANG" in text(messages):
        return plan_reply({"id": "s1", "description": "wait", "capabilities": ["waiting"]})
    return planner(messages)


async def test_every_task_counts_and_each_failure_has_its_kind(tmp_path: Path) -> None:
    model = scripted()
    model.responders["planner"] = hang_planner
    data = dataset(
        "What is 2+2?", "Capital of France?", "PLANFAIL x", "CRASH x", "HANG x", "WORKERFAIL x"
    )
    # Without the one-subtask fallback, a run with no valid plan ends as "no plan".
    options = {"max_replans": 0, "plan_fallback": False}
    graph = GraphSpec(model_factory=lambda: model, workers_factory=workers, options=options)
    summary = await Evaluation(data, graph, tmp_path, concurrency=3, timeout_s=0.5).run()
    assert summary["total"] == 6 and summary["runs"] == 6
    assert summary["pass@1"] == pytest.approx(1 / 6)
    failures = {k: v for k, v in summary["failures"].items() if v}
    assert failures == {
        "wrong_answer": 1,
        "no_plan": 1,
        "crash": 1,
        "timeout": 1,
        "worker_failure": 1,
    }
    assert summary["by_level"]["level 1"] == {"total": 3, "pass@1": pytest.approx(1 / 3)}
    assert summary["by_level"]["level 2"]["pass@1"] == 0.0
    assert summary["cost"]["model_calls"] > 0 and summary["time_s"]["per_task_mean"] > 0
    rows = {
        r["task_id"]: r
        for r in map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())
    }
    assert rows["q0"]["extracted"] == "4" and rows["q0"]["correct"] is True
    assert rows["q1"]["extracted"] == "Lyon" and rows["q1"]["failure"] == "wrong_answer"
    assert "exploded" in rows["q3"]["error"]
    trajectories = list(read_trajectories([tmp_path / "trajectories.jsonl"]))
    assert len(trajectories) == 6 and all(t.outcome is not None for t in trajectories)
    assert sft_rows(trajectories).rows[0]["meta"]["group_id"] == "q0"


async def test_samples_give_pass_at_k_and_majority_labelled_as_such(tmp_path: Path) -> None:
    answers = iter(["FINAL ANSWER: 4", "FINAL ANSWER: 5", "FINAL ANSWER: 5"])
    model = ScriptedChatModel(responders={"planner": PLAN, "generator": lambda m: next(answers)})
    graph = GraphSpec(model_factory=lambda: model)
    summary = await Evaluation(dataset("What is 2+2?"), graph, tmp_path, samples=3).run()
    assert summary["pass@1"] == pytest.approx(1 / 3)
    assert summary["pass@3"] == 1.0 and summary["majority@3"] == 0.0


async def test_an_out_that_is_a_file_is_refused_before_any_run(tmp_path: Path) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("kept")
    model = scripted()
    graph = GraphSpec(model_factory=lambda: model)
    with pytest.raises(FolderError, match=r"is a file; pass a folder for the evaluation"):
        await Evaluation(dataset("What is 2+2?"), graph, taken).run()
    assert taken.read_text() == "kept" and not model.calls


async def test_an_interrupted_evaluation_resumes_where_it_stopped(tmp_path: Path) -> None:
    questions = [f"What is 2+2? ({n})" for n in range(4)]
    first = scripted()

    class Stop(Exception):
        pass

    def stop_after_two(row: dict[str, Any]) -> None:
        if len((tmp_path / "results.jsonl").read_text().splitlines()) == 2:
            raise Stop

    graph = GraphSpec(model_factory=lambda: first)
    with pytest.raises(BaseException) as raised:
        await Evaluation(dataset(*questions), graph, tmp_path, on_result=stop_after_two).run()
    assert (
        raised.group_contains(Stop)
        if isinstance(raised.value, BaseExceptionGroup)
        else raised.type is Stop
    )
    second = scripted()
    summary = await Evaluation(
        dataset(*questions), GraphSpec(model_factory=lambda: second), tmp_path
    ).run()
    asked = [c["prompt"] for c in second.calls_by_role("planner")]
    assert len(asked) == 2 and all(q not in " ".join(asked) for q in questions[:2])
    assert summary["total"] == 4 and summary["pass@1"] == 1.0
    rows = (tmp_path / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(r)["task_id"] for r in rows) == ["q0", "q1", "q2", "q3"]
    assert len((tmp_path / "trajectories.jsonl").read_text().splitlines()) == 4
    with pytest.raises(EvalError, match="holds another evaluation"):
        await Evaluation(dataset(*questions), GraphSpec(model="other"), tmp_path).run()


async def test_gaia_folder_end_to_end_with_an_attachment(tmp_path: Path) -> None:
    data = load_dataset(str(make_gaia(tmp_path / "validation")))
    seen: list[str] = []

    def planner_seeing(messages: list[BaseMessage]) -> Any:
        seen.append(text(messages))
        return PLAN

    model = ScriptedChatModel(responders={"planner": planner_seeing, "generator": generator})
    summary = await Evaluation(data, GraphSpec(model_factory=lambda: model), tmp_path / "out").run()
    assert summary["total"] == 2 and summary["pass@1"] == 0.5
    assert any("sheet.csv" in prompt for prompt in seen)
    assert all("FINAL ANSWER: [YOUR FINAL ANSWER]" in prompt for prompt in seen)


async def test_flow_topology_runs_are_scored_and_budget_stops_counted(tmp_path: Path) -> None:
    def verifier(messages: list[BaseMessage]) -> dict[str, str]:
        stop = "ENDLESS" not in text(messages)
        return {"reason": "r", "decision": "STOP" if stop else "CONTINUE"}

    model = ScriptedChatModel(
        responders={
            "query_analysis": {
                "needs": "x",
                "capabilities": ["reasoning"],
                "answer_form": "a number",
            },
            "planner": {
                "justification": "j",
                "context": "",
                "sub_goal": "add",
                "worker": "reasoning",
            },
            "executor": "4",
            "verifier": verifier,
            "generator": generator,
        }
    )
    graph = GraphSpec(
        topology="flow",
        model_factory=lambda: model,
        workers_factory=lambda: [spec("reasoning", "reasoning")],
        options={"max_turns": 2},
    )
    summary = await Evaluation(dataset("What is 2+2?", "ENDLESS 2+2?"), graph, tmp_path).run()
    assert summary["topology"] == "flow" and summary["total"] == 2
    assert summary["pass@1"] == 0.5 and summary["failures"]["budget"] == 1
    trajectories = list(read_trajectories([tmp_path]))
    assert {t.topology for t in trajectories} == {"flow"}
    assert [len(t.decisions()) for t in trajectories] == [1, 2]


async def test_an_llm_judge_is_reported_beside_the_official_score(tmp_path: Path) -> None:
    judge = ScriptedChatModel(
        responders={"worker": lambda m: "YES" if "Lyon" in text(m) else "no."}
    )
    graph = GraphSpec(model_factory=scripted)
    data = dataset("What is 2+2?", "Capital of France?")
    summary = await Evaluation(data, graph, tmp_path, judge=judge).run()
    # The lenient judge accepts "Lyon" for Paris; the official score does not move.
    assert summary["pass@1"] == 0.5 and summary["llm_judge@1"] == 0.5
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["task_id"]: r["judge_score"] for r in rows} == {"q0": 0.0, "q1": 1.0}
    assert {t.outcome.judge_score for t in read_trajectories([tmp_path]) if t.outcome} == {0.0, 1.0}


async def test_a_run_continues_its_checkpointed_thread_instead_of_starting_over() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from workforce_graph.evaluation.unit import UnitSpec, run_unit

    model = scripted()
    spec_ = GraphSpec(model_factory=lambda: model)
    saver = InMemorySaver()
    unit = UnitSpec("q0", 0, "What is 2+2?", (), GAIA_ANSWER_FORMAT, thread_id="t-1")
    # A worker that died after the plan and the workers ran: the thread waits at the generator.
    stopped = spec_.build(saver)
    stopped.interrupt_before_nodes = ["generator"]
    await stopped.ainvoke({"task": unit.question}, {"configurable": {"thread_id": "t-1"}})
    assert len(model.calls_by_role("planner")) == 1 and not model.calls_by_role("generator")
    run = await run_unit(spec_.build(saver), unit, topology="workforce", timeout_s=None)
    assert run.failure is None and run.answer == "Thinking. FINAL ANSWER: 4"
    assert len(model.calls_by_role("planner")) == 1 and len(model.calls_by_role("generator")) == 1
    assert run.trajectory["question"] == unit.question
    # A finished thread is not run again.
    again = await run_unit(spec_.build(saver), unit, topology="workforce", timeout_s=None)
    assert again.answer == run.answer and len(model.calls_by_role("generator")) == 1


async def test_a_wrong_answer_after_the_one_subtask_fallback_counts_as_no_plan(
    tmp_path: Path,
) -> None:
    graph = GraphSpec(model_factory=scripted)  # plan_fallback is on by default
    summary = await Evaluation(dataset("PLANFAIL 2+2?", "PLANFAIL x"), graph, tmp_path).run()
    # The fallback answered the first right ("4"); the second is wrong for want of a plan.
    assert summary["pass@1"] == 0.5 and summary["failures"]["no_plan"] == 1

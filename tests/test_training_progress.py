"""Training shows its progress, stops cleanly and resumes.

- the figures record (``loop.json``) and its picture (``report.html``), without a model;
- ``train flow-grpo --dataset``'s options reach the loop, and an interruption is one
  line naming the command that continues it (the loop itself replaced by a stub);
- a real signal: SIGINT or SIGTERM during the on-policy rollouts (the other roles on a
  fake OpenAI server that holds the first call until the signal is sent), and SIGTERM
  during one-shot training after its first checkpoint, then ``--resume`` from it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI
from workforce_graph.cli import main
from workforce_graph.training import flow_loop
from workforce_graph.training.flow_loop import FlowGrpoLoop
from workforce_graph.training.model_io import figures_of
from workforce_graph.training.progress import FIGURES, Figures, ProgressLog

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 300  # a step of the 135M model on a busy 2-core machine can take a minute

pytestmark = pytest.mark.timeout(1800)


# -- the record and its picture --------------------------------------------------------


def test_the_record_holds_every_point_and_the_report_draws_each_figure(tmp_path: Path) -> None:
    log = ProgressLog(tmp_path, kind="flow-grpo loop", unit="iteration", settings={"lr": 1e-6})
    points = [
        Figures(step=1, loss=0.5, kl=0.0, reward=0.25, valid_decisions=0.5),
        Figures(step=2, loss=None, reward=0.5, valid_decisions=float("nan")),  # no update
        Figures(step=3, loss=0.25, kl=0.01, reward=0.75, valid_decisions=1.0),
    ]
    log.record(points, [{"iteration": p.step, "rows": 4} for p in points])

    saved = json.loads((tmp_path / "loop.json").read_text())
    assert saved["kind"] == "flow-grpo loop" and saved["settings"] == {"lr": 1e-6}
    assert [p["loss"] for p in saved["figures"]] == [0.5, None, 0.25]
    assert saved["figures"][1]["valid_decisions"] is None  # NaN is not JSON: null
    assert [d["iteration"] for d in saved["iterations"]] == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop.json", "report.html"]

    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") == len(FIGURES)
    assert "<script" not in page and "http" not in page  # standalone: nothing fetched
    for _, title in FIGURES:
        assert title in page
    loss_chart = page[page.index("<figcaption>Loss ") :].split("</figure>")[0]
    assert loss_chart.count("<circle") == 2  # the points that have a loss
    held_out = page[page.index("<figcaption>Held-out pass@1") :].split("</figure>")[0]
    assert "not measured in this run" in held_out
    reward_chart = page[page.index("<figcaption>Mean reward") :].split("</figure>")[0]
    assert reward_chart.count("<polyline") == 1 and "last 0.75 (iteration 3)" in reward_chart


def test_a_gap_breaks_the_line() -> None:
    from workforce_graph.training.progress import line_chart

    chart = line_chart("x", [(1, 1.0), (2, 2.0), (3, None), (4, 3.0), (5, 4.0)])
    assert chart.count("<polyline") == 2 and chart.count("<circle") == 4


def test_figures_come_from_what_each_trainer_logs() -> None:
    history = [
        {"loss": 0.69, "rewards/margins": 0.1, "rewards/accuracies": 0.5, "step": 1},
        {"loss": 0.6, "kl": 0.02, "clipped": 0.0, "step": 2},
        {"loss": 1.2, "mean_token_accuracy": 0.4, "step": 3},
        {"train_runtime": 3.0, "train_loss": 0.8, "step": 3},  # the end-of-training entry
    ]
    dpo, grpo, sft = figures_of(history)
    assert (dpo.loss, dpo.reward, dpo.kl, dpo.extra) == (0.69, 0.1, None, {"reward_accuracy": 0.5})
    assert (grpo.kl, grpo.reward, grpo.extra) == (0.02, None, {"clipped": 0.0})
    assert (sft.step, sft.extra) == (3, {"token_accuracy": 0.4})


# -- the on-policy command, its loop replaced by a stub -----------------------------


def _questions(path: Path) -> Path:
    path.write_text(json.dumps({"id": "q1", "question": "What is 2 + 2?", "answer": "4"}) + "\n")
    return path


def _stub_loop(
    monkeypatch: pytest.MonkeyPatch, behaviour: Callable[[dict[str, Any]], Any]
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def stub(dataset: Any, **kwargs: Any) -> Any:
        seen.append({"dataset": dataset, **kwargs})
        return behaviour(kwargs)

    monkeypatch.setattr(flow_loop, "run_flow_grpo_loop", stub)
    return seen


def test_the_on_policy_options_reach_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = _stub_loop(monkeypatch, lambda kwargs: [])
    data = _questions(tmp_path / "q.jsonl")
    args = ["train", "flow-grpo", "--dataset", str(data), "--out", str(tmp_path / "o")]
    args += ["--reference", "ref-dir", "--held-out", str(data), "--concurrency", "3"]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--no-rollout-grammar", "--quiet"])
    assert exited.value.code == 0, capsys.readouterr().err
    [call] = seen
    loop: FlowGrpoLoop = call["loop"]
    assert loop.max_turns == 3  # AgentFlow's training default
    assert (loop.concurrency, loop.rollout_grammar) == (3, False)
    assert call["reference"] == "ref-dir"
    assert [t.question for t in call["held_out"].tasks] == ["What is 2 + 2?"]
    assert call["options"].progress is False
    with pytest.raises(SystemExit):
        main(["train", "flow-grpo", "--help"])
    shown = " ".join(capsys.readouterr().out.replace("│", " ").split())  # unwrapped
    assert "--max-turns" in shown and "AgentFlow trains with at most 3). [default: 3]" in shown


def test_an_interrupted_loop_says_in_one_line_how_to_continue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(kwargs: dict[str, Any]) -> Any:
        raise KeyboardInterrupt

    _stub_loop(monkeypatch, interrupted)
    data = _questions(tmp_path / "q.jsonl")
    out = tmp_path / "o"
    args = ["train", "flow-grpo", "--dataset", str(data), "--out", str(out), "--rollouts", "4"]
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"workforce-graph: interrupted; finished rollouts and iterations are kept in {out}; "
        f"continue with: workforce-graph train flow-grpo --out {out} --dataset {data} "
        "--rollouts 4"
    ]


@pytest.mark.parametrize(
    "extra", [["--iterations", "3"], ["--held-out", "game24"], ["--no-rollout-grammar"]]
)
def test_loop_options_with_rows_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "p", "completion": "c", "advantage": 1.0}) + "\n")
    with pytest.raises(SystemExit) as exited:
        main(["train", "flow-grpo", "--data", str(rows), "--out", str(tmp_path / "o"), *extra])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"workforce-graph: error: {extra[0]} only applies with --dataset (on-policy)"
    )


def test_resume_without_a_checkpoint_is_one_line_before_any_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "p", "completion": "c"}) + "\n")
    out = tmp_path / "o"
    # A base that does not exist: reaching the model load would be another error.
    args = ["train", "sft", "--data", str(rows), "--base", str(tmp_path / "none")]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--out", str(out), "--resume"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"workforce-graph: error: --resume: no checkpoint in {out} (only --save-steps "
        "writes them); run without --resume to start over"
    )


# -- real signals ---------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WORKFORCE_GRAPH_") and not k.endswith("_API_KEY")
    }
    env.update(
        WORKFORCE_GRAPH_PLUGINS="reasoning",
        LANGSMITH_TRACING="false",
        PYTHONPATH=str(ROOT),
        COLUMNS="200",
        **extra,
    )
    return env


def _cli(env: dict[str, str], stderr: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "workforce_graph.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr.open("w"),  # a file: a pipe nobody reads could fill and block it
        text=True,
    )


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[str], stderr: Path) -> None:
    """Wait for ``ready()``; fail at once if the process ends first."""
    for _ in range(WAIT_S * 5):
        if ready():
            return
        try:
            process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"the command ended first: {stderr.read_text()[-3000:]}")
    raise AssertionError(f"gave up waiting: {stderr.read_text()[-3000:]}")


def _last_line(stderr: Path) -> str:
    text = stderr.read_text()
    assert "Traceback" not in text
    assert "FutureWarning" not in text and "DeprecationWarning" not in text
    return text.rstrip().splitlines()[-1]


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_the_rollouts_ends_the_loop_in_one_line(
    base: Path, tmp_path: Path, stop: signal.Signals, code: int
) -> None:
    asked, release = threading.Event(), threading.Event()

    def analyse(messages: Any, body: Any) -> dict[str, Any]:
        asked.set()  # the first call of the first rollout: held until the signal is sent
        release.wait(WAIT_S)
        return {"needs": "a sum", "capabilities": ["reasoning"], "answer_form": "a number"}

    data, out, stderr = _questions(tmp_path / "q.jsonl"), tmp_path / "loop", tmp_path / "err"
    with FakeOpenAI(responders={"query_analysis": analyse}) as fake:
        args = ["train", "flow-grpo", "--dataset", str(data), "--base", str(base)]
        args += ["--out", str(out), "--model", "fake-model", "--rollouts", "2"]
        process = _cli(_env(WORKFORCE_GRAPH_BASE_URL=fake.base_url), stderr, *args)
        try:
            _wait_until(asked.is_set, process, stderr)
            process.send_signal(stop)
            assert process.wait(timeout=WAIT_S) == code
        finally:
            release.set()
            process.kill()
    assert _last_line(stderr) == (
        f"workforce-graph: interrupted; finished rollouts and iterations are kept in {out}; "
        f"continue with: workforce-graph train flow-grpo --out {out} --dataset {data} "
        f"--rollouts 2 --model fake-model --base {base}"
    )


def test_sigterm_during_training_names_the_checkpoint_and_resume_continues_from_it(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"prompt": f"What is {i} plus {i}?", "completion": str(2 * i)}) + "\n"
            for i in range(20)
        )
    )
    out, stderr = tmp_path / "model", tmp_path / "err"
    # LoRA: a checkpoint of the adapter and its optimizer state, not of 135M weights.
    args = ["train", "sft", "--data", str(rows), "--base", str(base), "--out", str(out)]
    args += ["--lora", "--lr", "0.001", "--batch-size", "1", "--grad-accum", "1"]
    args += ["--save-steps", "1", "--max-steps", "1000", "--max-length", "64", "--device", "cpu"]
    process = _cli(_env(), stderr, *args)
    try:
        _wait_until(
            lambda: (out / "checkpoint-1" / "trainer_state.json").is_file(), process, stderr
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_S) == 143
    finally:
        process.kill()
    line = _last_line(stderr)
    found = re.fullmatch(
        r"workforce-graph: interrupted; resume from checkpoint-(\d+) with: (.*)", line
    )
    assert found, line
    kept = int(found.group(1))
    command = shlex.split(found.group(2))
    assert command[:3] == ["workforce-graph", "train", "sft"] and command[-1] == "--resume"
    assert sorted(command[3:-1]) == sorted(args[2:])  # the same options as given
    state = json.loads((out / f"checkpoint-{kept}" / "trainer_state.json").read_text())
    before = [entry["loss"] for entry in state["log_history"] if "loss" in entry]

    # Resumed with one more step to go (the same command, a nearer --max-steps).
    again = command[1:]
    again[again.index("--max-steps") + 1] = str(kept + 1)
    with pytest.raises(SystemExit) as exited:
        main([*again, "--quiet"])
    assert exited.value.code == 0
    # The rows the updates covered, not the rows given (batch 1: a row a step).
    assert capsys.readouterr().err.startswith(
        f"trained on {kept + 1} of 20 rows in {kept + 1} updates, loss "
    )
    summary = json.loads((out / "training.json").read_text())
    assert (summary["steps"], summary["rows"], summary["rows_seen"]) == (kept + 1, 20, kept + 1)
    record = json.loads((out / "loop.json").read_text())
    assert [p["step"] for p in record["figures"]] == list(range(1, kept + 2))
    assert [p["loss"] for p in record["figures"]][:kept] == before  # kept, not redone
    assert "<svg" in (out / "report.html").read_text()
    assert not list(out.glob("checkpoint-*"))  # a finished run keeps no optimizer state
    assert (out / "model.safetensors").is_file()

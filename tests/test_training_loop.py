"""Flow-GRPO on-policy, end to end: the bundled model plans (``hf:``, sampling),
scripted models play the other roles, the evaluation's scorer scores, the flow-grpo
export builds rows and the planner is updated.

The scripted generator alternates a right and a wrong answer, so a group of two
rollouts that both reach the generator holds one of each. In the flow, the untrained
135M planner never writes a usable step, every rollout ends incomplete with reward 0 and
there is nothing to learn (the first flow test shows that it is reported, not hidden:
with 8 new tokens not even the decision grammar lets it finish a step); after
a warm start on its own recorded prompt (as ``benchmarks/flow_grpo_demo.py
--warm-start`` does), the flow's rollouts differ and the planner is updated. The
Workforce graph's one-subtask fallback answers even for the untrained planner."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from tests.conftest import spec
from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.training.flow_grpo import FLOW_GRPO_DEFAULTS, train_flow_grpo
from workforce_graph.training.flow_loop import FlowGrpoLoop, run_flow_grpo_loop
from workforce_graph.training.options import TrainingStopped, TrainOptions
from workforce_graph.training.owl_stages import train_sft
from workforce_graph.trajectory.format import read_trajectories

pytestmark = pytest.mark.timeout(1800)

DATASET = EvalDataset(
    name="sums",
    tasks=[EvalTask("q1", "What is 2 + 2?", "4", "sum")],
    answer_format=GAIA_ANSWER_FORMAT,
)
UPDATE = replace(
    FLOW_GRPO_DEFAULTS,
    device="cpu",
    batch_size=2,
    grad_accum=1,
    max_length=1024,
    save_steps=0,
    progress=False,
)
STEP = {"justification": "Add.", "context": "", "sub_goal": "Add 2 and 2.", "worker": "reasoning"}


def _flow_roles() -> ScriptedChatModel:
    answers = itertools.cycle(["FINAL ANSWER: 4", "FINAL ANSWER: 5"])  # one right, one wrong
    return ScriptedChatModel(
        responders={
            "query_analysis": {
                "needs": "a sum",
                "capabilities": ["reasoning"],
                "answer_form": "a number",
            },
            "executor": "4",
            # STOP once a turn has produced the result; a failed turn is worth another.
            "verifier": lambda m: {
                "reason": "checked",
                "decision": "STOP" if re.search(r"\b4\b", str(m[-1].content)) else "CONTINUE",
            },
            "generator": lambda m: next(answers),
        }
    )


def _flow_loop(**overrides: Any) -> FlowGrpoLoop:
    settings: dict[str, Any] = {
        "iterations": 1,
        "rollouts": 2,
        "topology": "flow",
        "model_factory": _flow_roles,
        "workers_factory": lambda: [spec("reasoning", "reasoning")],
        "graph_options": {"max_turns": 3},
    }
    return FlowGrpoLoop(**{**settings, **overrides})


def test_one_iteration_rolls_out_scores_and_updates_the_planner(base: Path, tmp_path: Path) -> None:
    answers = itertools.cycle(["FINAL ANSWER: 4", "FINAL ANSWER: 5"])  # one right, one wrong
    others = ScriptedChatModel(responders={"worker": "4", "generator": lambda m: next(answers)})
    loop = FlowGrpoLoop(
        iterations=1,
        rollouts=2,
        max_new_tokens=8,  # what it says does not matter: the outcome decides its sign
        topology="workforce",
        model_factory=lambda: others,
        workers_factory=lambda: [spec("reasoning", "reasoning")],
        graph_options={"max_plan_attempts": 1},
    )
    reports = asyncio.run(
        run_flow_grpo_loop(
            DATASET, base=str(base), out=tmp_path, loop=loop, options=UPDATE, held_out=DATASET
        )
    )
    report = reports[0]
    assert report.rollouts == 2 and report.pass_at_1 == 0.5
    assert report.rows >= 2  # a planner turn of each rollout, advantages of both signs
    assert report.losses and all(math.isfinite(loss) for loss in report.losses)
    assert report.updated == str(tmp_path / "iter-1" / "model")
    assert (tmp_path / "iter-1" / "model" / "config.json").is_file()
    saved = json.loads((tmp_path / "loop.json").read_text())
    assert saved["iterations"][0]["rows"] == report.rows
    assert saved["settings"]["rollout_grammar"] is True  # the default, recorded
    assert report.groups == 1 and report.dropped_groups == 0.0
    assert report.mean_reward == 0.5
    [point] = saved["figures"]
    assert point["step"] == 1 and point["reward"] == 0.5
    assert point["loss"] == pytest.approx(sum(report.losses) / len(report.losses))
    # The held-out run came after the two rollouts: the generator's next answer is right.
    assert point["kl"] is not None and point["held_out_pass_at_1"] == 1.0
    held_out = json.loads((tmp_path / "iter-1" / "held-out" / "eval.json").read_text())
    planner = held_out["graph"]["role_models"]["planner"]
    assert planner.startswith(f"hf:{report.updated}?temperature=0&")  # the updated planner
    assert "constrained=1" in planner
    # Every rollout called the planner; the share is what the trajectories say.
    calls = [
        c
        for t in read_trajectories([tmp_path / "iter-1" / "rollouts"])
        for c in t.calls
        if c.role == "planner"
    ]
    assert report.planner_calls == len(calls) >= 2
    valid = sum(1 for c in calls if c.parsed is not None and c.error is None)
    assert point["valid_decisions"] == report.valid_decisions == valid / len(calls)


def test_in_the_flow_an_untrained_planner_has_nothing_to_learn_and_a_warm_started_one_does(
    base: Path, tmp_path: Path
) -> None:
    cold = asyncio.run(
        run_flow_grpo_loop(
            DATASET, base=str(base), out=tmp_path / "cold", loop=_flow_loop(max_new_tokens=8)
        )
    )[0]
    assert cold.pass_at_1 == 0.0 and cold.rows == 0 and cold.updated is None
    assert sum(cold.dropped.values()) >= 1  # the group whose rewards were all equal
    assert cold.dropped_groups == 1.0  # reported as the share of groups: all of them

    # Warm start: its first recorded planner prompt (the end of it, to keep CPU steps
    # short) with a usable step as the completion, memorised in ten steps.
    trajectory = next(read_trajectories([tmp_path / "cold" / "iter-1" / "rollouts"]))
    prompt = trajectory.decisions("planner")[0].messages
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    warm = train_sft(
        [{"prompt": str(text)[-600:], "completion": json.dumps(STEP)}],
        base=str(base),
        out=tmp_path / "warm",
        options=TrainOptions(
            learning_rate=2e-4,
            max_steps=10,
            batch_size=1,
            device="cpu",
            save_steps=0,
            progress=False,
            grad_accum=1,
        ),
    )

    report = asyncio.run(
        run_flow_grpo_loop(
            DATASET,
            base=str(warm.out),
            out=tmp_path / "loop",
            loop=_flow_loop(max_new_tokens=64, temperature=0.5),
            options=UPDATE,
        )
    )[0]
    assert report.rollouts == 2 and report.pass_at_1 == 0.5
    assert report.rows >= 2 and report.losses and all(math.isfinite(x) for x in report.losses)
    assert report.updated == str(tmp_path / "loop" / "iter-1" / "model")


def test_an_interrupted_loop_continues_without_redoing_what_finished(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped during an update, then during a rollout: each start does only what is left.

    The interruptions are KeyboardInterrupts raised at known points (in the update of
    iteration 1, in the generator of iteration 2's second rollout), as Ctrl-C raises
    one wherever the program is."""
    from workforce_graph.training import flow_loop

    answers = itertools.cycle(["FINAL ANSWER: 4", "FINAL ANSWER: 5"])  # one right, one wrong
    generated: list[int] = []  # one entry per generator call (one per rollout)
    stop_at_call: list[int] = []  # the generator call that raises, counted per start

    def generator(messages: Any) -> str:
        generated.append(1)
        if stop_at_call and len(generated) == stop_at_call[0]:
            raise KeyboardInterrupt
        return next(answers)

    roles = ScriptedChatModel(responders={"worker": "4", "generator": generator})
    real_update = train_flow_grpo
    updates: list[Path] = []

    def update(*args: Any, **kwargs: Any) -> Any:
        updates.append(Path(kwargs["out"]))
        if len(updates) == 1:  # cut short: a half-written model, no training.json
            Path(kwargs["out"]).mkdir(parents=True)
            (Path(kwargs["out"]) / "model.safetensors").write_text("cut short")
            raise KeyboardInterrupt
        return real_update(*args, **kwargs)

    monkeypatch.setattr(flow_loop, "train_flow_grpo", update)
    loop = FlowGrpoLoop(
        iterations=2,
        rollouts=2,
        max_new_tokens=8,
        topology="workforce",
        model_factory=lambda: roles,
        workers_factory=lambda: [spec("reasoning", "reasoning")],
        graph_options={"max_plan_attempts": 1},
    )
    options = replace(UPDATE, max_length=256)

    def start() -> list[Any]:
        generated.clear()
        return asyncio.run(
            run_flow_grpo_loop(DATASET, base=str(base), out=tmp_path, loop=loop, options=options)
        )

    def results(iteration: int) -> list[dict[str, Any]]:
        path = tmp_path / f"iter-{iteration}" / "rollouts" / "results.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    # 1: both rollouts of iteration 1, then the update is interrupted.
    with pytest.raises(KeyboardInterrupt):
        start()
    assert len(generated) == 2 and len(results(1)) == 2
    assert not (tmp_path / "iter-1" / "model" / "training.json").exists()

    # 2: no rollout of iteration 1 again; its update runs; iteration 2's second rollout
    # is interrupted.
    stop_at_call.append(2)
    with pytest.raises(KeyboardInterrupt):
        start()
    assert updates == [tmp_path / "iter-1" / "model"] * 2
    trained = (tmp_path / "iter-1" / "model" / "training.json").read_text()
    assert len(generated) == 2 and len(results(1)) == 2 and len(results(2)) == 1
    saved = json.loads((tmp_path / "loop.json").read_text())
    assert [it["iteration"] for it in saved["iterations"]] == [1]

    # 3: only iteration 2's missing rollout runs, then its update; iteration 1 is kept.
    stop_at_call.clear()
    reports = start()
    assert len(generated) == 1
    assert sorted(r["sample"] for r in results(2)) == [0, 1] and len(results(1)) == 2
    assert updates[2:] == [tmp_path / "iter-2" / "model"]
    assert (tmp_path / "iter-1" / "model" / "training.json").read_text() == trained
    assert [r.rollouts_run for r in reports] == [2, 1]  # iteration 1's from its first start
    assert reports[0].updated == str(tmp_path / "iter-1" / "model")
    assert reports[1].policy == reports[0].updated
    assert reports[1].updated == str(tmp_path / "iter-2" / "model")
    saved = json.loads((tmp_path / "loop.json").read_text())
    assert [point["step"] for point in saved["figures"]] == [1, 2]
    assert (tmp_path / "report.html").is_file()


def test_a_stop_request_ends_an_update_without_saving_it(base: Path, tmp_path: Path) -> None:
    # What a signal during the loop's update does: the thread stops after its step and
    # no training.json marks the update finished, so the next start trains it again.
    stop = threading.Event()
    stop.set()
    row = {"prompt": "Plan: 2 plus 2", "completion": "4", "advantage": 1.0}
    with pytest.raises(TrainingStopped):
        train_flow_grpo([row, row], base=str(base), out=tmp_path, options=UPDATE, stop=stop)
    assert not (tmp_path / "training.json").exists()
    assert not (tmp_path / "model.safetensors").exists()

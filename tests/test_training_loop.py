"""Flow-GRPO on-policy, end to end: the bundled model plans (``hf:``, sampling),
scripted models play the other roles, the evaluation's scorer scores, the flow-grpo
export builds rows and the planner is updated.

The scripted generator alternates a right and a wrong answer, so a group of two
rollouts that both reach the generator holds one of each. In the flow, the untrained
135M planner never writes a usable step, every rollout ends incomplete with reward 0 and
there is nothing to learn (the first test shows that it is reported, not hidden); after
a warm start on its own recorded prompt (as ``benchmarks/flow_grpo_demo.py
--warm-start`` does), the flow's rollouts differ and the planner is updated. The
Workforce graph's one-subtask fallback answers even for the untrained planner."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from tests.conftest import spec
from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.training.flow_grpo import FLOW_GRPO_DEFAULTS
from workforce_graph.training.flow_loop import FlowGrpoLoop, run_flow_grpo_loop
from workforce_graph.training.options import TrainOptions
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
        run_flow_grpo_loop(DATASET, base=str(base), out=tmp_path, loop=loop, options=UPDATE)
    )
    report = reports[0]
    assert report.rollouts == 2 and report.pass_at_1 == 0.5
    assert report.rows >= 2  # a planner turn of each rollout, advantages of both signs
    assert report.losses and all(math.isfinite(loss) for loss in report.losses)
    assert report.updated == str(tmp_path / "iter-1" / "model")
    assert (tmp_path / "iter-1" / "model" / "config.json").is_file()
    saved = json.loads((tmp_path / "loop.json").read_text())
    assert saved[0]["rows"] == report.rows


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

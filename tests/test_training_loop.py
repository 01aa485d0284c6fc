"""Flow-GRPO on-policy, one iteration end to end: the bundled model plans (``hf:``,
sampling), scripted models play the other roles, the evaluation's scorer scores, the
flow-grpo export builds rows and the planner is updated.

The Workforce topology is used here: the untrained 135M planner never writes a usable
step, which the flow (rightly) counts as an incomplete run, so every flow rollout would
score 0 and leave nothing to learn; the Workforce graph's one-subtask fallback still
answers, so the scripted generator's alternating answers give the group one right and
one wrong rollout. The loop itself is the same for both topologies."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from pathlib import Path

import pytest

from tests.conftest import spec
from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.training.flow_grpo import FLOW_GRPO_DEFAULTS
from workforce_graph.training.flow_loop import FlowGrpoLoop, run_flow_grpo_loop

pytestmark = pytest.mark.timeout(1800)


def test_one_iteration_rolls_out_scores_and_updates_the_planner(base: Path, tmp_path: Path) -> None:
    answers = itertools.cycle(["FINAL ANSWER: 4", "FINAL ANSWER: 5"])  # one right, one wrong
    others = ScriptedChatModel(responders={"worker": "4", "generator": lambda m: next(answers)})
    dataset = EvalDataset(
        name="sums",
        tasks=[EvalTask("q1", "What is 2 + 2?", "4", "sum")],
        answer_format=GAIA_ANSWER_FORMAT,
    )
    loop = FlowGrpoLoop(
        iterations=1,
        rollouts=2,
        max_new_tokens=8,  # what it says does not matter: the outcome decides its sign
        topology="workforce",
        model_factory=lambda: others,
        workers_factory=lambda: [spec("reasoning", "reasoning")],
        graph_options={"max_plan_attempts": 1},
    )
    from dataclasses import replace

    options = replace(
        FLOW_GRPO_DEFAULTS,
        device="cpu",
        batch_size=2,
        grad_accum=1,
        max_length=256,
        save_steps=0,
        progress=False,
    )
    reports = asyncio.run(
        run_flow_grpo_loop(dataset, base=str(base), out=tmp_path, loop=loop, options=options)
    )
    report = reports[0]
    assert report.rollouts == 2 and report.pass_at_1 == 0.5
    assert report.rows >= 2  # a planner turn of each rollout, advantages of both signs
    assert report.losses and all(math.isfinite(loss) for loss in report.losses)
    assert report.updated == str(tmp_path / "iter-1" / "model")
    assert (tmp_path / "iter-1" / "model" / "config.json").is_file()
    saved = json.loads((tmp_path / "loop.json").read_text())
    assert saved[0]["rows"] == report.rows

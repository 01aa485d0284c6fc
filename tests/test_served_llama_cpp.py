"""The on-policy loop sampling its planner from a real ``llama_cpp.server`` (the bundled
SmolLM2-135M): the loop exports each policy version to GGUF, starts the server on it,
restarts it after the update, records the server's log-probabilities with every planner
call, and leaves no server running."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import os
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from tests.conftest import spec
from tests.test_training_loop import UPDATE as CPU_UPDATE
from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.evaluation.runner import read_rows
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.training.flow_loop import FlowGrpoLoop, run_flow_grpo_loop
from workforce_graph.trajectory.format import read_trajectories

_MISSING = [
    name
    for name in ("llama_cpp", "fastapi", "starlette_context", "pydantic_settings", "gguf")
    if importlib.util.find_spec(name) is None
]
pytestmark = [
    pytest.mark.timeout(1800),
    pytest.mark.skipif(
        bool(_MISSING) and os.environ.get("CI") != "true",
        reason=f"needs pip install -e '.[test,train]' (missing: {', '.join(_MISSING)})",
    ),
]

DATASET = EvalDataset(
    name="sums",
    tasks=[EvalTask("q1", "What is 2 + 2?", "4", "sum")],
    answer_format=GAIA_ANSWER_FORMAT,
)


def _others() -> ScriptedChatModel:
    answers = itertools.cycle(["FINAL ANSWER: 4", "FINAL ANSWER: 5"])  # one right, one wrong
    return ScriptedChatModel(responders={"worker": "4", "generator": lambda m: next(answers)})


def test_the_loop_serves_each_version_on_llama_cpp_server_and_records_its_logprobs(
    base: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    loop = FlowGrpoLoop(
        iterations=2,
        rollouts=2,
        max_new_tokens=160,
        topology="workforce",
        model_factory=_others,
        workers_factory=lambda: [spec("reasoning", "reasoning")],
        graph_options={"max_plan_attempts": 1},
        rollout_server="llama-cpp",
    )
    options = replace(CPU_UPDATE, max_steps=1)
    reports = asyncio.run(
        run_flow_grpo_loop(DATASET, base=str(base), out=tmp_path, loop=loop, options=options)
    )
    first, second = reports
    assert first.updated is not None and (first.policy_version, second.policy_version) == (0, 1)
    assert first.server_token_rows > 0  # rows trained on the tokens the server sampled
    served = tmp_path / "served"
    assert (served / "planner-v0.gguf").is_file() and (served / "planner-v1.gguf").is_file()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    for iteration, name in ((1, "planner-v0"), (2, "planner-v1")):
        folder = tmp_path / f"iter-{iteration}" / "rollouts"
        calls = [c for t in read_trajectories([folder]) for c in t.calls if c.role == "planner"]
        assert calls and {c.model for c in calls} == {name}  # the version the server served
        answered = [c for c in calls if c.error is None]
        assert answered and all(c.logprobs for c in answered)  # from the server's reply
        for call in answered:  # ids only where they spell the reply exactly
            if call.token_ids:
                assert tokenizer.decode(call.token_ids).strip() == call.text.strip()
        assert {r["policy_version"] for r in read_rows(folder / "results.jsonl")} == {iteration - 1}
    # The loop stopped the server it started.
    assert not [
        p for p in psutil.Process().children(recursive=True) if "llama_cpp.server" in p.cmdline()
    ]

"""On-policy rollouts from a served planner: vLLM's adapter loading against a stand-in
server, token ids and log-probabilities taken from the server's replies, policy versions
recorded and checked, and rollout-server faults failing the iteration with one line while
finished rollouts stay and the next start resumes."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import spec
from tests.fake_rollout_server import LOGPROB, FakeRolloutServer
from tests.test_training_loop import UPDATE as CPU_UPDATE
from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.evaluation.runner import read_rows
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.training.flow_loop import FlowGrpoLoop, run_flow_grpo_loop
from workforce_graph.training.served_policy import (
    PolicyVersionError,
    RolloutServerError,
    server_fault,
    token_ids,
)
from workforce_graph.trajectory.format import read_trajectories

pytestmark = pytest.mark.timeout(1200)
CI = os.environ.get("CI") == "true"

DATASET = EvalDataset(
    name="sums",
    tasks=[EvalTask("q1", "What is 2 + 2?", "4", "sum"), EvalTask("q2", "2 + 3?", "5", "sum")],
    answer_format=GAIA_ANSWER_FORMAT,
)
STEP = {
    "justification": "Add.",
    "context": "",
    "sub_goal": "Add the numbers.",
    "worker": "reasoning",
}
UPDATE = replace(CPU_UPDATE, max_steps=1)
LORA = replace(UPDATE, lora=True)


def _roles(*, alternate: bool) -> ScriptedChatModel:
    """The other roles: the generator's answers alternate (rewards differ) or are right."""
    answers = itertools.cycle(["FINAL ANSWER: 4", "FINAL ANSWER: 5"] if alternate else ["?"])
    return ScriptedChatModel(
        responders={
            "query_analysis": {"needs": "a sum", "capabilities": ["reasoning"], "answer_form": "n"},
            "executor": "4",
            "verifier": {"reason": "checked", "decision": "STOP"},
            "generator": lambda m: next(answers),
        }
    )


def _loop(server: FakeRolloutServer, *, alternate: bool = False, **overrides: Any) -> FlowGrpoLoop:
    settings: dict[str, Any] = {
        "iterations": 1,
        "rollouts": 2,
        "questions": 1,
        "topology": "flow",
        "max_turns": 1,
        "model_factory": lambda: _roles(alternate=alternate),
        "workers_factory": lambda: [spec("reasoning", "reasoning")],
        "rollout_server": "vllm",
        "rollout_base_url": server.base_url,
    }
    return FlowGrpoLoop(**{**settings, **overrides})


def test_a_vllm_server_serves_each_version_as_a_runtime_adapter_and_rows_keep_its_tokens(
    base: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    reply = json.dumps(STEP)
    with FakeRolloutServer(reply, encode=lambda text: tokenizer(text)["input_ids"]) as server:
        loop = _loop(server, alternate=True, iterations=2)
        reports = asyncio.run(
            run_flow_grpo_loop(DATASET, base=str(base), out=tmp_path, loop=loop, options=LORA)
        )
    first, second = reports
    # Version 0 is the served base; after the first update its adapter is loaded at
    # runtime and named in every later request.
    assert server.adapters == [
        {"lora_name": "planner-v1", "lora_path": str(tmp_path / "iter-1" / "model" / "adapter")}
    ]
    planner_models = [c["model"] for c in server.chats]
    assert set(planner_models[:2]) == {"base-model"} and set(planner_models[2:]) == {"planner-v1"}
    assert all(c["logprobs"] and c["return_tokens_as_token_ids"] for c in server.chats)
    assert (first.policy_version, second.policy_version) == (0, 1)
    assert first.updated and second.updated
    # The rows trained on the server's token ids, not on the text re-tokenised.
    assert first.rows > 0 and first.server_token_rows == first.rows
    calls = [
        c
        for t in read_trajectories([tmp_path / "iter-2" / "rollouts"])
        for c in t.calls
        if c.role == "planner"
    ]
    assert calls and all(c.token_ids == tokenizer(reply)["input_ids"] for c in calls)
    assert all(c.logprobs and set(c.logprobs) == {LOGPROB} for c in calls)
    rows = read_rows(tmp_path / "iter-2" / "rollouts" / "results.jsonl")
    assert {r["policy_version"] for r in rows} == {1}


@pytest.mark.parametrize(
    ("fault", "said"),
    [({"fail_after": 1}, r"\w+Error: Error code: 500"), ({"die_after": 1}, r"\w*ConnectionError")],
    ids=["answers 500", "dies"],
)
def test_a_server_failing_mid_iteration_keeps_finished_rollouts_and_the_next_start_resumes(
    base: Path, tmp_path: Path, fault: dict[str, int], said: str
) -> None:
    reply = json.dumps(STEP)
    with FakeRolloutServer(reply, **fault) as server:
        loop = _loop(server, questions=2, concurrency=1)
        with pytest.raises(RolloutServerError, match=rf"the rollout server failed: {said}") as e:
            asyncio.run(
                run_flow_grpo_loop(DATASET, base=str(base), out=tmp_path, loop=loop, options=LORA)
            )
    assert "\n" not in str(e.value) and "run the same command again" in str(e.value)
    kept = read_rows(tmp_path / "iter-1" / "rollouts" / "results.jsonl")
    assert len(kept) == 1 and kept[0]["policy_version"] == 0  # the run before the fault
    assert not (tmp_path / "iter-1" / "model").exists()  # nothing trained on a broken phase
    with FakeRolloutServer(reply) as healthy:
        report = asyncio.run(
            run_flow_grpo_loop(
                DATASET,
                base=str(base),
                out=tmp_path,
                loop=replace(_loop(healthy), questions=2),
                options=LORA,
            )
        )[0]
    assert report.rollouts == 4 and report.rollouts_run == 3  # only what was missing
    assert len(healthy.chats) == 3


def test_an_unreachable_rollout_server_is_one_line_before_any_rollout(
    base: Path, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    loop = FlowGrpoLoop(
        iterations=1,
        rollouts=2,
        rollout_server="vllm",
        rollout_base_url=f"http://127.0.0.1:{port}/v1",
        model_factory=lambda: _roles(alternate=False),
    )
    with pytest.raises(RolloutServerError, match=r"unreachable .*--rollout-base-url") as caught:
        asyncio.run(
            run_flow_grpo_loop(DATASET, base=str(base), out=tmp_path, loop=loop, options=LORA)
        )
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "iter-1" / "rollouts" / "results.jsonl").exists()


def test_a_server_that_cannot_load_new_weights_is_refused_after_the_first_update(
    base: Path, tmp_path: Path
) -> None:
    reply = json.dumps(STEP)
    with FakeRolloutServer(reply) as server:
        loop = _loop(server, alternate=True, iterations=2, rollout_server="openai")
        with pytest.raises(
            PolicyVersionError, match="serves policy version 0 but the planner is at version 1"
        ):
            asyncio.run(
                run_flow_grpo_loop(DATASET, base=str(base), out=tmp_path, loop=loop, options=UPDATE)
            )
        assert (tmp_path / "iter-1" / "model" / "training.json").is_file()  # kept
        reports = asyncio.run(
            run_flow_grpo_loop(
                DATASET,
                base=str(base),
                out=tmp_path,
                loop=replace(loop, off_policy=True),
                options=UPDATE,
            )
        )
    assert len(server.chats) == 4  # iteration 1's two rollouts kept, not made again
    assert reports[1].policy_version == 1 and reports[1].stale_rollouts == 2
    calls = [t.calls for t in read_trajectories([tmp_path / "iter-2" / "rollouts"])]
    assert all(c.error is None for run in calls for c in run)


def test_fault_classification_and_token_ids_from_server_replies() -> None:
    assert server_fault("APIConnectionError: Connection error.")
    assert server_fault("OpenAIConnectionError: Connection error.")
    assert server_fault("OpenAITimeoutError: Request timed out.")
    assert server_fault("InternalServerError: Error code: 500 - {'error': 'the engine died'}")
    assert not server_fault("InternalServerError: Error code: 500 - Input should be 'text'")
    assert not server_fault("BadRequestError: Error code: 400")
    assert token_ids({"content": [{"token": "token_id:7"}, {"token": "token_id:9"}]}, None, "") == [
        7,
        9,
    ]
    assert token_ids({"content": [{"token": "hi"}]}, None, "hi") is None  # no tokenizer


def test_the_cli_passes_the_served_options_and_says_an_unreachable_server_in_one_line(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workforce_graph.cli import main

    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"id": "q1", "question": "What is 2 + 2?", "answer": "4"}) + "\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    args = ["train", "flow-grpo", "--dataset", str(data), "--base", str(base), "--lora"]
    args += ["--rollout-server", "vllm", "--rollout-base-url", url, "--off-policy"]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--out", str(tmp_path / "o"), "--quiet"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith(f"workforce-graph: error: the rollout server at {url} is unreachable")
    with pytest.raises(SystemExit) as exited:
        main([*args[:-3], "--rollout-server", "sglang", "--out", str(tmp_path / "p")])
    assert exited.value.code == 2
    assert "--rollout-server must be llama-cpp or vllm or openai, not 'sglang'" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as exited:
        main([*args[:6], "--executor", "ray", "--out", str(tmp_path / "r")])
    assert exited.value.code == 2
    assert "--executor ray needs --db postgresql://" in capsys.readouterr().err


@pytest.mark.usefixtures("local_ray")
def test_rollouts_run_on_ray_workers_against_the_served_planner(
    base: Path, tmp_path: Path, pg: str
) -> None:
    with FakeRolloutServer(json.dumps(STEP)) as server:
        loop = _loop(server, questions=2, concurrency=2, executor="ray", db=pg)
        report = asyncio.run(
            run_flow_grpo_loop(DATASET, base=str(base), out=tmp_path, loop=loop, options=LORA)
        )[0]
    assert report.rollouts == report.rollouts_run == 4 and len(server.chats) == 4
    rows = read_rows(tmp_path / "iter-1" / "rollouts" / "results.jsonl")
    assert len(rows) == 4 and {r["policy_version"] for r in rows} == {0}
    samples = {t.meta["sample"] for t in read_trajectories([tmp_path / "iter-1" / "rollouts"])}
    assert samples == {0, 1}


def test_a_row_with_sampled_ids_trains_on_them_not_on_its_text_retokenised(base: Path) -> None:
    from transformers import AutoTokenizer

    from workforce_graph.training.flow_grpo import encode_row

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    prompt = [{"role": "user", "content": "Plan: 2 plus 2"}]
    # " {" as two tokens, where the text alone would tokenise otherwise.
    sampled = [*tokenizer(" ")["input_ids"], *tokenizer("{}")["input_ids"]]
    row = {"prompt": prompt, "completion": [{"role": "assistant", "content": " {}"}]}
    ids, start = encode_row(tokenizer, {**row, "completion_ids": sampled}, 512)
    end = tokenizer("<|im_end|>\n", add_special_tokens=False)["input_ids"]
    assert ids[start:] == [*sampled, *end]
    text_ids, text_start = encode_row(tokenizer, row, 512)
    assert ids[:start] == text_ids[:text_start]  # the same prompt, from the chat template

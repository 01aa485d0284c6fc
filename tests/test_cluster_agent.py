"""The flow as the agent of TRL's asynchronous GRPO trainer, on the CPU.

The planner is served by a stand-in vLLM server (tests/fake_vllm.py) through the engine
proxy, which records each planner turn's tokens with the bundled model's tokenizer;
scripted models play the other roles. The flow runs two turns a rollout; the scripted
generator alternates a right and a wrong answer, so a group of two rollouts holds one
of each. What needs a GPU (the update itself, vLLM's weight sync) is in
benchmarks/cluster_engine_step.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
from collections import defaultdict
from typing import Any

import pytest

from tests.conftest import spec
from tests.fake_vllm import LOGPROB, FakeVllm
from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT
from workforce_graph.exports.flow_grpo import flow_grpo_rows, normalised
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.training.cluster_agent import (
    AgentRollout,
    FlowAgent,
    group_advantages,
    group_rows,
    select_planner_turns,
)
from workforce_graph.training.cluster_engine import (
    ClusterSettings,
    FlowRolloutWorker,
    group_samples,
)
from workforce_graph.training.engine_proxy import CaptureError, EngineProxy, EngineTurn
from workforce_graph.trajectory.format import ModelCall, Trajectory

pytestmark = pytest.mark.timeout(300)

DATASET = EvalDataset(
    name="sums",
    tasks=[EvalTask("q1", "What is 2 + 2?", "4", "sum")],
    answer_format=GAIA_ANSWER_FORMAT,
)
STEP = {"justification": "Add.", "context": "", "sub_goal": "Add 2 and 2.", "worker": "reasoning"}


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from workforce_graph.models.local import bundled_model_path

    path = bundled_model_path()
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def planner_reply(prompt: str) -> str:
    """A canonical JSON step naming the turn the prompt asks for."""
    turn = re.findall(r"Turn (\d+) of at most", prompt)[-1]
    return json.dumps({**STEP, "sub_goal": f"Step {turn}: add 2 and 2."})


def other_roles() -> ScriptedChatModel:
    """Every role but the planner; shared by a group's rollouts, so answers alternate."""
    answers = itertools.cycle(["FINAL ANSWER: 4", "FINAL ANSWER: 5"])
    return ScriptedChatModel(
        responders={
            "query_analysis": {
                "needs": "a sum",
                "capabilities": ["reasoning"],
                "answer_form": "a number",
            },
            "executor": "RESULT-4",
            # Two turns a rollout: STOP once the memory holds two results.
            "verifier": lambda m: {
                "reason": "checked",
                "decision": "STOP" if str(m[-1].content).count("RESULT-4") >= 2 else "CONTINUE",
            },
            "generator": lambda m: next(answers),
        }
    )


def make_agent() -> FlowAgent:
    others = other_roles()
    return FlowAgent(
        dataset=DATASET,
        model_factory=lambda: others,
        workers_factory=lambda: [spec("reasoning", "reasoning")],
    )


def roll(tokenizer: Any, agent: FlowAgent, n: int = 2) -> tuple[list[AgentRollout], FakeVllm]:
    """``n`` rollouts of the task at once, the planner on the stand-in engine."""

    async def rollouts(proxy: EngineProxy) -> list[AgentRollout]:
        return list(
            await asyncio.gather(
                *(agent.rollout(DATASET.tasks[0], proxy, sample=k) for k in range(n))
            )
        )

    with (
        FakeVllm(tokenizer, planner_reply) as engine,
        EngineProxy(engine.root, tokenizer, model="served-planner") as proxy,
    ):
        return asyncio.run(rollouts(proxy)), engine


@pytest.fixture(scope="module")
def recorded(tokenizer: Any) -> tuple[list[AgentRollout], FakeVllm]:
    return roll(tokenizer, make_agent())


def test_a_rollout_runs_the_flow_with_only_the_planner_on_the_engine(
    tokenizer: Any, recorded: tuple[list[AgentRollout], FakeVllm]
) -> None:
    rollouts, engine = recorded
    assert sorted(r.reward for r in rollouts) == [0.0, 1.0]  # the evaluation's scorer
    for rollout in rollouts:
        calls = rollout.trajectory.calls
        assert rollout.trajectory.outcome is not None
        assert {c.role for c in calls} >= {"query_analysis", "executor", "verifier", "generator"}
        assert [t.turn for t in rollout.planner_turns] == [1, 2]
        for turn in rollout.planner_turns:
            call = calls[turn.call_index]
            assert call.role == "planner" and call.turn == turn.turn
            assert (
                turn.engine.text == call.text == planner_reply(turn.engine.messages[-1]["content"])
            )
            # The engine's prompt is the policy's chat template of what the planner sent.
            assert turn.engine.prompt_ids == tokenizer.apply_chat_template(
                call.messages, add_generation_prompt=True, tokenize=True, return_dict=False
            )
            assert turn.engine.completion_ids[-1] == tokenizer.eos_token_id
            assert turn.engine.logprobs == [LOGPROB] * len(turn.engine.completion_ids)
            assert turn.engine.model == "served-planner"
    # Only planner turns reached the engine, one request each, at the trainer's sampling
    # and under the reply's schema; each with its own seed.
    assert len(engine.requests) == sum(len(r.planner_turns) for r in rollouts) == 4
    assert {r["temperature"] for r in engine.requests} == {0.7}
    assert all(r["return_token_ids"] and r["logprobs"] == 0 for r in engine.requests)
    assert all(r["response_format"]["type"] == "json_schema" for r in engine.requests)
    assert len({r["seed"] for r in engine.requests}) == 4


def _call(index: int, role: str, turn: int | None, text: str, **extra: Any) -> ModelCall:
    messages = [
        {"role": "system", "content": f"{role} prompt"},
        {"role": "user", "content": f"t{turn}"},
    ]
    return ModelCall(
        index=index,
        role=role,
        node=role,
        turn=turn,
        messages=messages,
        text=text,
        latency_s=0.0,
        **extra,
    )


def _engine(call: ModelCall, text: str | None = None) -> EngineTurn:
    return EngineTurn(
        messages=call.messages,
        text=call.text if text is None else text,
        prompt_ids=[1, 2],
        completion_ids=[3],
        logprobs=[-0.1],
        finish_reason="stop",
        model="m",
    )


def test_only_the_planners_decisions_are_selected() -> None:
    first, second = _call(0, "planner", 1, "step one"), _call(3, "planner", 2, "step two")
    verifier = _call(1, "verifier", 1, "CONTINUE")
    failed = _call(2, "planner", 2, "", error="HTTPError: 500")
    trajectory = Trajectory(
        trajectory_id="r1", group_id="q1", topology="flow", calls=[first, verifier, failed, second]
    )
    # The engine also served the verifier and a planner reply no decision used.
    recorded = [_engine(first), _engine(verifier), _engine(second, "rejected"), _engine(second)]
    turns = select_planner_turns(trajectory, recorded)
    assert [(t.turn, t.call_index, t.engine.text) for t in turns] == [
        (1, 0, "step one"),
        (2, 3, "step two"),
    ]
    with pytest.raises(CaptureError, match="planner turn 2 of rollout r1 has no recorded tokens"):
        select_planner_turns(trajectory, recorded[:2])


def test_the_advantage_is_normalised_over_the_group_and_shared_by_a_rollouts_turns(
    recorded: tuple[list[AgentRollout], FakeVllm],
) -> None:
    rollouts, _ = recorded
    rewards = [r.reward for r in rollouts]
    samples = group_samples(rollouts, group_id=7, model_version=3)
    assert len(samples) == 4  # two planner turns a rollout
    by_rollout: dict[float, set[float]] = defaultdict(set)
    for sample in samples:
        by_rollout[sample.metrics["reward"]].add(sample.advantage)
        assert sample.group_id == 7 and sample.model_version == 3
        trained = sample.completion_mask.astype(bool)
        prompt = len(sample.input_ids) - int(trained.sum())
        assert not trained[:prompt].any() and trained[prompt:].all()  # only the sampled tokens
        assert (sample.old_log_probs[trained] == LOGPROB).all()
        assert (sample.old_log_probs[~trained] == 0).all()
    assert {reward: advantages for reward, advantages in by_rollout.items()} == {
        reward: {normalised(reward, rewards)} for reward in rewards
    }
    assert group_advantages(rewards) == [normalised(r, rewards) for r in rewards]
    assert sum(group_advantages(rewards) or []) == pytest.approx(0.0)
    # A group whose rewards do not vary has no signal and no sample.
    flat = [AgentRollout("q1", r.rollout_id, 1.0, r.trajectory, r.planner_turns) for r in rollouts]
    assert group_advantages([1.0, 1.0]) is None
    assert group_samples(flat, group_id=8, model_version=3) == []
    assert group_rows(flat) == []


def test_the_rows_agree_with_the_in_process_loops_on_the_same_rollouts(
    tokenizer: Any, recorded: tuple[list[AgentRollout], FakeVllm]
) -> None:
    from workforce_graph.training.flow_grpo import encode_row

    rollouts, _ = recorded
    keys = ("group_id", "trajectory_id", "turn", "prompt", "completion", "reward", "advantage")
    ours = [{k: row[k] for k in keys} for row in group_rows(rollouts)]
    export = flow_grpo_rows([r.trajectory for r in rollouts])  # what the in-process loop trains
    theirs = [{k: row[k] for k in keys} for row in export.rows]
    assert len(ours) == 4 and ours == theirs
    # Token for token: the prompt the in-process update encodes is the engine's, and
    # the completion it encodes starts with what the engine sampled.
    samples = group_samples(rollouts, group_id=0, model_version=0)
    for row, sample in zip(theirs, samples, strict=True):
        ids, start = encode_row(tokenizer, row, max_length=4096)
        trained = int(sample.completion_mask.sum())
        prompt_ids = sample.input_ids[: len(sample.input_ids) - trained].tolist()
        completion_ids = sample.input_ids[len(prompt_ids) :].tolist()
        assert ids[:start] == prompt_ids
        assert ids[start : start + trained] == completion_ids
        assert sample.advantage == row["advantage"]


def test_the_worker_queues_a_groups_samples_and_stops_cleanly(tokenizer: Any) -> None:
    with FakeVllm(tokenizer, planner_reply) as engine:
        worker = FlowRolloutWorker(
            make_agent(),
            tokenizer=tokenizer,
            engine_url=engine.root,
            model="served-planner",
            settings=ClusterSettings(num_generations=2, concurrency=2),
        )
        worker.start()
        try:
            group = [worker.rollout_buffer.get(timeout=120) for _ in range(4)]
        finally:
            worker.stop()
        worker.check_health(stale_after_s=3600)
    assert worker._thread is None  # the thread ended, its proxy with it
    assert {s.group_id for s in group} == {0} and worker.groups >= 1
    assert sorted(s.metrics["reward"] for s in group) == [0.0, 0.0, 1.0, 1.0]
    figures = worker.metrics_queue.get_nowait()
    assert figures["flow/reward_mean"] == 0.5 and figures["flow/planner_turns_mean"] == 2
    assert figures["flow/dropped_groups"] == (0.0, 1.0)


class _NoWeightSync:
    """TRL's weight-transfer protocol, doing nothing (there is no vLLM here)."""

    def init_weight_transfer(self) -> None: ...

    def pause(self) -> None: ...

    def send_weights(self, iterator: Any) -> None: ...

    def resume(self) -> None: ...

    def destroy(self) -> None: ...


def test_trls_trainer_takes_the_worker_and_packs_its_samples(
    tokenizer: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring: ``cluster_trainer`` builds TRL's ``AsyncGRPOTrainer`` around the flow's
    worker, and the trainer's own data loader packs a batch from what it queues (the
    update itself needs a GPU: TRL's attention is a FlashAttention-3 kernel)."""
    import trl.experimental.async_grpo.async_grpo_trainer as async_grpo
    from transformers import LlamaConfig, LlamaForCausalLM

    from workforce_graph.training.cluster_engine import cluster_trainer

    # TRL asks CUDA for the device's name to report MFU; there is no CUDA here.
    monkeypatch.setattr(async_grpo, "get_peak_flops_per_device", lambda *args: None)
    tiny = tmp_path / "tiny"
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(tiny)
    tokenizer.save_pretrained(tiny)
    with FakeVllm(tokenizer, planner_reply) as engine:
        trainer = cluster_trainer(
            make_agent(),
            base=str(tiny),
            out=tmp_path / "out",
            engine_url=engine.root,
            settings=ClusterSettings(
                num_generations=2, concurrency=2, max_steps=1, per_device_train_batch_size=4
            ),
            weight_transfer=_NoWeightSync(),
            token_budget=0,
            report_to=[],
            bf16=False,
            use_cpu=True,
        )
        worker = trainer.rollout_worker
        assert isinstance(worker, FlowRolloutWorker) and worker.served_model() == str(tiny)
        worker.start()  # TRL starts it on train begin
        try:
            batch = next(iter(trainer.get_train_dataloader()))
        finally:
            worker.stop()
    # Four planner turns of one group: their sampled tokens are what is trained.
    trained = batch["global_n_tokens"].item()
    assert trained == batch["advantages"].shape[-1] > 0
    assert sorted(set(batch["advantages"].flatten().tolist())) == pytest.approx(
        sorted({normalised(r, [0.0, 1.0]) for r in (0.0, 1.0)})
    )
    assert (batch["old_log_probs"] == LOGPROB).all()
    assert (tmp_path / "out" / "rollouts" / "trajectories.jsonl").is_file()


def test_an_engine_without_token_ids_stops_the_worker_with_a_reason(tokenizer: Any) -> None:
    with FakeVllm(tokenizer, planner_reply, token_ids=False) as engine:
        worker = FlowRolloutWorker(
            make_agent(),
            tokenizer=tokenizer,
            engine_url=engine.root,
            model="served-planner",
            settings=ClusterSettings(num_generations=2, concurrency=2),
        )
        worker.start()
        assert worker._thread is not None
        worker._thread.join(timeout=120)  # it ends by itself, on the first group
        assert not worker._thread.is_alive()
        worker.stop()
    with pytest.raises(RuntimeError, match="no token ids or logprobs"):
        worker.check_health(stale_after_s=3600)
    assert worker.rollout_buffer.empty()


def test_a_group_of_one_and_an_empty_dataset_are_refused(tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="num_generations must be >= 2"):
        ClusterSettings(num_generations=1)
    empty = FlowAgent(dataset=EvalDataset(name="none", tasks=[], answer_format=""))
    with pytest.raises(ValueError, match="dataset none has no task"):
        FlowRolloutWorker(empty, tokenizer=tokenizer, engine_url="http://127.0.0.1:9", model="m")


def test_the_proxy_refuses_what_it_cannot_record(tokenizer: Any) -> None:
    import httpx

    with (
        FakeVllm(tokenizer, planner_reply) as engine,
        EngineProxy(engine.root, tokenizer, model="m") as proxy,
    ):
        url = proxy.open("r1")
        chat = [{"role": "user", "content": "hi"}]
        tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
        assert (
            httpx.post(
                f"{proxy.root}/rollouts/nope/v1/chat/completions", json={"messages": chat}
            ).status_code
            == 404
        )
        assert (
            httpx.post(
                f"{url}/chat/completions", json={"messages": chat, "stream": True}
            ).status_code
            == 400
        )
        assert (
            httpx.post(
                f"{url}/chat/completions", json={"messages": chat, "tools": tools}
            ).status_code
            == 400
        )
        assert httpx.get(f"{url}/models").json()["data"][0]["id"] == "m"
        assert proxy.take("r1") == [] and engine.requests == []
        port = int(proxy.root.rsplit(":", 1)[1])
    with pytest.raises(OSError):  # closed: nothing is left listening
        socket.create_connection(("127.0.0.1", port), timeout=5).close()

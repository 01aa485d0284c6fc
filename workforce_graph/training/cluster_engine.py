"""Flow-GRPO on a cluster: TRL's ``AsyncGRPOTrainer`` with the flow as its agent.

The trainer streams weights into a vLLM server and trains on whatever its rollout worker
queues. :class:`FlowRolloutWorker` is that worker (TRL's ``RolloutWorkerProtocol``): in a
thread of the trainer's first process it runs each task ``num_generations`` times
through the flow (:class:`~workforce_graph.training.cluster_agent.FlowAgent`), the
planner sampled by the vLLM server through an
:class:`~workforce_graph.training.engine_proxy.EngineProxy`, and queues one TRL
``RolloutSample`` per planner turn: the engine's prompt and sampled tokens (only the
sampled ones trained), their behaviour log-probabilities, and the rollout's advantage,
the same on every planner turn of the rollout. A group's samples share one group id,
so TRL counts the tasks it trained on. :func:`cluster_trainer` builds the trainer
around it.

Needs the ``train`` extra, and for :func:`cluster_trainer` vLLM (the trainer's weight
transfer) and a server started with ``vllm serve BASE --weight-transfer-config
'{"backend":"nccl"}'``; see docs/training.md, "An engine for clusters".
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import statistics
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.queues import Queue as MPQueue
from pathlib import Path
from typing import Any

from workforce_graph.training.cluster_agent import AgentRollout, FlowAgent, group_advantages
from workforce_graph.training.engine_proxy import EngineProxy

__all__ = ["ClusterSettings", "FlowRolloutWorker", "cluster_trainer", "group_samples"]


@contextlib.contextmanager
def _quiet_experimental() -> Iterator[None]:
    # TRL warns on every import of trl.experimental; choosing it is documented here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*trl.experimental.*")
        yield


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """The engine's rollout and update settings (AgentFlow's where it has them)."""

    num_generations: int = 8
    """Rollouts per task: the group its advantages are normalised over."""
    temperature: float = 0.7
    top_p: float = 1.0
    max_completion_length: int = 512
    """Tokens of one planner turn."""
    concurrency: int = 8
    """Rollouts at once, of one task's group (groups run one after another)."""
    learning_rate: float = 1e-6
    max_steps: int = 100
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 2
    epsilon: float = 0.2
    max_staleness: int = 4
    """Policy versions a queued sample may lag the trainer before TRL drops it."""
    constrained: bool = True
    """The planner's turns are decoded under its reply's JSON schema, as in-process."""

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise ValueError("num_generations must be >= 2 (advantages need a group)")
        if self.concurrency < 1 or self.max_completion_length < 1:
            raise ValueError("concurrency and max_completion_length must be >= 1")

    def sampling(self) -> dict[str, Any]:
        """What the engine proxy asks vLLM for each turn."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_completion_length,
        }


def group_samples(
    rollouts: Sequence[AgentRollout], *, group_id: int, model_version: int
) -> list[Any]:
    """TRL ``RolloutSample`` s of one task's rollouts: one per planner turn, each with
    its rollout's advantage; none when the group's rewards do not vary.

    A sample's tokens are the engine's prompt ids then its sampled ids; only the
    sampled ones are trained (``completion_mask``), with their behaviour logprobs.
    """
    import numpy as np

    with _quiet_experimental():
        from trl.experimental.async_grpo.async_rollout_worker import RolloutSample

    rewards = [rollout.reward for rollout in rollouts]
    advantages = group_advantages(rewards)
    if advantages is None:
        return []
    spread = statistics.stdev(rewards)
    samples = []
    for rollout, advantage in zip(rollouts, advantages, strict=True):
        for turn in rollout.planner_turns:
            engine = turn.engine
            prompt, completion = engine.prompt_ids, engine.completion_ids
            samples.append(
                RolloutSample(
                    prompt=engine.messages,
                    completion=[{"role": "assistant", "content": engine.text}],
                    input_ids=np.asarray([*prompt, *completion], dtype=np.int64),
                    completion_mask=np.asarray(
                        [0] * len(prompt) + [1] * len(completion), dtype=np.int64
                    ),
                    old_log_probs=np.asarray(
                        [0.0] * len(prompt) + engine.logprobs, dtype=np.float32
                    ),
                    advantage=float(advantage),
                    model_version=model_version,
                    group_id=group_id,
                    metrics={"reward": rollout.reward, "reward_std": spread},
                )
            )
    return samples


class FlowRolloutWorker:
    """TRL's rollout worker protocol, with the flow as the agent.

    Args:
        agent: Runs one rollout of a task.
        tokenizer: The policy's tokenizer (its chat template makes the prompt ids).
        engine_url: The vLLM server's root.
        model: The served model's name (as ``vllm serve`` was given it).
        settings: Group size, sampling and concurrency.
        out: A folder to append every rollout's scored trajectory to
            (``trajectories.jsonl``, which ``workforce-graph export flow-grpo`` reads).

    Raises:
        ValueError: The agent's dataset has no task.
    """

    def __init__(
        self,
        agent: FlowAgent,
        *,
        tokenizer: Any,
        engine_url: str,
        model: str,
        settings: ClusterSettings | None = None,
        out: str | Path | None = None,
    ) -> None:
        if not agent.dataset.tasks:
            raise ValueError(f"dataset {agent.dataset.name} has no task to roll out")
        self.agent = agent
        self.tokenizer = tokenizer
        self.engine_url = engine_url
        self.model = model
        self.settings = settings or ClusterSettings()
        self.out = Path(out) if out is not None else None
        self.lora_name: str | None = None
        """With a LoRA adapter synced to vLLM, its name; each version is ``NAME-vN``."""
        # Typed as TRL's protocol declares them; the worker lives in this process.
        self.rollout_buffer: queue.Queue[Any] | MPQueue[Any] = queue.Queue()
        self.metrics_queue: queue.Queue[Any] | MPQueue[Any] = queue.Queue(maxsize=4096)
        self.groups = 0
        """Groups finished (those with a signal queued, the others dropped)."""
        self._version = 0
        self._beat = time.time()
        self._failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    # -- RolloutWorkerProtocol ------------------------------------------------------

    def start(self) -> None:
        """Start producing in a thread of this process; a second call does nothing."""
        if self._thread is not None:
            return
        self._beat = time.time()
        self._thread = threading.Thread(target=self._run, name="flow-rollouts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Cancel the rollouts in flight and wait for the thread and the proxy to end."""
        self._stop.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def update_model_version(self, model_version: int) -> None:
        self._version = int(model_version)

    def check_health(self, stale_after_s: float) -> None:
        """Raise if producing failed, or nothing happened for ``stale_after_s`` seconds."""
        if self._failure is not None:
            raise RuntimeError(f"the flow rollouts failed: {self._failure}") from self._failure
        age = time.time() - self._beat
        if age > stale_after_s:
            raise RuntimeError(f"no flow rollout progressed for {age:.0f} s")

    # -- producing ------------------------------------------------------------------

    def served_model(self) -> str:
        """The engine's name of the current policy."""
        return f"{self.lora_name}-v{self._version}" if self.lora_name else self.model

    def _beat_now(self) -> None:
        self._beat = time.time()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            pass  # stopped
        except BaseException as exc:  # reported to the trainer by check_health
            self._failure = exc

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        if self._stop.is_set():
            return
        settings = self.settings
        proxy = EngineProxy(
            self.engine_url,
            self.tokenizer,
            model=self.served_model,
            sampling=settings.sampling(),
            constrained=settings.constrained,
            on_turn=self._beat_now,
        )
        gate = asyncio.Semaphore(settings.concurrency)

        async def one(task: Any, sample: int) -> AgentRollout:
            async with gate:
                rollout = await self.agent.rollout(task, proxy, sample=sample)
            self._beat_now()
            return rollout

        with proxy:
            for group_id, task in enumerate(itertools.cycle(self.agent.dataset.tasks)):
                if self._stop.is_set():
                    return
                version = self._version
                rollouts = await asyncio.gather(
                    *(one(task, k) for k in range(settings.num_generations))
                )
                if proxy.capture_error is not None:
                    raise proxy.capture_error
                self._finish_group(list(rollouts), group_id=group_id, version=version)

    def _finish_group(self, rollouts: list[AgentRollout], *, group_id: int, version: int) -> None:
        if self.out is not None:
            from workforce_graph.trajectory.format import append_trajectory

            for rollout in rollouts:
                append_trajectory(self.out / "trajectories.jsonl", rollout.trajectory)
        samples = group_samples(rollouts, group_id=group_id, model_version=version)
        for sample in samples:
            sample.enqueued_at = time.time()
            self.rollout_buffer.put(sample)
        self.groups += 1
        rewards = [r.reward for r in rollouts]
        figures: dict[str, Any] = {
            "flow/reward_mean": statistics.fmean(rewards),
            "flow/planner_turns_mean": statistics.fmean(len(r.planner_turns) for r in rollouts),
            "flow/dropped_groups": (0.0 if samples else 1.0, 1.0),
        }
        # A trainer that stopped reading metrics must not stop the rollouts.
        with contextlib.suppress(queue.Full):
            self.metrics_queue.put_nowait(figures)


def cluster_trainer(
    agent: FlowAgent,
    *,
    base: str,
    out: str | Path,
    engine_url: str = "http://localhost:8000",
    served_model: str | None = None,
    settings: ClusterSettings | None = None,
    weight_transfer: Any = None,
    **config: Any,
) -> Any:
    """TRL's ``AsyncGRPOTrainer`` training the planner ``base`` with the flow as agent.

    Args:
        agent: The flow and its tasks (``agent.dataset``).
        base: The planner to train: ``local`` or a model directory (the same path the
            vLLM server was started with).
        out: The trainer's output directory; the rollouts' trajectories go there too.
        engine_url: The vLLM server (``vllm serve BASE --weight-transfer-config
            '{"backend":"nccl"}'``).
        served_model: The server's model name (default: ``base`` as resolved).
        settings: Group size, sampling, concurrency and the update's settings.
        weight_transfer: TRL's weight-sync backend (default: NCCL into the vLLM server,
            which needs vLLM installed here too).
        **config: Further ``AsyncGRPOConfig`` fields; they win.

    Returns:
        The trainer; ``trainer.train()`` runs until ``max_steps``.
    """
    from datasets import Dataset
    from transformers import AutoTokenizer

    with _quiet_experimental():
        from trl.experimental.async_grpo.async_grpo_config import AsyncGRPOConfig
        from trl.experimental.async_grpo.async_grpo_trainer import AsyncGRPOTrainer

    from workforce_graph.training.base_model import resolve_base_model

    settings = settings or ClusterSettings()
    model = str(resolve_base_model(base))
    folder = Path(out)
    arguments = AsyncGRPOConfig(
        output_dir=str(folder),
        vllm_server_base_url=engine_url,
        num_generations=settings.num_generations,
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_completion_length=settings.max_completion_length,
        learning_rate=settings.learning_rate,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        epsilon=settings.epsilon,
        max_staleness=settings.max_staleness,
        **config,
    )
    tokenizer = AutoTokenizer.from_pretrained(model)
    worker = FlowRolloutWorker(
        agent,
        tokenizer=tokenizer,
        engine_url=engine_url,
        model=served_model or model,
        settings=settings,
        out=folder / "rollouts",
    )
    # TRL counts epochs in prompts of this table; the worker reads the tasks themselves.
    prompts = Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": t.question}] for t in agent.dataset.tasks],
            "task_id": [t.task_id for t in agent.dataset.tasks],
        }
    )
    trainer = AsyncGRPOTrainer(
        model=model,
        args=arguments,
        train_dataset=prompts,
        processing_class=tokenizer,
        rollout_worker=worker,
        weight_transfer=weight_transfer,
    )
    if getattr(trainer, "_lora_sync", False):  # the adapter is served under its own name
        worker.lora_name = str(trainer._lora_name)
    return trainer

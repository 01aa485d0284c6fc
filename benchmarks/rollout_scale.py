"""Rollouts per minute of the on-policy loop's rollout phase, by concurrency and executor.

The planner is the bundled SmolLM2-135M served by a real ``llama_cpp.server`` (started
here, as ``train flow-grpo --rollout-server llama-cpp`` starts it); the other roles are
scripted, so the planner's server is what the rollouts wait on. One run measures, on
the same questions, after one unmeasured warm-up phase: concurrency 1, 2 and 4 in this
process, then 1 and 2 local Ray
workers (``--executor ray``, a throwaway PostgreSQL as the shared checkpointer), and
prints each as rollouts/min and as a ratio to concurrency 1.

    python benchmarks/rollout_scale.py [--questions 4] [--rollouts 2] [--no-ray]

llama_cpp.server answers one request at a time, so concurrency overlaps only what is
not the planner's decoding; a vLLM server batches requests and scales further.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask  # noqa: E402
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT  # noqa: E402
from workforce_graph.testing import ScriptedChatModel  # noqa: E402
from workforce_graph.training.rollout_pool import (  # noqa: E402
    RolloutPool,
    ServedGraphSpec,
    run_rollouts,
)
from workforce_graph.training.served_policy import LlamaCppServer, ServedPolicy  # noqa: E402
from workforce_graph.workers import WorkerSpec  # noqa: E402


def others() -> ScriptedChatModel:
    """The roles other than the planner: instant scripted replies."""
    answers = itertools.cycle(["FINAL ANSWER: 4", "FINAL ANSWER: 5"])
    return ScriptedChatModel(responders={"worker": "4", "generator": lambda m: next(answers)})


def workers() -> list[WorkerSpec]:
    return [WorkerSpec(name="reasoning", description="Reasons.", capabilities=("reasoning",))]


def dataset(questions: int) -> EvalDataset:
    tasks = [EvalTask(f"q{i}", f"What is {i} + 2?", str(i + 2), "sum") for i in range(questions)]
    return EvalDataset(name="sums", tasks=tasks, answer_format=GAIA_ANSWER_FORMAT)


async def measure(
    served: ServedPolicy, data: EvalDataset, rollouts: int, pool: RolloutPool, out: Path
) -> float:
    """Rollouts per minute of one rollout phase."""
    graph = ServedGraphSpec(
        topology="workforce",
        role_models={"planner": served.label},
        options={"max_plan_attempts": 1},
        model_factory=others,
        workers_factory=workers,
        served=served,
    )
    started = time.perf_counter()
    summary, ran = await run_rollouts(
        data,
        graph,
        out,
        samples=rollouts,
        limit=None,
        pool=pool,
        policy_version=0,
        timeout_s=600,
        label="rollouts",
        progress=False,
    )
    assert ran == summary["runs"] == len(data.tasks) * rollouts, summary
    return 60.0 * ran / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--rollouts", type=int, default=2, help="per question")
    parser.add_argument("--max-tokens", type=int, default=48, help="of a planner reply")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray executor")
    args = parser.parse_args()
    from workforce_graph.models.llama_runtime import bundled_model_path

    data = dataset(args.questions)
    figures: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as folder,
        LlamaCppServer(Path(folder) / "server.log") as server,
    ):
        base_url = server.start(bundled_model_path(), "planner-v0")
        served = ServedPolicy(
            kind="llama-cpp", base_url=base_url, base_name="planner-v0", max_tokens=args.max_tokens
        )
        runs: list[tuple[str, RolloutPool]] = [
            (f"local, concurrency {n}", RolloutPool(concurrency=n)) for n in (1, 2, 4)
        ]
        dsn_context: Any = None
        if not args.no_ray:
            import ray

            from tests.pg_server import postgres_dsn

            dsn_context = postgres_dsn()
            dsn = dsn_context.__enter__()
            runs += [
                (f"ray, {n} workers", RolloutPool(concurrency=n, executor="ray", db=dsn))
                for n in (1, 2)
            ]
        try:
            # Not measured: the first phase pays one-time costs (imports, the server's
            # first prompt) that would otherwise count against concurrency 1 alone.
            asyncio.run(measure(served, dataset(1), 1, RolloutPool(), Path(folder) / "warm-up"))
            for index, (name, pool) in enumerate(runs):
                if pool.executor == "ray":
                    ray.shutdown()  # a fresh local instance with as many workers as runs
                    ray.init(
                        num_cpus=pool.concurrency, include_dashboard=False, log_to_driver=False
                    )
                out = Path(folder) / f"run-{index}"
                figures[name] = asyncio.run(measure(served, data, args.rollouts, pool, out))
                print(f"{name}: {figures[name]:.1f} rollouts/min", flush=True)
        finally:
            if dsn_context is not None:
                ray.shutdown()
                dsn_context.__exit__(None, None, None)
    first = figures["local, concurrency 1"]
    table = {
        name: {"per_min": round(v, 2), "ratio": round(v / first, 2)} for name, v in figures.items()
    }
    print(
        json.dumps(
            {"questions": args.questions, "rollouts": args.rollouts, "runs": table}, indent=2
        )
    )


if __name__ == "__main__":
    main()

"""Flow-GRPO through TRL's asynchronous GRPO trainer, the flow as its agent (GPU only).

The optional step of benchmarks/gpu_training.py (``--engine-url``): the planner ``BASE``
is trained by TRL's ``AsyncGRPOTrainer`` while a vLLM server samples its turns. Start
the server first, on its own GPU, with the same model directory::

    CUDA_VISIBLE_DEVICES=1 vllm serve BASE --max-model-len 8192 \\
        --weight-transfer-config '{"backend":"nccl"}'
    python benchmarks/cluster_engine_step.py --base BASE --engine-url http://localhost:8000

The trainer also needs vLLM (its NCCL weight transfer) and the ``kernels`` package
(TRL's packed attention is FlashAttention-3, fetched from the Hugging Face Hub). Prints
the steps, seconds, rollout groups, samples and the rollouts' mean reward; writes
OUT/cluster_report.json. Without vLLM here it says so and does nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from curriculum import curriculum

from workforce_graph.training.cluster_agent import FlowAgent
from workforce_graph.training.cluster_engine import ClusterSettings, cluster_trainer


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the planner, as vllm serve was given it")
    parser.add_argument("--engine-url", default="http://localhost:8000")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu/cluster"))
    parser.add_argument("--model", default="local", help="model of the other roles")
    parser.add_argument("--train-questions", type=int, default=6, help="per family")
    parser.add_argument(
        "--generations", type=int, default=8, help="rollouts per task (AgentFlow: 8)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="rollouts at once")
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps")
    return parser


def cluster_step(args: argparse.Namespace) -> dict[str, Any] | None:
    """Train ``args.steps`` steps; the figures, or ``None`` when vLLM is not installed."""
    if importlib.util.find_spec("vllm") is None:
        print("cluster engine step skipped: vLLM is not installed here", flush=True)
        return None
    tasks = curriculum(args.train_questions, seed=1, name="cluster-train")
    agent = FlowAgent(dataset=tasks, model=args.model)
    settings = ClusterSettings(
        num_generations=args.generations, concurrency=args.concurrency, max_steps=args.steps
    )
    trainer = cluster_trainer(
        agent, base=args.base, out=args.out, engine_url=args.engine_url, settings=settings
    )
    worker = trainer.rollout_worker
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    rewards = [float(json.loads(line)["outcome"]["score"]) for line in _lines(args.out)]
    report = {
        "steps": args.steps,
        "seconds": round(seconds, 1),
        "groups": worker.groups,
        "rollouts": len(rewards),
        "rollouts_per_min": round(60 * len(rewards) / seconds, 1) if seconds else None,
        "mean_reward": sum(rewards) / len(rewards) if rewards else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cluster_report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"cluster_engine": report}), flush=True)
    return report


def _lines(out: Path) -> list[str]:
    path = out / "rollouts" / "trajectories.jsonl"
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


if __name__ == "__main__":
    cluster_step(parser().parse_args())

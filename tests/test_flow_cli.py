"""``workforce-graph run --topology flow``, ``show``, ``runs`` and ``resume`` on the flow,
against the fake OpenAI-compatible server."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

from tests.fake_openai import FakeOpenAI
from tests.test_cli import Streaming, cli, cli_env, model_args

__all__ = ["cli_env"]  # the fixture, shared with test_cli


def next_step(messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    turn = int(re.findall(r"Turn (\d+) of at most", json.dumps(messages))[0])
    return {"justification": "j", "context": "", "sub_goal": f"part {turn}", "worker": "reasoning"}


def stop_at_turn(turn: int) -> Any:
    def verdict(messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
        done = f"Turn {turn} · worker" in json.dumps(messages, ensure_ascii=False)
        return {"reason": "r", "decision": "STOP" if done else "CONTINUE"}

    return verdict


def test_flow_run_json_then_show_and_runs(cli_env: dict[str, str], tmp_path: Path) -> None:
    responders = {"planner": next_step, "flow_verifier": stop_at_turn(2)}
    with FakeOpenAI(answer="Forty-two.", responders=responders) as fake:
        done = cli(
            cli_env,
            "run",
            "Six times seven?",
            *model_args(fake),
            "--topology",
            "flow",
            "--json",
            "--record",
            str(tmp_path),
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        roles = [c["role"] for c in fake.calls()]
    assert result["answer"] == "Forty-two." and result["complete"] is True
    assert result["topology"] == "flow" and result["stop"] == "verifier"
    assert [(t["turn"], t["sub_goal"], t["verdict"]) for t in result["turns"]] == [
        (1, "part 1", "continue"),
        (2, "part 2", "stop"),
    ]
    assert [r["id"] for r in result["results"]] == ["t1", "t2"]
    assert set(result["usage"]) == {
        "query_analysis",
        "planner",
        "executor:reasoning",
        "verifier",
        "generator",
    }
    assert roles == ["query_analysis"] + ["planner", "worker", "flow_verifier"] * 2 + ["generator"]

    shown = cli(cli_env, "show", result["thread_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["turns"] == result["turns"]
    table = cli(cli_env, "show", result["thread_id"])
    assert "Turns" in table.stdout and "part 2" in table.stdout
    listed = json.loads(cli(cli_env, "runs", "--json").stdout)
    assert listed[0]["thread_id"] == result["thread_id"] and listed[0]["topology"] == "flow"
    (recorded,) = [json.loads(line) for line in (tmp_path / "trajectories.jsonl").open()]
    assert recorded["topology"] == "flow"
    assert [c["turn"] for c in recorded["calls"] if c["role"] == "planner"] == [1, 2]


def test_flow_sigkill_then_resume_goes_on_at_the_next_turn(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    responders = {"planner": next_step, "flow_verifier": stop_at_turn(3)}
    with FakeOpenAI(responders=responders, worker_delays={"t2": 120}) as fake:
        run = Streaming(
            cli_env, "run", "Three parts", *model_args(fake), "--topology", "flow", "--events"
        )
        try:
            # Turn 2's worker started: turn 1 and turn 2's plan are checkpointed
            # (the CLI writes each step before the next one starts).
            run.wait_for(
                lambda seen: any(
                    e["event"] == "started" and e.get("subtask_id") == "t2" for e in seen
                )
            )
            thread_id = run.seen[0]["thread_id"]
            run.process.send_signal(signal.SIGKILL)
            run.process.wait(timeout=30)
        finally:
            run.process.kill()
        fake.worker_delays.clear()

        done = cli(cli_env, "resume", thread_id, "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        workers = [c["subtask_id"] for c in fake.calls("worker")]
        planner_calls = len(fake.calls("planner"))
    assert result["complete"] is True and result["thread_id"] == thread_id
    assert [t["turn"] for t in result["turns"]] == [1, 2, 3]
    # Turn 1 ran once; turn 2's worker, cut off by the kill, ran again; nothing replanned.
    assert workers == ["t1", "t2", "t2", "t3"]
    assert planner_calls == 3

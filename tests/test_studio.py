"""LangGraph Studio: ``langgraph dev`` loads ``langgraph.json`` and runs the graphs.

The server runs as a subprocess from the repository root, with its models pointed at
the fake OpenAI-compatible server of ``tests/fake_openai.py`` and every telemetry or
version check that could reach the network switched off.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 120.0

if (
    importlib.util.find_spec("langgraph_api") is None
    or importlib.util.find_spec("langgraph_cli") is None
):
    if os.environ.get("CI"):
        raise RuntimeError(
            "CI needs langgraph-cli[inmem] for the Studio test: pip install -e '.[studio]'"
        )
    pytest.skip(
        "langgraph-cli[inmem] is not installed (pip install 'langgraph-cli[inmem]')",
        allow_module_level=True,
    )

from langgraph_sdk import get_client  # noqa: E402  (after the skip: ships with langgraph-api)

PLAN = [
    {"id": "look", "description": "Find the greeting", "capabilities": ["reasoning"]},
    {"id": "say", "description": "Say it", "capabilities": ["reasoning"], "depends_on": ["look"]},
]

OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # langgraph-cli posts usage analytics otherwise
    "LANGGRAPH_NO_VERSION_CHECK": "true",  # langgraph-api asks PyPI for a newer version
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TRACING_V2": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "WORKFORCE_GRAPH_PLUGINS": "reasoning",  # one worker, whatever else is installed
}
REMOVED_ENV = (
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGGRAPH_CLOUD_LICENSE_KEY",
    "LANGSMITH_CONTROL_PLANE_API_KEY",
    "OPENAI_API_KEY",
    "WORKFORCE_GRAPH_PLANNER_MODEL",
    "WORKFORCE_GRAPH_COORDINATOR_MODEL",
    "WORKFORCE_GRAPH_WORKER_MODEL",
    "WORKFORCE_GRAPH_VERIFIER_MODEL",
    "WORKFORCE_GRAPH_GENERATOR_MODEL",
)


@dataclass
class Studio:
    url: str
    fake: FakeOpenAI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(
        f"langgraph dev was not ready after {READY_TIMEOUT_S:.0f} s:\n{log.read_text()[-4000:]}"
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and its reloader/worker children (its own process group)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def langgraph_dev(log: Path, answer: str) -> Iterator[Studio]:
    """``langgraph dev`` on this repository's ``langgraph.json`` and a free port, its
    models pointed at a fake OpenAI server answering ``answer``; stopped on leaving."""
    port = free_port()
    with FakeOpenAI(plan=PLAN, answer=answer) as fake:
        env = {k: v for k, v in os.environ.items() if k not in REMOVED_ENV}
        env.update(
            OFFLINE_ENV,
            WORKFORCE_GRAPH_MODEL="fake-model",
            WORKFORCE_GRAPH_BASE_URL=fake.base_url,
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        )
        command = [sys.executable, "-m", "langgraph_cli", "dev", "--no-browser", "--no-reload"]
        command += ["--port", str(port), "--host", "127.0.0.1"]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(proc, url, log)
            yield Studio(url=url, fake=fake)
        finally:
            stop(proc)


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    config = json.loads((REPO / "langgraph.json").read_text())
    assert "env" not in config or (REPO / config["env"]).exists()
    log = tmp_path_factory.mktemp("studio") / "langgraph-dev.log"
    with langgraph_dev(log, "Hello from the studio graph.") as studio:
        yield studio


async def test_studio_lists_both_graphs_with_their_context_options(studio: Studio) -> None:
    client = get_client(url=studio.url)
    assistants = await client.assistants.search()
    assert {a["graph_id"] for a in assistants} == {"workforce", "workforce_review", "flow"}
    workforce = next(a for a in assistants if a["graph_id"] == "workforce")
    schemas = await client.assistants.get_schemas(workforce["assistant_id"])
    context = schemas["context_schema"]
    assert context is not None, "the context options are missing from the assistant's schemas"
    options = context["properties"]
    assert {"model", "planner_model", "max_replans", "verify_results"} <= set(options)
    flow = next(a for a in assistants if a["graph_id"] == "flow")
    flow_options = (await client.assistants.get_schemas(flow["assistant_id"]))["context_schema"]
    assert {"max_turns", "executor_model", "memory_budget_tokens"} <= set(
        flow_options["properties"]
    )


def test_studio_can_show_the_input_and_output_forms() -> None:
    from workforce_graph.studio import graph

    assert {"task", "messages"} <= set(graph.get_input_jsonschema()["properties"])
    output = graph.get_output_jsonschema()  # the reply, one value (server_protocols)
    reply = output["$defs"][output["$ref"].rsplit("/", 1)[-1]]
    assert "answer" in reply["properties"]


async def test_studio_runs_a_task_on_the_configured_model(studio: Studio) -> None:
    before = len(studio.fake.calls())
    client = get_client(url=studio.url)
    thread = await client.threads.create()
    out: Any = await client.runs.wait(
        thread["thread_id"], "workforce", input={"task": "Greet the user"}
    )
    assert out["answer"] == {"text": "Hello from the studio graph.", "complete": True, "failed": []}
    # The run's output is the answer (server_protocols); the thread keeps the whole state.
    state: Any = await client.threads.get_state(thread["thread_id"])
    assert [(s["id"], s["status"], s["result"]) for s in state["values"]["subtasks"]] == [
        ("look", "done", "Result of look."),
        ("say", "done", "Result of say."),
    ]
    roles = [c["role"] for c in studio.fake.calls()[before:]]
    assert roles.count("planner") == 1 and roles.count("worker") == 2 and roles[-1] == "generator"


async def test_studio_pauses_for_plan_review_and_resumes(studio: Studio) -> None:
    client = get_client(url=studio.url)
    thread = await client.threads.create()
    paused: Any = await client.runs.wait(
        thread["thread_id"], "workforce_review", input={"task": "Greet the user"}
    )
    review = paused["__interrupt__"][0]
    assert review["value"]["kind"] == "plan_review"
    assert [s["id"] for s in review["value"]["subtasks"]] == ["look", "say"]
    assert review["response_schema"]["discriminator"]["propertyName"] == "action"
    state: Any = await client.threads.get_state(thread["thread_id"])
    assert state["next"] == ["review_plan"]

    edit = {
        "action": "edit",
        "subtasks": [{"id": "only", "description": "Just say hi", "capabilities": ["reasoning"]}],
    }
    out: Any = await client.runs.wait(
        thread["thread_id"], "workforce_review", command={"resume": edit}
    )
    assert out["answer"]["complete"] is True
    state = await client.threads.get_state(thread["thread_id"])
    assert [(s["id"], s["result"]) for s in state["values"]["subtasks"]] == [
        ("only", "Result of only.")
    ]


async def test_studio_streams_the_progress_events(studio: Studio) -> None:
    client = get_client(url=studio.url)
    events = [
        part.data
        async for part in client.runs.stream(
            None, "workforce", input={"task": "Greet the user"}, stream_mode="custom"
        )
        if part.event == "custom"
    ]
    kinds = [e["event"] for e in events]
    # The server's store keeps earlier tests' runs, so the planner may first be shown
    # similar past runs (a past_runs event) before it plans.
    planning = kinds.index("plan")
    assert set(kinds[:planning]) <= {"past_runs"} and kinds[-1] == "answer"
    assert [e["subtask_id"] for e in events if e["event"] == "finished"] == ["look", "say"]


async def test_studio_run_context_picks_the_models(studio: Studio) -> None:
    models: dict[str, list[str]] = {"planner": [], "worker": [], "probe": []}

    def recording(role: str) -> Any:
        def reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
            # A model the server does not list is checked once with a one-token call.
            probe = messages == [{"role": "user", "content": "Say OK."}]
            models["probe" if probe else role].append(body["model"])
            if role == "planner":
                return {
                    "subtasks": [
                        {
                            "id": "one",
                            "description": "Do it",
                            "capabilities": ["reasoning"],
                            "depends_on": [],
                        }
                    ]
                }
            return "done by the worker"

        return reply

    studio.fake.responders.update(planner=recording("planner"), worker=recording("worker"))
    try:
        client = get_client(url=studio.url)
        out: Any = await client.runs.wait(
            None, "workforce", input={"task": "t"}, context={"planner_model": "big-planner"}
        )
    finally:
        studio.fake.responders.clear()
    assert out["answer"]["complete"] is True
    assert models == {
        "planner": ["big-planner"],
        "worker": ["fake-model"],
        "probe": ["big-planner"],
    }


async def test_studio_runs_the_flow_and_shows_its_memory(studio: Studio) -> None:
    def next_step(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
        return {"justification": "j", "context": "", "sub_goal": "greet", "worker": "reasoning"}

    studio.fake.responders.update(planner=next_step)
    try:
        client = get_client(url=studio.url)
        thread = await client.threads.create()
        out: Any = await client.runs.wait(
            thread["thread_id"], "flow", input={"task": "Greet the user"}
        )
    finally:
        studio.fake.responders.clear()
    assert out["answer"] == {"text": "Hello from the studio graph.", "complete": True, "failed": []}
    state: Any = await client.threads.get_state(thread["thread_id"])
    memory = state["values"]["memory"]
    assert [(r["turn"], r["worker"], r["status"], r["verdict"]) for r in memory] == [
        (1, "reasoning", "done", "stop")
    ]
    assert state["values"]["analysis"]["capabilities"] == ["reasoning"]

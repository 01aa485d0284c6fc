"""Token streaming: every model call's chunks carry their role, in both topologies, the
sync and async APIs and the in-process models; the answer's tokens can be told apart;
the CLI writes the answer to a terminal as it is produced (tested on a real pty)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk
from langgraph.checkpoint.memory import InMemorySaver

from tests.conftest import spec
from tests.fake_openai import FakeOpenAI
from tests.streaming_cli import ANSWER, GATE_ENV
from workforce_graph import (
    aanswer_tokens,
    answer_tokens,
    build_flow_graph,
    build_workforce_graph,
)
from workforce_graph.cli.answer_stream import rest_to_write
from workforce_graph.testing import ScriptedChatModel, plan_reply

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "tests" / "streaming_cli.py"
WORKERS = [spec("reasoning", "reasoning")]
THE_ANSWER = "Paris is the capital of France."
SAFETY_S = 60.0
"""How long a read may wait before the test fails (a hang, not a pace)."""


PLANS = {
    "workforce": plan_reply(
        {"id": "s1", "description": "Find the capital", "capabilities": ["reasoning"]}
    ),
    "flow": {
        "justification": "first",
        "context": "",
        "sub_goal": "Find the capital",
        "worker": "reasoning",
    },
}


def scripted(topology: str = "workforce", **extra: Any) -> ScriptedChatModel:
    return ScriptedChatModel(
        responders={
            "planner": PLANS[topology],
            "worker": "The capital is Paris.",
            "query_analysis": {
                "needs": "a city",
                "capabilities": ["reasoning"],
                "answer_form": "a sentence",
            },
            "executor": "The capital is Paris.",
            "verifier": {"reason": "enough", "decision": "STOP"},
            "generator": THE_ANSWER,
            **extra,
        }
    )


BUILDERS: dict[str, Callable[..., Any]] = {
    "workforce": build_workforce_graph,
    "flow": lambda **kw: build_flow_graph(**kw),
}
ROLES = {
    "workforce": {"planner", "worker", "generator"},
    "flow": {"query_analysis", "planner", "executor", "verifier", "generator"},
}


def compiled(topology: str, model: Any, **options: Any) -> Any:
    return BUILDERS[topology](model=model, workers=WORKERS, **options).compile(
        checkpointer=InMemorySaver()
    )


def config() -> dict[str, Any]:
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


def check_stream(topology: str, items: list[Any]) -> None:
    """Every model chunk names its role; the generator's add up to the answer."""
    chunks = [chunk for mode, chunk in items if mode == "messages"]
    final = [v for mode, v in items if mode == "values"][-1]
    model_chunks = [(m, meta) for m, meta in chunks if isinstance(m, AIMessageChunk)]
    assert all(meta.get("workforce_role") for _, meta in model_chunks)
    assert {meta["workforce_role"] for _, meta in model_chunks} >= ROLES[topology]
    planner = "".join(
        str(m.content) for m, meta in model_chunks if meta["workforce_role"] == "planner"
    )
    assert planner.startswith("{")  # the planner's JSON, under its own role
    answer = [str(m.content) for m, meta in model_chunks if meta["workforce_role"] == "generator"]
    assert len(answer) > 1
    assert "".join(answer) == final["answer"]["text"] == THE_ANSWER


@pytest.mark.parametrize("topology", ["workforce", "flow"])
async def test_async_chunks_carry_their_role(topology: str) -> None:
    graph = compiled(topology, scripted(topology))
    stream = graph.astream({"task": "t"}, config(), stream_mode=["messages", "values"])
    items = [item async for item in stream]
    check_stream(topology, items)


@pytest.mark.parametrize("topology", ["workforce", "flow"])
def test_sync_chunks_carry_their_role(topology: str) -> None:
    graph = compiled(topology, scripted(topology))
    items = list(graph.stream({"task": "t"}, config(), stream_mode=["messages", "values"]))
    check_stream(topology, items)


@pytest.mark.parametrize("topology", ["workforce", "flow"])
def test_answer_tokens_keeps_only_the_answer(topology: str) -> None:
    graph = compiled(topology, scripted(topology))
    tokens = list(answer_tokens(graph.stream({"task": "t"}, config(), stream_mode="messages")))
    assert len(tokens) > 1
    assert "".join(tokens) == THE_ANSWER


@pytest.mark.parametrize("topology", ["workforce", "flow"])
async def test_aanswer_tokens_reads_a_stream_of_several_modes(topology: str) -> None:
    graph = compiled(topology, scripted(topology))
    stream = graph.astream({"task": "t"}, config(), stream_mode=["custom", "messages", "values"])
    assert "".join([t async for t in aanswer_tokens(stream)]) == THE_ANSWER


async def test_an_incomplete_answer_streams_the_reply_and_adds_its_note() -> None:
    model = scripted(worker=RuntimeError("the worker broke"))
    graph = compiled("workforce", model, max_retries=0, max_replans=0)
    stream = graph.astream({"task": "t"}, config(), stream_mode=["messages", "values"])
    items = [item async for item in stream]
    streamed = "".join(answer_tokens(items))
    final = [v for mode, v in items if mode == "values"][-1]["answer"]
    assert not final["complete"]
    assert final["text"].startswith(streamed) and "Note: this answer is incomplete" in final["text"]
    assert rest_to_write(streamed, final["text"]) == final["text"][len(streamed) :]


def test_the_scripted_model_paces_its_chunks() -> None:
    model = scripted()
    model.token_latency_s = 0.05
    graph = compiled("workforce", model)
    arrivals = [
        time.perf_counter()
        for _ in answer_tokens(graph.stream({"task": "t"}, config(), stream_mode="messages"))
    ]
    # Ten pieces, nine waits between them: the tokens came one by one, not at once.
    assert arrivals[-1] - arrivals[0] >= 9 * 0.05 * 0.9


def test_a_server_model_streams_with_its_usage_counted() -> None:
    def run(modes: list[str]) -> list[Any]:
        with FakeOpenAI(
            plan=[{"id": "s1", "description": "Say hi", "capabilities": ["reasoning"]}],
            answer=THE_ANSWER,
        ) as server:
            graph = build_workforce_graph(
                model="fake-model", base_url=server.base_url, workers=WORKERS
            ).compile(checkpointer=InMemorySaver())
            items = list(graph.stream({"task": "t"}, config(), stream_mode=modes))
            assert all(c["body"].get("stream") == ("messages" in modes) for c in server.calls())
            return items

    streamed = run(["messages", "values"])
    assert "".join(answer_tokens(streamed)) == THE_ANSWER
    roles = {chunk[1].get("workforce_role") for mode, chunk in streamed if mode == "messages"}
    assert roles >= {"planner", "worker", "generator"}
    plain = run(["values"])
    # Streamed calls count their tokens as the same calls unstreamed do.
    assert streamed[-1][1]["usage"] == plain[-1][1]["usage"]
    assert streamed[-1][1]["usage"]["generator"]["output_tokens"] > 0


# --------------------------------------------------------------------------- local model


def test_the_local_model_streams_the_answer_token_by_token() -> None:
    from workforce_graph.models.local import local_chat_model

    local = local_chat_model(max_tokens=12, n_ctx=2048)
    prompt = "Name three colours."
    whole = local.invoke(prompt)
    chunks = list(local.stream(prompt))
    assert len([c for c in chunks if c.content]) > 1
    joined = chunks[0]
    for chunk in chunks[1:]:
        joined += chunk
    # The same reply, usage and token ids as the unstreamed call (greedy decoding).
    assert joined.content == whole.content
    assert joined.usage_metadata == whole.usage_metadata
    assert joined.response_metadata["token_ids"] == whole.response_metadata["token_ids"]
    assert joined.response_metadata["finish_reason"] == whole.response_metadata["finish_reason"]

    graph = compiled("workforce", scripted(), role_models={"generator": local})
    items = list(graph.stream({"task": "t"}, config(), stream_mode=["messages", "values"]))
    messages = [chunk for mode, chunk in items if mode == "messages"]
    answer = [
        (message.id, str(message.content))
        for message, meta in messages
        if meta.get("workforce_role") == "generator"
    ]
    # The answer's first call came in many pieces (a reply this small model writes
    # may then be cut off and asked again: the final text is the generator's to keep).
    first = [text for call, text in answer if call == answer[0][0]]
    assert len([text for text in first if text]) > 1
    assert len(list(answer_tokens(items))) > 1


async def test_an_hf_model_streams_its_reply(base: Path) -> None:
    from workforce_graph.models.hf import hf_chat_model

    model = hf_chat_model(base, max_new_tokens=8, constrained=False)
    prompt = "Name three colours."
    whole = await model.ainvoke(prompt)
    chunks = [chunk async for chunk in model.astream(prompt)]
    assert len([c for c in chunks if c.content]) > 1
    joined = chunks[0]
    for chunk in chunks[1:]:
        joined += chunk
    assert joined.content == whole.content
    assert joined.usage_metadata == whole.usage_metadata


# --------------------------------------------------------------------------- the CLI


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WORKFORCE_GRAPH_") and not k.endswith("_API_KEY") and k != GATE_ENV
    }
    env.update(
        WORKFORCE_GRAPH_DB=str(tmp_path / "runs.sqlite"),
        WORKFORCE_GRAPH_PLUGINS="reasoning",
        LANGSMITH_TRACING="false",
        PYTHONPATH=str(ROOT),
        COLUMNS="120",
    )
    return env


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # A fresh store for every run: nothing earlier (a remembered run) joins in.
        [sys.executable, str(LAUNCHER), "run", "the task", "--db", "memory", *args],
        env=cli_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


class PtyReader:
    """Reads a pty's output as it comes, up to what a test waits for."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = b""

    def until(self, text: str) -> None:
        deadline = time.monotonic() + SAFETY_S
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never came; output so far: {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:  # EIO: the other side closed
                    data = b""
                assert data, f"the process ended before {text!r}; output: {self.seen!r}"
                self.seen += data

    def rest(self) -> bytes:
        while True:
            ready, _, _ = select.select([self.fd], [], [], SAFETY_S)
            assert ready, "the process never closed its terminal"
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                return self.seen
            if not data:
                return self.seen
            self.seen += data


@contextlib.contextmanager
def gated_run_on_a_terminal(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[bytes], PtyReader, int]]:
    """``run`` on a pseudo-terminal, its answer written a piece each time a byte is
    written to the gate; yields the process, the terminal's reader and the gate."""
    master, slave = os.openpty()
    gate_read, gate_write = os.pipe()
    env = {**cli_env(tmp_path), GATE_ENV: str(gate_read)}
    process = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "run", "the task", "--db", "memory"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        pass_fds=[gate_read],
    )
    os.close(slave)
    os.close(gate_read)
    try:
        yield process, PtyReader(master), gate_write
    finally:
        os.close(gate_write)
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()


def test_on_a_terminal_the_answer_is_written_as_it_is_produced(tmp_path: Path) -> None:
    with gated_run_on_a_terminal(tmp_path) as (process, reader, gate_write):
        words = ANSWER.split()
        reader.until(words[0])
        for word in words[1:]:
            # The answer is on the terminal so far, and the process still runs: it
            # waits for the gate before writing the next piece (a space, then a word).
            assert process.poll() is None
            assert word.encode() not in reader.seen
            os.write(gate_write, b"..")
            reader.until(word)
        output = reader.rest()
        assert process.wait(timeout=SAFETY_S) == 0
    text = output.decode("utf-8", "replace")
    assert text.count(ANSWER) == 1  # written once, not again at the end
    assert "Usage" in text  # what the run prints after the answer still comes


def test_ctrl_c_during_the_answer_ends_its_line_before_saying_so(tmp_path: Path) -> None:
    with gated_run_on_a_terminal(tmp_path) as (process, reader, _gate):
        first = ANSWER.split()[0]
        reader.until(first)  # the answer has begun, and waits at the gate
        process.send_signal(signal.SIGINT)
        output = reader.rest()
        assert process.wait(timeout=SAFETY_S) == 130
    text = output.decode("utf-8", "replace")
    # The half-written answer's line is ended: the notice starts on a line of its own.
    assert re.search(rf"{first}\r?\n(\s*\r?\n)*Interrupted run ", text), text


def test_off_a_terminal_the_output_is_unchanged(tmp_path: Path) -> None:
    done = run_cli(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ANSWER + "\n"


def test_json_output_is_unchanged(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["answer"] == ANSWER and summary["complete"] is True
    assert "token" not in done.stdout.replace('"output_tokens"', "").replace('"input_tokens"', "")


def test_token_events_come_only_when_asked(tmp_path: Path) -> None:
    plain = run_cli(tmp_path, "--events")
    assert plain.returncode == 0, plain.stderr
    names = [json.loads(line)["event"] for line in plain.stdout.splitlines()]
    assert "token" not in names and names[-1] == "end"

    asked = run_cli(tmp_path, "--events", "--tokens")
    assert asked.returncode == 0, asked.stderr
    events = [json.loads(line) for line in asked.stdout.splitlines()]
    tokens = [e for e in events if e["event"] == "token"]
    assert len(tokens) > 1
    assert {(e["role"], e["call"]) for e in tokens} == {("generator", 1)}
    assert "".join(e["text"] for e in tokens) == ANSWER
    names = [e["event"] for e in events]
    assert names.index("answer") > max(i for i, n in enumerate(names) if n == "token")
    # Apart from the token lines, the same events in the same order.
    assert [n for n in names if n != "token"] == [
        json.loads(line)["event"] for line in plain.stdout.splitlines()
    ]


def test_tokens_without_events_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "--tokens")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "workforce-graph: error: --tokens adds the answer's tokens to --events; give both"
    ]

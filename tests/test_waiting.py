"""The line a run prints while it waits on a model call names the limit that applies.

A model server's call is cut at --call-timeout; a model computed in this process
(local, gguf:, hf:) has no time limit, so its line says so instead of naming one. A
scripted clock stands in for time.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import uuid4

import pytest
from langchain_core.load.serializable import to_json_not_implemented
from langchain_core.messages import HumanMessage

from workforce_graph.cli.waiting import WaitingNotice
from workforce_graph.models.hf import ChatTransformers
from workforce_graph.models.local import ChatLocalLlama
from workforce_graph.testing import ScriptedChatModel


class InProcessModel(ScriptedChatModel):
    runs_in_process: ClassVar[bool] = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def notice_with(clock: Clock) -> tuple[WaitingNotice, list[str]]:
    lines: list[str] = []
    return WaitingNotice(lines.append, limit_s=120, after_s=10, clock=clock), lines


async def lines_during_a_call(model: ScriptedChatModel, **bound: Any) -> list[str]:
    """The notice's lines when a check runs 25 s into a planner call to ``model``."""
    clock = Clock()
    notice, lines = notice_with(clock)

    def planner(messages: Any) -> str:
        clock.now += 25  # the reply is still being made when the notice checks
        notice.check()
        return "a plan"

    model.responders = {"planner": planner}
    config: Any = {"callbacks": [notice], "metadata": {"workforce_role": "planner"}}
    await model.bind(**bound).ainvoke([HumanMessage("plan this")], config)
    notice.check()  # the call ended: nothing more to say
    return lines


async def test_an_in_process_model_s_line_says_it_has_no_time_limit() -> None:
    [line] = await lines_during_a_call(InProcessModel(), max_tokens=64)
    assert line == (
        "waiting for the planner model: 25 s so far (a model in this process has no time "
        "limit; its reply ends within 64 tokens)"
    )


async def test_a_model_server_s_line_names_the_call_timeout() -> None:
    [line] = await lines_during_a_call(ScriptedChatModel())
    assert line == (
        "waiting for the planner model: 25 s so far "
        "(a call to a model server is limited to 120 s, --call-timeout)"
    )


@pytest.mark.parametrize(
    ("model_class", "params", "budget"),
    [
        (ChatLocalLlama, {"max_tokens": 512, "_type": "llama-cpp-local"}, "within 512 tokens"),
        (ChatTransformers, {"max_new_tokens": 256}, "within 256 tokens"),
        (ChatLocalLlama, {"max_tokens": None}, "at its token limit"),
    ],
)
async def test_the_bundled_gguf_and_hf_models_are_in_process(
    model_class: type, params: dict[str, Any], budget: str
) -> None:
    # A callback sees the model's serialised form: the one LangChain gives these classes.
    clock = Clock()
    notice, lines = notice_with(clock)
    await notice.on_chat_model_start(
        dict(to_json_not_implemented(model_class)),
        [[HumanMessage("hi")]],
        run_id=uuid4(),
        metadata={"workforce_role": "generator"},
        invocation_params=params,
    )
    clock.now += 12
    notice.check()
    assert lines == [
        "waiting for the generator model: 12 s so far "
        f"(a model in this process has no time limit; its reply ends {budget})"
    ]

"""Both graph factories set up their models alike: ``call_timeout_s`` reaches the HTTP
client of every model they resolve by name, in the flow as in the Workforce graph."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel

from tests.conftest import spec
from tests.fake_openai import FakeOpenAI
from workforce_graph import build_flow_graph, build_workforce_graph, models


def next_step(messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    return {"justification": "j", "context": "", "sub_goal": "answer", "worker": "reasoning"}


def stop(messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    return {"reason": "done", "decision": "STOP"}


@pytest.mark.parametrize("factory", [build_workforce_graph, build_flow_graph])
def test_call_timeout_reaches_the_http_client_of_every_model(
    factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved: list[BaseChatModel] = []
    resolve = models.resolve_model

    def spy(*args: Any, **kwargs: Any) -> BaseChatModel:
        model = resolve(*args, **kwargs)
        resolved.append(model)
        return model

    monkeypatch.setattr(models, "resolve_model", spy)
    responders = {"planner": next_step, "flow_verifier": stop}
    with FakeOpenAI(responders=responders if factory is build_flow_graph else None) as fake:
        graph = factory(
            model="fake-model",
            base_url=fake.base_url,
            workers=[spec("reasoning", "reasoning")],
            call_timeout_s=7.0,
        ).compile()
        final = graph.invoke({"task": "Say hi"})
    assert final["answer"]["complete"] is True
    assert resolved, "the graph resolved no model by name"
    assert [m.request_timeout for m in resolved] == [7.0] * len(resolved)  # type: ignore[attr-defined]

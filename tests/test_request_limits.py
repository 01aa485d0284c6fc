"""A request too long to copy into every prompt is refused, in the API as in the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from tests.conftest import spec
from workforce_graph import build_workforce_graph
from workforce_graph.bounds import REQUEST_CHARS, RequestTooLong
from workforce_graph.conversation import request_of
from workforce_graph.flow import build_flow_graph
from workforce_graph.testing import ScriptedChatModel


@pytest.mark.parametrize("build", [build_workforce_graph, build_flow_graph])
async def test_a_graph_refuses_a_request_over_the_limit_before_any_model_call(
    build: Any,
) -> None:
    model = ScriptedChatModel()
    graph = build(model=model, workers=[spec("reasoning", "reasoning")]).compile()
    with pytest.raises(RequestTooLong, match=r"1,000,000 characters.*attach the text as a file"):
        await graph.ainvoke({"task": "x" * 1_000_000})
    assert model.calls == []


def test_the_limit_is_a_value_error_and_applies_to_messages_too() -> None:
    assert issubclass(RequestTooLong, ValueError)
    assert request_of({"task": "x" * REQUEST_CHARS}) == "x" * REQUEST_CHARS
    with pytest.raises(ValueError, match=f"more than the {REQUEST_CHARS:,}"):
        request_of({"messages": [HumanMessage("y" * (REQUEST_CHARS + 1))]})

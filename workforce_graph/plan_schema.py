"""The schema a planner's reply is decoded against.

Two forms of one ``Plan`` model:

- :func:`plan_schema`: capability tags limited to those offered, ids of one shape.
  Validation and repair (``workforce_graph.lifecycle.validate_plan``) catch the rest;
  this is what a model that cannot be constrained gets.
- :func:`positional_plan_schema`: for models whose decoding is constrained by the
  schema (the embedded llama.cpp model, ``gguf:`` models). Subtask *i* is described
  by its own schema: its id is the constant ``s<i>``, its ``depends_on`` may name only
  earlier ids (and finished subtasks kept from an earlier plan), its capabilities only
  those offered. A reply decoded against it is a valid DAG whatever the model's
  floating point does; no repair round is needed. The positions are JSON Schema's
  ``prefixItems``, each a ``$ref`` to its own definition, so the grammar stays linear in
  the number of positions. Descriptions and tag lists are bounded too, and
  :func:`positions_within` sizes the plan so that the longest decodable one ends within
  the model's reply budget: a reply cut by ``max_tokens`` is the one way a constrained
  plan can still be invalid, and small models, left unbounded, repeat subtasks until it.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import Field, create_model

from workforce_graph.lifecycle import Plan, PlannedSubtask

__all__ = [
    "DESCRIPTION_CHARS",
    "ID_PATTERN",
    "TAGS_PER_SUBTASK",
    "plan_schema",
    "positional_ids",
    "positional_plan_schema",
    "positions_within",
]

ID_PATTERN = r"^s[1-9][0-9]?$"
"""Ids the model is asked for; a plan edited by a person may use any id."""

DESCRIPTION_CHARS = 160
"""Longest subtask description in a positional plan: a sentence or two."""

TAGS_PER_SUBTASK = 3
"""Most capability tags one subtask of a positional plan may name."""

_POSITION_TOKENS = 100
"""Tokens one position of at most ``DESCRIPTION_CHARS`` characters takes (measured on
SmolLM2's tokenizer: 80 for a plain sentence, 96 for 160 characters of repeated text,
with three tags and three dependencies)."""

_PLAN_OVERHEAD_TOKENS = 16


def positions_within(reply_tokens: int | None, max_subtasks: int) -> int:
    """Positions a plan may have so that the longest one fits in ``reply_tokens``.

    ``None`` (no cap on the reply) leaves ``max_subtasks``; at least one position stays.
    """
    if reply_tokens is None:
        return max_subtasks
    fitting = (reply_tokens - _PLAN_OVERHEAD_TOKENS) // _POSITION_TOKENS
    return max(1, min(max_subtasks, fitting))


@lru_cache(maxsize=64)
def plan_schema(capabilities: tuple[str, ...]) -> type[Plan]:
    """``Plan`` with capability tags limited to those offered and ids of one shape.

    Sent as the JSON schema, the enum stops a model from inventing tags no worker has,
    and short ``s<n>`` ids keep small models from copying prose into ids.
    """
    tag = Literal[capabilities]  # type: ignore[valid-type]
    # In the schema only: ids from people (plan review) or older plans may differ.
    shaped: dict[str, Any] = {"pattern": ID_PATTERN}
    step = create_model(
        "PlannedSubtask",
        __base__=PlannedSubtask,
        id=(str, Field(description="'s1', 's2', ... in plan order.", json_schema_extra=shaped)),
        description=(str, Field(min_length=1)),
        capabilities=(list[tag], Field(min_length=1, description="Capability tags needed.")),
        depends_on=(
            list[str],
            Field(
                default_factory=list,
                description="Ids of earlier subtasks whose results this one needs.",
                json_schema_extra={"items": {"type": "string", **shaped}},
            ),
        ),
    )
    return create_model("Plan", __base__=Plan, subtasks=(list[step], Field(min_length=1)))  # type: ignore[valid-type]


def positional_ids(count: int, taken: Collection[str] = ()) -> list[str]:
    """The first ``count`` ids ``s1``, ``s2``, ... that are not ``taken``."""
    ids: list[str] = []
    n = 0
    while len(ids) < count:
        n += 1
        if f"s{n}" not in taken:
            ids.append(f"s{n}")
    return ids


def _position(index: int, ids: list[str], tags: list[str], done: list[str]) -> dict[str, Any]:
    earlier = done + ids[:index]
    depends: dict[str, Any] = (
        {"type": "array", "items": {"enum": earlier}, "uniqueItems": True, "maxItems": len(earlier)}
        if earlier
        # Spelled as a constant: an array schema without "items" converts to "any array".
        else {"type": "array", "const": []}
    )
    return {
        "type": "object",
        "properties": {
            "id": {"const": ids[index]},
            "description": {"type": "string", "minLength": 1, "maxLength": DESCRIPTION_CHARS},
            "capabilities": {
                "type": "array",
                "items": {"enum": tags},
                "minItems": 1,
                "maxItems": min(len(tags), TAGS_PER_SUBTASK),
                "uniqueItems": True,
            },
            "depends_on": depends,
        },
        "required": ["id", "description", "capabilities", "depends_on"],
        "additionalProperties": False,
    }


@lru_cache(maxsize=64)
def positional_plan_schema(
    capabilities: tuple[str, ...], max_subtasks: int, done_ids: tuple[str, ...] = ()
) -> type[Plan]:
    """``Plan`` whose JSON schema makes every decodable reply a valid DAG.

    Args:
        capabilities: Tags some available worker offers.
        max_subtasks: Most subtasks in the plan (the number of positions).
        done_ids: Finished subtasks kept from an earlier plan: new steps may depend on
            them and never reuse their ids.

    Returns:
        A ``Plan`` subclass; parsing is ``Plan``'s, only its JSON schema is positional.
    """
    base = plan_schema(capabilities)
    ids = positional_ids(max_subtasks, done_ids)
    tags, done = list(capabilities), list(done_ids)
    positions = {f"Position{i + 1}": _position(i, ids, tags, done) for i in range(len(ids))}

    class PositionalPlan(base):  # type: ignore[valid-type,misc]
        # The generic step stays as ``items`` for readers (and the prompt); the
        # positions are what a constrained decoder follows.
        _positions: ClassVar[dict[str, Any]] = positions

        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            schema: dict[str, Any] = super().model_json_schema(*args, **kwargs)
            schema.setdefault("$defs", {}).update(cls._positions)
            subtasks = schema["properties"]["subtasks"]
            subtasks["prefixItems"] = [{"$ref": f"#/$defs/{name}"} for name in cls._positions]
            subtasks["maxItems"] = len(cls._positions)
            return schema

    PositionalPlan.__name__ = PositionalPlan.__qualname__ = "Plan"
    return PositionalPlan

"""How the local model is made to answer in JSON and to call tools.

Small models have no native structured-output or tool-calling format, so both are
done with llama.cpp grammars compiled from JSON schemas: a reply can only be text the
schema allows. Tool calls use the protocol described in :mod:`workforce_graph.models.local`
(``{"tool": ..., "arguments": ...}`` or ``{"answer": ...}``).
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, InvalidToolCall, ToolCall

if TYPE_CHECKING:
    from llama_cpp.llama_grammar import LlamaGrammar

ToolChoice = str | bool | dict[str, Any] | None


def _schema_facts(schema_json: str) -> tuple[list[str], list[str]]:
    """Property names in declared order (nested ones included), and every ``$ref``.

    llama.cpp's converter otherwise sorts properties by name, and the order matters:
    a model writes better JSON when, say, ``reasoning`` comes before ``answer``.
    """
    names: dict[str, None] = {}
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                names.update(dict.fromkeys(properties))
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(schema_json))
    return list(names), refs


_GRAMMAR_BOUND = 64


def _loosen_bounds(schema_json: str) -> str:
    """Drop length and item bounds too large to spell out in a grammar.

    The converter unrolls ``maxLength: N`` into N nested optional rules; a tool whose
    argument allows 2,000,000 characters made llama.cpp crash. The bound still holds
    where it matters: the tool's own pydantic validation checks the arguments.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: walk(v)
                for k, v in node.items()
                if not (
                    k in ("maxLength", "maxItems", "minLength", "minItems")
                    and isinstance(v, int)
                    and v > _GRAMMAR_BOUND
                )
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return json.dumps(walk(json.loads(schema_json)))


@functools.lru_cache(maxsize=64)
def _grammar(schema_json: str | None) -> LlamaGrammar:
    """Compile a JSON schema (or any JSON object, for ``None``) into a llama.cpp grammar.

    Built here rather than through ``response_format``, because llama-cpp-python
    silently falls back to "any JSON" when it cannot convert a schema, and then the
    reply no longer has to match it.
    """
    from llama_cpp import llama_grammar

    if schema_json is None:
        return llama_grammar.LlamaGrammar.from_string(llama_grammar.JSON_GBNF, verbose=False)
    schema_json = _loosen_bounds(schema_json)
    order, refs = _schema_facts(schema_json)
    remote = [ref for ref in refs if not ref.startswith("#")]
    if remote:
        # The converter would download them; the local model never uses the network.
        raise ValueError(f"JSON schema refers to outside documents {remote}; inline them")
    try:
        gbnf = llama_grammar.json_schema_to_gbnf(schema_json, order)
    except Exception as exc:  # the converter raises bare exceptions of many types
        raise ValueError(
            f"llama.cpp cannot turn this JSON schema into a grammar ({type(exc).__name__}: "
            f"{exc}); simplify the schema"
        ) from exc
    return llama_grammar.LlamaGrammar.from_string(gbnf, verbose=False)


# --------------------------------------------------------------------------- messages


def _tool_call_json(name: str, args: Any) -> str:
    return json.dumps({"tool": name, "arguments": args}, ensure_ascii=False)


# --------------------------------------------------------------------------- tools


def _tool_name(choice: ToolChoice) -> str | None:
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else choice.get("name")
        return str(name) if name else None
    return None


def _normalise_tool_choice(choice: ToolChoice, names: list[str]) -> str:
    """Map LangChain's tool_choice forms onto "auto", "any", "none" or a tool name."""
    if choice is None or choice == "auto" or choice is False:
        return "auto"
    if choice is True or choice in ("any", "required"):
        return "any"
    if choice == "none":
        return "none"
    name = _tool_name(choice) if isinstance(choice, dict) else str(choice)
    if name is None or name not in names:
        raise ValueError(f"tool_choice {choice!r} names no bound tool; bound tools: {names}")
    return name


def _tool_schema(tools: list[dict[str, Any]], choice: str) -> dict[str, Any]:
    branches: list[dict[str, Any]] = []
    for tool in tools:
        function = tool["function"]
        if choice not in ("auto", "any") and function["name"] != choice:
            continue
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        branches.append(
            {
                "type": "object",
                "properties": {"tool": {"const": function["name"]}, "arguments": parameters},
                "required": ["tool", "arguments"],
            }
        )
    if choice == "auto":
        branches.append(
            {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
            }
        )
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _tool_prompt(tools: list[dict[str, Any]], choice: str) -> str:
    lines = ["You can use these tools:"]
    for tool in tools:
        function = tool["function"]
        if choice not in ("auto", "any") and function["name"] != choice:
            continue
        parameters = json.dumps(function.get("parameters") or {}, ensure_ascii=False)
        lines.append(
            f"- {function['name']}: {function.get('description', '')} Arguments: {parameters}"
        )
    lines.append('To call a tool, reply {"tool": "<tool name>", "arguments": {...}}.')
    if choice == "auto":
        lines.append('When you have the final answer, reply {"answer": "<your answer>"}.')
    return "\n".join(lines)


def _tool_reply(content: str, finish_reason: str | None) -> AIMessage:
    try:
        # strict=False: the grammar lets raw newlines into strings, as LangChain's
        # own JSON parsers accept.
        reply = json.loads(content, strict=False)
    except json.JSONDecodeError as exc:
        error = f"reply is not complete JSON ({exc}; finish_reason={finish_reason})"
        return AIMessage(
            content=content,
            invalid_tool_calls=[
                InvalidToolCall(
                    type="invalid_tool_call", name=None, args=content, id=None, error=error
                )
            ],
        )
    if isinstance(reply, dict) and "tool" in reply:
        call = ToolCall(
            type="tool_call",
            name=str(reply["tool"]),
            args=dict(reply.get("arguments") or {}),
            id=f"call_{uuid.uuid4().hex[:24]}",
        )
        return AIMessage(content="", tool_calls=[call])
    if isinstance(reply, dict) and "answer" in reply:
        return AIMessage(content=str(reply["answer"]))
    return AIMessage(content=content)

"""How the local model talks: chat messages, tool calls, and one completion's arguments.

Small models have no native tool-calling format, so tool calls are replies constrained
by a grammar (see :mod:`workforce_graph.models.json_grammar`).

- **Tool calls** (:meth:`ChatLocalLlama.bind_tools`). Small models have no native
  tool-calling format, so the tools are described in the system prompt and the reply
  is constrained by a JSON-schema grammar to one of::

      {"tool": "<tool name>", "arguments": {...the tool's parameters schema...}}
      {"answer": "<final answer text>"}

  The first becomes an ``AIMessage`` with one entry in ``tool_calls`` (ids are
  generated); the second an ``AIMessage`` whose content is the answer.
  ``tool_choice="any"``/``"required"``/``True`` or a tool name removes the
  ``answer`` branch (and the other tools); ``"none"`` removes the grammar. One tool
  call per turn. In the history, earlier tool calls are replayed in the same JSON
  form and tool results are sent as user messages (``Result of tool X: ...``), since
  many small models' chat templates have no ``tool`` role. A reply cut short by
  ``max_tokens`` comes back in ``invalid_tool_calls``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolMessage,
)

from workforce_graph.models.json_grammar import grammar, prompt_schema

ToolChoice = str | bool | dict[str, Any] | None


# --------------------------------------------------------------------------- messages


def _tool_call_json(name: str, args: Any) -> str:
    return json.dumps({"tool": name, "arguments": args}, ensure_ascii=False)


def _to_llama_messages(messages: Sequence[BaseMessage], system_extra: str) -> list[dict[str, str]]:
    """Convert LangChain messages into the role/content dicts llama.cpp templates expect."""
    out: list[dict[str, str]] = []
    tool_names: dict[str, str] = {}
    for message in messages:
        text = str(message.text)
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": text})
        elif isinstance(message, AIMessage):
            calls = [_tool_call_json(call["name"], call["args"]) for call in message.tool_calls]
            for call in message.tool_calls:
                if call.get("id"):
                    tool_names[str(call["id"])] = call["name"]
            out.append({"role": "assistant", "content": "\n".join([text, *calls]).strip()})
        elif isinstance(message, ToolMessage):
            name = message.name or tool_names.get(message.tool_call_id, "tool")
            # Plain "user" turns: chat templates of small models often reject "tool".
            out.append({"role": "user", "content": f"Result of tool {name}: {text}"})
        elif isinstance(message, HumanMessage):
            out.append({"role": "user", "content": text})
        elif isinstance(message, ChatMessage):
            out.append({"role": message.role, "content": text})
        else:
            out.append({"role": "user", "content": text})
    if system_extra:
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{system_extra}"}
        else:
            out.insert(0, {"role": "system", "content": system_extra})
    return out


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
                # An empty string is never an answer. A blank one still can be: the worker
                # runtime asks once more for that (worker_runtime.EMPTY_REPLY).
                "properties": {"answer": {"type": "string", "minLength": 1}},
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


def _completion_request(
    sampling: dict[str, Any],
    stop: list[str] | None,
    messages: Sequence[BaseMessage],
    kwargs: dict[str, Any],
) -> tuple[dict[str, Any], tuple[list[dict[str, Any]], str] | None]:
    """Build the keyword arguments of ``create_chat_completion`` for one call.

    Returns the arguments and, when tools are bound, the tools and the normalised
    tool choice, so the reply can be turned into tool calls.
    """
    kwargs = dict(kwargs)
    tools: list[dict[str, Any]] | None = kwargs.pop("tools", None)
    choice = kwargs.pop("tool_choice", None)
    params = {**sampling, **kwargs}
    if stop:
        params["stop"] = stop
    system_extra = ""
    tool_mode: tuple[list[dict[str, Any]], str] | None = None
    # A response_format becomes our own grammar (see _grammar), never llama's.
    response_format = params.pop("response_format", None)
    if tools:
        names = [tool["function"]["name"] for tool in tools]
        normalised = _normalise_tool_choice(choice, names)
        if normalised != "none":
            tool_mode = (tools, normalised)
            response_format = {"type": "json_object", "schema": _tool_schema(tools, normalised)}
            system_extra = _tool_prompt(tools, normalised)
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        schema = response_format.get("schema")
        params["grammar"] = grammar(json.dumps(schema) if schema else None)
        if schema and not tool_mode:
            system_extra = (
                "Reply with one JSON object that matches this JSON schema:\n"
                + json.dumps(prompt_schema(schema), ensure_ascii=False)
            )
    params["messages"] = _to_llama_messages(messages, system_extra)
    return params, tool_mode

"""Structured output that survives misbehaving model servers.

Every way ``with_structured_output`` fails (see docs/models.md: a plain ``ValueError``
for empty content, pydantic ``ValidationError``, ``LengthFinishReasonError``, a silent
``None``, ``OutputParserException``) ends here as a repair attempt with the error shown
to the model, and after ``attempts`` tries as :class:`StructuredOutputError`.
Which structured-output method a server supports is found out, not assumed: a server that
rejects ``response_format``/``json_schema`` (HTTP 400, 422, or 500 as llama.cpp's Python
server answers) is asked again with function calling, then JSON mode with the schema in
the prompt, then plain text. The method that worked is remembered per (base URL, model)
for the rest of the process, so the discovery costs one failed call, not one per call.
``method`` forces one instead (``--structured-output``).
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from collections.abc import Sequence
from typing import Any, Literal, TypeVar, get_args

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, ValidationError

from workforce_graph.calls.errors import is_fatal
from workforce_graph.calls.replies import was_cut_off
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.models import call_timeout

__all__ = [
    "STRUCTURED_METHODS",
    "StructuredMethod",
    "StructuredOutputError",
    "forget_learned_methods",
    "learned_method",
    "structured_call",
]

T = TypeVar("T", bound=BaseModel)

StructuredMethod = Literal["auto", "json_schema", "function_calling", "json_mode"]
"""``auto`` discovers what the server supports; the others force one method."""
STRUCTURED_METHODS: tuple[StructuredMethod, ...] = get_args(StructuredMethod)

_METHODS = ("json_schema", "function_calling", "json_mode")


class StructuredOutputError(RuntimeError):
    """The model did not produce valid structured output within the allowed attempts.

    Its message is for debugging (exception types included). :attr:`problems` says the
    same for people, one entry per attempt, without Python names: what a node shows in
    a reason, an answer or an error.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]

    @property
    def problem(self) -> str:
        """The last attempt's problem, in plain words."""
        return self.problems[-1]


class _CutOff(Exception):
    """A reply stopped by the token limit (seen on the raw message)."""


_REJECTION_MARKERS = (
    "response_format",
    "json_schema",
    "json_object",
    "not supported",
    "unsupported",
    "tool_choice",
    "tools",
    "function",
)


def _rejects_method(exc: Exception) -> bool:
    """Errors meaning "this server cannot do this method", as opposed to a bad reply.

    Any HTTP status counts (servers disagree: OpenAI says 400, vLLM 400 or 422,
    llama-cpp-python's server 500 with a pydantic message about ``response_format``)
    as long as the message is about the request's format, tools or schema.
    """
    if isinstance(exc, NotImplementedError | TypeError):
        return True
    status = getattr(exc, "status_code", None)
    http_error = isinstance(status, int) and status >= 400
    if not (http_error or type(exc).__name__ == "ValueError"):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in _REJECTION_MARKERS)


_LEARNED: dict[tuple[str, str], str] = {}
"""The method each (base URL, model) was found to support, for the process's lifetime."""


def _server_key(model: BaseChatModel) -> tuple[str, str]:
    base = next(
        (
            str(value)
            for attr in ("openai_api_base", "base_url", "anthropic_api_url")
            if (value := getattr(model, attr, None))
        ),
        "",
    )
    name = next(
        (str(value) for attr in ("model_name", "model") if (value := getattr(model, attr, None))),
        "",
    )
    # A model without a name (a test double) is its own server.
    return (base, name) if name else (f"{type(model).__name__}@{id(model)}", "")


def learned_method(model: BaseChatModel) -> str | None:
    """The structured-output method found to work with ``model``'s server, if any yet."""
    return _LEARNED.get(_server_key(model))


def forget_learned_methods() -> None:
    """Forget every discovered method (tests; a server that was upgraded)."""
    _LEARNED.clear()


def _methods_to_try(model: BaseChatModel, method: StructuredMethod) -> list[str]:
    if method != "auto":
        return [method]
    learned = learned_method(model)
    if learned is None:
        return list(_METHODS)
    # Methods before the learned one were rejected: never ask for them again.
    return list(_METHODS[_METHODS.index(learned) :]) if learned in _METHODS else []


def _remember(model: BaseChatModel, method: str) -> None:
    _LEARNED[_server_key(model)] = method


def _json_from_text(text: str) -> Any:
    """Parse the first JSON object in a reply (models like to wrap it in prose or fences)."""
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.DOTALL)
    candidate = fenced.group(1) if fenced else text[text.find("{") : text.rfind("}") + 1]
    if not candidate:
        raise ValueError("the reply contains no JSON object")
    return json.loads(candidate)


async def structured_call(
    model: BaseChatModel,
    schema: type[T],
    messages: Sequence[BaseMessage],
    *,
    attempts: int = 3,
    meter: UsageMeter | None = None,
    config: RunnableConfig | None = None,
    timeout_s: float | None = None,
    method: StructuredMethod = "auto",
) -> T:
    """Ask ``model`` for an instance of ``schema``, repairing invalid replies.

    Args:
        model: Any LangChain chat model.
        schema: The pydantic model the reply must validate against.
        messages: The prompt.
        attempts: Total tries, repairs included.
        meter: Records token usage of every call.
        config: Passed to the model (callbacks, tags).
        timeout_s: Wall-clock limit of each model call (``TimeoutError`` past it).
        method: ``auto`` finds out what the server supports (see the module docs);
            another value forces that method, and a server rejecting it is an error.

    Returns:
        The validated instance.

    Raises:
        StructuredOutputError: When no attempt produced a valid instance.
    """
    history = list(messages)
    timeout_s = call_timeout(model, timeout_s)
    methods = _methods_to_try(model, method)
    forced = method != "auto"
    errors: list[str] = []
    problems: list[str] = []
    tries = 0
    while tries < attempts:
        current = methods[0] if methods else "text"
        tries += 1
        try:
            if current == "text":
                async with asyncio.timeout(timeout_s):
                    reply = await model.ainvoke(_with_schema_prompt(history, schema), config=config)
                if not forced:
                    _remember(model, "text")
                if meter:
                    meter.record(reply)
                if was_cut_off(reply):
                    raise _CutOff
                raw: BaseMessage | None = reply
                parsed: Any = schema.model_validate(_json_from_text(str(reply.content)))
            else:
                runnable = _structured_runnable(model, schema, current)
                prompt = _with_schema_prompt(history, schema) if current == "json_mode" else history
                async with asyncio.timeout(timeout_s):
                    out = await runnable.ainvoke(prompt, config=config)
                if not forced:
                    _remember(model, current)
                raw = out.get("raw") if isinstance(out, dict) else None
                if meter and isinstance(raw, AIMessage):
                    meter.record(raw)
                if isinstance(out, dict) and out.get("parsing_error") is not None:
                    raise out["parsing_error"]
                if was_cut_off(raw):
                    raise _CutOff
                parsed = out.get("parsed") if isinstance(out, dict) else out
                if isinstance(parsed, dict):
                    parsed = schema.model_validate(parsed)
                if parsed is None and isinstance(raw, AIMessage) and str(raw.content).strip():
                    # Some servers ignore the tool/format request and answer in plain text.
                    parsed = schema.model_validate(_json_from_text(str(raw.content)))
                if parsed is None:
                    raise ValueError("the reply held no parsable object (empty or truncated)")
            return parsed  # type: ignore[no-any-return]
        except (ValidationError, OutputParserException, ValueError, json.JSONDecodeError) as exc:
            if is_fatal(exc):  # a model that cannot be set up is no bad reply
                raise
            if (
                not forced
                and _rejects_method(exc)
                and current != "text"
                and not isinstance(exc, ValidationError | OutputParserException)
            ):
                methods.pop(0)
                tries -= 1
                continue
            errors.append(_short(exc))
            problems.append(_plain(exc))
            history = [
                *messages,
                HumanMessage(
                    f"Your previous reply was invalid: {_short(exc)}\n"
                    "Reply again with only a corrected object that matches the schema."
                ),
            ]
        except Exception as exc:
            if not forced and _rejects_method(exc) and current != "text":
                methods.pop(0)
                tries -= 1
                continue
            if isinstance(exc, _CutOff) or type(exc).__name__ == "LengthFinishReasonError":
                if meter and not isinstance(exc, _CutOff):
                    # The client rejected the reply, but the server answered: it counts.
                    meter.record_completion(getattr(exc, "completion", None))
                errors.append("the reply was cut off by the token limit")
                problems.append(errors[-1])
                history = [
                    *messages,
                    HumanMessage("Your previous reply was too long and was cut off. Be brief."),
                ]
                continue
            raise
    raise StructuredOutputError(
        f"no valid {schema.__name__} after {attempts} attempts: " + " | ".join(errors), problems
    )


_RUNNABLES: dict[
    tuple[int, type[BaseModel], str], tuple[weakref.ref[BaseChatModel], Runnable[Any, Any]]
] = {}


def _structured_runnable(
    model: BaseChatModel, schema: type[BaseModel], method: str
) -> Runnable[Any, Any]:
    """``with_structured_output`` once per model, schema and method (building it converts
    the schema, a few milliseconds a call)."""
    key = (id(model), schema, method)
    cached = _RUNNABLES.get(key)
    if cached is not None and cached[0]() is model:
        return cached[1]
    runnable = model.with_structured_output(
        _wire_schema(model, schema, method), method=method, include_raw=True
    )
    if len(_RUNNABLES) > 256:
        _RUNNABLES.clear()
    _RUNNABLES[key] = (weakref.ref(model), runnable)
    return runnable


def _wire_schema(model: BaseChatModel, schema: type[BaseModel], method: str) -> Any:
    """The schema handed to ``with_structured_output``.

    For OpenAI-compatible models and ``json_schema``, the same strict schema as a dict:
    the request is identical, but the client no longer validates the reply itself, so a
    reply that fails to parse keeps its raw message and its token usage is counted (the
    pydantic validation happens in :func:`structured_call`).
    """
    if method != "json_schema" or type(model).__module__.split(".")[0] != "langchain_openai":
        return schema
    try:
        from openai.lib._parsing._completions import type_to_response_format_param
    except ImportError:  # pragma: no cover - a private module of the openai client
        return schema
    wire: Any = type_to_response_format_param(schema)
    return dict(wire["json_schema"])


def _with_schema_prompt(
    history: Sequence[BaseMessage], schema: type[BaseModel]
) -> list[BaseMessage]:
    schema_text = json.dumps(schema.model_json_schema())
    return [
        *history,
        HumanMessage(
            "Reply with one JSON object only, no prose, matching this JSON schema:\n" + schema_text
        ),
    ]


def _plain(exc: BaseException, limit: int = 300) -> str:
    """Why a reply was unusable, for people: no exception or schema class names."""
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors(include_url=False)[:3]:
            where = ".".join(str(p) for p in error["loc"]) or "the reply"
            given = error.get("input")
            got = "" if isinstance(given, dict | list) else f" (got {str(given)[:60]!r})"
            # The value first: a message listing every allowed value would hide it.
            message = error["msg"] if len(error["msg"]) <= 120 else error["msg"][:117] + "..."
            parts.append(f"{where}{got}: {message}")
        more = exc.error_count() - len(parts)
        text = "the reply does not have the expected fields: " + "; ".join(parts)
        text += f"; and {more} more" if more > 0 else ""
    elif isinstance(exc, json.JSONDecodeError):
        where = f"line {exc.lineno} column {exc.colno}"
        text = f"the reply's JSON does not parse ({exc.msg} at {where})"
    elif isinstance(exc, OutputParserException):
        text = f"the reply could not be read: {_first_line(exc)}"
    else:
        text = _first_line(exc)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "the reply was unusable"


def _short(exc: BaseException, limit: int = 600) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."

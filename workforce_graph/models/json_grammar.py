"""JSON schemas as llama.cpp grammars: how the local model answers in exactly the JSON asked.

**Structured output** binds ``response_format={"type": "json_object", "schema": ...}``
whatever the ``method``; the schema is compiled by llama.cpp's JSON-schema converter
into a grammar that masks every token that would break it, so a complete reply always
parses. The grammar is compiled here, not by llama-cpp-python's own ``response_format``
handling, which silently degrades to "any JSON" when a schema does not convert (here
that is an error). The schema is also put in the system prompt: the grammar constrains
the shape but tells the model nothing about what the fields mean. A reply cut short by
``max_tokens`` is the one way to get invalid JSON: it raises ``OutputParserException``
(or comes back as ``parsing_error`` with ``include_raw=True``).
"""

from __future__ import annotations

import functools
import json
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema
from pydantic import BaseModel

if TYPE_CHECKING:
    from llama_cpp.llama_grammar import LlamaGrammar

__all__ = ["grammar", "prompt_schema", "structured_runnable"]


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


_GRAMMAR_BOUND = 256
"""Largest length or item bound spelled out in a grammar (a plan's descriptions have 160)."""


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


def _expand_tuples(node: Any) -> Any:
    """Spell bounded ``prefixItems`` arrays out as one tuple per allowed length.

    llama.cpp's converter reads ``prefixItems`` as a tuple of exactly that length,
    ignoring ``minItems``/``maxItems``; a plan schema (position *i* has its own id and
    dependencies) needs "the first *n* positions, for n from minItems to maxItems".
    """
    if isinstance(node, list):
        return [_expand_tuples(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _expand_tuples(v) for k, v in node.items()}
    prefix = node.get("prefixItems")
    if not isinstance(prefix, list) or not prefix:
        return node
    most = node.get("maxItems")
    if not (isinstance(most, int) and most <= len(prefix)) and node.get("items") is not False:
        return node  # open-ended after the prefix: leave it to the converter
    least = max(int(node.get("minItems", 0)), 0)
    most = most if isinstance(most, int) else len(prefix)
    return {
        "anyOf": [
            {"type": "array", "prefixItems": prefix[:n]} if n else {"type": "array", "maxItems": 0}
            for n in range(least, most + 1)
        ]
    }


def prompt_schema(schema: Any) -> Any:
    """The schema as the model reads it: positional detail (``prefixItems``) left out.

    The grammar enforces the positions; in the prompt they would only cost context.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items() if k != "prefixItems"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    shown = walk(schema)
    if isinstance(shown, dict) and isinstance(shown.get("$defs"), dict):
        text = json.dumps({k: v for k, v in shown.items() if k != "$defs"})
        used = {name: d for name, d in shown["$defs"].items() if f"#/$defs/{name}" in text}
        # Definitions referenced only from other definitions stay too.
        used_text = json.dumps(used)
        shown["$defs"] = {
            name: d
            for name, d in shown["$defs"].items()
            if name in used or f"#/$defs/{name}" in used_text
        }
        if not shown["$defs"]:
            del shown["$defs"]
    return shown


@functools.lru_cache(maxsize=64)
def grammar(schema_json: str | None) -> LlamaGrammar:
    """Compile a JSON schema (or any JSON object, for ``None``) into a llama.cpp grammar.

    Built here rather than through ``response_format``, because llama-cpp-python
    silently falls back to "any JSON" when it cannot convert a schema, and then the
    reply no longer has to match it.
    """
    from llama_cpp import llama_grammar

    if schema_json is None:
        return llama_grammar.LlamaGrammar.from_string(llama_grammar.JSON_GBNF, verbose=False)
    schema_json = json.dumps(_expand_tuples(json.loads(_loosen_bounds(schema_json))))
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


def _is_plain_json_schema(schema: object) -> bool:
    """A JSON schema as such, not an OpenAI tool/function dict wrapping one."""
    if not isinstance(schema, dict) or schema.get("type") == "function":
        return False
    if "parameters" in schema:  # {"name": ..., "parameters": {...}}: a function
        return False
    return any(key in schema for key in ("type", "properties", "anyOf", "oneOf", "$ref"))


# --------------------------------------------------------------------------- tools


def structured_runnable(
    chat: BaseChatModel,
    schema: dict[str, Any] | type | None,
    *,
    include_raw: bool,
    method: str,
    **kwargs: Any,
) -> Runnable[LanguageModelInput, Any]:
    """``with_structured_output`` of the local model: a schema grammar and a parser."""
    if method not in ("json_schema", "function_calling", "json_mode"):
        raise ValueError(f"unknown structured output method {method!r}")
    response_format: dict[str, Any] = {"type": "json_object"}
    parser: Runnable[Any, Any] = JsonOutputParser()
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        response_format["schema"] = schema.model_json_schema()
        parser = PydanticOutputParser(pydantic_object=schema)
    elif _is_plain_json_schema(schema):
        # LangChain's converter insists on a title that a plain schema needs not have.
        response_format["schema"] = schema
    elif schema is not None:
        response_format["schema"] = convert_to_json_schema(schema)
    elif method != "json_mode":
        raise ValueError(f"method={method!r} needs a schema")
    model = chat.bind(
        response_format=response_format,
        ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
        **kwargs,
    )
    if not include_raw:
        return model | parser
    parsed = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    fallback = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=model) | parsed.with_fallbacks([fallback], exception_key="parsing_error")

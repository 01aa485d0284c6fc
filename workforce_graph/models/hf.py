"""A Hugging Face causal LM directory as a chat model (the ``hf:/path`` form).

Made for a planner trained by ``workforce-graph train``: transformers runs the model
in-process, on the CPU or a GPU (``cuda`` when torch sees one, unless
``WORKFORCE_GRAPH_HF_DEVICE`` says otherwise). Loaded models are shared per
(directory, device) and one lock per model serialises generation, as for the local
llama.cpp model.

Structured output is decoded under the JSON schema by default (llguidance masks the
tokens that would leave it, see :mod:`workforce_graph.models.hf_grammar`), so the
planner gives such a model its positional schema and every plan is a valid DAG. The
schema is also appended to the system message (in the same words as the local
model's), because the mask says what may be written, not what should. ``constrained=0``
decodes freely instead: the first JSON object of the reply is validated, and a reply
that does not validate comes back as a parsing error, which
:func:`workforce_graph.calls.structured.structured_call` turns into a repair attempt. Either
way the schema is added to the messages before the model runs, so a trajectory recorder
sees the exact prompt. Tool calling is not offered: this provider is for the planner
role. A plain-text reply streams (``model.stream``, a graph's ``stream_mode="messages"``)
piece by piece as the tokenizer decodes it; structured replies come whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any, ClassVar

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema
from pydantic import BaseModel, Field, PrivateAttr, model_validator

from workforce_graph.models.hf_grammar import GRAMMAR_HINT, SchemaConstraint, grammar_tokenizer
from workforce_graph.models.hf_loading import (
    HfModelError,
    LoadedModel,
    load_model,
    release_models,
)
from workforce_graph.models.hf_stream import stream_generate
from workforce_graph.models.llama_protocol import _to_llama_messages
from workforce_graph.models.thread_stream import iterate_in_thread, last_chunk

__all__ = ["DEVICE_ENV", "ChatTransformers", "HfModelError", "hf_chat_model", "release_models"]

DEVICE_ENV = "WORKFORCE_GRAPH_HF_DEVICE"
SCHEMA_PROMPT = "Reply with one JSON object that matches this JSON schema:\n"

Transcript = Callable[[list[dict[str, str]], str], None]


class ChatTransformers(BaseChatModel):
    """A transformers causal LM run in-process, as a LangChain chat model.

    Example:
        >>> model = ChatTransformers(model_path="runs/planner-sft")  # doctest: +SKIP
        >>> model.invoke("Name a colour.").content  # doctest: +SKIP
        'Blue.'
    """

    model_path: str
    device: str = Field(default_factory=lambda: os.environ.get(DEVICE_ENV, "auto"))
    """``auto`` (cuda when torch sees a GPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    temperature: float = 0.0
    """0 means greedy decoding; above 0 samples (rollouts for training)."""
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int | None = None
    """Seeds sampling, so rollouts can be repeated."""
    constrained: bool = True
    """Decode structured output under its JSON schema (llguidance); False decodes freely
    and leaves a bad reply to validation and repair (the policy's own distribution,
    as on-policy training rollouts want it)."""
    transcript: Transcript | None = Field(default=None, exclude=True)
    """Called with (messages as the model saw them, reply text) after every call:
    exactly the prompt the policy conditioned on, for on-policy training rows."""

    runs_in_process: ClassVar[bool] = True
    """No server: the per-call timeout does not apply (see ``models.call_timeout``)."""

    _loaded: LoadedModel = PrivateAttr()

    @model_validator(mode="after")
    def _load_model(self) -> ChatTransformers:
        if self.constrained:
            try:
                import llguidance  # noqa: F401
            except ImportError as exc:
                raise HfModelError(
                    f"hf: constrained decoding needs llguidance: {GRAMMAR_HINT}"
                ) from exc
        self._loaded = load_model(self.model_path, self.device)
        if self.constrained and not getattr(self._loaded.tokenizer, "is_fast", False):
            raise HfModelError(
                f"hf:{self.model_path}: constrained decoding needs a fast tokenizer "
                "(tokenizer.json); open it with ?constrained=0"
            )
        return self

    @property
    def constrained_decoding(self) -> bool:
        """Whether structured replies follow the schema exactly (the planner then gives
        the positional plan schema, in which an invalid DAG cannot be written)."""
        return self.constrained

    @property
    def max_tokens(self) -> int:
        """The reply budget, under the name the planner sizes positional plans by."""
        return self.max_new_tokens

    @property
    def _llm_type(self) -> str:
        return "transformers-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "device": self._loaded.device,
            "temperature": self.temperature,
            "max_new_tokens": self.max_new_tokens,
            "constrained": self.constrained,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        # The directory names the model: without it a trajectory's calls record no model,
        # and exports could not tell a trained planner's runs from the base model's.
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "transformers"
        params["ls_model_name"] = self.model_path
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._run(messages, stop, kwargs)

    def _should_stream(self, *, async_api: bool, **kwargs: Any) -> bool:
        # A structured reply means something only whole: it stays unstreamed.
        if kwargs.get("json_schema") is not None:
            return False
        return super()._should_stream(async_api=async_api, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """The reply piece by piece as the tokenizer decodes it (see ``hf_stream``)."""
        if stop:
            # The text is cut at a stop marker once it is whole: one chunk, as it is.
            whole = self._run(messages, stop, kwargs).generations[0]
            yield ChatGenerationChunk(message=AIMessageChunk(content=whole.message.content))
            yield last_chunk(whole.message, whole.generation_info)
            return
        tokenizer = self._loaded.tokenizer
        yield from stream_generate(
            tokenizer, lambda streamer: self._run(messages, stop, kwargs, streamer)
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for chunk in iterate_in_thread(lambda: self._stream(messages, stop, **kwargs)):
            yield chunk

    def _run(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        streamer: Any = None,
    ) -> ChatResult:
        import torch

        chat = _to_llama_messages(messages, "")
        loaded = self._loaded
        tokenizer = loaded.tokenizer
        encoded = tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt = {name: value.to(loaded.device) for name, value in encoded.items()}
        sampling = self.temperature > 0
        options: dict[str, Any] = {
            "max_new_tokens": int(kwargs.get("max_tokens") or self.max_new_tokens),
            "do_sample": sampling,
            "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
        }
        if sampling:
            options.update(temperature=self.temperature, top_p=self.top_p)
        schema = kwargs.get("json_schema")
        with loaded.lock, torch.no_grad():
            if schema is not None and self.constrained:
                options.update(self._constraint(schema, int(prompt["input_ids"].shape[1])))
            if sampling and self.seed is not None:
                torch.manual_seed(self.seed)
            output = loaded.model.generate(**prompt, **options, streamer=streamer)
        new_tokens = output[0, prompt["input_ids"].shape[1] :]
        text = str(tokenizer.decode(new_tokens, skip_special_tokens=True))
        for marker in stop or []:
            text = text.split(marker, 1)[0]
        if self.transcript is not None:
            self.transcript(chat, text)
        finish = "length" if len(new_tokens) >= options["max_new_tokens"] else "stop"
        message = AIMessage(
            content=text,
            response_metadata={"finish_reason": finish, "model_name": self.model_path},
        )
        prompt_tokens = int(prompt["input_ids"].shape[1])
        message.usage_metadata = UsageMetadata(
            input_tokens=prompt_tokens,
            output_tokens=len(new_tokens),
            total_tokens=prompt_tokens + len(new_tokens),
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _constraint(self, schema: dict[str, Any], prompt_length: int) -> dict[str, Any]:
        """``generate`` options that keep the reply inside ``schema``; call under the lock."""
        from transformers import LogitsProcessorList

        loaded = self._loaded
        if loaded.ll_tokenizer is None:
            loaded.ll_tokenizer = grammar_tokenizer(loaded.tokenizer)
        constraint = SchemaConstraint(loaded.ll_tokenizer, schema, prompt_length)
        # The grammar's end is the tokenizer's EOS: generation must stop on that one.
        return {
            "logits_processor": LogitsProcessorList([constraint]),
            "eos_token_id": loaded.tokenizer.eos_token_id,
        }

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Decode under ``schema`` (unless ``constrained`` is off), with the schema in
        the prompt too, and validate the reply (see module docs).

        Every ``method`` works the same way; ``strict`` is ignored.
        """
        kwargs.pop("method", None)
        kwargs.pop("strict", None)
        if schema is None:
            raise ValueError("hf: models need a schema for structured output")
        pydantic_model = (
            schema if isinstance(schema, type) and issubclass(schema, BaseModel) else None
        )
        json_schema = (
            pydantic_model.model_json_schema() if pydantic_model else convert_to_json_schema(schema)
        )

        def parse(message: BaseMessage) -> Any:
            found = _first_json_object(str(message.content))
            return pydantic_model.model_validate(found) if pydantic_model else found

        instruction = SCHEMA_PROMPT + json.dumps(json_schema, ensure_ascii=False)

        def with_schema(value: LanguageModelInput) -> list[BaseMessage]:
            # Added to the messages themselves, so callbacks (the trajectory recorder)
            # see exactly the prompt the model conditioned on: training rows match it.
            found = self._convert_input(value).to_messages()
            if found and isinstance(found[0], SystemMessage):
                return [SystemMessage(f"{found[0].text}\n\n{instruction}"), *found[1:]]
            return [SystemMessage(instruction), *found]

        if self.constrained:
            kwargs["json_schema"] = json_schema
        bound = RunnableLambda(with_schema) | self.bind(**kwargs)
        parser = RunnableLambda(parse)
        if not include_raw:
            return bound | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=bound) | parsed.with_fallbacks(
            [fallback], exception_key="parsing_error"
        )

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:
        raise NotImplementedError(
            "hf: models do not call tools; use them for the planner (--planner-model hf:DIR)"
        )


def _first_json_object(text: str) -> Any:
    """The first complete JSON object in a reply (small models add prose around it)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    raise ValueError("the reply contains no JSON object")


def _flag(value: str) -> bool:
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


_SPEC_OPTIONS: dict[str, Callable[[str], Any]] = {
    "temperature": float,
    "top_p": float,
    "max_new_tokens": int,
    "seed": int,
    "device": str,
    "constrained": _flag,
}


def hf_chat_model(path: str | os.PathLike[str], **kwargs: Any) -> ChatTransformers:
    """Open a Hugging Face model directory as a chat model (``hf:/path``).

    ``path`` may end with options, ``hf:/path?temperature=0.7&max_new_tokens=256``
    (``temperature``, ``top_p``, ``max_new_tokens``, ``seed``, ``device``,
    ``constrained``): rollouts for training sample, evaluations decode greedily;
    ``constrained=0`` decodes structured output without its schema's grammar.

    Raises:
        HfModelError: Not a model directory, unloadable, an unknown option, or
            transformers missing.
    """
    from urllib.parse import parse_qsl

    text, _, query = os.fspath(path).partition("?")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in _SPEC_OPTIONS:
            raise HfModelError(
                f"unknown hf: option {name!r}; use {', '.join(sorted(_SPEC_OPTIONS))}"
            )
        try:
            kwargs.setdefault(name, _SPEC_OPTIONS[name](value))
        except ValueError as exc:
            raise HfModelError(f"hf: option {name}={value!r} is not valid") from exc
    return ChatTransformers(model_path=text, **kwargs)

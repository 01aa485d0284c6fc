"""The planner served by an OpenAI-compatible server during on-policy rollouts.

Three kinds of server, one protocol (``/v1/chat/completions``):

* ``llama-cpp``: the loop starts its own ``python -m llama_cpp.server`` on 127.0.0.1
  (:class:`LlamaCppServer`) with the policy exported to GGUF, and after each update
  exports the new weights and restarts it. The served name is ``planner-v<N>``.
* ``vllm``: a vLLM server the user started (``--enable-lora``, with
  ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``); after each update the new LoRA adapter is
  loaded at runtime (``POST /v1/load_lora_adapter``) as ``planner-v<N>`` and named in
  the requests. Version 0 is the served base model.
* ``openai``: any other OpenAI-compatible server, whose weights the loop cannot change:
  it serves version 0 for ever, so rows of later iterations are stale (refused unless
  ``off_policy``).

The policy version is the number of updates behind the weights: 0 for the starting
model, ``N`` after the N-th update. Every rollout records the version it was made with.

Each planner call asks for the sampled tokens' log-probabilities and, where the server
gives them, their ids (vLLM's ``return_tokens_as_token_ids``); llama.cpp gives token
strings, mapped to ids exactly through the policy's byte-level tokenizer, and a reply
that does not map exactly keeps no ids (the trainer then tokenises its text).
"""

from __future__ import annotations

import functools
import json
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr

from workforce_graph.training.options import TrainingError
from workforce_graph.training.server_process import ServerProcess, ServerStartError

__all__ = [
    "SERVER_KINDS",
    "LlamaCppServer",
    "PolicyVersionError",
    "RolloutServerError",
    "ServedChatModel",
    "ServedPolicy",
    "ServerKind",
    "served_name",
    "server_fault",
]

ServerKind = Literal["llama-cpp", "vllm", "openai"]
SERVER_KINDS: tuple[ServerKind, ...] = ("llama-cpp", "vllm", "openai")
START_TIMEOUT_S = 300.0
"""How long a llama.cpp server may take to load a model (a loaded 2-core machine)."""
_PROBE_TIMEOUT_S = 10.0
# The OpenAI client's (and langchain-openai's) names for a server that did not answer
# or failed (5xx).
_FAULT = re.compile(
    r"^(APIConnectionError|APITimeoutError|InternalServerError|OpenAIAPIError|"
    r"OpenAIConnectionError|OpenAITimeoutError|StreamChunkTimeoutError|ServerUnavailableError|"
    r"ConnectError|RemoteProtocolError)\b|Error code: 5\d\d"
)
# A 500 that only rejects a structured-output method (llama.cpp's json_schema) is an
# answer, not a fault: the structured call asks again another way.
_METHOD_REJECTED = re.compile(r"response_format|json_schema|Input should be", re.IGNORECASE)


class RolloutServerError(TrainingError):
    """The rollout server is unreachable, failing or gone; the message says which."""


class PolicyVersionError(TrainingError):
    """Rollouts made by another policy version than the one being trained."""


def served_name(version: int, base_name: str) -> str:
    """The model name requests use for ``version``: the base's name for 0."""
    return base_name if version == 0 else f"planner-v{version}"


def server_fault(error: str | None) -> bool:
    """Whether a recorded call error says the server did not answer or failed (5xx)."""
    if not error:
        return False
    return bool(_FAULT.search(error)) and not _METHOD_REJECTED.search(error)


@dataclass(frozen=True, kw_only=True)
class ServedPolicy:
    """Where the planner is served and which version (plain values: Ray pickles it)."""

    kind: ServerKind
    base_url: str
    """``http://host:port/v1``."""
    base_name: str
    """The served name of version 0 (the model the server loaded)."""
    version: int = 0
    """Updates behind the weights the server serves now."""
    tokenizer: str | None = None
    """The policy's model directory, to map llama.cpp's token strings to ids."""
    temperature: float = 0.7
    max_tokens: int = 512
    grammar: bool = True
    """Decode under the decision schema (the server's own JSON-schema decoding)."""
    timeout_s: float = 120.0

    @property
    def model(self) -> str:
        """The model name the requests use."""
        return served_name(self.version, self.base_name)

    @property
    def label(self) -> str:
        """The planner's name in an evaluation's record (no address: servers move)."""
        return f"served:{self.kind}:{self.model}"

    def at(self, version: int, **changes: Any) -> ServedPolicy:
        """The same server serving ``version``."""
        return replace(self, version=version, **changes)

    def chat_model(self, *, sampling: bool = True) -> ServedChatModel:
        """The planner's chat model, asking for log-probabilities (and ids on vLLM)."""
        extra: dict[str, Any] = {}
        if self.kind == "vllm":
            extra["return_tokens_as_token_ids"] = True
        import httpx

        return ServedChatModel(
            model=self.model,
            # A client of its own: langchain-openai shares one per process, whose pooled
            # connections belong to the event loop that opened them, and a loop per
            # rollout phase (a test, a Ray worker's run) would find them closed.
            http_async_client=httpx.AsyncClient(timeout=self.timeout_s),
            base_url=self.base_url,
            api_key=SecretStr("not-needed"),
            temperature=self.temperature if sampling else 0.0,
            max_completion_tokens=self.max_tokens,
            timeout=self.timeout_s,
            max_retries=1,
            logprobs=True,
            top_logprobs=0,
            extra_body=extra or None,
            server_kind=self.kind,
            grammar=self.grammar,
            tokenizer_path=self.tokenizer,
        )

    def served_models(self) -> list[str]:
        """The names ``GET /models`` lists; :class:`RolloutServerError` if it fails."""
        url = f"{self.base_url.rstrip('/')}/models"
        try:
            with urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT_S) as reply:
                listed = json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise RolloutServerError(
                f"the rollout server at {self.base_url} answered {exc.code} to GET /models"
            ) from exc
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RolloutServerError(
                f"the rollout server at {self.base_url} is unreachable ({reason}); start it "
                "or check --rollout-base-url"
            ) from exc
        return [str(m.get("id")) for m in listed.get("data", []) if isinstance(m, dict)]

    def check(self) -> None:
        """The server answers and serves this version's name, else one clear error."""
        names = self.served_models()
        if self.kind == "openai" or self.model in names:
            return
        raise PolicyVersionError(
            f"the rollout server at {self.base_url} does not serve {self.model} (policy "
            f"version {self.version}); it serves {', '.join(names) or 'nothing'}"
        )

    def load_adapter(self, adapter: Path, version: int) -> ServedPolicy:
        """vLLM: load ``adapter`` at runtime as version ``version``'s name; that policy."""
        served = self.at(version)
        root = self.base_url.rstrip("/").removesuffix("/v1")
        body = json.dumps({"lora_name": served.model, "lora_path": str(adapter)}).encode()
        request = urllib.request.Request(
            f"{root}/v1/load_lora_adapter",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s):
                pass
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace").strip().splitlines()[:1]
            raise RolloutServerError(
                f"the vLLM server at {self.base_url} refused adapter {served.model} "
                f"(HTTP {exc.code}: {detail[0] if detail else 'no detail'}); start it with "
                "--enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
            ) from exc
        except OSError as exc:
            raise RolloutServerError(
                f"the vLLM server at {self.base_url} is unreachable while loading adapter "
                f"{served.model} ({getattr(exc, 'reason', exc)})"
            ) from exc
        served.check()
        return served


class ServedChatModel(ChatOpenAI):
    """``ChatOpenAI`` that records the server's token ids beside its log-probabilities.

    llama.cpp's Python server rejects ``json_schema`` response formats; for it the
    schema goes as ``{"type": "json_object", "schema": ...}``, which it decodes under a
    grammar. Without ``grammar`` no response format is sent.
    """

    server_kind: str = "openai"
    grammar: bool = True
    tokenizer_path: str | None = None

    def _get_request_payload(
        self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        if "max_completion_tokens" in payload:  # llama.cpp knows only the older name
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        wanted = payload.get("response_format")
        schema: Any = None
        if isinstance(wanted, type) and issubclass(wanted, BaseModel):
            schema = wanted.model_json_schema()
        elif isinstance(wanted, dict) and wanted.get("type") == "json_schema":
            schema = (wanted.get("json_schema") or {}).get("schema")
        if schema is not None:
            if not self.grammar:
                payload.pop("response_format")
            elif self.server_kind == "llama-cpp":
                payload["response_format"] = {"type": "json_object", "schema": schema}
        return payload

    def _create_chat_result(
        self, response: Any, generation_info: dict[str, Any] | None = None
    ) -> Any:
        result = super()._create_chat_result(response, generation_info)
        for generation in result.generations:
            info = generation.generation_info or {}
            ids = token_ids(info.get("logprobs"), self.tokenizer_path, str(generation.text))
            if ids is not None:
                info["token_ids"] = ids
                generation.generation_info = info
        return result


def token_ids(logprobs: Any, tokenizer_path: str | None, text: str) -> list[int] | None:
    """The sampled tokens' ids from an OpenAI ``logprobs`` object, where exact.

    vLLM's ``token_id:N`` strings are the ids themselves. Token strings (llama.cpp) are
    mapped through a byte-level BPE tokenizer's vocabulary and kept only when the ids
    decode back to the reply's text; otherwise ``None``.
    """
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content:
        return None
    tokens = [str(item.get("token", "")) for item in content if isinstance(item, dict)]
    if all(t.startswith("token_id:") for t in tokens):
        return [int(t.removeprefix("token_id:")) for t in tokens]
    if tokenizer_path is None:
        return None
    tokenizer, encoder = _byte_level(tokenizer_path)
    if encoder is None:
        return None
    ids: list[int] = []
    for token in tokens:
        found = tokenizer.convert_tokens_to_ids("".join(encoder[b] for b in token.encode()))
        if not isinstance(found, int) or found == tokenizer.unk_token_id:
            return None
        ids.append(found)
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    return ids if decoded.strip() == text.strip() else None


@functools.lru_cache(maxsize=4)
def _byte_level(path: str) -> tuple[Any, dict[int, str] | None]:
    """The tokenizer at ``path`` and its byte-to-character table (``None``: not byte-level)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    table = _bytes_to_unicode()
    # A byte-level vocabulary holds every single byte's character as a token.
    byte_level = all(tokenizer.convert_tokens_to_ids(table[b]) is not None for b in (32, 65, 200))
    return tokenizer, table if byte_level else None


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-to-character table, by which byte-level BPE vocabularies spell bytes."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class LlamaCppServer(ServerProcess):
    """``python -m llama_cpp.server`` on 127.0.0.1, started and stopped by the loop.

    Args:
        log: File the server's output goes to.
    """

    def __init__(self, log: Path, *, n_ctx: int = 4096) -> None:
        super().__init__(log, what="llama_cpp.server", start_timeout_s=START_TIMEOUT_S)
        self.n_ctx = n_ctx

    def start(self, gguf: Path, alias: str) -> str:
        """Serve ``gguf`` as ``alias``; the base URL once it answers.

        Raises:
            RolloutServerError: The server exited, or did not serve ``alias`` in time.
        """
        command = [
            *(sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)),
            *("--model_alias", alias, "--host", "127.0.0.1", "--port", "{port}"),
            *("--n_ctx", str(self.n_ctx), "--logits_all", "true"),
        ]
        try:
            return self.launch(command, alias)
        except ServerStartError as e:
            raise RolloutServerError(str(e)) from None

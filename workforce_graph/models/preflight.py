"""Checking, before a run starts, that an OpenAI-compatible server serves the model.

A wrong model name against such a server is otherwise found only at the first model
call, after the run has started. One cheap request settles it: the server's model list,
and only when the name is not listed (many servers accept names they do not list), a
one-token completion. The answer is cached per base URL and model for the process.

The CLI checks before a run starts. A graph built in Python checks at the first call
of each model it resolved by name (:func:`check_on_first_call`, applied by
:class:`~workforce_graph.models.ModelSet`), so an API user gets the same one-line
:class:`~workforce_graph.models.ModelConfigError` instead of the server's raw 404.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.language_models import BaseChatModel

from workforce_graph.models import ModelConfigError

__all__ = [
    "FirstCallCheck",
    "check_on_first_call",
    "check_served_model",
    "check_served_models",
]

_SERVED: set[tuple[str, str]] = set()


def _endpoint(model: BaseChatModel) -> tuple[str, str, str | None] | None:
    """(base URL, model name, API key) of a model on an OpenAI-compatible server."""
    if type(model).__module__.split(".")[0] != "langchain_openai":
        return None
    base_url = getattr(model, "openai_api_base", None)
    name = getattr(model, "model_name", None)
    if not base_url or not name:
        return None  # the OpenAI API itself: a wrong name there is a 404 like any other
    key: Any = getattr(model, "openai_api_key", None)
    secret = key.get_secret_value() if hasattr(key, "get_secret_value") else key
    return str(base_url), str(name), str(secret) if secret else None


async def check_served_models(models: list[BaseChatModel], *, timeout_s: float = 10.0) -> None:
    """:func:`check_served_model` for each distinct model on an OpenAI-compatible server.

    Raises:
        ModelConfigError: A server answered that it does not serve a model, or rejected
            the key.
    """
    seen: set[tuple[str, str]] = set()
    for model in models:
        endpoint = _endpoint(model)
        if endpoint is None or endpoint[:2] in seen:
            continue
        seen.add(endpoint[:2])
        await check_served_model(*endpoint, timeout_s=timeout_s)


async def check_served_model(
    base_url: str, model: str, api_key: str | None = None, *, timeout_s: float = 10.0
) -> None:
    """Raise :class:`ModelConfigError` when ``base_url`` answers that it lacks ``model``.

    Anything short of a definite answer (a timeout, HTTP 5xx, a server without a model
    list) lets the run go ahead: the run's own calls handle those.

    Example:
        >>> await check_served_model("http://127.0.0.1:8000/v1", "qwen2.5")  # doctest: +SKIP
    """
    key = (base_url.rstrip("/"), model)
    if key in _SERVED:
        return
    import openai

    client = openai.AsyncOpenAI(
        base_url=base_url,
        api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
        timeout=timeout_s,
        max_retries=0,
    )
    listed: list[str] = []
    try:
        async with client:
            try:
                listed = [m.id async for m in client.models.list()]
            except openai.APIError:
                listed = []  # no model list here; ask for a completion instead
            if model not in listed:
                await _ask_one_token(client, base_url, model, listed)
    except openai.APIError:
        return  # no definite answer; not cached, so the next run asks again
    _SERVED.add(key)


async def _ask_one_token(client: Any, base_url: str, model: str, listed: list[str]) -> None:
    import openai

    try:
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1
        )
    except openai.NotFoundError as exc:
        served = f"; it serves: {', '.join(sorted(listed)[:8])}" if listed else ""
        raise ModelConfigError(
            f"the model server at {base_url} does not serve model {model!r} "
            f"(HTTP 404: {_first_line(exc)}){served}; check --model"
        ) from exc
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise ModelConfigError(
            f"the model server at {base_url} rejected the request for model {model!r} "
            f"(HTTP {exc.status_code}: {_first_line(exc)}); check the API key"
        ) from exc


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class FirstCallCheck(BaseCallbackHandler):
    """Checks that the server serves the model when the model is first called.

    A callback rather than a wrapping model: the model stays the provider's own class,
    which the structured-output probe, the call timeouts and ``bind_tools`` rely on.
    Every call waits for the one check; after it, a model the server does not serve
    fails each call with the same :class:`ModelConfigError`, which ends the run
    (``calls.errors.is_fatal``), and a served one costs nothing more.
    """

    raise_error = True
    """Let the :class:`ModelConfigError` end the call instead of being logged."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout_s: float) -> None:
        self.endpoint = (base_url, model, api_key)
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._checked = False
        self._error: str | None = None

    @property
    def run_inline(self) -> bool:
        """Whether an async call runs this handler on its event loop, not in a thread.

        Only once the answer is known: the check itself must not block the loop, and
        a thread hop before every later call of the run would be pure overhead.
        """
        return self._checked or self._served()

    @run_inline.setter
    def run_inline(self, value: bool) -> None:
        """Ignored: whether to run inline follows from the check (above)."""

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        # Sync on purpose: LangChain runs a sync handler in a worker thread for async
        # calls (or inline, see run_inline) and directly for sync ones, and lets its
        # error through on both paths (an async handler's would only be logged on the
        # sync path).
        self.check()

    def _served(self) -> bool:
        base_url, model, _ = self.endpoint
        return (base_url.rstrip("/"), model) in _SERVED

    def check(self) -> None:
        """Ask the server once; raise :class:`ModelConfigError` if it lacks the model."""
        if self._served():
            return
        base_url, model, api_key = self.endpoint
        with self._lock:
            if not self._checked:
                try:
                    _run_in_thread(
                        check_served_model(base_url, model, api_key, timeout_s=self.timeout_s)
                    )
                except ModelConfigError as exc:
                    self._error = str(exc)
                finally:
                    # No definite answer (a timeout, a 5xx) is not asked again on every
                    # call: the calls themselves say what is wrong.
                    self._checked = True
            if self._error is not None:
                raise ModelConfigError(self._error)


def _run_in_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` to its end from sync code, whether or not a loop runs here."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="served-model-check") as pool:
        pool.submit(asyncio.run, coroutine).result()


def check_on_first_call(model: BaseChatModel, *, timeout_s: float | None = 10.0) -> BaseChatModel:
    """``model``, made to check at its first call that its server serves it.

    Only a model on an OpenAI-compatible server given by a base URL is checked; any
    other is returned unchanged. The check is the CLI's (:func:`check_served_model`),
    cached per base URL and model, so a model the CLI already checked costs nothing.

    Args:
        model: A model :func:`~workforce_graph.models.resolve_model` made from a name.
        timeout_s: Limit of the check's request (at most 10 s).

    Returns:
        The same model instance, with a :class:`FirstCallCheck` among its callbacks.
    """
    endpoint = _endpoint(model)
    if endpoint is None:
        return model
    handler = FirstCallCheck(*endpoint, timeout_s=min(10.0, timeout_s or 10.0))
    callbacks = model.callbacks
    if isinstance(callbacks, BaseCallbackManager):
        callbacks.add_handler(handler, inherit=False)
    else:
        model.callbacks = [*(callbacks or []), handler]
    return model

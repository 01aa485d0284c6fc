"""Checking, before a run starts, that an OpenAI-compatible server serves the model.

A wrong model name against such a server is otherwise found only at the first model
call, after the run has started. One cheap request settles it: the server's model list,
and only when the name is not listed (many servers accept names they do not list), a
one-token completion. The answer is cached per base URL and model for the process.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseChatModel

from workforce_graph.models import ModelConfigError

__all__ = ["check_served_model", "check_served_models"]

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

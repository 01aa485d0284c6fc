"""Model names, resolved the LangChain way, with an embedded local default.

A model is named as ``init_chat_model`` names it (``openai:gpt-4o``,
``anthropic:claude-sonnet-4-5``), as ``local`` (the bundled SmolLM2 on llama.cpp),
as ``gguf:/path/to/model.gguf``, as ``hf:/path/to/dir`` (a Hugging Face model directory,
e.g. a planner trained by ``workforce-graph train``), or as a bare model name served by any
OpenAI-compatible server given by ``base_url``. One default plus per-role overrides.
An API key in the environment never switches a run to a paid provider by itself:
only a named model does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel

from workforce_graph.topologies import TOPOLOGIES, Role

__all__ = [
    "FLOW_ROLES",
    "ROLES",
    "ModelConfigError",
    "ModelSet",
    "Role",
    "call_timeout",
    "resolve_model",
    "runs_in_process",
]

ROLES: tuple[Role, ...] = TOPOLOGIES["workforce"].roles
"""The Workforce topology's roles (``workforce_graph.topologies`` declares them)."""
FLOW_ROLES: tuple[Role, ...] = TOPOLOGIES["flow"].roles
"""The flow topology's roles (see ``workforce_graph.flow``)."""
_KNOWN_ROLES = frozenset(role for spec in TOPOLOGIES.values() for role in spec.roles)

DEFAULT_MODEL = "local"


def runs_in_process(model: BaseChatModel) -> bool:
    """Whether ``model`` computes in this process (the embedded one, ``gguf:``, ``hf:``).

    Such a model has no server to wait on and serves one call at a time.
    """
    return bool(getattr(model, "runs_in_process", False))


def call_timeout(model: BaseChatModel, timeout_s: float | None) -> float | None:
    """The wall-clock limit of one call to ``model``: none for a model in this process.

    The limit is there for servers that stop answering. An in-process model (the
    embedded one, ``gguf:``, ``hf:``) always ends its reply within ``max_tokens``, and on
    a loaded 2-core machine a call can outlast any limit that suits a server, which
    would turn every plan into a timeout.
    """
    return None if runs_in_process(model) else timeout_s


MODEL_ENV = "WORKFORCE_GRAPH_MODEL"
BASE_URL_ENV = "WORKFORCE_GRAPH_BASE_URL"

_KEY_VAR = re.compile(r"\b([A-Z][A-Z0-9_]*_API_KEY)\b")


class ModelConfigError(ValueError):
    """A model that cannot be set up; the message says what to do, in one line."""


def resolve_model(
    spec: str | BaseChatModel | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float | None = 120.0,
    max_retries: int = 2,
) -> BaseChatModel:
    """Turn a model name into a chat model.

    Args:
        spec: A chat model (returned as is), a name (see module docs), or ``None`` for
            ``$WORKFORCE_GRAPH_MODEL``, else ``local``.
        base_url: An OpenAI-compatible server (vLLM, llama.cpp server, Ollama); the
            name is then the server's model name.
        api_key: Key for ``base_url`` servers (default ``$OPENAI_API_KEY``, else a
            placeholder, since most local servers ignore it).
        timeout_s: Client timeout, so a stalled server cannot hang a run.
        max_retries: Client retries on HTTP 429/5xx.

    Returns:
        A LangChain chat model.

    Raises:
        ModelConfigError: Unknown provider, missing package or missing key.

    Example:
        >>> model = resolve_model("openai:gpt-4o-mini", base_url="http://127.0.0.1:8000/v1")
    """
    if isinstance(spec, BaseChatModel):
        return spec
    name = (spec or os.environ.get(MODEL_ENV) or DEFAULT_MODEL).strip()
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    if name == "local" and not base_url:
        return _local_model(None)
    if name.startswith("gguf:"):
        return _local_model(name.removeprefix("gguf:"))
    if name.startswith("hf:"):
        return _hf_model(name.removeprefix("hf:"))
    kwargs: dict[str, Any] = {"timeout": timeout_s, "max_retries": max_retries}
    if base_url:
        provider, _, model_name = name.rpartition(":")
        if provider not in ("", "openai"):
            raise ModelConfigError(
                f"--base-url serves OpenAI-compatible models; name the model without a "
                f"provider prefix (got {name!r})"
            )
        kwargs.update(
            model_provider="openai",
            base_url=base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
            # A streamed reply (stream_mode="messages", the CLI on a terminal) counts its
            # tokens too: LangChain asks a base_url server for its usage only if told.
            stream_usage=True,
        )
        name = model_name
    try:
        from langchain.chat_models import init_chat_model

        model = init_chat_model(name, **kwargs)
    except ImportError as exc:
        package = re.search(r"pip install (?:-U )?([\w\-\[\]]+)", str(exc))
        hint = f"pip install {package.group(1)}" if package else "install its LangChain package"
        raise ModelConfigError(f"model {name!r} needs a package that is missing: {hint}") from exc
    except Exception as exc:
        key = _KEY_VAR.search(str(exc))
        if key:
            raise ModelConfigError(
                f"model {name!r} needs an API key: set the environment variable {key.group(1)}"
            ) from exc
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelConfigError(f"cannot use model {name!r}: {first_line}") from exc
    if not isinstance(model, BaseChatModel):  # pragma: no cover - configurable models
        raise ModelConfigError(f"model {name!r} did not resolve to a chat model")
    return model


def _local_model(path: str | None) -> BaseChatModel:
    try:
        from workforce_graph.models import local
    except ImportError as exc:  # pragma: no cover - the module ships with the package
        raise ModelConfigError(f"the local model is unavailable: {exc}") from exc
    try:
        return local.gguf_chat_model(path) if path else local.local_chat_model()
    except local.LocalModelError as exc:
        raise ModelConfigError(str(exc)) from exc


def _hf_model(path: str) -> BaseChatModel:
    from workforce_graph.models.hf import HfModelError, hf_chat_model

    try:
        return hf_chat_model(path)
    except HfModelError as exc:
        raise ModelConfigError(str(exc)) from exc


@dataclass
class ModelSet:
    """A default model plus per-role overrides, each resolved once.

    Args:
        default: The model every role uses unless overridden.
        roles: Overrides by role (``planner``, ``coordinator``, ``worker``, ``verifier``,
            ``generator``; the flow topology's ``query_analysis`` and ``executor``).
            ``$WORKFORCE_GRAPH_<ROLE>_MODEL`` also overrides a role.
        base_url: OpenAI-compatible server for names without a provider.
        timeout_s: Client timeout of one request to a model server.

    Example:
        >>> models = ModelSet(default="openai:gpt-4o-mini", roles={"planner": "openai:gpt-4o"})
    """

    default: str | BaseChatModel | None = None
    roles: Mapping[str, str | BaseChatModel] = field(default_factory=dict)
    base_url: str | None = None
    timeout_s: float | None = 120.0
    """Client timeout of one request (see ``WorkforceSettings.call_timeout_s``)."""
    _cache: dict[str, BaseChatModel] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.roles) - _KNOWN_ROLES
        if unknown:
            raise ModelConfigError(
                f"unknown model role(s) {', '.join(sorted(unknown))}; roles are "
                + " and ".join(
                    f"{', '.join(spec.roles)} ({spec.name})" for spec in TOPOLOGIES.values()
                )
            )

    def name_for(self, role: Role) -> str | BaseChatModel | None:
        return (
            self.roles.get(role)
            or os.environ.get(f"WORKFORCE_GRAPH_{role.upper()}_MODEL")
            or self.default
        )

    def for_role(self, role: Role) -> BaseChatModel:
        """The chat model for ``role``; models with the same name are shared."""
        return self.get(self.name_for(role))

    def get(self, spec: str | BaseChatModel | None) -> BaseChatModel:
        """Resolve a model name once; later calls with the same name share the instance."""
        if isinstance(spec, BaseChatModel):
            return spec
        key = spec or os.environ.get(MODEL_ENV) or DEFAULT_MODEL
        if key not in self._cache:
            from workforce_graph.models.preflight import check_on_first_call

            # A graph built in Python has no CLI to check the server before the run.
            self._cache[key] = check_on_first_call(
                resolve_model(key, base_url=self.base_url, timeout_s=self.timeout_s),
                timeout_s=self.timeout_s,
            )
        return self._cache[key]

    def check(self, roles: tuple[Role, ...] = ROLES) -> None:
        """Resolve every role now, so a configuration error shows before the run."""
        for role in roles:
            self.for_role(role)

"""Where the ``code`` worker runs Python: E2B when ``E2B_API_KEY`` is set, else locally.

Both backends satisfy :class:`Sandbox`: ``run(code, timeout_s=...)`` and ``arun``
return an :class:`ExecutionResult`; a failure of the sandbox itself raises
:class:`SandboxError`. What the local sandbox enforces is listed in ``docs/sandbox.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from workforce_graph.default_plugins.code.sandbox.base import (
    ExecutionResult,
    Sandbox,
    SandboxError,
    SandboxLimits,
)
from workforce_graph.default_plugins.code.sandbox.e2b import E2BSandbox
from workforce_graph.default_plugins.code.sandbox.local import LocalSandbox, SandboxCapabilities

__all__ = [
    "E2BSandbox",
    "ExecutionResult",
    "LocalSandbox",
    "Sandbox",
    "SandboxCapabilities",
    "SandboxError",
    "SandboxLimits",
    "default_sandbox",
]


def default_sandbox(
    limits: SandboxLimits | None = None, env: Mapping[str, str] | None = None
) -> Sandbox:
    """The sandbox to use here: :class:`E2BSandbox` iff ``E2B_API_KEY`` is set.

    Args:
        limits: Bounds per run; read from ``WORKFORCE_GRAPH_SANDBOX_*`` when omitted.
        env: Environment to decide from; ``os.environ`` when omitted.

    Returns:
        An unstarted sandbox (E2B connects on first run).

    Example:
        >>> default_sandbox(env={}).name
        'local'
        >>> default_sandbox(env={"E2B_API_KEY": "e2b_x"}).name
        'e2b'
    """
    env = os.environ if env is None else env
    limits = limits if limits is not None else SandboxLimits.from_env(env)
    key = env.get("E2B_API_KEY", "").strip()
    if key:
        return E2BSandbox(limits, api_key=key)
    return LocalSandbox(limits)

"""Keeping the rollout server on the policy being trained, version by version.

Before each iteration's rollouts the loop asks for the current version
(:meth:`PolicySync.serve`): a llama.cpp server started by the loop is restarted on the
version's GGUF export (``OUT/served/planner-vN.gguf``), a vLLM server loads the
version's LoRA adapter (``iter-K/model/adapter``) unless it already serves it, and a
server the loop cannot change keeps serving version 0, which is refused past the first
update unless off-policy rollouts are allowed. Whatever was started is stopped by
:meth:`PolicySync.close`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workforce_graph.training.served_policy import (
    LlamaCppServer,
    PolicyVersionError,
    RolloutServerError,
    ServedPolicy,
    ServerKind,
    served_name,
)

__all__ = ["ADAPTER_DIR", "PolicySync", "check_versions"]

ADAPTER_DIR = "adapter"
"""Where an update under ``--lora`` saves its adapter, inside the model directory."""


class PolicySync:
    """The rollout server of one loop.

    Args:
        kind: ``llama-cpp`` (started here), ``vllm`` or ``openai`` (at ``base_url``).
        folder: The loop's folder (GGUF exports and the server's log go under it).
        base_url: The server of ``vllm`` and ``openai``.
        base_name: The served name of version 0 (default: the first the server lists).
        off_policy: Allow rollouts by an older version than the one trained.
        settings: The planner's sampling (``temperature``, ``max_tokens``, ``grammar``).
    """

    def __init__(
        self,
        kind: ServerKind,
        folder: Path,
        *,
        base_url: str | None = None,
        base_name: str | None = None,
        off_policy: bool = False,
        temperature: float = 0.7,
        max_tokens: int = 512,
        grammar: bool = True,
        timeout_s: float = 120.0,
    ) -> None:
        if kind != "llama-cpp" and not base_url:
            raise ValueError(f"--rollout-server {kind} needs --rollout-base-url URL")
        if kind == "llama-cpp" and base_url:
            raise ValueError(
                "--rollout-server llama-cpp starts its own server; for a server you started, "
                "use --rollout-server openai --rollout-base-url URL"
            )
        self.kind = kind
        self.folder = folder
        self.off_policy = off_policy
        self.base_url = base_url or ""
        self.base_name = base_name or ("planner-v0" if kind == "llama-cpp" else "")
        self.settings = {
            "temperature": temperature,
            "max_tokens": max_tokens,
            "grammar": grammar,
            "timeout_s": timeout_s,
        }
        self.server = LlamaCppServer(folder / "served" / "server.log")
        self.current: ServedPolicy | None = None

    def _policy(self, version: int, tokenizer: str) -> ServedPolicy:
        return ServedPolicy(
            kind=self.kind,
            base_url=self.base_url,
            base_name=self.base_name,
            version=version,
            tokenizer=tokenizer,
            **self.settings,  # type: ignore[arg-type]
        )

    def serve(self, version: int, policy: str) -> ServedPolicy:
        """The server serving ``version`` (the model directory ``policy``).

        Raises:
            RolloutServerError: The server is unreachable or cannot load the version.
            PolicyVersionError: The server cannot serve it (``openai``) and off-policy
                rollouts are not allowed.
        """
        if self.current is not None and self.current.version == version:
            self.current.check()
            return self.current
        if self.kind == "llama-cpp":
            self.current = self._restart(version, policy)
        elif self.kind == "vllm":
            self.current = self._load(version, policy)
        else:
            self.current = self._static(version, policy)
        return self.current

    def _restart(self, version: int, policy: str) -> ServedPolicy:
        from workforce_graph.training.gguf_export import export_gguf

        name = served_name(version, self.base_name)
        gguf = self.folder / "served" / f"{name}.gguf"
        if not gguf.is_file():
            export_gguf(policy, gguf)
        self.base_url = self.server.start(gguf, name)
        served = self._policy(version, policy)
        served.check()
        return served

    def _load(self, version: int, policy: str) -> ServedPolicy:
        if not self.base_name:
            names = self._policy(0, policy).served_models()
            if not names:
                raise RolloutServerError(f"the rollout server at {self.base_url} serves no model")
            self.base_name = names[0]
        served = self._policy(version, policy)
        if version == 0 or served.model in served.served_models():
            served.check()
            return served
        adapter = Path(policy) / ADAPTER_DIR
        if not (adapter / "adapter_config.json").is_file():
            raise RolloutServerError(
                f"{policy} has no LoRA adapter to load into vLLM; train with --lora"
            )
        return self._policy(0, policy).load_adapter(adapter, version)

    def _static(self, version: int, policy: str) -> ServedPolicy:
        served = self._policy(0, policy)
        if not self.base_name:
            names = served.served_models()
            self.base_name = names[0] if names else "default"
            served = self._policy(0, policy)
        served.check()
        if version > 0 and not self.off_policy:
            raise PolicyVersionError(
                f"the rollout server at {self.base_url} serves policy version 0 but the "
                f"planner is at version {version} (the loop cannot load weights into an "
                "openai server); pass --off-policy to train on its rollouts, or use "
                "--rollout-server llama-cpp or vllm"
            )
        return served

    def close(self) -> None:
        """Stop the server this loop started (none is left running)."""
        self.server.stop()

    def __enter__(self) -> PolicySync:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_versions(
    trajectories: list[Any], *, iteration: int, version: int, off_policy: bool
) -> int:
    """The rollouts made by another policy version than ``version``; refused (one line)
    unless ``off_policy``."""
    made = [int(t.meta.get("policy_version", version)) for t in trajectories]
    stale = [v for v in made if v != version]
    if stale and not off_policy:
        raise PolicyVersionError(
            f"{len(stale)} of {len(made)} rollouts of iteration {iteration} were made by "
            f"policy version {min(stale)}, not the current version {version}; pass "
            f"--off-policy to train on them, or remove iter-{iteration}/rollouts to roll out "
            "again"
        )
    return len(stale)

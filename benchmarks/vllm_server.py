"""A vLLM OpenAI-compatible server started and stopped by a benchmark (GPU only).

``vllm.entrypoints.openai.api_server`` on 127.0.0.1 serves a model directory with LoRA
enabled and runtime adapter loading allowed (``VLLM_ALLOW_RUNTIME_LORA_UPDATING``), so
the on-policy loop's ``--rollout-server vllm`` loads each policy version's adapter into
it. Its output goes to a log file (a pipe left unread would block it); the wait for it
to answer is bounded and a server that exits or never answers is one clear error.
Whatever was started is stopped on leaving the ``with`` block.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from workforce_graph.training.server_process import ServerProcess, ServerStartError

__all__ = [
    "ServerStartError",
    "VllmServer",
    "VllmSettings",
    "vllm_command",
    "vllm_env",
    "vllm_installed",
]


def vllm_installed() -> bool:
    """Whether ``import vllm`` can find the package (it is not imported here)."""
    try:
        return importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):  # a module blocked or half-installed
        return False


@dataclass(frozen=True, kw_only=True)
class VllmSettings:
    """How the server is started."""

    served_name: str = "planner-base"
    lora_r: int = 16
    """``--max-lora-rank``: at least the adapters' rank."""
    dtype: str = "bfloat16"
    gpu_memory_utilization: float = 0.35
    """vLLM's share of the GPU; the rest is left to the trainer in this process."""
    max_model_len: int = 8192
    start_timeout_s: float = 300.0


def vllm_command(model_dir: Path, port: int | str, settings: VllmSettings) -> list[str]:
    """The server's command line."""
    return [
        *(sys.executable, "-m", "vllm.entrypoints.openai.api_server"),
        *("--model", str(model_dir), "--served-model-name", settings.served_name),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--dtype", settings.dtype, "--max-model-len", str(settings.max_model_len)),
        *("--gpu-memory-utilization", str(settings.gpu_memory_utilization)),
        *("--enable-lora", "--max-lora-rank", str(settings.lora_r), "--max-loras", "2"),
        # The workers may be offered tools; "auto" tool choice needs a parser named.
        *("--enable-auto-tool-choice", "--tool-call-parser", "hermes"),
        # No compilation nor CUDA graph capture: a minute of start-up saved in a budget
        # of minutes, for a model this small.
        "--enforce-eager",
    ]


def vllm_env(base: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: runtime LoRA loading on, and no network."""
    return {
        **base,
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }


class VllmServer(ServerProcess):
    """One vLLM server for the length of a ``with`` block.

    Args:
        log: File the server's output goes to.
        settings: How it is started.
    """

    def __init__(self, log: Path, settings: VllmSettings | None = None) -> None:
        self.settings = settings or VllmSettings()
        super().__init__(log, what="vLLM", start_timeout_s=self.settings.start_timeout_s)

    def start(self, model_dir: Path) -> str:
        """Serve ``model_dir``; its base URL (``http://127.0.0.1:PORT/v1``) once it answers.

        Raises:
            ServerStartError: The server exited, or did not list its model in time.
        """
        # In its own process group (ServerProcess): vLLM's engine runs in child
        # processes, and stopping the group stops them too.
        command = vllm_command(model_dir, "{port}", self.settings)
        return self.launch(command, self.settings.served_name, env=vllm_env(os.environ))

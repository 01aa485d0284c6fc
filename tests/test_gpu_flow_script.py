"""The GPU script's choices without a GPU: its sizes, the vLLM command line, the fallback
when vLLM is missing, the server's start, wait and stop (benchmarks/gpu_flow_grpo.py and
benchmarks/vllm_server.py), and the release of loaded planners between iterations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import gpu_flow_grpo
import vllm_server
from vllm_server import VllmServer, VllmSettings, vllm_command, vllm_env

# Serves GET /v1/models listing one name, as vLLM does once it has loaded its model.
_MODELS_SERVER = """
import http.server, json, sys
port, name = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"data": [{"id": name}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def test_the_gpu_sizes_fit_two_iterations_and_the_cpu_check_is_the_smallest() -> None:
    gpu = gpu_flow_grpo.settings_of(gpu_flow_grpo.parser().parse_args([]))
    assert (gpu.iterations, gpu.questions, gpu.rollouts) == (2, 8, 4)
    assert (gpu.max_turns, gpu.concurrency, gpu.budget_s, gpu.server) == (3, 8, 540.0, "auto")
    cpu = gpu_flow_grpo.settings_of(gpu_flow_grpo.parser().parse_args(["--cpu-check"]))
    assert (cpu.iterations, cpu.questions, cpu.rollouts, cpu.server) == (1, 2, 2, "none")


def test_vllm_is_used_when_installed_and_its_absence_is_said() -> None:
    assert gpu_flow_grpo.choose_path("auto", True) == ("vllm", None)
    path, note = gpu_flow_grpo.choose_path("auto", False)
    assert path == "in-process" and note is not None and "not installed" in note
    assert gpu_flow_grpo.choose_path("none", True) == ("in-process", None)
    with pytest.raises(SystemExit, match="not installed"):
        gpu_flow_grpo.choose_path("vllm", False)


def test_the_vllm_command_enables_lora_loaded_at_runtime_and_no_network() -> None:
    command = vllm_command(Path("model"), 8123, VllmSettings(lora_r=16, served_name="base"))
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(command)
    assert "--model model" in joined and "--served-model-name base" in joined
    assert "--port 8123" in joined and "--enable-lora" in command
    assert "--max-lora-rank 16" in joined
    env = vllm_env({"PATH": "x"})
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert env["HF_HUB_OFFLINE"] == "1" and env["PATH"] == "x"


def test_the_server_is_waited_for_until_it_lists_its_model_and_then_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        vllm_server,
        "vllm_command",
        lambda model, port, settings: [
            *(sys.executable, "-c", _MODELS_SERVER, str(port), settings.served_name)
        ],
    )
    with VllmServer(tmp_path / "log", VllmSettings(start_timeout_s=60)) as server:
        url = server.start(tmp_path)
        process = server.process
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    assert process is not None and process.poll() is not None  # stopped on leaving


def test_a_server_that_exits_while_starting_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        vllm_server,
        "vllm_command",
        lambda model, port, settings: [sys.executable, "-c", "raise SystemExit(3)"],
    )
    with (
        VllmServer(tmp_path / "log") as server,
        pytest.raises(RuntimeError, match="vLLM exited with 3 while loading"),
    ):
        server.start(tmp_path)


def test_released_planners_are_freed_and_loaded_again_when_asked_for(base: Path) -> None:
    from workforce_graph.models.hf import ChatTransformers, release_models

    release_models()
    ChatTransformers(model_path=str(base), device="cpu", constrained=False)
    ChatTransformers(model_path=str(base), device="cpu", constrained=False)  # shared
    assert release_models() == 1
    assert release_models() == 0
    ChatTransformers(model_path=str(base), device="cpu", constrained=False)
    assert release_models() == 1

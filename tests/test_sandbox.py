"""The sandboxes under attack: each escape attempt must come back contained.

The local sandbox tests run real processes. Protections the kernel may refuse
(network namespace, read-only mounts, PID namespace) are checked where
``LocalSandbox.capabilities()`` says they hold and skipped, with the reason, elsewhere;
under ``CI=true`` a missing protection fails instead, so CI always checks them all.
The E2B tests talk to a fake E2B server on 127.0.0.1, never to the internet.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from workforce_graph.default_plugins.code.sandbox import (
    E2BSandbox,
    ExecutionResult,
    LocalSandbox,
    Sandbox,
    SandboxCapabilities,
    SandboxError,
    SandboxLimits,
    default_sandbox,
)
from workforce_graph.default_plugins.code.sandbox.base import TRUNCATION_MARKER, BoundedBuffer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the local sandbox needs POSIX")

LIMITS = SandboxLimits(
    timeout_s=10, cpu_s=2, memory_mb=256, file_size_mb=1, max_processes=16, max_output_bytes=4000
)


@pytest.fixture(scope="module")
def sandbox() -> LocalSandbox:
    return LocalSandbox(LIMITS)


@pytest.fixture(scope="module")
def caps(sandbox: LocalSandbox) -> SandboxCapabilities:
    return sandbox.capabilities()


def require(protection: bool, missing: str) -> None:
    """Skip a check whose protection this machine lacks; under ``CI=true``, fail."""
    if protection:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the sandbox protection is required in CI, but {missing}")
    pytest.skip(missing)


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


# -- ordinary runs ---------------------------------------------------------------------


def test_runs_code_in_a_fresh_directory_that_is_deleted(sandbox: LocalSandbox) -> None:
    code = (
        "import os\nopen('out.csv', 'w').write('a,b')\nprint(os.getcwd())\nprint(os.listdir('.'))"
    )
    result = sandbox.run(code)
    assert result.ok and result.exit_code == 0
    workdir, listing = result.stdout.splitlines()
    assert listing == "['main.py', 'out.csv']"  # nothing from earlier runs
    assert result.files == ("out.csv",)
    assert not os.path.exists(workdir)
    assert isinstance(sandbox, Sandbox)


def test_error_exit_code_and_traceback(sandbox: LocalSandbox) -> None:
    result = sandbox.run("import sys\nprint('before')\nraise ValueError('boom')")
    assert result.exit_code == 1
    assert result.killed_reason is None and not result.timed_out
    assert result.stdout == "before\n"
    assert "ValueError: boom" in result.stderr
    assert "killed" not in result.to_text()


def test_stdin_is_empty_not_blocking(sandbox: LocalSandbox) -> None:
    result = sandbox.run("import sys\nprint(repr(sys.stdin.read()))")
    assert result.stdout == "''\n"


# -- attacks ---------------------------------------------------------------------------


def test_infinite_loop_is_killed_at_the_wall_clock(sandbox: LocalSandbox) -> None:
    result = sandbox.run("import time\nwhile True:\n    time.sleep(0.01)", timeout_s=1.0)
    assert result.timed_out
    assert result.killed_reason == "wall-clock timeout"
    assert result.exit_code is None
    assert "wall-clock timeout" in result.to_text()


def test_busy_loop_is_killed_by_the_cpu_limit() -> None:
    # A generous wall clock: on a loaded machine 1 s of CPU can take far longer.
    sb = LocalSandbox(SandboxLimits(timeout_s=240, cpu_s=1))
    result = sb.run("while True:\n    pass")
    assert not result.timed_out
    assert result.killed_reason == "CPU time limit"
    assert result.exit_code is not None and result.exit_code < 0


def test_memory_bomb_hits_the_memory_limit(sandbox: LocalSandbox) -> None:
    result = sandbox.run("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 2**20))")
    assert result.killed_reason == "memory limit"
    assert "MemoryError" in result.stderr


def test_fork_bomb_is_contained_and_leaves_nothing_behind(
    sandbox: LocalSandbox, caps: SandboxCapabilities
) -> None:
    marker = f"wfg-fork-bomb-{uuid.uuid4().hex}"
    # Every process re-execs into a command line carrying the marker, so survivors
    # can be found on the host afterwards.
    bomb = f"""
import os, subprocess, sys
if len(sys.argv) < 2:
    os.execv(sys.executable, [sys.executable, "-I", __file__, "{marker}"])
warned = False
while True:
    try:
        os.fork()
    except OSError:
        if not warned:
            print("fork refused", flush=True)
            warned = True
"""
    result = sandbox.run(bomb, timeout_s=2.0)
    assert result.timed_out
    if caps.process_limit:
        assert "fork refused" in result.stdout
    assert processes_with(marker) == []


def test_background_process_dies_with_the_run(caps: SandboxCapabilities) -> None:
    require(
        caps.pid_namespace,
        "no PID namespace here: a process that calls setsid() can outlive the run",
    )
    marker = f"wfg-daemon-{uuid.uuid4().hex}"
    code = f"""
import os, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(60)",
                  "{marker}"], start_new_session=True)
print("started")
"""
    result = LocalSandbox(LIMITS).run(code)
    assert result.stdout == "started\n"
    assert processes_with(marker) == []


def test_huge_output_is_truncated_to_the_bound(sandbox: LocalSandbox) -> None:
    code = "import sys\nfor _ in range(2000):\n    sys.stdout.write('x' * 50_000)\nprint('THE END')"
    result = sandbox.run(code)
    assert result.exit_code == 0
    assert result.stdout_truncated
    assert len(result.stdout.encode()) <= LIMITS.max_output_bytes + 64
    assert "bytes truncated" in result.stdout
    assert result.stdout.endswith("THE END\n")  # the tail survives


def test_huge_output_with_timeout_does_not_hang(sandbox: LocalSandbox) -> None:
    result = sandbox.run("while True:\n    print('y' * 10_000)", timeout_s=1.0)
    assert result.timed_out and result.stdout_truncated


def test_secrets_in_the_environment_are_not_visible(
    sandbox: LocalSandbox, caps: SandboxCapabilities, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"sk-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("E2B_API_KEY_UNRELATED", secret)
    code = f"""
import os
print(sorted(os.environ))
print("{secret[:3]}" + "{secret[3:]}" in "".join(os.environ.values()))
leaks = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            if b"{secret}" in open(f"/proc/{{pid}}/environ", "rb").read():
                leaks.append(pid)
        except OSError:
            pass
print(leaks)
"""
    result = sandbox.run(code)
    names, in_env, leaks = result.stdout.splitlines()
    assert "OPENAI_API_KEY" not in names and in_env == "False"
    if caps.private_proc or caps.unprivileged_uid:
        assert leaks == "[]"  # the parent's /proc/<pid>/environ is out of reach too


def test_network_connection_is_refused(caps: SandboxCapabilities) -> None:
    require(caps.no_network, "no network namespace here: the sandbox can open connections")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    code = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).send(b"leak")
    print("connected")
except OSError as e:
    print("blocked", e.errno)
"""
    try:
        result = LocalSandbox(LIMITS).run(code)
        assert result.stdout.startswith("blocked")
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


def test_writing_outside_the_working_directory_is_refused(caps: SandboxCapabilities) -> None:
    require(
        caps.read_only_outside_workdir,
        "mounts are not read-only here: the code may write wherever its uid can",
    )
    target_dir = tempfile.mkdtemp(prefix="wfg-outside-")
    os.chmod(target_dir, 0o777)  # writable by anyone: only the sandbox should stop it
    target = os.path.join(target_dir, "escaped.txt")
    code = f"""
import os
for path in ({target!r}, os.path.expanduser("~/../escaped.txt"), "/dev/shm/escaped.txt"):
    try:
        open(path, "w").write("x")
        print("wrote", path)
    except OSError as e:
        print("refused", e.strerror)
open("inside.txt", "w").write("fine")
"""
    try:
        result = LocalSandbox(LIMITS).run(code)
        assert "wrote" not in result.stdout, result.stdout
        assert result.stdout.count("refused") == 3
        assert result.files == ("inside.txt",)
        assert not os.path.exists(target)
    finally:
        shutil.rmtree(target_dir, ignore_errors=True)


def test_home_directory_secrets_are_hidden(
    caps: SandboxCapabilities, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(
        caps.read_only_outside_workdir,
        "no mount namespace here: the code can read what its uid can read",
    )
    home = tempfile.mkdtemp(prefix="wfg-home-")
    try:
        with open(os.path.join(home, "credentials"), "w") as f:
            f.write("aws_secret_access_key = hunter2")
        os.chmod(home, 0o755)
        os.chmod(os.path.join(home, "credentials"), 0o644)  # readable by anyone
        monkeypatch.setenv("HOME", home)
        sb = LocalSandbox(LIMITS)
        code = (
            f"import os\nprint(os.listdir({home!r}))\nprint(open({home!r} + '/credentials').read())"
        )
        result = sb.run(code)
        assert result.stdout == "[]\n", result
        assert "FileNotFoundError" in result.stderr
        assert home in sb.capabilities().hidden_dirs
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_file_size_limit(sandbox: LocalSandbox) -> None:
    code = """
import os
try:
    with open("big.bin", "wb") as f:
        f.write(b"0" * (3 * 2**20))
except OSError as e:
    print("refused", e.strerror)
print(os.path.getsize("big.bin") <= 2**20)
"""
    result = sandbox.run(code)
    assert result.stdout.splitlines()[-1] == "True", result


# -- what the machine grants -----------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux rlimits")
def test_capabilities_are_measured(caps: SandboxCapabilities) -> None:
    for name in ("cpu", "memory", "file_size", "processes"):
        assert name in caps.rlimits
    if os.geteuid() == 0:
        assert caps.uid == 65534 and caps.unprivileged_uid
    assert caps.process_limit == (caps.uid != 0)


def test_without_namespaces_the_report_says_so() -> None:
    sb = LocalSandbox(LIMITS, use_namespaces=False, run_as=None)
    caps = sb.capabilities()
    assert not caps.no_network and not caps.read_only_outside_workdir and not caps.pid_namespace
    # The limits that need no namespace still hold.
    result = sb.run("while True:\n    pass", timeout_s=1.0)
    assert result.killed_reason in ("wall-clock timeout", "CPU time limit")


def test_missing_interpreter_is_a_sandbox_error() -> None:
    with pytest.raises(SandboxError, match="could not start the interpreter"):
        LocalSandbox(LIMITS, python="/nonexistent/python3").run("print(1)")


# -- async -----------------------------------------------------------------------------


async def test_arun_does_not_block_the_event_loop(sandbox: LocalSandbox) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    result = await sandbox.arun("import time\ntime.sleep(0.6)\nprint('done')")
    task.cancel()
    assert result.stdout == "done\n"
    assert ticks >= 3


async def test_cancelling_arun_kills_the_process_tree(sandbox: LocalSandbox) -> None:
    marker = f"wfg-cancel-{uuid.uuid4().hex}"
    code = f"""
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{marker}"])
time.sleep(60)
"""
    task = asyncio.create_task(sandbox.arun(code, timeout_s=30))
    for _ in range(200):
        if processes_with(marker):
            break
        await asyncio.sleep(0.02)
    assert processes_with(marker), "the sandboxed child never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_with(marker) == []


# -- limits, buffers, selection --------------------------------------------------------


def test_limits_from_env() -> None:
    limits = SandboxLimits.from_env(
        {"WORKFORCE_GRAPH_SANDBOX_TIMEOUT": "7.5", "WORKFORCE_GRAPH_SANDBOX_MEMORY_MB": "512"}
    )
    assert limits.timeout_s == 7.5 and limits.memory_mb == 512 and limits.cpu_s == 10.0
    with pytest.raises(ValueError, match="WORKFORCE_GRAPH_SANDBOX_CPU_SECONDS"):
        SandboxLimits.from_env({"WORKFORCE_GRAPH_SANDBOX_CPU_SECONDS": "ten"})
    with pytest.raises(ValueError, match="greater than 0"):
        SandboxLimits.from_env({"WORKFORCE_GRAPH_SANDBOX_TIMEOUT": "0"})


def test_bounded_buffer_keeps_head_and_tail() -> None:
    buf = BoundedBuffer(limit=100)
    for i in range(1000):
        buf.write(f"{i:04d}".encode())
    text = buf.text()
    assert text.startswith("00000001") and text.endswith("0999")
    assert buf.dropped == 4000 - 100
    assert TRUNCATION_MARKER.format(dropped=3900) in text


def test_default_sandbox_is_e2b_iff_the_key_is_set() -> None:
    assert isinstance(default_sandbox(env={}), LocalSandbox)
    assert isinstance(default_sandbox(env={"E2B_API_KEY": "  "}), LocalSandbox)
    chosen = default_sandbox(
        env={"E2B_API_KEY": "e2b_test", "WORKFORCE_GRAPH_SANDBOX_TIMEOUT": "3"}
    )
    assert isinstance(chosen, E2BSandbox) and chosen.limits.timeout_s == 3


# -- E2B against a fake server on 127.0.0.1 --------------------------------------------


class FakeE2B(BaseHTTPRequestHandler):
    """The parts of the E2B control plane and code-interpreter API the adapter uses."""

    protocol_version = "HTTP/1.1"
    requests: ClassVar[list[tuple[str, str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}")
        self.requests.append(("POST", self.path, data))
        if self.path.endswith("/sandboxes"):
            self._send(401, b'{"code": 401, "message": "Invalid API key"}')
        elif self.path == "/contexts":
            self._send(200, b'{"id": "ctx-1", "language": "python", "cwd": "/home/user"}')
        elif self.path == "/execute":
            if "SLOW" in data["code"]:
                time.sleep(3)
            lines = [
                {"type": "stdout", "text": "hello\n", "timestamp": 1},
                {"type": "stderr", "text": "warn\n", "timestamp": 2},
                {"type": "result", "text": "42", "is_main_result": True},
            ]
            if "raise" in data["code"]:
                lines.append(
                    {
                        "type": "error",
                        "name": "ValueError",
                        "value": "bad",
                        "traceback": "Traceback ...",
                    }
                )
            body = "".join(json.dumps(line) + "\n" for line in lines).encode()
            self._send(200, body, "application/x-ndjson")
        else:
            self._send(404, b"not found", "text/plain")

    def do_DELETE(self) -> None:
        self.requests.append(("DELETE", self.path, None))
        self._send(200, b"{}")


@pytest.fixture
def fake_e2b() -> Iterator[str]:
    FakeE2B.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeE2B)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_e2b_run_maps_output_and_errors(fake_e2b: str) -> None:
    # debug=True skips the control plane; sandbox_url sends code-interpreter calls here.
    sb = E2BSandbox(LIMITS, api_key="e2b_test", debug=True, sandbox_url=fake_e2b)
    ok = sb.run("print('hello')")
    assert ok == ExecutionResult(
        stdout="hello\n42\n", stderr="warn\n", exit_code=0, duration_s=ok.duration_s, backend="e2b"
    )
    failed = sb.run("raise ValueError('bad')")
    assert failed.exit_code == 1 and "ValueError: bad" in failed.stderr
    paths = [(m, p) for m, p, _ in FakeE2B.requests]
    # A fresh context per run, removed afterwards: no variables leak between runs.
    assert paths.count(("POST", "/contexts")) == 2
    assert paths.count(("DELETE", "/contexts/ctx-1")) == 2
    execute = [d for m, p, d in FakeE2B.requests if p == "/execute"]
    assert execute[0]["context_id"] == "ctx-1"


async def test_e2b_timeout_is_a_result_not_an_error(fake_e2b: str) -> None:
    sb = E2BSandbox(LIMITS, api_key="e2b_test", debug=True, sandbox_url=fake_e2b)
    result = await sb.arun("SLOW", timeout_s=0.5)
    assert result.timed_out and result.killed_reason == "wall-clock timeout"
    assert sb._sandbox is None  # the VM is dropped so the next run starts clean


def test_e2b_bad_key_is_a_clear_sandbox_error(fake_e2b: str) -> None:
    sb = E2BSandbox(LIMITS, api_key="e2b_bad", api_url=fake_e2b, retries=0)
    with pytest.raises(SandboxError, match=r"rejected the API key.*E2B_API_KEY"):
        sb.run("print(1)")


def test_e2b_unreachable_is_a_clear_sandbox_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    sb = E2BSandbox(LIMITS, api_key="e2b_x", api_url=f"http://127.0.0.1:{closed_port}", retries=0)
    with pytest.raises(SandboxError, match="unreachable"):
        sb.run("print(1)")


def test_e2b_without_key_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    with pytest.raises(SandboxError, match="E2B_API_KEY"):
        E2BSandbox(LIMITS).run("print(1)")

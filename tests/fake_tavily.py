"""A local HTTP server that speaks Tavily's REST API, for offline tests.

It listens on 127.0.0.1 (random port), answers ``POST /search`` and ``POST /extract``
with Tavily's JSON shapes, records every request (path, headers, JSON body) and can be
told to fail: ``server.fail_next(429)`` makes the next request answer HTTP 429 with
Tavily's ``{"detail": {"error": ...}}`` body. Requests whose ``Authorization`` header
does not carry :attr:`FakeTavily.api_key` get HTTP 401, as the real service does.

Use it as a context manager, or through the ``fake_tavily`` fixture (see
``tests/test_web_worker.py``), which also points ``TAVILY_BASE_URL`` and
``TAVILY_API_KEY`` at it::

    with FakeTavily() as server:
        client = TavilyClient(api_key=server.api_key, api_base_url=server.url)
        client.search("llamas")
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeTavily", "RecordedRequest", "fake_tavily_env"]


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Failure:
    status: int
    detail: str
    raw: bytes | None = None


@dataclass
class FakeTavily:
    """A fake Tavily API server.

    Attributes:
        api_key: The key requests must send as ``Authorization: Bearer <key>``.
        results: Search results returned for every query (Tavily result dicts); by
            default three results about the query.
        pages: Page text by URL for ``/extract``; unknown URLs go to ``failed_results``.
        requests: Every request received, in order.
    """

    api_key: str = "tvly-test-key"
    results: list[dict[str, Any]] | None = None
    pages: dict[str, str] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53411``."""
        if self._server is None:
            raise RuntimeError("the fake Tavily server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(
        self, status: int, detail: str = "", *, times: int = 1, raw: bytes | None = None
    ) -> None:
        """Answer the next ``times`` requests with HTTP ``status``.

        Args:
            status: HTTP status, e.g. 429, 401, 500.
            detail: Error text, sent as ``{"detail": {"error": detail}}``.
            times: How many requests fail.
            raw: Send these bytes as the body instead (e.g. non-JSON garbage).
        """
        with self._lock:
            self._failures.extend(_Failure(status, detail, raw) for _ in range(times))

    def start(self) -> FakeTavily:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTavily:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- responses ---------------------------------------------------------------

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        query = str(body.get("query", ""))
        results = self.results
        if results is None:
            slug = "-".join(query.lower().split())[:40] or "empty"
            results = [
                {
                    "title": f"Result {i} about {query}",
                    "url": f"https://example.org/{slug}/{i}",
                    "content": f"Snippet {i}: what example.org says about {query}.",
                    "score": round(0.9 - i / 10, 2),
                    "raw_content": None,
                }
                for i in range(1, 4)
            ]
        results = results[: int(body.get("max_results") or 5)]
        return {
            "query": query,
            "follow_up_questions": None,
            "answer": None,
            "images": [],
            "results": results,
            "response_time": 0.01,
            "request_id": uuid.uuid4().hex,
        }

    def _extract(self, body: dict[str, Any]) -> dict[str, Any]:
        urls = body.get("urls") or []
        if isinstance(urls, str):
            urls = [urls]
        ok = [
            {"url": u, "raw_content": self.pages[u], "images": []} for u in urls if u in self.pages
        ]
        failed = [{"url": u, "error": "Failed to fetch url"} for u in urls if u not in self.pages]
        return {
            "results": ok,
            "failed_results": failed,
            "response_time": 0.01,
            "request_id": uuid.uuid4().hex,
        }


def _make_handler(fake: FakeTavily) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, payload: Any = None, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length)
            try:
                body: Any = json.loads(raw_body or b"{}")
            except json.JSONDecodeError:
                body = None
            with fake._lock:
                fake.requests.append(RecordedRequest(self.path, dict(self.headers), body))
                failure = fake._failures.pop(0) if fake._failures else None
            if failure is not None:
                self._send(failure.status, {"detail": {"error": failure.detail}}, failure.raw)
                return
            if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                self._send(401, {"detail": {"error": "Unauthorized: missing or invalid API key."}})
                return
            if not isinstance(body, dict):
                self._send(400, {"detail": {"error": "Invalid JSON body."}})
                return
            if self.path == "/search":
                if not str(body.get("query", "")).strip():
                    self._send(400, {"detail": {"error": "Query is missing."}})
                    return
                self._send(200, fake._search(body))
            elif self.path == "/extract":
                self._send(200, fake._extract(body))
            else:
                self._send(404, {"detail": {"error": f"Not found: {self.path}"}})

    return Handler


def fake_tavily_env(monkeypatch: Any) -> Iterator[FakeTavily]:
    """Generator behind the ``fake_tavily`` pytest fixture.

    Starts a server, sets ``TAVILY_API_KEY``/``TAVILY_BASE_URL`` to it and keeps the
    local address away from any HTTP proxy configured in the environment.

    Example (in a conftest)::

        @pytest.fixture
        def fake_tavily(monkeypatch):
            yield from fake_tavily_env(monkeypatch)
    """
    with FakeTavily() as server:
        monkeypatch.setenv("TAVILY_API_KEY", server.api_key)
        monkeypatch.setenv("TAVILY_BASE_URL", server.url)
        for var in ("NO_PROXY", "no_proxy"):
            current = os.environ.get(var, "")
            monkeypatch.setenv(var, ",".join(filter(None, [current, "127.0.0.1", "localhost"])))
        yield server

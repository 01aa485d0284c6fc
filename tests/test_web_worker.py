"""The web worker against a local server speaking Tavily's REST API (real client code)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import ToolException

from tests.fake_tavily import FakeTavily, fake_tavily_env
from workforce_graph.default_plugins import web
from workforce_graph.default_plugins.web import build_web_worker, make_web_tools
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.worker_runtime import run_worker
from workforce_graph.workers import SubtaskContext, SubtaskFailed, WorkerSpec


@pytest.fixture
def fake_tavily(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTavily]:
    yield from fake_tavily_env(monkeypatch)


def _context(description: str = "Find facts about llamas") -> SubtaskContext:
    return SubtaskContext(
        request="Tell me about llamas",
        subtask_id="s1",
        description=description,
        capabilities=["web_search"],
        dependency_results={},
        attachments=[],
    )


def _collect(spec: WorkerSpec) -> dict[str, Any]:
    return {t.name: t for t in spec.tools}


# -- availability --------------------------------------------------------------------


def test_without_key_the_worker_is_unavailable_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    registered: list[WorkerSpec] = []
    web.register_workers(registered.append)
    (spec,) = registered
    assert spec.name == "web"
    assert not spec.available
    assert spec.unavailable_reason == "TAVILY_API_KEY is not set"
    assert spec.card()["unavailable_reason"] == "TAVILY_API_KEY is not set"


def test_with_key_the_worker_declares_its_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-x")
    spec = build_web_worker()
    assert spec.available
    assert {"web_search", "web_extract"} <= set(spec.capabilities)
    card = spec.card()
    assert [t["name"] for t in card["tools"]] == ["web_search", "web_extract"]
    assert card["limitations"] and card["examples"]


def test_unavailable_worker_is_not_offered_by_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workforce_graph.plugins import WorkerRegistry

    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    registry = WorkerRegistry.of([build_web_worker()])
    assert "web" not in registry.available
    assert "web_search" not in registry.offered_capabilities()
    assert registry.cards() == []
    (card,) = registry.cards(include_unavailable=True)
    assert card["unavailable_reason"] == "TAVILY_API_KEY is not set"


def test_key_removed_after_registration_fails_the_subtask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-x")
    search = _collect(build_web_worker())["web_search"]
    monkeypatch.delenv("TAVILY_API_KEY")
    with pytest.raises(SubtaskFailed, match="TAVILY_API_KEY is not set"):
        search.invoke({"query": "llamas"})


# -- search and extract ----------------------------------------------------------------


def test_search_sends_key_and_query_and_returns_numbered_sources(
    fake_tavily: FakeTavily,
) -> None:
    search, _ = make_web_tools()
    text = search.invoke({"query": "llama wool", "max_results": 2})
    (req,) = fake_tavily.requests
    assert req.path == "/search"
    assert req.headers["Authorization"] == f"Bearer {fake_tavily.api_key}"
    assert req.body["query"] == "llama wool"
    assert req.body["max_results"] == 2
    assert "[1] Result 1 about llama wool" in text
    assert "URL: https://example.org/llama-wool/1" in text
    assert "URL: https://example.org/llama-wool/2" in text
    assert "/3" not in text


async def test_async_search_uses_the_async_client(fake_tavily: FakeTavily) -> None:
    search, _ = make_web_tools()
    text = await search.ainvoke({"query": "alpacas"})
    assert "https://example.org/alpacas/1" in text
    assert fake_tavily.requests[0].headers["X-Client-Source"] == "tavily-python"


def test_long_snippets_are_truncated(fake_tavily: FakeTavily) -> None:
    fake_tavily.results = [
        {"title": "Long", "url": "https://a.example/x", "content": "word " * 5000, "score": 1.0}
    ]
    search, _ = make_web_tools(snippet_chars=300)
    text = search.invoke({"query": "anything"})
    assert len(text) < 600
    assert "https://a.example/x" in text


def test_extract_returns_relevant_parts_of_long_pages(fake_tavily: FakeTavily) -> None:
    filler = "\n\n".join(f"Paragraph {i} is about routine weather patterns." for i in range(400))
    page = filler + "\n\nThe llama shearing festival is held every April in Cusco.\n\n" + filler
    fake_tavily.pages["https://site.example/long"] = page
    _, extract = make_web_tools(page_chars=1000)
    text = extract.invoke(
        {
            "urls": ["https://site.example/long", "https://site.example/missing"],
            "query": "when is the llama shearing festival",
        }
    )
    assert fake_tavily.requests[0].path == "/extract"
    assert fake_tavily.requests[0].body["urls"][0] == "https://site.example/long"
    assert "every April in Cusco" in text
    assert "URL: https://site.example/long" in text
    assert "Could not extract https://site.example/missing" in text
    assert len(text) < 1600 < len(page)


def test_extract_rejects_non_http_urls_as_a_fixable_error(fake_tavily: FakeTavily) -> None:
    _, extract = make_web_tools()
    with pytest.raises(ToolException, match="not http"):
        extract.invoke({"urls": ["file:///etc/passwd"]})
    assert fake_tavily.requests == []


# -- failures become failed subtasks ------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, r"rate or usage limit reached \(HTTP 429\): slow down"),
        (401, r"rejected the API key \(HTTP 401\)"),
        (432, r"plan or credit limit"),
        (500, r"server error \(HTTP 500\)"),
        (503, r"server error \(HTTP 503\)"),
    ],
)
@pytest.mark.parametrize("use_async", [False, True])
async def test_http_errors_become_a_failed_subtask_with_the_reason(
    fake_tavily: FakeTavily, status: int, expected: str, use_async: bool
) -> None:
    fake_tavily.fail_next(status, "slow down")
    search, _ = make_web_tools()
    with pytest.raises(SubtaskFailed, match=expected):
        if use_async:
            await search.ainvoke({"query": "llamas"})
        else:
            search.invoke({"query": "llamas"})


def test_wrong_key_is_rejected_by_the_server(
    fake_tavily: FakeTavily, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-wrong")
    search, _ = make_web_tools()
    with pytest.raises(SubtaskFailed, match=r"HTTP 401.*TAVILY_API_KEY") as info:
        search.invoke({"query": "llamas"})
    assert "tvly-wrong" not in info.value.reason  # the key never shows in a reason
    assert fake_tavily.requests[0].headers["Authorization"] == "Bearer tvly-wrong"


def test_unreadable_response_fails_cleanly(fake_tavily: FakeTavily) -> None:
    fake_tavily.fail_next(200, raw=b"<html>not json</html>")
    search, _ = make_web_tools()
    with pytest.raises(SubtaskFailed, match="unreadable response"):
        search.invoke({"query": "llamas"})


def test_bad_request_goes_back_to_the_model(fake_tavily: FakeTavily) -> None:
    fake_tavily.fail_next(400, "Query is too long.")
    search, _ = make_web_tools()
    with pytest.raises(ToolException, match=r"HTTP 400.*Query is too long"):
        search.invoke({"query": "x"})


async def test_unreachable_server_fails_with_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeTavily() as server:
        dead_url = server.url  # a port nothing listens on once the server stops
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-x")
    monkeypatch.setenv("TAVILY_BASE_URL", dead_url)
    search, _ = make_web_tools(timeout_s=5)
    with pytest.raises(SubtaskFailed, match=f"cannot reach Tavily at {dead_url}"):
        search.invoke({"query": "llamas"})
    with pytest.raises(SubtaskFailed, match=f"cannot reach Tavily at {dead_url}"):
        await search.ainvoke({"query": "llamas"})


def test_base_url_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-x")
    monkeypatch.setenv("TAVILY_BASE_URL", "ftp://nowhere")
    search, _ = make_web_tools()
    with pytest.raises(SubtaskFailed, match="TAVILY_BASE_URL must be an http"):
        search.invoke({"query": "llamas"})


def test_explicit_settings_override_the_environment(
    fake_tavily: FakeTavily, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAVILY_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("TAVILY_API_KEY")
    search, _ = make_web_tools(api_key=fake_tavily.api_key, base_url=fake_tavily.url + "/")
    assert "example.org" in search.invoke({"query": "llamas"})


# -- inside the worker runtime -----------------------------------------------------------


async def test_worker_run_cites_the_urls_it_found(fake_tavily: FakeTavily) -> None:
    def worker(messages: list[Any]) -> AIMessage | str:
        tool_results = [m for m in messages if isinstance(m, ToolMessage)]
        if not tool_results:
            return AIMessage(
                "", tool_calls=[{"name": "web_search", "args": {"query": "llamas"}, "id": "c1"}]
            )
        url = next(
            line[5:]
            for line in str(tool_results[-1].content).splitlines()
            if line.startswith("URL: ")
        )
        return f"Llamas are camelids. Sources: {url}"

    model = ScriptedChatModel(responders={"worker": worker})
    result = await run_worker(build_web_worker(), model, _context())
    assert result["status"] == "done"
    assert "https://example.org/llamas/1" in result["result"]
    assert model.calls[0]["prompt"].startswith("You find facts on the web")


async def test_worker_run_fails_on_rate_limit_without_crashing(fake_tavily: FakeTavily) -> None:
    fake_tavily.fail_next(429, "Rate limit exceeded")
    model = ScriptedChatModel(
        responders={
            "worker": lambda m: AIMessage(
                "", tool_calls=[{"name": "web_search", "args": {"query": "x"}, "id": "c1"}]
            )
        }
    )
    result = await run_worker(build_web_worker(), model, _context())
    assert result["status"] == "failed"
    assert result["reason"] is not None and "HTTP 429" in result["reason"]
    assert "Rate limit exceeded" in result["reason"]

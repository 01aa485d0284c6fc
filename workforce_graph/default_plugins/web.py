"""The ``web`` worker: web search and page extraction through Tavily (tavily-python).

Configuration, read each time a tool runs (so a key set after start-up is picked up):

* ``TAVILY_API_KEY``: required. Without it the worker is registered as unavailable
  with that reason, and the planner never gives it a subtask.
* ``TAVILY_BASE_URL``: optional, default ``https://api.tavily.com``. Tests point it at
  a local server speaking Tavily's REST API; the real client code runs either way.

Both can also be passed to :func:`build_web_worker`, which then ignores the
environment. Results are compact text with numbered sources and their URLs, so the
worker (and the final answer) can cite them. A rate limit, a rejected key, a server
error or an unreachable server ends the subtask as failed with the cause; a request
Tavily rejects as malformed (HTTP 400) goes back to the model to fix its arguments.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field

from workforce_graph.default_plugins.documents.rank import select_within_budget, split_passages
from workforce_graph.hookspecs import hookimpl
from workforce_graph.result_filter import filter_results
from workforce_graph.workers import SubtaskFailed, WorkerSpec

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "SYSTEM_PROMPT",
    "build_web_worker",
    "make_web_tools",
    "register_workers",
]

ENV_API_KEY = "TAVILY_API_KEY"
ENV_BASE_URL = "TAVILY_BASE_URL"
DEFAULT_BASE_URL = "https://api.tavily.com"

SYSTEM_PROMPT = """You find facts on the web. Use web_search with short, specific \
queries (several searches with different wording beat one long query), then \
web_extract on the most promising URLs when the snippets are not enough, giving it a \
query so it returns the relevant parts of long pages. Rely only on what the tools \
returned. Answer plainly, cite every fact with the URL it came from, and end with a \
"Sources:" list of the URLs you used. If the web does not give the answer, say what \
you found and what is missing."""


@dataclass(frozen=True)
class _Settings:
    api_key: str
    base_url: str
    timeout_s: float


def _settings(api_key: str | None, base_url: str | None, timeout_s: float) -> _Settings:
    key = api_key if api_key is not None else os.environ.get(ENV_API_KEY, "")
    if not key.strip():
        raise SubtaskFailed(f"{ENV_API_KEY} is not set")
    url = (base_url if base_url is not None else os.environ.get(ENV_BASE_URL, "")).strip()
    url = (url or DEFAULT_BASE_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SubtaskFailed(f"{ENV_BASE_URL} must be an http(s) URL, not {url!r}")
    return _Settings(key.strip(), url, timeout_s)


def _detail(exc: BaseException) -> str:
    text = str(exc).strip()
    return f": {text[:300]}" if text else ""


def _translate(exc: Exception, base_url: str) -> Exception:
    """Turn a client exception into a failed subtask (or a fixable tool error)."""
    import httpx
    import requests
    from tavily import errors as te

    if isinstance(exc, te.UsageLimitExceededError):
        return SubtaskFailed(
            f"Tavily rate or usage limit reached (HTTP 429){_detail(exc)}; try again later"
        )
    if isinstance(exc, te.InvalidAPIKeyError):
        return SubtaskFailed(
            f"Tavily rejected the API key (HTTP 401){_detail(exc)}; check {ENV_API_KEY}"
        )
    if isinstance(exc, te.ForbiddenError):
        return SubtaskFailed(
            f"Tavily refused the request (HTTP 403/432/433: plan or credit limit){_detail(exc)}"
        )
    if isinstance(exc, te.MissingAPIKeyError):
        return SubtaskFailed(f"{ENV_API_KEY} is not set")
    if isinstance(exc, te.BadRequestError):
        # Usually a query that is too long or an invalid parameter: the model can fix it.
        return ToolException(
            f"Tavily rejected the request as invalid (HTTP 400){_detail(exc)}; "
            "change the arguments and try again"
        )
    if isinstance(exc, te.TimeoutError):
        return SubtaskFailed(f"Tavily did not answer in time ({exc})")
    if isinstance(exc, requests.HTTPError | httpx.HTTPStatusError):
        status = exc.response.status_code if exc.response is not None else "?"
        kind = "server error" if isinstance(status, int) and status >= 500 else "error"
        return SubtaskFailed(f"Tavily {kind} (HTTP {status}) from {base_url}")
    if isinstance(exc, requests.Timeout | httpx.TimeoutException):
        return SubtaskFailed(f"Tavily did not answer in time ({type(exc).__name__})")
    if isinstance(exc, requests.ConnectionError | httpx.TransportError):
        return SubtaskFailed(f"cannot reach Tavily at {base_url} ({type(exc).__name__})")
    if isinstance(exc, ValueError):  # a 200 whose body is not JSON
        return SubtaskFailed(f"Tavily at {base_url} returned an unreadable response")
    return SubtaskFailed(f"Tavily call failed ({type(exc).__name__}{_detail(exc)})")


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


def _format_search(query: str, data: dict[str, Any], snippet_chars: int) -> str:
    # Whoever runs the graph may withhold results (the evaluation's leakage guard).
    found = [r for r in data.get("results") or [] if isinstance(r, dict)]
    results, withheld = filter_results(found)
    if not results:
        return f'Web search "{query}": no results. Try other words.'
    lines = [f'Web search "{query}": {len(results)} result(s).']
    answer = data.get("answer")
    # Tavily's summary may quote a withheld page.
    if isinstance(answer, str) and answer.strip() and not withheld:
        lines.append(f"Tavily summary (unverified): {_clip(answer, snippet_chars)}")
    for n, r in enumerate(results, start=1):
        title = _clip(str(r.get("title") or "(no title)"), 200)
        lines.append(f"\n[{n}] {title}\nURL: {r.get('url', '')}")
        content = str(r.get("content") or "")
        if content:
            lines.append(_clip(content, snippet_chars))
    lines.append("\nCite these sources by URL.")
    return "\n".join(lines)


def _page_excerpt(text: str, query: str | None, budget: int) -> tuple[str, bool]:
    """The part of a page worth showing: relevant paragraphs, or its beginning."""
    if len(text) <= budget:
        return text, False
    if query:
        passages = split_passages(text, min(1200, budget))
        chosen = sorted(select_within_budget(passages, query, budget_chars=budget))
        if chosen:
            # Document order reads better than score order for one page.
            return "\n...\n".join(passages[i] for i in chosen), True
    return text[:budget].rstrip() + "...", True


def _format_extract(data: dict[str, Any], query: str | None, page_chars: int) -> str:
    results, _ = filter_results([r for r in data.get("results") or [] if isinstance(r, dict)])
    failed = [r for r in data.get("failed_results") or [] if isinstance(r, dict)]
    lines: list[str] = []
    for n, r in enumerate(results, start=1):
        raw = str(r.get("raw_content") or "")
        excerpt, cut = _page_excerpt(raw, query, page_chars)
        note = (
            f" (showing {len(excerpt):,} of {len(raw):,} characters"
            + (f", the parts most relevant to {query!r})" if query else ")")
            if cut
            else ""
        )
        lines.append(f"[{n}] URL: {r.get('url', '')}{note}\n{excerpt or '(no text)'}")
    for r in failed:
        lines.append(f"Could not extract {r.get('url', '?')}: {r.get('error') or 'unknown error'}")
    if not lines:
        return "Tavily returned nothing for these URLs."
    return "\n\n".join(lines) + ("\n\nCite these sources by URL." if results else "")


class _SearchInput(BaseModel):
    query: str = Field(description="Search query: short and specific (under 400 characters).")
    max_results: int = Field(default=5, ge=1, le=10, description="How many results (1-10).")
    topic: Literal["general", "news", "finance"] = Field(
        default="general", description="'news' for recent events, 'finance' for markets."
    )


class _ExtractInput(BaseModel):
    urls: list[str] = Field(description="1 to 5 http(s) URLs to read, e.g. from web_search.")
    query: str = Field(
        default="",
        description="What you are looking for; long pages are cut to the relevant parts.",
    )


def _check_urls(urls: Sequence[str]) -> list[str]:
    clean = [u.strip() for u in urls if u and u.strip()]
    if not clean:
        raise ToolException("give at least one URL")
    if len(clean) > 5:
        raise ToolException("give at most 5 URLs per call")
    bad = [u for u in clean if not u.startswith(("http://", "https://"))]
    if bad:
        raise ToolException(f"not http(s) URLs: {', '.join(bad)}")
    return clean


def make_web_tools(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    snippet_chars: int = 700,
    page_chars: int = 6000,
    timeout_s: float = 60.0,
) -> tuple[BaseTool, BaseTool]:
    """The web worker's tools: ``web_search`` and ``web_extract``.

    Each has a sync and an async implementation (``TavilyClient`` and
    ``AsyncTavilyClient``), so async runs never block the event loop.

    Args:
        api_key: Tavily key; ``None`` reads ``TAVILY_API_KEY`` when a tool runs.
        base_url: Tavily API root; ``None`` reads ``TAVILY_BASE_URL`` (default
            ``https://api.tavily.com``) when a tool runs.
        snippet_chars: Most characters shown per search result.
        page_chars: Most characters shown per extracted page.
        timeout_s: HTTP timeout per call.

    Returns:
        ``(web_search, web_extract)``.

    Example:
        >>> search, extract = make_web_tools(api_key="tvly-test")
        >>> search.name, extract.name
        ('web_search', 'web_extract')
    """

    def settings() -> _Settings:
        return _settings(api_key, base_url, timeout_s)

    def search_kwargs(query: str, max_results: int, topic: str, s: _Settings) -> dict[str, Any]:
        if not query.strip():
            raise ToolException("the query is empty")
        return {
            "query": query.strip(),
            "max_results": max(1, min(10, max_results)),
            "topic": topic,
            "timeout": s.timeout_s,
        }

    def extract_kwargs(urls: list[str], query: str, s: _Settings) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"urls": _check_urls(urls), "timeout": s.timeout_s}
        if query.strip():
            kwargs["query"] = query.strip()
        return kwargs

    def web_search(query: str, max_results: int = 5, topic: str = "general") -> str:
        from tavily import TavilyClient

        s = settings()
        kwargs = search_kwargs(query, max_results, topic, s)
        try:
            with TavilyClient(api_key=s.api_key, api_base_url=s.base_url) as client:
                data = client.search(**kwargs)
        except Exception as exc:
            raise _translate(exc, s.base_url) from exc
        return _format_search(kwargs["query"], data, snippet_chars)

    async def aweb_search(query: str, max_results: int = 5, topic: str = "general") -> str:
        from tavily import AsyncTavilyClient

        s = settings()
        kwargs = search_kwargs(query, max_results, topic, s)
        try:
            async with AsyncTavilyClient(api_key=s.api_key, api_base_url=s.base_url) as client:
                data = await client.search(**kwargs)
        except Exception as exc:
            raise _translate(exc, s.base_url) from exc
        return _format_search(kwargs["query"], data, snippet_chars)

    def web_extract(urls: list[str], query: str = "") -> str:
        from tavily import TavilyClient

        s = settings()
        kwargs = extract_kwargs(urls, query, s)
        try:
            with TavilyClient(api_key=s.api_key, api_base_url=s.base_url) as client:
                data = client.extract(**kwargs)
        except Exception as exc:
            raise _translate(exc, s.base_url) from exc
        return _format_extract(data, kwargs.get("query"), page_chars)

    async def aweb_extract(urls: list[str], query: str = "") -> str:
        from tavily import AsyncTavilyClient

        s = settings()
        kwargs = extract_kwargs(urls, query, s)
        try:
            async with AsyncTavilyClient(api_key=s.api_key, api_base_url=s.base_url) as client:
                data = await client.extract(**kwargs)
        except Exception as exc:
            raise _translate(exc, s.base_url) from exc
        return _format_extract(data, kwargs.get("query"), page_chars)

    search_tool = StructuredTool.from_function(
        func=web_search,
        coroutine=aweb_search,
        name="web_search",
        description="Search the web (Tavily). Returns numbered results with title, URL "
        "and the relevant snippet of each page.",
        args_schema=_SearchInput,
    )
    extract_tool = StructuredTool.from_function(
        func=web_extract,
        coroutine=aweb_extract,
        name="web_extract",
        description="Read the text of up to 5 web pages (Tavily extract). With a query, "
        "long pages are cut to their most relevant parts.",
        args_schema=_ExtractInput,
    )
    return search_tool, extract_tool


def build_web_worker(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    snippet_chars: int = 700,
    page_chars: int = 6000,
    timeout_s: float = 60.0,
) -> WorkerSpec:
    """The ``web`` worker declaration.

    Args:
        api_key: Tavily key; ``None`` reads ``TAVILY_API_KEY`` (now, to decide whether
            the worker is available, and again when a tool runs).
        base_url: Tavily API root; ``None`` reads ``TAVILY_BASE_URL`` when a tool runs.
        snippet_chars: Most characters shown per search result.
        page_chars: Most characters shown per extracted page.
        timeout_s: HTTP timeout per Tavily call.

    Returns:
        A :class:`WorkerSpec`; unavailable (with the reason) without a key or without
        tavily-python.

    Example:
        >>> build_web_worker(api_key="").unavailable_reason
        'TAVILY_API_KEY is not set'
    """
    key = api_key if api_key is not None else os.environ.get(ENV_API_KEY, "")
    unavailable: str | None = None
    if importlib.util.find_spec("tavily") is None:
        unavailable = "tavily-python is not installed (pip install 'workforce-graph[web]')"
    elif not key.strip():
        unavailable = f"{ENV_API_KEY} is not set"
    return WorkerSpec(
        name="web",
        description="Searches the web and reads web pages (through Tavily) to find "
        "current or external facts, and cites the URLs it used.",
        capabilities=("web_search", "web_extract", "current_events", "fact_lookup"),
        tools=make_web_tools(
            api_key=api_key,
            base_url=base_url,
            snippet_chars=snippet_chars,
            page_chars=page_chars,
            timeout_s=timeout_s,
        ),
        system_prompt=SYSTEM_PROMPT,
        limitations=(
            "needs TAVILY_API_KEY and internet access",
            "reads public pages only: no logins, forms or clicking through sites",
            "sees search snippets and page extracts, not images or videos",
            f"shows at most about {page_chars:,} characters of each page",
        ),
        examples=(
            "Find the current CEO of a company and cite the source",
            "What did the latest release notes of a project announce?",
            "Collect three recent news reports on a topic with their URLs",
        ),
        unavailable_reason=unavailable,
    )


@hookimpl
def register_workers(register: Callable[[WorkerSpec], None]) -> None:
    register(build_web_worker())

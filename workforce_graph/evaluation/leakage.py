"""The leakage guard: web results that would hand a benchmark's answer to the model.

A result whose URL or text contains the question verbatim, or that comes from a host
known to publish benchmark answers, is withheld from the worker and counted. The guard
is the result filter of an evaluation's runs (installed per task through
:mod:`workforce_graph.result_filter`), so a web tool honours it without knowing of it.
A past run (an evaluation with ``--memory``) is offered to it the same way
(``past-run:KEY``) and withheld when it holds the question, however short.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from workforce_graph.past_runs import PAST_RUN_URL
from workforce_graph.result_filter import active_filter, filtering_results

__all__ = ["DEFAULT_BLOCKLIST", "LeakageGuard", "active_guard", "guarding", "leaked_questions"]

DEFAULT_BLOCKLIST: tuple[str, ...] = (
    "huggingface.co",
    "hf.co",
    "github.com",
    "raw.githubusercontent.com",
    "paperswithcode.com",
    "kaggle.com",
)
"""Hosts that publish benchmark questions with their answers (GAIA's validation set
lives on the Hugging Face hub, and copies on GitHub)."""

_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


@dataclass
class LeakageGuard:
    question: str
    blocklist: tuple[str, ...] = DEFAULT_BLOCKLIST
    withheld: list[str] = field(default_factory=list)
    """The URLs (or reasons) of what was withheld."""

    def leak(self, url: str, text: str) -> str | None:
        """Why this result must be withheld, or ``None``."""
        if url.startswith(PAST_RUN_URL):
            # A past run of this very question is a leak whatever its length: it was
            # asked, planned and scored before.
            if _norm(self.question) and _norm(self.question) in _norm(text):
                return "a past run of this question"
            return None
        host = (urlparse(url).hostname or "").lower()
        if any(host == h or host.endswith("." + h) for h in self.blocklist):
            return f"blocklisted host {host}"
        question = _norm(self.question)
        # Very short questions occur verbatim by chance; only a real question counts.
        if len(question) >= 24 and (question in _norm(url) or question in _norm(text)):
            return "contains the question verbatim"
        return None

    def filter(self, results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """``results`` (dicts with ``url`` and text fields) without the leaks."""
        kept = []
        for result in results:
            text = " ".join(str(result.get(k) or "") for k in ("title", "content", "raw_content"))
            reason = self.leak(str(result.get("url") or ""), text)
            if reason is None:
                kept.append(result)
            else:
                self.withheld.append(f"{result.get('url', '?')}: {reason}")
        return kept


def active_guard() -> LeakageGuard | None:
    """The guard of the evaluation run in progress, if any."""
    active = active_filter()
    return active if isinstance(active, LeakageGuard) else None


@contextmanager
def guarding(guard: LeakageGuard | None) -> Iterator[LeakageGuard | None]:
    """``with guarding(guard): ...`` makes ``guard`` the result filter of the runs started
    inside (see :mod:`workforce_graph.result_filter`)."""
    with filtering_results(guard):
        yield guard


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def leaked_questions(rows: Iterable[Mapping[str, Any]], questions: Iterable[str]) -> list[str]:
    """The ``questions`` (a held-out split) whose text occurs in any training row.

    The same guard as for web results, applied to training data: a held-out question
    that a trained model saw, in a prompt or a completion, no longer measures what it
    learned. Whitespace and case are ignored; every question counts, however short.
    """
    corpus = "\n".join(_norm(text) for row in rows for text in _texts(row))
    return [q for q in questions if _norm(q) and _norm(q) in corpus]

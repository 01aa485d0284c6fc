"""The result filter: a seam through which whoever runs a graph withholds tool results.

A tool that brings outside content to a worker (the web worker's search) passes its
results through :func:`filter_results`. By default nothing is withheld. Whoever runs the
graph installs a filter for the runs it starts with :func:`filtering_results`: the
evaluation installs its leakage guard per task, so that no worker reads a page that
hands it the benchmark's answer, and no worker has to know about the evaluation.

The filter is a context variable, not a registry setting: runs of different tasks
share one registry but not one filter, and the asyncio tasks of a run inherit it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

__all__ = ["ResultFilter", "active_filter", "filter_results", "filtering_results"]


class ResultFilter(Protocol):
    """What withholds results: keeps some, and may note the others itself."""

    def filter(self, results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """``results`` (dicts with ``url``, ``title``, ``content``, ...) that may be shown."""
        ...


_FILTER: ContextVar[ResultFilter | None] = ContextVar("workforce_graph_result_filter", default=None)


def active_filter() -> ResultFilter | None:
    """The filter installed for the run in progress, if any."""
    return _FILTER.get()


def filter_results(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """``results`` without those the active filter withholds, and how many it withheld."""
    active = _FILTER.get()
    if active is None:
        return results, 0
    kept = [dict(r) for r in active.filter(results)]
    return kept, len(results) - len(kept)


@contextmanager
def filtering_results(result_filter: ResultFilter | None) -> Iterator[ResultFilter | None]:
    """``with filtering_results(f): ...`` makes ``f`` the filter of the runs started inside."""
    token = _FILTER.set(result_filter)
    try:
        yield result_filter
    finally:
        _FILTER.reset(token)

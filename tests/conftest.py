"""Shared helpers: scripted models, test workers and a runner collecting events."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from workforce_graph import WorkerSpec, build_workforce_graph
from workforce_graph.testing import ScriptedChatModel

os.environ.setdefault("LANGSMITH_TRACING", "false")

CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def pg() -> Iterator[str]:
    """A throwaway local PostgreSQL server's DSN, shared by the session (required in CI)."""
    from tests.pg_server import PostgresUnavailable, postgres_dsn

    try:
        with postgres_dsn() as dsn:
            yield dsn
    except PostgresUnavailable as exc:
        if CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Any]:
    """One local Ray instance for the session: Ray can be initialised once per process."""
    ray = __import__("ray") if CI else pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def spec(name: str, *caps: str, **kwargs: Any) -> WorkerSpec:
    return WorkerSpec(name=name, description=f"The {name} worker.", capabilities=caps, **kwargs)


async def run_graph(
    model: ScriptedChatModel,
    *,
    task: str = "the task",
    workers: list[WorkerSpec] | None = None,
    checkpointer: Any = None,
    thread_id: str | None = None,
    inputs: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the graph to the end; return the final state and the progress events.

    ``inputs`` are further input keys beside the task (a given ``plan``, ...).
    """
    graph = build_workforce_graph(
        model=model, workers=workers or [spec("reasoning", "reasoning")], **options
    ).compile(checkpointer=checkpointer or InMemorySaver())
    config = {"configurable": {"thread_id": thread_id or uuid.uuid4().hex}}
    events: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    async for mode, chunk in graph.astream(
        {"task": task, **(inputs or {})}, config, stream_mode=["custom", "values"]
    ):
        if mode == "custom":
            events.append(chunk)
        else:
            final = chunk
    return final, events


def subtask_id_of(messages: list[Any]) -> str:
    """The subtask id a worker prompt is about (``Your subtask (s1):``)."""
    text = "\n".join(str(m.content) for m in messages)
    start = text.index("Your subtask (") + len("Your subtask (")
    return text[start : text.index(")", start)]


@pytest.fixture
def scripted() -> Callable[..., ScriptedChatModel]:
    def make(**responders: Any) -> ScriptedChatModel:
        latency = responders.pop("latency_s", 0.0)
        responders.setdefault("generator", lambda m: "the final answer")
        return ScriptedChatModel(responders=responders, latency_s=latency)

    return make


@pytest.fixture(scope="session")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bundled model as a trainable directory, converted once per test session."""
    from workforce_graph.training.base_model import CACHE_ENV, resolve_base_model

    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("base-models"))
    try:
        yield resolve_base_model("local")
    finally:
        if before is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = before

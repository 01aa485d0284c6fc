"""Plugin discovery: built-ins through the same hooks, broken plugins skipped by name."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workforce_graph import WorkerSpec, collect_workers, get_plugin_manager, hookimpl
from workforce_graph.plugins import new_plugin_manager
from workforce_graph.workers import InvalidWorkerSpec


class EchoPlugin:
    __name__ = "echo_plugin"

    @hookimpl
    def register_workers(self, register: Any) -> None:
        register(WorkerSpec(name="echo", description="Echoes.", capabilities=("echo",)))


@pytest.fixture
def registered() -> Iterator[Any]:
    """Register plugin objects on the process-wide manager, unregister afterwards."""
    pm = get_plugin_manager()
    added: list[Any] = []

    def add(plugin: Any, name: str) -> None:
        pm.register(plugin, name=name)
        added.append(plugin)

    yield add
    for plugin in added:
        pm.unregister(plugin)


def test_builtin_reasoning_worker_registers_through_the_hook() -> None:
    registry = collect_workers()
    reasoning = registry.workers["reasoning"]
    assert reasoning.plugin == "reasoning"
    assert "reasoning" in reasoning.capabilities and reasoning.available


def test_registered_plugin_adds_a_worker_and_unregistering_removes_it(registered: Any) -> None:
    assert "echo" not in collect_workers().workers
    registered(EchoPlugin(), "echo_plugin")
    registry = collect_workers()
    assert registry.workers["echo"].plugin == "echo_plugin"
    assert "echo" in registry.offered_capabilities()


def test_duplicate_and_invalid_workers_are_reported_and_others_still_load(registered: Any) -> None:
    class Duplicate:
        @hookimpl
        def register_workers(self, register: Any) -> None:
            register(WorkerSpec(name="reasoning", description="Again.", capabilities=("x",)))

    class Invalid:
        @hookimpl
        def register_workers(self, register: Any) -> None:
            register(WorkerSpec(name="Bad Name", description="x", capabilities=("x",)))

    class Raises:
        @hookimpl
        def register_workers(self, register: Any) -> None:
            raise RuntimeError("config file missing")

    registered(Duplicate(), "dup_plugin")
    registered(Invalid(), "invalid_plugin")
    registered(Raises(), "raising_plugin")
    registered(EchoPlugin(), "echo_plugin")
    registry = collect_workers()
    problems = {p.plugin: p.message for p in registry.problems}
    assert "already registered by 'reasoning'" in problems["dup_plugin"]
    assert "invalid worker declaration" in problems["invalid_plugin"]
    assert "'Bad Name' must match" in problems["invalid_plugin"]
    assert problems["raising_plugin"] == "RuntimeError: config file missing"
    assert registry.workers["reasoning"].plugin == "reasoning"
    assert "echo" in registry.workers


def _fake_entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group="workforce_graph")


def test_entry_point_that_fails_to_import_is_skipped_with_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = types.ModuleType("wg_good_plugin")
    exec(
        "from workforce_graph import hookimpl, WorkerSpec\n"
        "@hookimpl\n"
        "def register_workers(register):\n"
        "    register(WorkerSpec(name='good', description='Good.', capabilities=('good',)))\n",
        good.__dict__,
    )
    monkeypatch.setitem(sys.modules, "wg_good_plugin", good)
    eps = [
        _fake_entry_point("broken", "wg_missing_module_xyz"),
        _fake_entry_point("good", "wg_good_plugin"),
    ]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps)
    pm, problems = new_plugin_manager()
    assert [(p.plugin, p.message) for p in problems if p.plugin in ("broken", "good")] == [
        ("broken", "ModuleNotFoundError: No module named 'wg_missing_module_xyz'")
    ]
    assert str(next(p for p in problems if p.plugin == "broken")).startswith(
        "plugin 'broken' skipped:"
    )
    assert "good" in collect_workers(pm).workers


def test_environment_variable_limits_which_plugins_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKFORCE_GRAPH_PLUGINS", "reasoning")
    pm, _ = new_plugin_manager()
    assert [name for name, _ in pm.list_name_plugin()] == ["reasoning"]
    assert set(collect_workers(pm).workers) == {"reasoning"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "ok", "description": "", "capabilities": ("x",)}, "non-empty description"),
        ({"name": "ok", "description": "d", "capabilities": ()}, "at least one capability"),
        ({"name": "ok", "description": "d", "capabilities": "x"}, "not a string"),
        (
            {"name": "ok", "description": "d", "capabilities": ("x",), "tools": (len,)},
            "not a LangChain",
        ),
    ],
)
def test_invalid_declarations_explain_themselves(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidWorkerSpec, match=message):
        WorkerSpec(**kwargs)


def test_unavailable_worker_is_listed_but_not_offered(registered: Any) -> None:
    class NeedsKey:
        @hookimpl
        def register_workers(self, register: Any) -> None:
            register(
                WorkerSpec(
                    name="paid",
                    description="Needs a key.",
                    capabilities=("paid_search",),
                    unavailable_reason="PAID_API_KEY is not set",
                )
            )

    registered(NeedsKey(), "needs_key")
    registry = collect_workers()
    assert "paid" in registry.workers and "paid" not in registry.available
    assert "paid_search" not in registry.offered_capabilities()
    card = next(c for c in registry.cards(include_unavailable=True) if c["name"] == "paid")
    assert card["unavailable_reason"] == "PAID_API_KEY is not set"


def _line_counter(*, reads_attachments: bool, unavailable_reason: str | None = None) -> WorkerSpec:
    """A plugin worker whose tool reads the attached files, as plugin-authoring.md shows."""
    from langchain_core.tools import tool

    from workforce_graph.workers import get_subtask_context

    @tool
    def count_lines() -> str:
        """Count the lines of each attached file."""
        return ", ".join(
            f"{Path(p).name}: {len(Path(p).read_text().splitlines())} lines"
            for p in get_subtask_context()["attachments"]
        )

    return WorkerSpec(
        name="lines",
        description="Counts the lines of attached text files.",
        capabilities=("line_counting",),
        tools=(count_lines,),
        reads_attachments=reads_attachments,
        unavailable_reason=unavailable_reason,
    )


async def test_a_plugin_worker_declared_to_read_attachments_answers_complete(
    tmp_path: Path,
) -> None:
    from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

    from workforce_graph import build_workforce_graph
    from workforce_graph.testing import ScriptedChatModel, plan_reply

    notes = tmp_path / "notes.txt"
    notes.write_text("a\nb\nc\n")

    def worker(messages: list[BaseMessage]) -> AIMessage | str:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            return AIMessage("", tool_calls=[{"name": "count_lines", "args": {}, "id": "c1"}])
        return str(results[-1].content)

    model = ScriptedChatModel(
        responders={
            "planner": plan_reply(
                {"id": "s1", "description": "Count the lines", "capabilities": ["line_counting"]}
            ),
            "worker": worker,
            "generator": lambda m: "notes.txt has 3 lines.",
        }
    )
    graph = build_workforce_graph(
        model=model, workers=[_line_counter(reads_attachments=True)]
    ).compile()
    state = await graph.ainvoke(
        {"task": "How many lines has the attached notes.txt?", "attachments": [str(notes)]}
    )
    assert state["subtasks"][0]["result"] == "notes.txt: 3 lines"
    assert state["answer"]["complete"] and state["answer"]["failed"] == []
    assert state["answer"]["text"] == "notes.txt has 3 lines."


def test_only_a_declared_available_reader_counts_for_attachments() -> None:
    from workforce_graph.attachments import unreadable_attachments
    from workforce_graph.plugins import WorkerRegistry

    files = ["/tmp/notes.txt"]
    declared = WorkerRegistry.of([_line_counter(reads_attachments=True)])
    assert unreadable_attachments(declared, files) is None
    undeclared = WorkerRegistry.of([_line_counter(reads_attachments=False)])
    assert "no available worker reads attached files (notes.txt)" in (
        unreadable_attachments(undeclared, files) or ""
    )
    # A declared reader that cannot run here is named, rather than the documents extra.
    down = WorkerRegistry.of(
        [
            WorkerSpec(name="reasoning", description="Thinks.", capabilities=("reasoning",)),
            _line_counter(reads_attachments=True, unavailable_reason="NO_KEY is not set"),
        ]
    )
    assert (unreadable_attachments(down, files) or "").endswith(
        "the lines worker is unavailable: NO_KEY is not set"
    )

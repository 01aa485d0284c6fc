"""Instructions a model copies into its reply are taken out; nothing else is."""

from __future__ import annotations

from tests.conftest import run_graph
from tests.test_flow import flow_model, run_flow, step
from workforce_graph.calls.replies import ECHO_MIN_CHARS, registered_instructions, without_echoes
from workforce_graph.default_plugins.code.plugin import make_run_python_tool
from workforce_graph.testing import ScriptedChatModel, plan_reply
from workforce_graph.workers import WorkerSpec

RULES = "Work only on this subtask. Reply with its result and nothing else.\nBe brief."


def test_each_echoed_instruction_sentence_is_removed_and_the_rest_kept() -> None:
    reply = "Paris.\nWork only on this subtask.\n\n\nIt is in France."
    assert without_echoes(reply, [RULES]) == "Paris.\n\nIt is in France."


def test_a_reply_of_echoes_only_is_empty() -> None:
    assert (
        without_echoes(
            " Work only on this subtask. Reply with its result and nothing else. ", [RULES]
        )
        == ""
    )


def test_short_sentences_and_paraphrases_stay() -> None:
    assert len("Be brief.") < ECHO_MIN_CHARS
    reply = "Be brief. Only work on this subtask."
    assert without_echoes(reply, [RULES]) == reply


def test_a_reply_without_echoes_is_only_stripped() -> None:
    assert without_echoes("  42\n", [RULES]) == "42"
    assert without_echoes("42", []) == "42"


def test_an_echo_with_a_word_respelled_is_still_an_echo() -> None:
    rules = "Synthesise one coherent answer; do not list the subtasks."
    reply = "Mars.\nSynthesize one coherent answer; do not list the subtasks."
    assert without_echoes(reply, [rules]) == "Mars."


def test_a_sentence_that_shares_a_phrase_with_the_rules_stays() -> None:
    rules = "You write the final answer to the user's request from the results."
    reply = "Here is the final answer: 42. It comes from the results of two subtasks."
    assert without_echoes(reply, [rules]) == reply


# -- the texts describing a worker and its tools ----------------------------------

ECHO = (
    "You can use this tool: - run_python: Run a complete Python 3 program in an isolated "
    "sandbox ..."
)
"""What the flow on the local model answered to "What is 17 times 23?" (issue 20)."""


def _code_worker() -> WorkerSpec:
    return WorkerSpec(
        name="code",
        description="Writes Python programs and runs them to compute exact answers.",
        capabilities=("python", "math"),
        tools=(make_run_python_tool(),),
    )


def test_an_echo_of_a_declared_worker_or_tool_description_is_removed_everywhere() -> None:
    worker = _code_worker()
    # No instructions named by the caller: the declaration registered its own texts.
    assert without_echoes(ECHO, []) == ""
    assert without_echoes(f"{ECHO}\n391", []) == "391"
    assert without_echoes(f"{worker.description} 17 x 23 = 391.", []) == "17 x 23 = 391."
    for text in ("A complete Python program that prints its result.", "You can use these tools:"):
        assert any(text in t for t in registered_instructions())
    # Mentioning the tool, or quoting an example request, is no echo.
    kept = "I ran a Python program in the sandbox: print(17 * 23) printed 391."
    assert without_echoes(kept, []) == kept


async def test_the_flow_does_not_answer_with_an_echo_of_the_tool_description() -> None:
    model = flow_model(
        planner=lambda turn: step("Compute 17 times 23", worker="code"),
        executor=ECHO,
        # The generator copies what it was given, as the local model did.
        generator=lambda m: str(m[-1].content).split("Results:\n", 1)[-1],
    )
    final, _ = await run_flow(model, "What is 17 times 23?", workers=[_code_worker()])
    (turn,) = final["memory"]
    assert turn["status"] == "failed"
    assert turn["failure_reason"] == "the worker returned an empty result"
    assert final["answer"]["complete"] is False
    assert "You can use" not in final["answer"]["text"]


async def test_an_echo_is_removed_across_the_hop_from_worker_to_generator() -> None:
    plan = plan_reply({"id": "s1", "description": "Compute 17 times 23", "capabilities": ["math"]})
    model = ScriptedChatModel(
        responders={
            "planner": plan,
            "worker": f"{ECHO}\n391",
            "generator": f"{_code_worker().description}\n{ECHO}\n17 times 23 is 391.",
        }
    )
    final, _ = await run_graph(model, task="What is 17 times 23?", workers=[_code_worker()])
    assert final["subtasks"][0]["result"] == "391"
    assert final["answer"] == {"text": "17 times 23 is 391.", "complete": True, "failed": []}

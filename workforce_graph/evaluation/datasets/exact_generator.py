"""An exact generator for the curriculum: the final answer is the workers' results.

The learning loop's benchmark measures the planner's decision. With the exact workers
(:mod:`workforce_graph.evaluation.datasets.exact_workers`) a right decision yields the
right value, but the bundled 135M model as the generator then keeps that value in only
about a third of the runs (it answers empty, another number, or a bracketed list; see
docs/training.md, "What the loop showed"), which buries any difference between planners
under the generator's noise. This stand-in, the same for every compared system, writes
the answer from the generator's prompt alone: ``FINAL ANSWER:`` and the result of each
subtask that finished, in order, without the subtasks' descriptions (which hold the
request's numbers, not the answer). It never reads the request, so it adds nothing a
plan did not produce; with no result it answers that there is none.

It reads the Workforce topology's generator prompt (``Results:``, one ``[id]
description`` line heading each result); it is not a model for any other role.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult

__all__ = ["NO_RESULT", "ResultsAnswer", "answer_from_results"]

_RESULTS = re.compile(r"^Results:\n(.*?)(?=\n\n[A-Z][\w ()]*:\n|\Z)", re.S | re.M)
_HEADING = re.compile(r"^\[[^\]\n]+\] .*$", re.M)
NO_RESULT = "FINAL ANSWER: no result"


def answer_from_results(prompt: str) -> str:
    """``FINAL ANSWER:`` and the results in the generator's ``prompt`` (each result's
    text, without its ``[id] description`` heading), joined by ``; ``."""
    section = _RESULTS.search(prompt)
    if section is None or section.group(1).strip() == "(none)":
        return NO_RESULT
    body = section.group(1)
    headings = list(_HEADING.finditer(body))
    results = [
        body[heading.end() : (headings[i + 1].start() if i + 1 < len(headings) else None)]
        for i, heading in enumerate(headings)
    ]
    kept = [" ".join(result.split()) for result in results if result.strip()]
    return f"FINAL ANSWER: {'; '.join(kept)}" if kept else NO_RESULT


class ResultsAnswer(BaseChatModel):
    """The exact generator: answers with the results in its prompt (see the module)."""

    @property
    def _llm_type(self) -> str:
        return "results-answer"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompts = [str(m.content) for m in messages if isinstance(m, HumanMessage)]
        prompt = next((p for p in reversed(prompts) if "Results:" in p), "")
        message = AIMessage(answer_from_results(prompt))
        return ChatResult(generations=[ChatGeneration(message=message)])

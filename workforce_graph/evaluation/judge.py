"""The optional LLM judge: reported beside the official score, never instead of it.

It asks a model whether the run's extracted answer means the same as the reference;
judges are lenient where official scorers are exact, which is why OWL- and AgentFlow-
style numbers judged this way are not comparable to leaderboard figures.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

__all__ = ["JUDGE_SYSTEM", "judge_score"]

JUDGE_SYSTEM = (
    "You compare an answer with the reference answer of a question. Reply with one word: "
    "YES if the answer means the same as the reference, NO otherwise."
)


def judge_score(model: Any, question: str, expected: str, answer: str) -> float | None:
    """1.0 (the judge says the answer matches), 0.0 (it does not), ``None`` when the judge
    failed or replied neither way (counted as not judged right)."""
    prompt = [
        SystemMessage(JUDGE_SYSTEM),
        HumanMessage(f"Question: {question}\nReference answer: {expected}\nAnswer: {answer}"),
    ]
    try:
        reply = model.invoke(prompt)
    except Exception:
        return None
    words = str(reply.content).strip().upper().split()
    first = words[0].strip(".,!:*") if words else ""
    return 1.0 if first == "YES" else 0.0 if first == "NO" else None

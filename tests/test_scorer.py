"""GAIA's official scoring rules on its tricky cases, and FINAL ANSWER extraction."""

from __future__ import annotations

import pytest

from workforce_graph.evaluation.scorer import extract_final_answer, gaia_score


@pytest.mark.parametrize(
    ("answer", "truth", "expected"),
    [
        ("$1,234.50", "1234.5", True),  # $ and , stripped, compared as floats
        ("45%", "45", True),
        ("17.0", "17", True),
        ("17 km", "17", False),  # units other than $ % are not stripped
        ("seventeen", "17", False),
        ("1,000", "1000", True),
        ("Paris, London", "paris,london", True),  # lists: element-wise, case and spaces
        ("paris; london", "Paris, London", True),  # ; and , both split
        ("London, Paris", "Paris, London", False),  # order matters
        ("Paris", "Paris, London", False),  # lengths differ
        ("3, 4.0", "3, 4", True),  # numbers inside lists as floats
        ("st. louis, x", "St. Louis, x", True),
        ("St Louis, x", "St. Louis, x", False),  # list strings keep punctuation
        ("Sea gull!", "seagull", True),  # strings: no whitespace or punctuation
        ("Mercury.", "mercury", True),
        ("Venus", "mercury", False),
        (None, "None", True),
    ],
)
def test_gaia_scorer(answer: str | None, truth: str, expected: bool) -> None:
    assert gaia_score(answer, truth) is expected


def test_extracts_the_text_behind_the_last_final_answer() -> None:
    text = "Thoughts... FINAL ANSWER: 3\nno wait.\nFinal Answer: **42**\nExtra line"
    assert extract_final_answer(text) == "42"
    assert extract_final_answer("  just 7 ") == "just 7"
    assert extract_final_answer(None) == ""


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("FINAL ANSWER:\n42", "42"),  # the marker ends its line: the answer is below it
        ("Thoughts.\nFINAL ANSWER:\n\n  **42**  \nBecause 6 x 7.", "42"),  # blank lines skipped
        ("FINAL ANSWER: 42\nBecause 6 x 7.", "42"),  # the rest of the marker's line only
        ("FINAL ANSWER: Paris, London\n", "Paris, London"),
        ("final answer : `x`", "x"),
        ("FINAL ANSWER:", ""),  # a marker with nothing after it answers nothing
        ("FINAL ANSWER:\n\n", ""),
    ],
)
def test_the_answer_is_the_first_line_after_the_marker(reply: str, expected: str) -> None:
    # docs/evaluation.md, "Scoring", says the same.
    assert extract_final_answer(reply) == expected

"""GAIA's official scorer, and the extraction of the answer it scores.

The rules are those of GAIA's leaderboard ``question_scorer``: a ground truth that
parses as a float is compared as a float after removing ``$ % ,`` from the answer; one
containing ``,`` or ``;`` is split on them and compared element-wise (same length;
numbers as floats, strings lowercased without whitespace); anything else is compared
lowercased with whitespace and punctuation removed. The scorer does not look for
``FINAL ANSWER:`` itself: :func:`extract_final_answer` does, as a harness must.
"""

from __future__ import annotations

import re
import string

__all__ = [
    "GAIA_ANSWER_FORMAT",
    "extract_final_answer",
    "gaia_score",
    "normalize_number_str",
    "normalize_str",
]

GAIA_ANSWER_FORMAT = (
    "Report your thoughts, and finish your answer with the following template: "
    "FINAL ANSWER: [YOUR FINAL ANSWER]. YOUR FINAL ANSWER should be a number OR as few "
    "words as possible OR a comma separated list of numbers and/or strings. If you are "
    "asked for a number, don't use comma to write your number neither use units such as $ "
    "or percent sign unless specified otherwise. If you are asked for a string, don't use "
    "articles, neither abbreviations (e.g. for cities), and write the digits in plain text "
    "unless specified otherwise. If you are asked for a comma separated list, apply the "
    "above rules depending of whether the element to be put in the list is a number or a "
    "string."
)
"""The GAIA system prompt's answer template, given to the run as its answer format."""

_MARKER = re.compile(r"final\s+answer\s*:", re.IGNORECASE)


def extract_final_answer(text: str | None) -> str:
    """The answer a reply gives: the first line of text after its last ``FINAL ANSWER:``.

    That is the rest of the marker's line, or, when the marker ends its line (models
    often write ``FINAL ANSWER:`` and the answer below it), the next line that is not
    blank; later lines are not part of it. Markdown emphasis around it is removed. A
    reply without the marker is its whole text, stripped.

    Example:
        >>> extract_final_answer("Thoughts. FINAL ANSWER: 42")
        '42'
        >>> extract_final_answer("FINAL ANSWER:\\n\\n**42**\\nbecause 6 x 7")
        '42'
    """
    if not text:
        return ""
    matches = list(_MARKER.finditer(text))
    if not matches:
        return text.strip()
    # Stripped first, so a marker that ends its line takes the next non-blank line.
    tail = text[matches[-1].end() :].strip()
    line = tail.splitlines()[0] if tail else ""
    return line.strip().strip("*_`").strip()


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def normalize_number_str(number_str: str) -> float:
    for char in ("$", "%", ","):
        number_str = number_str.replace(char, "")
    try:
        return float(number_str)
    except ValueError:
        return float("inf")


def normalize_str(input_str: str, remove_punct: bool = True) -> str:
    # Whitespace goes entirely ("sea gull" is "seagull").
    no_spaces = re.sub(r"\s", "", input_str)
    if remove_punct:
        return no_spaces.lower().translate(str.maketrans("", "", string.punctuation))
    return no_spaces.lower()


def _split(value: str) -> list[str]:
    return re.split(r"[,;]", value)


def gaia_score(model_answer: str | None, ground_truth: str) -> bool:
    """GAIA's ``question_scorer``: is ``model_answer`` right for ``ground_truth``?"""
    answer = "None" if model_answer is None else model_answer
    if _is_float(ground_truth):
        return normalize_number_str(answer) == float(ground_truth)
    if any(char in ground_truth for char in ",;"):
        truth_items, answer_items = _split(ground_truth), _split(answer)
        if len(truth_items) != len(answer_items):
            return False
        for got, want in zip(answer_items, truth_items, strict=True):
            if _is_float(want):
                if normalize_number_str(got) != float(want):
                    return False
            elif normalize_str(got, remove_punct=False) != normalize_str(want, remove_punct=False):
                return False
        return True
    return normalize_str(answer) == normalize_str(ground_truth)

"""Lexical relevance ranking (BM25) for picking the passages a model gets to see.

Dependency-free on purpose: it runs offline, needs no embedding model and is
deterministic, which keeps the document and web workers testable.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["BM25", "select_within_budget", "split_passages", "tokenize"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Words that match almost every passage: scoring them only adds noise.
_STOPWORDS = frozenset(
    """a an and are as at be by for from has have in is it its of on or that the this to was
    were will with what which who whom when where why how do does did not no yes i you he she
    we they them his her our their your me my us can could would should may might shall than
    then there these those into about over under also just only any all some such more most
    other out up down so if but""".split()  # noqa: SIM905 (a word list reads better as text)
)


def _stem(word: str) -> str:
    # A deliberately crude suffix stripper: enough to match "revenues" with
    # "revenue" or "growing" with "grow", without a stemming dependency.
    if len(word) <= 4:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def tokenize(text: str) -> list[str]:
    """Split text into lowercase, lightly stemmed terms without stopwords.

    Args:
        text: Any text.

    Returns:
        The terms, in order (duplicates kept).

    Example:
        >>> tokenize("The revenues grew in 2023")
        ['revenue', 'grew', '2023']
    """
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


class BM25:
    """Okapi BM25 over a fixed list of passages.

    Args:
        passages: The texts to rank.
        k1: Term-frequency saturation.
        b: Length normalisation.

    Example:
        >>> bm = BM25(["cats sleep", "the budget deficit", "dogs bark"])
        >>> max(range(3), key=bm.scores("deficit of the budget").__getitem__)
        1
    """

    def __init__(self, passages: Sequence[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self._k1 = k1
        self._b = b
        self._tfs = [Counter(tokenize(p)) for p in passages]
        self._lengths = [sum(tf.values()) for tf in self._tfs]
        n = len(passages)
        self._avg_len = (sum(self._lengths) / n) if n else 0.0
        df: Counter[str] = Counter()
        for tf in self._tfs:
            df.update(tf.keys())
        # The "+1" form keeps idf positive even for terms present in most passages.
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def scores(self, query: str) -> list[float]:
        """Score every passage against ``query`` (higher is more relevant).

        Args:
            query: Free text; repeated terms weigh more.

        Returns:
            One score per passage, in passage order.
        """
        terms = [t for t in tokenize(query) if t in self._idf]
        out: list[float] = []
        for tf, length in zip(self._tfs, self._lengths, strict=True):
            norm = self._k1 * (1 - self._b + self._b * length / (self._avg_len or 1.0))
            score = 0.0
            for term in terms:
                f = tf.get(term, 0)
                if f:
                    score += self._idf[term] * f * (self._k1 + 1) / (f + norm)
            out.append(score)
        return out


def select_within_budget(
    passages: Sequence[str],
    query: str,
    *,
    budget_chars: int,
    max_passages: int | None = None,
) -> list[int]:
    """Pick the most relevant passages whose total length fits a character budget.

    Passages with no query term are never picked unless none matches at all, in which
    case the document's beginning is returned (so a vague query still shows something).

    Args:
        passages: Candidate texts.
        query: What the reader is looking for.
        budget_chars: Upper bound on the summed length of the chosen passages.
        max_passages: Optional cap on how many are chosen.

    Returns:
        Indices into ``passages``, most relevant first.

    Example:
        >>> select_within_budget(["alpha", "beta gamma", "gamma"], "gamma", budget_chars=100)
        [2, 1]
    """
    if budget_chars <= 0 or not passages:
        return []
    scores = BM25(passages).scores(query)
    ranked = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], i))
    if not ranked:
        ranked = list(range(len(passages)))
    chosen: list[int] = []
    used = 0
    for i in ranked:
        if max_passages is not None and len(chosen) >= max_passages:
            break
        size = len(passages[i])
        if used + size > budget_chars:
            # Skip a passage that does not fit, but keep looking for smaller ones.
            continue
        chosen.append(i)
        used += size
    return chosen


def split_passages(text: str, max_chars: int) -> list[str]:
    """Split text into paragraphs of at most ``max_chars`` characters.

    Paragraphs are separated by blank lines; a longer paragraph is cut at whitespace
    (or hard, when a single word is longer than ``max_chars``).

    Args:
        text: The text to split.
        max_chars: Maximum passage length (at least 1).

    Returns:
        The non-empty passages, in order.

    Example:
        >>> split_passages("one two three\\n\\nfour", 8)
        ['one two', 'three', 'four']
    """
    limit = max(1, max_chars)
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        while len(para) > limit:
            cut = para.rfind(" ", 0, limit + 1)
            if cut <= 0:
                cut = limit
            out.append(para[:cut].strip())
            para = para[cut:].strip()
        if para:
            out.append(para)
    return out

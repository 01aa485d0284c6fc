"""The statistics of a comparison: a confidence interval for a rate and the paired test
of two models run on the same tasks.

Pure functions on counts. The interval is Wilson's score interval, which stays inside
[0, 1] and keeps its coverage at the small counts and extreme rates evaluations produce
(the normal approximation gives 8/10 an upper bound above 1 at 99%). The paired test is
the exact McNemar test: the two models ran on the same (task, sample) pairs, so only
the pairs where they disagree carry evidence, and with tens of pairs the chi-squared
approximation is not to be trusted, so the binomial tail is summed exactly (scipy is not
a dependency; the sum is a few terms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

__all__ = ["PairedTable", "mcnemar_exact", "paired_table", "wilson_interval"]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for ``successes`` out of ``n``.

    Args:
        successes: Right runs, ``0 <= successes <= n``.
        n: Runs; with none the rate is unknown and the interval is ``(0.0, 1.0)``.
        confidence: Two-sided coverage, e.g. 0.95.

    Returns:
        ``(low, high)``, both within [0, 1].

    Raises:
        ValueError: Counts out of range or a confidence outside (0, 1).

    Example:
        >>> tuple(round(x, 3) for x in wilson_interval(8, 10))
        (0.49, 0.943)
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    rate = successes / n
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    # Rounding can push a bound a hair past the rate at 0/n or n/n; clamp to the truth.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def mcnemar_exact(b: int, c: int) -> float:
    """The exact two-sided McNemar p-value for ``b`` and ``c`` discordant pairs.

    Under the null hypothesis each discordant pair is equally likely to go either way,
    so ``min(b, c)`` is a Binomial(b + c, 1/2) draw; the p-value is twice its lower tail,
    capped at 1.

    Args:
        b: Pairs the baseline got right and the other model wrong.
        c: Pairs the baseline got wrong and the other model right.

    Returns:
        The p-value; 1.0 when there is no discordant pair (no evidence either way).

    Example:
        >>> mcnemar_exact(1, 9)
        0.021484375
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    # Exact rationals until the end: a float 2**n overflows past a thousand pairs.
    return min(1.0, float(Fraction(2 * tail, 1 << n)))


@dataclass(frozen=True)
class PairedTable:
    """The 2x2 table of two models' verdicts on the same pairs."""

    both: int
    """Both right."""
    b: int
    """The baseline right, the other wrong."""
    c: int
    """The baseline wrong, the other right."""
    neither: int
    """Both wrong."""

    @property
    def n(self) -> int:
        return self.both + self.b + self.c + self.neither

    @property
    def difference(self) -> float:
        """The other model's rate minus the baseline's (0.0 with no pairs)."""
        return (self.c - self.b) / self.n if self.n else 0.0

    @property
    def p_value(self) -> float:
        """The exact two-sided McNemar p-value of the difference."""
        return mcnemar_exact(self.b, self.c)


def paired_table(baseline: Sequence[bool], other: Sequence[bool]) -> PairedTable:
    """Count the verdicts of two models on the same pairs, in the same order.

    Raises:
        ValueError: The sequences differ in length (they are not paired).

    Example:
        >>> paired_table([True, True, False], [True, False, True])
        PairedTable(both=1, b=1, c=1, neither=0)
    """
    if len(baseline) != len(other):
        raise ValueError(f"paired verdicts differ in length: {len(baseline)} and {len(other)}")
    both = b = c = neither = 0
    for first, second in zip(baseline, other, strict=True):
        if first and second:
            both += 1
        elif first:
            b += 1
        elif second:
            c += 1
        else:
            neither += 1
    return PairedTable(both=both, b=b, c=c, neither=neither)

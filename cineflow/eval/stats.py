"""Accuracies with 95% confidence intervals (Wilson score), differences of two of them (Newcombe), and a
tally of them by name.

Wilson rather than the normal approximation: benchmark rates sit near 0 and 1 on a few dozen trials,
where p ± 1.96·sqrt(p(1-p)/n) collapses to a zero-width interval (at p = 0 or 1) or leaves [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson(hits: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for `hits` successes in `trials`; (0, 1) when there are no trials."""
    if not 0 <= hits <= trials:
        raise ValueError(f"hits: must be in 0..trials ({trials}), got {hits}")
    if trials == 0:
        return 0.0, 1.0
    p = hits / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """`hits` of `trials`, with its Wilson 95% interval."""

    hits: int
    trials: int

    @property
    def value(self) -> float:
        return self.hits / self.trials if self.trials else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.hits, self.trials)

    def to_dict(self) -> dict:
        lo, hi = self.interval
        return {
            "rate": round(self.value, 4) if self.trials else None,
            "ci95": [round(lo, 4), round(hi, 4)],
            "hits": self.hits,
            "trials": self.trials,
        }

    def __str__(self) -> str:
        if not self.trials:
            return "n/a"
        lo, hi = self.interval
        return f"{self.value:.2f} [{lo:.2f}, {hi:.2f}] n={self.trials}"


def newcombe(a: Rate, b: Rate) -> tuple[float, float, float]:
    """The difference of two independent rates, a - b, with its 95% interval (Newcombe's hybrid score
    method: the two Wilson intervals combined), e.g. model minus floor. NaNs when either has no trials."""
    if not (a.trials and b.trials):
        return math.nan, math.nan, math.nan
    (la, ua), (lb, ub) = a.interval, b.interval
    d = a.value - b.value
    lo = d - math.sqrt((a.value - la) ** 2 + (ub - b.value) ** 2)
    hi = d + math.sqrt((ua - a.value) ** 2 + (b.value - lb) ** 2)
    return d, lo, hi


class Tally:
    """Hits and trials per name: `add(name, ok)`, then `rates()`."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.trials: dict[str, int] = {}

    def add(self, name: str, ok: bool) -> None:
        self.trials[name] = self.trials.get(name, 0) + 1
        self.hits[name] = self.hits.get(name, 0) + int(ok)

    def rates(self) -> dict[str, Rate]:
        return {name: Rate(self.hits[name], self.trials[name]) for name in self.trials}

"""Matching claimed objects to observed ones: the assignment that agrees on the most attributes.

A scene has at most vocab.MAX_OBJECTS objects, so the optimal assignment is found by trying every
injective map (at most 4! x a few), which is what the Hungarian method would return, without needing it.
Colour weighs most: it is what a prompt is most specific about and what the oracle reads best.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from cineflow.world.scene import ObjectClaim

CANDIDATES = 4  # tracks per claim considered for the assignment
WEIGHTS = {"color": 4.0, "shape": 2.0, "final_color": 2.0, "size": 1.0, "motion": 1.5, "speed": 0.5}


@dataclass(frozen=True)
class Observed:
    """One tracked object as the oracle read it (None where it could not tell)."""

    track: int
    color: str
    final_color: str
    shape: str | None  # None: never seen whole
    size: str | None
    motion: str | None
    speed: str | None


def disagreement(claim: ObjectClaim, obs: Observed) -> float:
    """Weighted count of the attributes the claim states and the observation contradicts."""
    cost = 0.0
    for name, w in WEIGHTS.items():
        want = getattr(claim, name)
        if want is not None and getattr(obs, name) != want:
            cost += w
    return cost


def assign(claims: tuple[ObjectClaim, ...], observed: list[Observed]) -> list[int | None]:
    """For each claim, the index into `observed` it is matched to (None when there are too few)."""
    n, m = len(claims), len(observed)
    if n == 0:
        return []
    # A video full of debris can hold dozens of tracks: only each claim's few best candidates compete.
    pool = sorted(
        {j for c in claims for j in sorted(range(m), key=lambda j: disagreement(c, observed[j]))[:CANDIDATES]}
    )
    k = min(n, len(pool))
    best: tuple[float, tuple[int | None, ...]] | None = None
    for chosen in itertools.combinations(range(n), k):
        for perm in itertools.permutations(pool, k):
            cost = sum(disagreement(claims[c], observed[o]) for c, o in zip(chosen, perm, strict=True))
            # Unmatched claims cost every attribute they state.
            cost += sum(_full_cost(claims[c]) for c in range(n) if c not in chosen)
            if best is None or cost < best[0]:
                mapping: list[int | None] = [None] * n
                for c, o in zip(chosen, perm, strict=True):
                    mapping[c] = o
                best = (cost, tuple(mapping))
    assert best is not None
    return list(best[1])


def _full_cost(claim: ObjectClaim) -> float:
    return 1.0 + sum(w for name, w in WEIGHTS.items() if getattr(claim, name) is not None)

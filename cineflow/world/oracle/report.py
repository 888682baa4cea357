"""The oracle's verdict: one `Check` per claim plus permanence checks, gathered in a `Report`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    """One verdict. `name` says what was checked (e.g. "object 0 color"), `reason` says why, for people.

    An attribute check (colour, shape, size, motion, speed) also names the value `claimed` and the value
    `seen`, so that failures can be counted by what was read instead (a confusion table).
    """

    name: str
    passed: bool
    reason: str
    claimed: str | None = None
    seen: str | None = None

    def to_dict(self) -> dict[str, Any]:
        values = {"claimed": self.claimed, "seen": self.seen} if self.claimed is not None else {}
        return {"name": self.name, "pass": self.passed, "reason": self.reason, **values}


@dataclass
class Report:
    """All checks of one video against one set of claims; `passed` only when every check passes.

    `partial` marks a prompt with words outside the vocabulary (listed in `unknown_words`): what was
    understood is checked, the rest is not. `observed` is what the oracle read from the frames, so that a
    failed check can be inspected.
    """

    checks: list[Check]
    partial: bool = False
    unknown_words: tuple[str, ...] = ()
    observed: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pass": self.passed,
            "partial": self.partial,
            "unknown_words": list(self.unknown_words),
            "checks": [c.to_dict() for c in self.checks],
            "observed": self.observed,
        }

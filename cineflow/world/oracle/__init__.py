"""The Flatland oracle: reads RGB frames back and judges them against claims (DESIGN section 2).

    frames -> detect (palette colour, shape, size per blob) -> track (occlusion, exits, permanence)
           -> camera (landmarks) -> motion and physics per object -> events -> checks against claims

`score(frames, claims, fps)` is the whole chain; `observe(frames, fps)` is the perception alone.
docs/oracle.md describes every check and its measured accuracy.
"""

from __future__ import annotations

import numpy as np

from cineflow.world.oracle.checks import check
from cineflow.world.oracle.observe import Scene, observe
from cineflow.world.oracle.report import Check, Report
from cineflow.world.scene import Claims

__all__ = ["Check", "Report", "Scene", "observe", "score"]


def score(frames: np.ndarray, claims: Claims, fps: float, *, exact_count: bool = False) -> Report:
    """Judge a clip against claims.

    frames: uint8 [T, H, W, 3] RGB; claims: from `parse_prompt` or `claims_from_scene`; fps: frames per
    second (motion speeds and gravity are fitted in seconds). `exact_count`: the claims describe every
    object, so the count must match exactly rather than be at least the number claimed.
    """
    if (
        not isinstance(frames, np.ndarray)
        or frames.ndim != 4
        or frames.shape[-1] != 3
        or frames.dtype != np.uint8
    ):
        got = f"{getattr(frames, 'dtype', type(frames).__name__)} {getattr(frames, 'shape', '')}"
        raise ValueError(f"frames: expected a uint8 array [T, H, W, 3], got {got}")
    if len(frames) == 0:
        raise ValueError("frames: the clip has no frames")
    if not fps > 0:
        raise ValueError(f"fps: must be > 0, got {fps}")
    return check(observe(frames, fps), claims, exact_count=exact_count)

"""Annotations as JSON: the schema that docs/flatland.md documents, written and read back exactly.

A clip's JSON holds its scene (what was simulated) and its ground truth (what happened, in pixels of the
rendered frames). Floats are stored as Python writes them; physics rounds them to 1e-4 first, so
`from_json(to_json(spec, ann)) == (spec, ann)`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cineflow.world import vocab
from cineflow.world.scene import Annotations, Event, ObjectSpec, ObjectState, SceneSpec

SCHEMA_VERSION = 1


def to_json(spec: SceneSpec, annotations: Annotations) -> dict[str, Any]:
    """A JSON-ready dict: {"version", "scene", "frames", "events"} (see docs/flatland.md)."""
    scene = dataclasses.asdict(spec)
    scene["objects"] = [dataclasses.asdict(o) for o in spec.objects]
    return {
        "version": SCHEMA_VERSION,
        "scene": scene,
        "frames": [
            [
                {
                    "box": list(s.box),
                    "center": list(s.center),
                    "angle": s.angle,
                    "color": s.color,
                    "visible": s.visible,
                }
                for s in frame
            ]
            for frame in annotations.frames
        ],
        "events": [
            {"kind": e.kind, "frame": e.frame, "objects": list(e.objects), "detail": dict(e.detail)}
            for e in annotations.events
        ],
    }


def from_json(data: dict[str, Any]) -> tuple[SceneSpec, Annotations]:
    """Read back what `to_json` wrote; a wrong version or a malformed record is a ValueError."""
    if not isinstance(data, dict) or data.get("version") != SCHEMA_VERSION:
        found = data.get("version") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"annotations: expected a mapping with version {SCHEMA_VERSION}, got {found!r}")
    try:
        scene = dict(data["scene"])
        objects = tuple(ObjectSpec(**o) for o in scene.pop("objects"))
        spec = SceneSpec(objects=objects, **scene)
        frames = tuple(
            tuple(
                ObjectState(
                    box=tuple(float(v) for v in s["box"]),
                    center=tuple(float(v) for v in s["center"]),
                    angle=float(s["angle"]),
                    color=s["color"],
                    visible=float(s["visible"]),
                )
                for s in frame
            )
            for frame in data["frames"]
        )
        events = tuple(
            Event(
                kind=e["kind"], frame=int(e["frame"]), objects=tuple(e["objects"]), detail=dict(e["detail"])
            )
            for e in data["events"]
        )
    except (KeyError, TypeError) as e:
        raise ValueError(f"annotations: malformed record ({type(e).__name__}: {e})") from e
    for e in events:
        if e.kind not in vocab.EVENTS:
            raise ValueError(
                f"annotations: unknown event kind {e.kind!r}; choose from {', '.join(vocab.EVENTS)}"
            )
    return spec, Annotations(frames=frames, events=events)

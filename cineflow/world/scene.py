"""Scene specifications and claims: the data passed between sampling, physics, captions and the oracle.

A `SceneSpec` is what the simulator runs: objects with their initial state and motion, background,
floor, camera and clip geometry. The simulator returns `Annotations`: per-frame object states and the
events that actually happened. A caption describes a scene through its `Claims`, which is also what the
prompt parser returns and what the oracle checks a video against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cineflow.world import vocab


@dataclass(frozen=True)
class ObjectSpec:
    """One Flatland object. Positions are world units (1 = the frame's shorter side), y pointing down."""

    color: str
    shape: str
    size: str = "medium"
    motion: str = "still"
    speed: str = "normal"
    x: float = 0.5  # initial centre
    y: float = 0.5
    depth: int = 0  # drawing order: larger is in front
    angle: float = 0.0  # initial rotation, degrees
    becomes: str | None = None  # colour it takes when touched (cause and effect), or None

    def __post_init__(self) -> None:
        _check("color", self.color, vocab.COLORS)
        _check("shape", self.shape, vocab.SHAPES)
        _check("size", self.size, vocab.SIZES)
        _check("motion", self.motion, vocab.MOTIONS)
        _check("speed", self.speed, vocab.SPEEDS)
        if self.becomes is not None:
            _check("becomes", self.becomes, vocab.COLORS)


@dataclass(frozen=True)
class SceneSpec:
    """A whole clip: the objects (1-4), the world around them and the clip's geometry."""

    objects: tuple[ObjectSpec, ...]
    background: str = "black"
    floor: bool = False
    camera: str = "static"
    width: int = vocab.DEFAULT_SIZE[0]
    height: int = vocab.DEFAULT_SIZE[1]
    fps: int = vocab.DEFAULT_FPS
    num_frames: int = vocab.DEFAULT_FRAMES
    seed: int = 0  # the sampling seed this scene came from (kept for provenance)

    def __post_init__(self) -> None:
        if not 1 <= len(self.objects) <= vocab.MAX_OBJECTS:
            raise ValueError(
                f"objects: a scene has 1 to {vocab.MAX_OBJECTS} objects, got {len(self.objects)}"
            )
        _check("background", self.background, vocab.BACKGROUNDS)
        _check("camera", self.camera, vocab.CAMERAS)
        for name in ("width", "height"):
            side = getattr(self, name)
            if not vocab.MIN_SIDE <= side <= vocab.MAX_SIDE:
                raise ValueError(f"{name}: must be {vocab.MIN_SIDE}..{vocab.MAX_SIDE} pixels, got {side}")
        if self.fps < 1:
            raise ValueError(f"fps: must be >= 1, got {self.fps}")
        if not 1 <= self.num_frames <= vocab.MAX_SECONDS * self.fps + 1:
            raise ValueError(
                f"num_frames: must be 1..{int(vocab.MAX_SECONDS * self.fps) + 1} at {self.fps} fps "
                f"(at most {vocab.MAX_SECONDS:g} s), got {self.num_frames}"
            )


@dataclass(frozen=True)
class ObjectState:
    """One object in one frame, in pixels of the rendered frame."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 (may extend past the frame)
    center: tuple[float, float]  # x, y
    angle: float  # degrees
    color: str
    visible: float  # fraction of the object's area that is visible (0 off-screen or hidden, 1 fully)


@dataclass(frozen=True)
class Event:
    """Something that happened: `kind` is one of vocab.EVENTS; `objects` are indices into the scene."""

    kind: str
    frame: int
    objects: tuple[int, ...]
    detail: dict = field(default_factory=dict)  # e.g. {"new_color": "red"} for touch_change


@dataclass(frozen=True)
class Annotations:
    """Exact ground truth of a rendered clip. `frames[t][i]` is object i in frame t."""

    frames: tuple[tuple[ObjectState, ...], ...]
    events: tuple[Event, ...]


@dataclass(frozen=True)
class ObjectClaim:
    """What a caption says about one object. None means the caption does not say."""

    color: str | None = None
    shape: str | None = None
    size: str | None = None
    motion: str | None = None
    speed: str | None = None
    final_color: str | None = None  # the colour it ends with, when the caption says it changes


@dataclass(frozen=True)
class EventClaim:
    """An interaction a caption states, between objects given as indices into `Claims.objects`."""

    kind: str  # one of vocab.EVENTS
    objects: tuple[int, ...]


@dataclass(frozen=True)
class Claims:
    """Everything a caption or prompt states about a clip; the parser's output and the oracle's input."""

    objects: tuple[ObjectClaim, ...]
    background: str | None = None
    floor: bool | None = None
    camera: str | None = None
    events: tuple[EventClaim, ...] = ()
    unknown_words: tuple[str, ...] = ()  # words outside the vocabulary, reported rather than ignored


def _check(name: str, value: str, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: unknown value {value!r}; choose from {', '.join(allowed)}")

"""The closed vocabulary of Flatland: palette, shapes, sizes, motions, speeds, cameras.

Every other part of `cineflow.world` (physics, rendering, captions, the parser, the oracle) reads its
names and numbers from here, so that the world and its judge can never disagree about what "red" or
"large" means. Exact RGB values are fixed by DESIGN section 2.
"""

from __future__ import annotations

RGB = tuple[int, int, int]

# Object colours: well separated in RGB and in hue, so a checker can read them back through H.264.
COLORS: dict[str, RGB] = {
    "red": (230, 50, 50),
    "orange": (245, 150, 40),
    "yellow": (240, 220, 50),
    "green": (60, 190, 80),
    "cyan": (50, 210, 230),
    "blue": (50, 90, 230),
    "purple": (160, 70, 210),
    "white": (245, 245, 245),
}

# Backgrounds. A floor, where there is one, is a darker band of the background colour at the bottom.
BACKGROUNDS: dict[str, RGB] = {
    "black": (20, 20, 20),
    "gray": (100, 100, 100),
    "navy": (25, 30, 70),
    "brown": (90, 60, 40),
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")

# Object size as the diameter of its bounding circle, in world units (1 unit = the frame's shorter side).
SIZES: dict[str, float] = {"small": 0.14, "medium": 0.2, "large": 0.28}

# Directional motions are unit vectors in image coordinates (x right, y down).
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up_left": (-0.7071, -0.7071),
    "up_right": (0.7071, -0.7071),
    "down_left": (-0.7071, 0.7071),
    "down_right": (0.7071, 0.7071),
}

# still: does not move. bounce: moves diagonally and reflects off the frame's walls.
# fall: starts at rest and falls under gravity, bouncing on the floor (or the bottom edge).
# orbit: circles a fixed centre. spin: rotates in place. grow/shrink: scales up/down in place.
MOTIONS: tuple[str, ...] = (
    "still",
    *DIRECTIONS,
    "bounce",
    "fall",
    "orbit",
    "spin",
    "grow",
    "shrink",
)

# Speed of translation in world units per second (and the matching rate for orbit/spin/scale motions).
SPEEDS: dict[str, float] = {"slow": 0.12, "normal": 0.22, "fast": 0.36}

CAMERAS: tuple[str, ...] = ("static", "pan_left", "pan_right", "zoom_in", "zoom_out")

# Event types that the world annotates and the oracle checks.
#   collide:       two objects touch and rebound elastically.
#   touch_change:  `a` touches `b` and `b` takes `a`'s colour (cause and effect) and keeps it.
#   occlude:       `a` passes in front of `b` (b partly or wholly hidden).
#   bounce_wall:   an object reflects off a wall of the frame.
#   bounce_floor:  a falling object bounces on the floor.
EVENTS: tuple[str, ...] = ("collide", "touch_change", "occlude", "bounce_wall", "bounce_floor")

# Physics constants shared by the simulator and the oracle's fits.
GRAVITY = 1.6  # world units / s^2
RESTITUTION = 0.8  # fraction of speed kept by a floor bounce
FLOOR_HEIGHT = 0.12  # fraction of the frame's height taken by the floor band, when there is one
FLOOR_SHADE = 0.6  # the floor's colour is the background colour times this

DEFAULT_SIZE = (64, 64)  # (width, height)
DEFAULT_FPS = 8
DEFAULT_FRAMES = 17  # 4k + 1 frames, as the causal VAE wants
MIN_SIDE, MAX_SIDE = 16, 1024
MAX_SECONDS = 60.0
MAX_OBJECTS = 4

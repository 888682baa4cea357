"""The API's request and response bodies, shaped like the Sora video API, with every input bounded.

Bounds here are the hard caps published in the OpenAPI schema; a server may be configured tighter
(`ServeConfig.max_side`, `max_frames`), which `app.py` checks before queueing.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cineflow.world import vocab

MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**31 - 1
MAX_STEPS = 200
MAX_GUIDANCE = 30.0
MAX_FRAMES = int(vocab.MAX_SECONDS * vocab.DEFAULT_FPS) + 1
SIZE_PATTERN = r"^[1-9][0-9]{1,3}x[1-9][0-9]{1,3}$"
JOB_ID = re.compile(r"^video_[0-9a-f]{32}$")
Status = Literal["queued", "in_progress", "completed", "failed", "canceled"]


class VideoCreate(BaseModel):
    """POST /v1/videos. Give the duration as `seconds` or `num_frames`, not both (default 17 frames)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    seconds: float | None = Field(default=None, gt=0, le=vocab.MAX_SECONDS)
    num_frames: int | None = Field(default=None, ge=1, le=MAX_FRAMES)
    size: str = Field(
        default="64x64", pattern=SIZE_PATTERN, description="WIDTHxHEIGHT in pixels, 16..1024 a side"
    )
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="random when omitted (and reported)"
    )
    steps: int | None = Field(
        default=None, ge=1, le=MAX_STEPS, description="solver steps; model default if omitted"
    )
    guidance_scale: float | None = Field(default=None, ge=0.0, le=MAX_GUIDANCE)

    @model_validator(mode="after")
    def _check(self) -> VideoCreate:
        if self.seconds is not None and self.num_frames is not None:
            raise ValueError("give seconds or num_frames, not both")
        if not self.prompt.strip():
            raise ValueError("prompt: must contain text")
        width, height = self.dimensions
        for name, side in (("width", width), ("height", height)):
            if not vocab.MIN_SIDE <= side <= vocab.MAX_SIDE:
                raise ValueError(f"size: {name} must be {vocab.MIN_SIDE}..{vocab.MAX_SIDE}, got {side}")
        return self

    @property
    def dimensions(self) -> tuple[int, int]:
        width, height = self.size.split("x")
        return int(width), int(height)

    def frames_at(self, fps: int) -> int:
        if self.num_frames is not None:
            return self.num_frames
        if self.seconds is not None:
            return 1 + round(self.seconds * fps)
        return vocab.DEFAULT_FRAMES


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    """A job, as GET /v1/videos/{id} returns it."""

    id: str
    object: Literal["video"] = "video"
    status: Status
    progress: int = Field(ge=0, le=100)
    created_at: int
    completed_at: int | None = None
    prompt: str
    size: str
    seconds: str
    num_frames: int
    fps: int
    seed: int
    steps: int | None = None
    guidance_scale: float | None = None
    has_input_reference: bool = False
    error: VideoError | None = None


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail

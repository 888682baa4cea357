"""The HTTP API (shaped like the Sora video API) and the web page, as one FastAPI app.

    POST   /v1/videos                 JSON, or multipart with an `input_reference` PNG/JPEG -> Video
    GET    /v1/videos                 list (limit, after, order)
    GET    /v1/videos/{id}            status, progress 0-100, error
    GET    /v1/videos/{id}/content    the mp4 (watermarked, C2PA-signed)
    GET    /v1/videos/{id}/events     server-sent events: the Video object on every change
    POST   /v1/videos/{id}/cancel
    DELETE /v1/videos/{id}
    GET    /                          the web page

Every error has one shape, {"error": {"message", "type", "code"}}. Files are only ever found from a job
id that matched `JOB_ID`; no part of a request is joined into a path.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import math
import secrets
import statistics
import time
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from cineflow.config import ServeConfig
from cineflow.serve import middleware
from cineflow.serve.jobs import Job, JobStore, QueueFullError
from cineflow.serve.middleware import api_error
from cineflow.serve.schemas import (
    JOB_ID,
    ErrorBody,
    Video,
    VideoCreate,
    VideoDeleted,
    VideoError,
    VideoList,
)
from cineflow.serve.uploads import UploadError, load_reference_image
from cineflow.serve.worker import Generate, Worker, input_path, output_path

SSE_POLL_S = 0.25
SSE_KEEPALIVE_S = 15.0
SSE_MAX_S = 300.0  # one event stream's life; EventSource clients reconnect on their own
MAX_FORM_FIELDS = 16
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        401: "missing or wrong API key",
        404: "no such video",
        409: "not possible in the video's current state",
        413: "request or upload too large",
        415: "unsupported content type",
        422: "invalid input",
        429: "queue full; see Retry-After",
    }.items()
}
_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/VideoCreate"}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/VideoCreate"}},
            "multipart/form-data": {
                "schema": {
                    "allOf": [{"$ref": "#/components/schemas/VideoCreate"}],
                    "properties": {
                        "input_reference": {
                            "type": "string",
                            "format": "binary",
                            "description": "PNG or JPEG first frame (image-to-video)",
                        }
                    },
                }
            },
        },
    }
}


def create_app(config: ServeConfig | None = None, generate: Generate | None = None) -> FastAPI:
    """The app for `config`; `generate` defaults to the pipeline in `config.model` (loaded on first use)."""
    config = config or ServeConfig()
    data_dir = Path(config.data_dir)
    for sub in ("videos", "inputs"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    store = JobStore(data_dir / "jobs.sqlite3")
    if generate is None:
        from cineflow.serve.generators import pipeline_generator

        generate = pipeline_generator(config.model)
    worker = Worker(store, generate, data_dir, config.job_timeout_s)

    active = [0]  # lifespans entered and not left: a test client may nest one inside another

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if active[0] == 0:
            store.recover()
            worker.start()
        active[0] += 1
        try:
            yield
        finally:
            active[0] -= 1
            if active[0] == 0:
                worker.stop()

    app = FastAPI(
        title="cineflow",
        summary="Text-to-video jobs, shaped like the Sora video API",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load from a CDN: no network here, and the CSP forbids it
        redoc_url=None,
    )
    app.state.store, app.state.worker, app.state.config = store, worker, config
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    middleware.install(app, config.max_body_bytes)

    async def require_api_key(request: Request) -> None:
        if not config.api_keys:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        # compare against every key, so the time taken says nothing about which key came close
        matches = [hmac.compare_digest(token.encode(), key.encode()) for key in config.api_keys]
        if scheme.lower() != "bearer" or not any(matches):
            raise api_error(
                401,
                "missing or wrong API key (Authorization: Bearer KEY)",
                "unauthorized",
                headers={"WWW-Authenticate": "Bearer"},
            )

    auth = [Depends(require_api_key)]

    def find(video_id: str) -> Job:
        job = store.get(video_id) if JOB_ID.match(video_id) else None
        if job is None:
            raise api_error(404, f"no video with id {video_id[:80]!r}", "not_found")
        return job

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(_static("index.html"))

    @app.get("/app.js", include_in_schema=False)
    def script() -> Response:
        return Response(_static("app.js"), media_type="text/javascript")

    @app.post(
        "/v1/videos", response_model=Video, responses=ERRORS, dependencies=auth, openapi_extra=_CREATE_BODY
    )
    async def create_video(request: Request) -> Video:
        """Queue a video. JSON, or multipart/form-data with an optional `input_reference` image."""
        data, image = await _read_create_body(request, config)
        try:
            body = VideoCreate.model_validate(data)
        except ValidationError as e:
            raise RequestValidationError(e.errors(include_url=False, include_input=False)) from e
        settings = _settings(body, config, has_image=image is not None)
        job_id = f"video_{secrets.token_hex(16)}"
        if image is not None:
            _save_png(image, input_path(data_dir, job_id))
        try:
            job = store.create(settings, config.max_queue, job_id=job_id)
        except QueueFullError as e:
            input_path(data_dir, job_id).unlink(missing_ok=True)
            retry = _retry_after(store)
            raise api_error(
                429, f"{e}; retry in about {retry} s", "queue_full", {"Retry-After": str(retry)}
            ) from e
        worker.wake()
        return video_of(job)

    @app.get("/v1/videos", response_model=VideoList, responses=ERRORS, dependencies=auth)
    async def list_videos(
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        after: Annotated[str | None, Query(max_length=64)] = None,
        order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    ) -> VideoList:
        jobs, more = store.list(limit, after, order)
        data = [video_of(j) for j in jobs]
        return VideoList(
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
            has_more=more,
        )

    @app.get("/v1/videos/{video_id}", response_model=Video, responses=ERRORS, dependencies=auth)
    async def get_video(video_id: str) -> Video:
        return video_of(find(video_id))

    @app.get(
        "/v1/videos/{video_id}/content",
        responses={**ERRORS, 200: {"content": {"video/mp4": {}}, "description": "the video"}},
        response_class=FileResponse,
        dependencies=auth,
    )
    def get_content(video_id: str) -> FileResponse:
        job = find(video_id)
        if job.status != "completed":
            raise api_error(409, f"video is {job.status}; content exists once it is completed", "not_ready")
        path = output_path(data_dir, job.id)
        if not path.is_file():
            raise api_error(404, "the video file is gone from the server", "not_found")
        return FileResponse(
            path, media_type="video/mp4", filename=f"{job.id}.mp4", content_disposition_type="inline"
        )

    @app.get(
        "/v1/videos/{video_id}/events",
        responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "Video objects"}},
        response_class=StreamingResponse,
        dependencies=auth,
    )
    async def video_events(video_id: str, request: Request) -> StreamingResponse:
        """`event: video` with the Video object as data on each change; the stream ends when it is final."""
        find(video_id)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            _events(store, video_id, request), media_type="text/event-stream", headers=headers
        )

    @app.post("/v1/videos/{video_id}/cancel", response_model=Video, responses=ERRORS, dependencies=auth)
    def cancel_video(video_id: str) -> Video:
        job = find(video_id)
        if job.terminal:
            raise api_error(409, f"video is already {job.status}", "not_cancelable")
        job = store.request_cancel(job.id) or job
        worker.cancel(job.id)
        return video_of(job)

    @app.delete("/v1/videos/{video_id}", response_model=VideoDeleted, responses=ERRORS, dependencies=auth)
    def delete_video(video_id: str) -> VideoDeleted:
        job = find(video_id)
        if job.status == "in_progress":
            raise api_error(409, "video is in progress; cancel it first", "in_progress")
        store.delete(job.id)
        output_path(data_dir, job.id).unlink(missing_ok=True)
        input_path(data_dir, job.id).unlink(missing_ok=True)
        return VideoDeleted(id=job.id)

    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus VideoCreate, which the create route reads by hand (JSON or multipart)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        model = VideoCreate.model_json_schema(ref_template="#/components/schemas/{model}")
        schema.setdefault("components", {}).setdefault("schemas", {})["VideoCreate"] = model
        app.openapi_schema = schema
    return app.openapi_schema


def video_of(job: Job) -> Video:
    r = job.request
    error = VideoError(code=job.error_code or "error", message=job.error) if job.error else None
    return Video(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        progress=job.progress,
        created_at=int(job.created_at),
        completed_at=int(job.finished_at) if job.status == "completed" and job.finished_at else None,
        prompt=r["prompt"],
        size=f"{r['width']}x{r['height']}",
        seconds=f"{(r['num_frames'] - 1) / r['fps']:g}",
        num_frames=r["num_frames"],
        fps=r["fps"],
        seed=r["seed"],
        steps=r["steps"],
        guidance_scale=r["guidance_scale"],
        has_input_reference=r["has_input_reference"],
        error=error,
    )


async def _read_create_body(request: Request, config: ServeConfig) -> tuple[Any, Any]:
    """(fields, decoded image or None) from a JSON or multipart body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            return json.loads(await request.body()), None
        except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: [[[[...]]]]
            raise api_error(422, f"body: not valid JSON ({e})", "invalid_json") from e
    if media not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise api_error(
            415, "Content-Type: use application/json or multipart/form-data", "unsupported_media_type"
        )
    form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=config.max_upload_bytes)
    fields: dict[str, str] = {}
    image = None
    for key, value in form.multi_items():
        if key in fields or (key == "input_reference" and image is not None):
            raise api_error(422, f"{key}: given more than once", "duplicate_field")
        if isinstance(value, UploadFile):
            if key != "input_reference":
                raise api_error(422, f"{key}: only input_reference may be a file", "unexpected_file")
            data = await value.read(config.max_upload_bytes + 1)
            try:
                image = load_reference_image(data, config.max_upload_bytes, config.max_image_pixels)
            except UploadError as e:
                raise api_error(e.status, str(e), "invalid_input_reference") from e
        else:
            fields[key] = value
    return fields, image


def _settings(body: VideoCreate, config: ServeConfig, has_image: bool) -> dict[str, Any]:
    """The job's settings, after this server's own limits (tighter than the schema's hard caps)."""
    width, height = body.dimensions
    num_frames = body.frames_at(config.fps)
    if max(width, height) > config.max_side:
        raise api_error(
            422, f"size: this server makes at most {config.max_side} pixels a side", "size_too_large"
        )
    if num_frames > config.max_frames:
        seconds = (config.max_frames - 1) / config.fps
        raise api_error(
            422, f"duration: this server makes at most {config.max_frames} frames ({seconds:g} s)", "too_long"
        )
    return {
        "prompt": body.prompt,
        "negative_prompt": body.negative_prompt,
        "num_frames": num_frames,
        "width": width,
        "height": height,
        "fps": config.fps,
        "seed": body.seed if body.seed is not None else secrets.randbelow(2**31),
        "steps": body.steps,
        "guidance_scale": body.guidance_scale,
        "has_input_reference": has_image,
    }


async def _events(store: JobStore, video_id: str, request: Request):
    start = last_sent = time.monotonic()
    last = None
    while time.monotonic() - start < SSE_MAX_S:
        job = store.get(video_id)
        if job is None:
            yield "event: deleted\ndata: {}\n\n"
            return
        payload = video_of(job).model_dump_json()
        if payload != last:
            yield f"event: video\ndata: {payload}\n\n"
            last, last_sent = payload, time.monotonic()
        if job.terminal or await request.is_disconnected():
            return
        if time.monotonic() - last_sent > SSE_KEEPALIVE_S:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(SSE_POLL_S)
    yield "retry: 1000\n\n"


def _retry_after(store: JobStore) -> int:
    """Seconds until a queue slot is likely free: about one job's run time."""
    durations = store.recent_durations()
    return max(1, math.ceil(statistics.median(durations))) if durations else 10


def _save_png(image, path: Path) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def _static(name: str) -> str:
    return resources.files("cineflow.serve").joinpath("static", name).read_text(encoding="utf-8")


def _version() -> str:
    from cineflow import __version__

    return __version__

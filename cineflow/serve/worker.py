"""The one in-process worker thread: takes queued jobs in order, generates, writes with provenance.

A generate callable does the work: `generate(request, on_progress, stop) -> Generated`. It reports
progress as a fraction in [0, 1] and must check `stop` (a threading.Event) at each step, raising
`Stopped` when it is set; that is how cancel and the per-job timeout free the worker (a Python thread
cannot be interrupted from outside, so a callable that never looks at `stop` runs to its end, and its
result is then thrown away).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cineflow.serve.jobs import Job, JobStore

log = logging.getLogger("cineflow.serve")


class Stopped(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by a generate callable when its stop event is set (cancel or timeout)."""


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate; `image` is the uploaded reference frame, uint8 [H, W, 3], or None."""

    prompt: str
    negative_prompt: str | None
    num_frames: int
    width: int
    height: int
    fps: int
    seed: int
    steps: int | None
    guidance_scale: float | None
    image: np.ndarray | None = None


@dataclass
class Generated:
    frames: np.ndarray  # uint8 [T, H, W, 3]
    fps: float
    manifest: dict[str, Any] = field(default_factory=dict)  # what made it (see cineflow.provenance)


ProgressFn = Callable[[float], None]
Generate = Callable[[GenerationRequest, ProgressFn, threading.Event], Generated]


class Worker:
    """Runs jobs from `store` one at a time on a daemon thread."""

    def __init__(
        self, store: JobStore, generate: Generate, data_dir: Path, timeout_s: float, poll_s: float = 0.5
    ) -> None:
        self.store = store
        self.generate = generate
        self.data_dir = data_dir
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._shutdown = threading.Event()
        self._current: tuple[str, threading.Event] | None = None
        self._thread = threading.Thread(target=self._loop, name="cineflow-worker", daemon=True)

    def start(self) -> None:
        if self._thread.is_alive():
            return
        self._shutdown.clear()
        self._thread = threading.Thread(target=self._loop, name="cineflow-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._shutdown.set()
        current = self._current
        if current is not None:
            current[1].set()
        self._wake.set()
        self._thread.join(timeout)

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        current = self._current
        if current is not None and current[0] == job_id:
            current[1].set()

    def _loop(self) -> None:
        while not self._shutdown.is_set():
            job = self.store.claim_next()
            if job is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        stop = threading.Event()
        timed_out = threading.Event()

        def on_timeout() -> None:
            timed_out.set()
            stop.set()

        def on_progress(fraction: float) -> None:
            # the flag in the store also catches a cancel that came before this job was `_current`
            if self.store.set_progress(job.id, round(99 * min(max(fraction, 0.0), 1.0))):
                stop.set()

        timer = threading.Timer(self.timeout_s, on_timeout)
        timer.daemon = True
        self._current = (job.id, stop)
        timer.start()
        try:
            result = self.generate(self._request(job), on_progress, stop)
            if stop.is_set():
                raise Stopped
            self._write(job, result)
        except Stopped:
            if timed_out.is_set():
                error = f"timed out after {self.timeout_s:g} s"
                self.store.finish(job.id, "failed", "timeout", error)
            elif self._shutdown.is_set():
                pass  # left in_progress: the next start-up marks it failed (jobs.RESTARTED)
            else:
                self.store.finish(job.id, "canceled")
        except Exception as e:  # any failure of one job must not kill the worker
            log.exception("job %s failed", job.id)
            self.store.finish(job.id, "failed", "generation_failed", f"{type(e).__name__}: {e}")
        finally:
            timer.cancel()
            self._current = None

    def _request(self, job: Job) -> GenerationRequest:
        r = job.request
        image = None
        if r.get("has_input_reference"):
            from PIL import Image

            with Image.open(input_path(self.data_dir, job.id)) as img:
                image = np.asarray(img.convert("RGB"), dtype=np.uint8)
        keys = ("prompt", "negative_prompt", "num_frames", "width", "height", "fps", "seed", "steps")
        return GenerationRequest(**{k: r[k] for k in keys}, guidance_scale=r["guidance_scale"], image=image)

    def _write(self, job: Job, result: Generated) -> None:
        from cineflow.provenance import write_with_provenance

        path = output_path(self.data_dir, job.id)
        manifest = {**result.manifest, "job_id": job.id}
        write_with_provenance(path, result.frames, result.fps, manifest)
        if not self.store.finish(job.id, "completed"):  # deleted or failed meanwhile: keep no orphan
            path.unlink(missing_ok=True)


def output_path(data_dir: Path, job_id: str) -> Path:
    """Where a job's video lives. `job_id` must already be checked against schemas.JOB_ID."""
    return data_dir / "videos" / f"{job_id}.mp4"


def input_path(data_dir: Path, job_id: str) -> Path:
    return data_dir / "inputs" / f"{job_id}.png"

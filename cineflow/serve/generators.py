"""Generate callables for the worker: the real pipeline, and a synthetic one for tests and benchmarks."""

from __future__ import annotations

import threading

import numpy as np

from cineflow.serve.worker import Generate, Generated, GenerationRequest, ProgressFn, Stopped


def pipeline_generator(model_dir: str | None = None) -> Generate:
    """`Pipeline.from_pretrained(model_dir)` (None: the bundled model), loaded on the first job.

    Loading lazily keeps `cineflow serve` start-up instant and lets the page come up even when the
    model folder is broken; the first job then fails with the loader's message.
    """
    lock = threading.Lock()
    pipes: list = []

    def pipeline():
        with lock:
            if not pipes:
                from cineflow.pipeline import Pipeline

                pipes.append(Pipeline.from_pretrained(model_dir))
            return pipes[0]

    def generate(request: GenerationRequest, on_progress: ProgressFn, stop: threading.Event) -> Generated:
        pipe = pipeline()
        steps = request.steps or pipe.config.num_inference_steps

        def on_step(_pipe, step: int, _t: float, _state: dict) -> None:
            on_progress((step + 1) / steps)
            if stop.is_set():
                raise Stopped  # abandon the sampling loop: no decode of a half-denoised video

        conditions = None
        if request.image is not None:
            conditions = [{"kind": "image", "frame": 0, "image": request.image}]
        out = pipe(
            request.prompt,
            negative_prompt=request.negative_prompt,
            num_frames=request.num_frames,
            height=request.height,
            width=request.width,
            num_inference_steps=steps,
            guidance_scale=request.guidance_scale,
            seed=request.seed,
            fps=request.fps,
            conditions=conditions,
            callback_on_step_end=on_step,
            progress=False,
        )
        return Generated(frames=out.frames, fps=out.fps, manifest=out.manifest)

    return generate


def synthetic_generator(steps: int = 4, step_seconds: float = 0.0) -> Generate:
    """A model-free stand-in: a seeded square crossing a flat background, made in `steps` timed steps.

    It honours progress, cancel and the request's geometry exactly like the pipeline does, so the API,
    the job store and the page can be tested and load-tested without paying for a model. The picture is
    Flatland-like (flat background, one moving object), which is what the bundled model makes.
    """

    def generate(request: GenerationRequest, on_progress: ProgressFn, stop: threading.Event) -> Generated:
        for step in range(steps):
            if stop.wait(step_seconds) if step_seconds > 0 else stop.is_set():
                raise Stopped
            on_progress((step + 1) / steps)
        rng = np.random.default_rng(request.seed)
        T, H, W = request.num_frames, request.height, request.width
        frames = np.empty((T, H, W, 3), np.uint8)
        frames[:] = rng.integers(20, 120, size=3)  # background
        side = max(2, min(H, W) // 4)
        colour = rng.integers(150, 256, size=3)
        y0 = int(rng.integers(0, H - side + 1))
        for t in range(T):
            x0 = round((W - side) * t / max(1, T - 1))
            frames[t, y0 : y0 + side, x0 : x0 + side] = colour
        manifest = {"model": "synthetic", "seed": request.seed, "prompt": request.prompt}
        return Generated(frames=frames, fps=float(request.fps), manifest=manifest)

    return generate

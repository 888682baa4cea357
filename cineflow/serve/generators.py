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
    """A model-free stand-in: a seeded moving colour gradient, `steps` steps of `step_seconds` each.

    It honours progress, cancel and the request's geometry exactly like the pipeline does, so the API,
    the job store and the page can be tested and load-tested without paying for a model.
    """

    def generate(request: GenerationRequest, on_progress: ProgressFn, stop: threading.Event) -> Generated:
        for step in range(steps):
            if stop.wait(step_seconds) if step_seconds > 0 else stop.is_set():
                raise Stopped
            on_progress((step + 1) / steps)
        rng = np.random.default_rng(request.seed)
        base = rng.uniform(40, 215, size=3)
        t = np.arange(request.num_frames)[:, None, None, None] / max(1, request.num_frames - 1)
        y = np.linspace(0, 1, request.height)[None, :, None, None]
        x = np.linspace(0, 1, request.width)[None, None, :, None]
        frames = base + 40 * np.sin(2 * np.pi * (x + y + t) + np.array([0.0, 2.0, 4.0]))
        manifest = {"model": "synthetic", "seed": request.seed, "prompt": request.prompt}
        frames = np.clip(frames, 0, 255).astype(np.uint8)
        return Generated(frames=frames, fps=float(request.fps), manifest=manifest)

    return generate

"""cineflow: open text-to-video in the line of Sora, from a laptop CPU to many GPUs."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Pipeline", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `import cineflow.world` does not pay for torch.
    if name == "Pipeline":
        from cineflow.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'cineflow' has no attribute {name!r}")

"""`cineflow export CHECKPOINT_DIR --out MODEL_DIR [--raw]`: a trainer checkpoint as a model folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a model folder from a trainer checkpoint (EMA weights by default)",
        description=(
            "Write a model folder (model_index.json + safetensors, the layout `cineflow train` writes at "
            "DIR/model) from a trainer checkpoint's EMA weights, or its raw trained weights with --raw. "
            "CHECKPOINT_DIR is a checkpoints/step_NNNNNN folder, or a run folder (its latest checkpoint)."
        ),
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT_DIR", help="e.g. runs/tiny/checkpoints/step_000600")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="the model folder to write")
    p.add_argument("--raw", action="store_true", help="the trained (non-EMA) weights instead of the EMA")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source, out = Path(args.checkpoint), Path(args.out)
    if not source.is_dir():
        raise FileNotFoundError(f"CHECKPOINT_DIR: folder not found: {source}")
    if out.exists() and not (out / "model_index.json").is_file():
        # replacing a model folder is fine (it is swapped whole); anything else is refused
        raise ValueError(f"--out: {out} exists and is not a model folder; give a new path")

    from cineflow.train.checkpoint import export_model, resolve_checkpoint

    folder = resolve_checkpoint(source)
    written = export_model(folder, out, raw=args.raw)
    print(f"wrote {written} ({'raw' if args.raw else 'EMA'} weights of {folder})")
    return 0

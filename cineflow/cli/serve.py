"""`cineflow serve`: the HTTP API and web page (FastAPI + uvicorn), on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import os
import sys

from cineflow.config import ServeConfig

_DEFAULTS = ServeConfig()


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the HTTP API and web page",
        description="Serve text-to-video jobs over HTTP (shaped like the Sora video API) and a page at /. "
        "API keys may also come from $CINEFLOW_API_KEYS (comma-separated), which keeps them out of `ps`.",
    )
    p.add_argument(
        "--host", default=_DEFAULTS.host, help="address to bind (default: %(default)s, this machine only)"
    )
    p.add_argument("--port", type=int, default=_DEFAULTS.port, help="port (default: %(default)s)")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument(
        "--api-key",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY",
        help="require `Authorization: Bearer KEY`; several keys may be given",
    )
    p.add_argument(
        "--data-dir", default=_DEFAULTS.data_dir, help="jobs database and outputs (default: %(default)s)"
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=_DEFAULTS.max_queue,
        help="queued jobs before 429 (default: %(default)s)",
    )
    p.add_argument(
        "--job-timeout",
        type=float,
        default=_DEFAULTS.job_timeout_s,
        help="seconds per job (default: %(default)s)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from cineflow.serve.app import create_app

    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port: must be 1..65535, got {args.port}")
    if args.max_queue < 1:
        raise ValueError(f"--max-queue: must be >= 1, got {args.max_queue}")
    if not args.job_timeout > 0:
        raise ValueError(f"--job-timeout: must be > 0 seconds, got {args.job_timeout}")
    if args.model is not None and not os.path.isdir(args.model):
        raise FileNotFoundError(f"--model: {args.model} is not a folder")
    keys = [k for k in args.api_key + os.environ.get("CINEFLOW_API_KEYS", "").split(",") if k.strip()]
    if any(len(k) < 16 for k in keys):
        raise ValueError("--api-key: each key must be at least 16 characters")
    config = ServeConfig(
        host=args.host,
        port=args.port,
        model=args.model,
        data_dir=args.data_dir,
        api_keys=tuple(k.strip() for k in keys),
        max_queue=args.max_queue,
        job_timeout_s=args.job_timeout,
    )
    auth = f"{len(keys)} API key(s)" if keys else "no API key (anyone who can reach it may use it)"
    if not keys and config.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"cineflow serve: warning: listening on {config.host} without --api-key", file=sys.stderr)
    print(f"cineflow serve: http://{config.host}:{config.port}/  data in {config.data_dir}, {auth}")
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="info")
    return 0

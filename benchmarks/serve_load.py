"""The HTTP API under load: 50 clients polling job status while 20 jobs are queued and run.

    python benchmarks/serve_load.py [--clients 50] [--jobs 20] [--step-seconds 0.05] [--model DIR|bundled]

Starts `cineflow.serve` in its own process (uvicorn, one worker thread generating), with the synthetic
generator (10 steps of `--step-seconds`, then watermark + C2PA signing of a 64x64x17 mp4) unless
`--model` names a model folder ("bundled": the bundled model), then:
  1. peer: the same clients poll the status of one finished job for `--idle-seconds` (server idle,
     after 2 s of unmeasured warm-up);
  2. load: submits `--jobs` jobs, and the clients poll their statuses round-robin until all are final.
Prints p50/p95/p99/max status latency in both phases and their ratio, requests/s, and every status code
seen; the target is no 5xx at all.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import numpy as np

SERVER = """
import sys, uvicorn
from cineflow.config import ServeConfig
from cineflow.serve.app import create_app
from cineflow.serve.generators import pipeline_generator, synthetic_generator
data_dir, port, step_seconds, model = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
if model:
    generate = pipeline_generator(None if model == "bundled" else model)
else:
    generate = synthetic_generator(steps=10, step_seconds=step_seconds)
config = ServeConfig(data_dir=data_dir, port=port, max_queue=1000)
uvicorn.run(create_app(config, generate), host="127.0.0.1", port=port, log_level="warning")
"""
FINAL = {"completed", "failed", "canceled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def poll(
    base: str, ids: list[str], clients: int, stop, seen: dict[str, str]
) -> tuple[list[float], collections.Counter]:
    """`clients` concurrent pollers of /v1/videos/{id}, round-robin over `ids`, until `stop()` is true.

    Each client is one keep-alive HTTP/1.1 connection speaking just enough HTTP by hand: a general client
    (httpx) costs more CPU per request than the server does, and would measure itself. Each answer's
    status goes into `seen`, so that `stop` can end the run once every job is final.
    """
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    codes: collections.Counter = collections.Counter()

    async def one(worker: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        i = worker
        try:
            while not stop():
                request = f"GET /v1/videos/{ids[i % len(ids)]} HTTP/1.1\r\nHost: {host}\r\n\r\n"
                t0 = time.perf_counter()
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                code = int(head.split(b" ", 2)[1])
                codes[code] += 1
                if code == 200:
                    video = json.loads(body)
                    seen[video["id"]] = video["status"]
                i += clients
        finally:
            writer.close()

    await asyncio.gather(*(one(w) for w in range(clients)))
    return latencies, codes


def wait_final(base: str, ids: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = {i: httpx.get(f"{base}/v1/videos/{i}").json()["status"] for i in ids}
        if set(statuses.values()) <= FINAL or time.monotonic() > deadline:
            return statuses
        time.sleep(0.2)


def percentiles(latencies: list[float]) -> dict[str, float]:
    q = np.percentile(np.array(latencies) * 1000, [50, 95, 99, 100])
    return dict(zip(("p50", "p95", "p99", "max"), q, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--step-seconds", type=float, default=0.05)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument(
        "--model", default="", help="model folder, or 'bundled'; default: synthetic generator"
    )
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "CINEFLOW_C2PA_DIR": os.path.join(data_dir, "c2pa")}
        cmd = [sys.executable, "-c", SERVER, data_dir, str(port), str(args.step_seconds), args.model]
        server = subprocess.Popen(cmd, env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/v1/videos", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)

            # 1. Peer: the same polling against an idle server
            first = httpx.post(f"{base}/v1/videos", json={"prompt": "warm-up"}).json()["id"]
            wait_final(base, [first], 600)
            t_warm = time.monotonic() + 2.0  # open the connections and warm the server up, unmeasured
            asyncio.run(poll(base, [first], args.clients, lambda: time.monotonic() > t_warm, {}))
            t_end = time.monotonic() + args.idle_seconds
            idle, idle_codes = asyncio.run(
                poll(base, [first], args.clients, lambda: time.monotonic() > t_end, {})
            )

            # 2. Load: queue the jobs, poll them until every one is final
            t0 = time.monotonic()
            submits = [
                httpx.post(f"{base}/v1/videos", json={"prompt": f"a red ball bounces {k}", "seed": k})
                for k in range(args.jobs)
            ]
            ids = [r.json()["id"] for r in submits if r.status_code == 200]
            seen: dict[str, str] = {}

            def all_final() -> bool:
                return len(seen) == len(ids) and set(seen.values()) <= FINAL

            loaded, codes = asyncio.run(poll(base, ids, args.clients, all_final, seen))
            elapsed = time.monotonic() - t0
            statuses = collections.Counter(_status(base, i) for i in ids)
        finally:
            server.terminate()
            server.wait(30)

    submit_codes = collections.Counter(r.status_code for r in submits)
    p_idle, p_load = percentiles(idle), percentiles(loaded)
    generator = args.model or f"synthetic (10 steps x {args.step_seconds:g} s)"
    print(f"serve load: {args.clients} clients polling, {args.jobs} jobs queued; generator: {generator}")
    print(f"  submits: {dict(submit_codes)}; final statuses: {dict(statuses)}; {elapsed:.1f} s for all jobs")
    fmt = ", ".join
    print(
        f"  idle (peer): {len(idle)} requests, {len(idle) / args.idle_seconds:.0f}/s, "
        f"codes {dict(idle_codes)}, " + fmt(f"{k} {v:.1f} ms" for k, v in p_idle.items())
    )
    print(
        f"  loaded:      {len(loaded)} requests, {len(loaded) / elapsed:.0f}/s, codes {dict(codes)}, "
        + fmt(f"{k} {v:.1f} ms" for k, v in p_load.items())
    )
    print(f"  p95 loaded / idle = {p_load['p95'] / p_idle['p95']:.2f}x")
    server_errors = sum(n for c, n in (codes + idle_codes + submit_codes).items() if c >= 500)
    print(f"  5xx responses: {server_errors}")


def _status(base: str, video_id: str) -> str:
    return httpx.get(f"{base}/v1/videos/{video_id}").json()["status"]


if __name__ == "__main__":
    main()

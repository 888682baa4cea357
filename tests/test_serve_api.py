"""The HTTP API with a synthetic generator: lifecycle, queue, cancel, timeout, restart, security."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cineflow.config import ServeConfig
from cineflow.serve.app import create_app
from cineflow.serve.generators import synthetic_generator
from cineflow.serve.jobs import JobStore
from cineflow.serve.worker import Generated, Stopped

TERMINAL = ("completed", "failed", "canceled")


@pytest.fixture(autouse=True)
def _c2pa_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CINEFLOW_C2PA_DIR", str(tmp_path_factory.getbasetemp() / "c2pa"))


@contextmanager
def serve(data_dir: Path, generate=None, **config):
    app = create_app(ServeConfig(data_dir=str(data_dir), **config), generate or synthetic_generator())
    with TestClient(app) as client:
        yield client


def wait(client: TestClient, video_id: str, statuses=TERMINAL, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = client.get(f"/v1/videos/{video_id}").json()
        if video["status"] in statuses:
            return video
        time.sleep(0.02)
    raise AssertionError(f"{video_id} never reached {statuses}: {video}")


def gated_generator():
    """A generator that runs until `release` is set (or it is stopped), so a job can be held in progress."""
    release = threading.Event()
    started = threading.Event()

    def generate(request, on_progress, stop):
        started.set()
        on_progress(0.5)
        while not release.is_set():
            if stop.wait(0.01):
                raise Stopped
        return synthetic_generator()(request, on_progress, stop)

    return generate, release, started


def test_job_lifecycle_create_poll_download_list_delete(tmp_path):
    from cineflow.provenance import verify

    with serve(tmp_path) as client:
        created = client.post("/v1/videos", json={"prompt": "a red ball bounces", "seed": 7, "size": "32x48"})
        assert created.status_code == 200
        video = created.json()
        assert video["status"] in ("queued", "in_progress") and video["seed"] == 7
        done = wait(client, video["id"])
        assert done["status"] == "completed" and done["progress"] == 100 and done["error"] is None
        assert done["size"] == "32x48" and done["num_frames"] == 17

        content = client.get(f"/v1/videos/{video['id']}/content")
        assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
        path = tmp_path / "downloaded.mp4"
        path.write_bytes(content.content)
        report = verify(path)
        assert report.ok, report.to_dict()
        assert report.manifest.generation["job_id"] == video["id"]
        assert report.manifest.generation["prompt_sha256"] and "prompt" not in report.manifest.generation

        listed = client.get("/v1/videos").json()
        assert [v["id"] for v in listed["data"]] == [video["id"]] and listed["has_more"] is False

        events = client.get(f"/v1/videos/{video['id']}/events")
        assert events.headers["content-type"].startswith("text/event-stream")
        assert "event: video" in events.text and '"status":"completed"' in events.text

        assert client.delete(f"/v1/videos/{video['id']}").json() == {
            "id": video["id"],
            "object": "video.deleted",
            "deleted": True,
        }
        assert client.get(f"/v1/videos/{video['id']}").status_code == 404
        assert not list((tmp_path / "videos").glob("*.mp4"))


def test_duration_in_seconds_or_frames_but_not_both(tmp_path):
    with serve(tmp_path) as client:
        assert client.post("/v1/videos", json={"prompt": "x", "seconds": 1}).json()["num_frames"] == 9
        assert client.post("/v1/videos", json={"prompt": "x", "num_frames": 5}).json()["num_frames"] == 5
        both = client.post("/v1/videos", json={"prompt": "x", "seconds": 1, "num_frames": 5})
        assert both.status_code == 422 and "not both" in both.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"prompt": ""},
        {"prompt": "   "},
        {"prompt": "x", "seed": -1},
        {"prompt": "x", "seed": 2**31},
        {"prompt": "x", "steps": 0},
        {"prompt": "x", "guidance_scale": 31},
        {"prompt": "x", "size": "64"},
        {"prompt": "x", "size": "8x64"},
        {"prompt": "x", "size": "1025x64"},
        {"prompt": "x", "size": "1024x1024"},  # within the schema, over this server's max_side
        {"prompt": "x", "seconds": 61},
        {"prompt": "x", "num_frames": 1000},
        {"prompt": "x", "unknown": 1},
        {"prompt": "x" * 2001},
        ["prompt"],
    ],
)
def test_out_of_range_inputs_are_rejected_before_any_work(tmp_path, body):
    with serve(tmp_path) as client:
        response = client.post("/v1/videos", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert client.get("/v1/videos").json()["data"] == []


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"]" * 100_000, b'{"prompt": "\xff"}', b"NaN", b'{"prompt": "x", "seed": 1e400}', b"{"],
)
def test_malformed_json_is_a_4xx_never_a_crash(tmp_path, raw):
    with serve(tmp_path) as client:
        response = client.post("/v1/videos", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text


def test_queue_full_answers_429_with_retry_after(tmp_path):
    generate, release, started = gated_generator()
    with serve(tmp_path, generate, max_queue=2) as client:
        running = client.post("/v1/videos", json={"prompt": "first"}).json()
        assert started.wait(5)
        queued = [client.post("/v1/videos", json={"prompt": f"q{i}"}) for i in range(2)]
        assert [r.status_code for r in queued] == [200, 200]
        full = client.post("/v1/videos", json={"prompt": "one too many"})
        assert full.status_code == 429 and full.json()["error"]["code"] == "queue_full"
        assert int(full.headers["Retry-After"]) >= 1
        release.set()
        for video in [running, *(r.json() for r in queued)]:
            assert wait(client, video["id"])["status"] == "completed"
        assert client.post("/v1/videos", json={"prompt": "room again"}).status_code == 200


def test_cancel_in_progress_frees_the_worker_and_queued_cancel_is_immediate(tmp_path):
    generate, release, started = gated_generator()
    with serve(tmp_path, generate) as client:
        running = client.post("/v1/videos", json={"prompt": "long"}).json()
        assert started.wait(5)
        queued = client.post("/v1/videos", json={"prompt": "waiting"}).json()
        assert client.post(f"/v1/videos/{queued['id']}/cancel").json()["status"] == "canceled"
        assert client.post(f"/v1/videos/{running['id']}/cancel").status_code == 200
        assert wait(client, running["id"], timeout=3)["status"] == "canceled"
        assert client.post(f"/v1/videos/{running['id']}/cancel").status_code == 409
        assert client.get(f"/v1/videos/{running['id']}/content").status_code == 409
        release.set()
        after = client.post("/v1/videos", json={"prompt": "next"}).json()
        assert wait(client, after["id"])["status"] == "completed"


def test_job_timeout_fails_the_job_with_a_reason(tmp_path):
    generate, _release, _started = gated_generator()
    with serve(tmp_path, generate, job_timeout_s=0.3) as client:
        video = client.post("/v1/videos", json={"prompt": "too slow"}).json()
        done = wait(client, video["id"], timeout=5)
        assert done["status"] == "failed" and done["error"]["code"] == "timeout"


def test_a_failing_generator_fails_its_job_and_the_worker_goes_on(tmp_path):
    calls = []

    def generate(request, on_progress, stop):
        calls.append(request.prompt)
        if request.prompt == "boom":
            raise RuntimeError("the model exploded")
        return synthetic_generator()(request, on_progress, stop)

    with serve(tmp_path, generate) as client:
        bad = client.post("/v1/videos", json={"prompt": "boom"}).json()
        good = client.post("/v1/videos", json={"prompt": "fine"}).json()
        failed = wait(client, bad["id"])
        assert failed["status"] == "failed" and "the model exploded" in failed["error"]["message"]
        assert wait(client, good["id"])["status"] == "completed"
        assert calls == ["boom", "fine"]


def test_restart_mid_job_fails_the_running_job_runs_the_queued_and_keeps_the_finished(tmp_path):
    generate, release, started = gated_generator()
    with serve(tmp_path) as client:  # 1. a finished job from an earlier life
        done = client.post("/v1/videos", json={"prompt": "kept"}).json()
        assert wait(client, done["id"])["status"] == "completed"
    with serve(tmp_path, generate) as client:  # 2. stop the server while a job runs, one more queued
        running = client.post("/v1/videos", json={"prompt": "interrupted"}).json()
        assert started.wait(5)
        queued = client.post("/v1/videos", json={"prompt": "still queued"}).json()
    store = JobStore(tmp_path / "jobs.sqlite3")  # what the dead server left on disk
    assert store.get(running["id"]).status == "in_progress" and store.get(queued["id"]).status == "queued"
    store.close()
    with serve(tmp_path) as client:  # 3. the next life
        failed = client.get(f"/v1/videos/{running['id']}").json()
        assert failed["status"] == "failed" and failed["error"]["code"] == "server_restarted"
        assert wait(client, queued["id"])["status"] == "completed"
        assert client.get(f"/v1/videos/{done['id']}/content").status_code == 200
    release.set()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/videos/../jobs.sqlite3/content",
        "/v1/videos/%2e%2e/content",
        "/v1/videos/%2e%2e%2fjobs.sqlite3/content",
        "/v1/videos/..%2f..%2fetc%2fpasswd/content",
        "/v1/videos/%2Fetc%2Fpasswd/content",
        "/v1/videos//etc/passwd/content",
        "/v1/videos/video_../content",
        "/v1/videos/jobs.sqlite3/content",
        "/v1/videos/%2e%2e",
    ],
)
def test_traversal_and_absolute_paths_are_404(tmp_path, path):
    with serve(tmp_path) as client:
        response = client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert b"SQLite" not in response.content


def test_api_keys_are_required_when_set_and_compared_exactly(tmp_path):
    key = "k" * 24
    with serve(tmp_path, api_keys=(key, "another-key-0000")) as client:
        assert client.get("/v1/videos").status_code == 401
        assert client.get("/v1/videos", headers={"Authorization": "Bearer " + key[:-1]}).status_code == 401
        assert client.get("/v1/videos", headers={"Authorization": "Basic " + key}).status_code == 401
        wrong = client.post("/v1/videos", json={"prompt": "x"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
        ok = client.get("/v1/videos", headers={"Authorization": "Bearer " + key})
        assert ok.status_code == 200
        assert client.get("/").status_code == 200  # the page itself holds no data


def test_request_body_limit_by_header_and_by_stream(tmp_path):
    with serve(tmp_path, max_body_bytes=4096) as client:
        declared = client.post(
            "/v1/videos", content=b"{" + b" " * 5000 + b"}", headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413

        def chunks():  # no Content-Length: the limit must hold while reading
            for _ in range(10):
                yield b" " * 1000

        streamed = client.post("/v1/videos", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert client.get("/v1/videos").json()["data"] == []


def test_openapi_publishes_bounded_inputs(tmp_path):
    with serve(tmp_path) as client:
        schema = client.get("/openapi.json").json()
    props = schema["components"]["schemas"]["VideoCreate"]["properties"]
    seed = next(s for s in props["seed"]["anyOf"] if s.get("type") == "integer")
    assert seed["minimum"] == 0 and seed["maximum"] == 2**31 - 1
    assert props["prompt"]["maxLength"] == 2000 and "pattern" in props["size"]
    body = schema["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)


def test_server_binds_loopback_by_default():
    assert ServeConfig().host == "127.0.0.1"


def test_worker_result_is_discarded_when_the_job_was_deleted_meanwhile(tmp_path):
    generate, release, started = gated_generator()
    with serve(tmp_path, generate) as client:
        running = client.post("/v1/videos", json={"prompt": "x"}).json()
        assert started.wait(5)
        assert client.delete(f"/v1/videos/{running['id']}").status_code == 409  # in progress: cancel first
        queued = client.post("/v1/videos", json={"prompt": "y"}).json()
        assert client.delete(f"/v1/videos/{queued['id']}").status_code == 200
        release.set()
        assert wait(client, running["id"])["status"] == "completed"
        assert client.get(f"/v1/videos/{queued['id']}").status_code == 404


def test_generated_dataclass_is_what_the_worker_writes(tmp_path):
    import numpy as np

    frames = np.zeros((5, 16, 16, 3), np.uint8)

    def generate(request, on_progress, stop):
        return Generated(frames=frames + 128, fps=4.0, manifest={"model": "constant"})

    with serve(tmp_path, generate) as client:
        video = client.post("/v1/videos", json={"prompt": "grey", "size": "16x16", "num_frames": 5}).json()
        assert wait(client, video["id"])["status"] == "completed"
        from cineflow.io import read_video

        (tmp_path / "out.mp4").write_bytes(client.get(f"/v1/videos/{video['id']}/content").content)
        out = read_video(tmp_path / "out.mp4")
        assert out.frames.shape == (5, 16, 16, 3) and out.fps == pytest.approx(4.0)


def test_store_transitions_only_move_forward_and_flag_cancels(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = store.create({"prompt": "x"}, max_queue=5)
    assert store.set_progress(job.id, 50) is True  # not in progress: the caller must stop
    claimed = store.claim_next()
    assert claimed.id == job.id and claimed.status == "in_progress" and store.claim_next() is None
    assert store.set_progress(job.id, 40) is False and store.get(job.id).progress == 40
    store.set_progress(job.id, 30)
    assert store.get(job.id).progress == 40  # progress never goes back
    assert store.request_cancel(job.id).cancel_requested
    assert store.set_progress(job.id, 60) is True  # the worker sees the cancel at its next step
    assert store.finish(job.id, "canceled") and not store.finish(job.id, "completed")
    assert store.get(job.id).status == "canceled"
    with pytest.raises(ValueError, match="status"):
        store.finish(job.id, "queued")
    store.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "0"], "--port"),
        (["--port", "70000"], "--port"),
        (["--api-key", "short"], "--api-key"),
        (["--model", "/no/such/model"], "--model"),
        (["--max-queue", "0"], "--max-queue"),
        (["--job-timeout", "-1"], "--job-timeout"),
    ],
)
def test_serve_cli_refuses_bad_arguments_with_exit_2(argv, message, capsys):
    from cineflow.cli import main

    assert main(["serve", *argv]) == 2
    assert message in capsys.readouterr().err

"""Schema fuzzing: >= 1,000 generated requests over every operation, and never a 5xx."""

from __future__ import annotations

from collections import Counter
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cineflow.config import ServeConfig
from cineflow.serve.app import create_app
from cineflow.serve.generators import synthetic_generator

schemathesis = pytest.importorskip("schemathesis")

CASES_PER_OPERATION = 150  # x 7 operations: 1,050 cases


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fuzz")
    mp = pytest.MonkeyPatch()
    mp.setenv("CINEFLOW_C2PA_DIR", str(data_dir / "c2pa"))
    config = ServeConfig(data_dir=str(data_dir), max_queue=4, max_body_bytes=64_000, max_upload_bytes=32_000)
    # steps=0: jobs finish at once, so the queue drains and both the 200 and the 429 paths are exercised
    with TestClient(create_app(config, synthetic_generator(steps=0))) as c:  # runs the worker too
        yield c
    mp.undo()


def test_fuzz_every_operation_without_server_errors(client):
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) == 7, [op.label for op in ops]
    counts: Counter[str] = Counter()
    for op in ops:
        run_cases(op, counts)
    print("schemathesis cases by operation and status:", dict(sorted(counts.items())))
    assert sum(counts.values()) >= 1000
    assert counts["POST /v1/videos -> 200"] > 0 and counts["POST /v1/videos -> 422"] > 0


def run_cases(op, counts: Counter[str]) -> None:
    @given(case=op.as_strategy())
    @fuzz(CASES_PER_OPERATION)
    def run(case):
        response = case.call()
        counts[f"{op.label} -> {response.status_code}"] += 1
        assert response.status_code < 500, (case.method, case.path, case.body, response.text[:300])

    run()


@given(video_id=st.text(max_size=80))
@example(video_id=".")  # "/v1/videos/." is "/v1/videos" by URL dot-segment rules: the listing
@example(video_id="./")  # ".%2F" is decoded to "./" and redirected to the listing
@example(video_id="..")
@fuzz(50)
def test_arbitrary_video_ids_reach_no_file(client, video_id):
    """Ids straight from hypothesis (any unicode, slashes, dots, encodings) are 404, or the listing of
    videos where URL rules turn the path into "/v1/videos"; never a file."""
    for suffix in ("", "/content", "/events"):
        response = client.get(f"/v1/videos/{quote(video_id, safe='')}{suffix}")
        if response.status_code == 200:
            assert suffix == "" and response.json()["object"] == "list", (video_id, response.text[:200])
        else:
            assert response.status_code in (404, 405), (video_id, suffix, response.status_code)

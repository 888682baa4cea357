"""Image-to-video uploads: type by content, size limits, decompression bombs, multipart shape."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cineflow.config import ServeConfig
from cineflow.serve.app import create_app
from cineflow.serve.generators import synthetic_generator


@pytest.fixture(autouse=True)
def _c2pa_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CINEFLOW_C2PA_DIR", str(tmp_path_factory.getbasetemp() / "c2pa"))


@pytest.fixture
def client_and_seen(tmp_path):
    seen = []
    done = threading.Event()

    def generate(request, on_progress, stop):
        seen.append(request.image)
        done.set()
        return synthetic_generator()(request, on_progress, stop)

    config = ServeConfig(data_dir=str(tmp_path), max_upload_bytes=200_000, max_image_pixels=10_000)
    with TestClient(create_app(config, generate)) as client:
        yield client, seen, done


def encode(array: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def post(client, data: bytes, name: str = "frame.png", declared: str = "image/png"):
    return client.post(
        "/v1/videos",
        data={"prompt": "a ball", "seed": "3"},
        files={"input_reference": (name, data, declared)},
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_valid_png_or_jpeg_reaches_the_generator(client_and_seen, fmt):
    client, seen, done = client_and_seen
    image = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    response = post(client, encode(image, fmt), name="whatever.bin", declared="application/octet-stream")
    assert response.status_code == 200, response.text
    video = response.json()
    assert video["has_input_reference"] is True and video["seed"] == 3
    assert done.wait(10)
    assert seen[0].shape == (40, 30, 3) and seen[0].dtype == np.uint8
    if fmt == "PNG":  # lossless: exactly the uploaded pixels
        np.testing.assert_array_equal(seen[0], image)
    deadline = time.monotonic() + 10
    while client.get(f"/v1/videos/{video['id']}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.delete(f"/v1/videos/{video['id']}")


def gif_bytes() -> bytes:
    return encode(np.zeros((8, 8, 3), np.uint8), "GIF")


def png_header_only(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A PNG whose header claims width x height, with a tiny (truncated) image: a bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = idat if idat is not None else zlib.compress(b"\x00" * (1 + 3 * min(width, 64)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"", 415),
        (b"not an image at all", 415),
        (b"\x00" * 1000, 415),
        (gif_bytes(), 415),  # a real image, but not PNG/JPEG, named .png
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 50, 400),  # PNG magic, corrupt body
        (b"\xff\xd8\xff" + b"\x00" * 500, 400),  # JPEG magic, corrupt body
        (png_header_only(50_000, 50_000), 413),  # 2.5 G pixels declared: Pillow's DecompressionBombError
        (png_header_only(120, 100), 413),  # 12k pixels: over max_image_pixels (10k), under 2x
        (png_header_only(64, 64, idat=b"not zlib data"), 400),  # small, corrupt: decoding fails cleanly
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 250_000, 413),  # over max_upload_bytes
    ],
)
def test_bad_uploads_are_refused_with_4xx(client_and_seen, data, status):
    client, seen, _done = client_and_seen
    response = post(client, data)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] in ("invalid_input_reference", "body_too_large")
    assert client.get("/v1/videos").json()["data"] == [] and seen == []


def test_a_real_decompression_bomb_is_refused(client_and_seen):
    client, _seen, _done = client_and_seen
    bomb = encode(np.zeros((1000, 1000, 3), np.uint8), "PNG")  # 1 M pixels, a few kB compressed
    assert len(bomb) < 200_000
    response = post(client, bomb)
    assert response.status_code == 413 and "bomb" in response.json()["error"]["message"]


def test_multipart_shape_is_checked(client_and_seen):
    client, _seen, _done = client_and_seen
    png = encode(np.zeros((8, 8, 3), np.uint8), "PNG")
    two_files = client.post(
        "/v1/videos",
        data={"prompt": "x"},
        files=[
            ("input_reference", ("a.png", png, "image/png")),
            ("input_reference", ("b.png", png, "image/png")),
        ],
    )
    assert 400 <= two_files.status_code < 500
    wrong_field = client.post(
        "/v1/videos", data={"prompt": "x"}, files={"prompt2": ("a.png", png, "image/png")}
    )
    assert wrong_field.status_code == 422
    bad_number = client.post("/v1/videos", data={"prompt": "x", "seed": "ten"})
    assert bad_number.status_code == 422
    text = client.post("/v1/videos", content=b"prompt=x", headers={"content-type": "text/plain"})
    assert text.status_code == 415

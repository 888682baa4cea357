"""The web page end to end in headless Chromium: type a prompt, watch progress, play the video, see it in the
gallery. Chromium is driven over the W3C WebDriver protocol (chromedriver) with plain HTTP calls.

Needs the Debian packages `chromium` and `chromium-driver`; skipped, saying so, when either is missing.
Set CINEFLOW_WEB_SCREENSHOT=PATH to also save a screenshot of the finished page (docs/web.png).
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cineflow.config import ServeConfig
from cineflow.serve.app import create_app
from cineflow.serve.generators import synthetic_generator

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless Chromium not installed: apt-get install -y chromium chromium-driver",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,980",
    "--autoplay-policy=no-user-gesture-required",
]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver element reference key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(data_dir: Path, **config):
    import uvicorn

    port = free_port()
    app = create_app(
        ServeConfig(data_dir=str(data_dir), **config), synthetic_generator(steps=8, step_seconds=0.1)
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class Browser:
    """A minimal WebDriver client: a session, and the handful of commands the test needs."""

    def __init__(self, driver_url: str, user_data_dir: str) -> None:
        self.http = httpx.Client(base_url=driver_url, timeout=60)
        options = {"binary": CHROMIUM, "args": [*FLAGS, f"--user-data-dir={user_data_dir}"]}
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}
        self.session = self._ok(self.http.post("/session", json=caps))["sessionId"]

    def _ok(self, response: httpx.Response):
        assert response.status_code == 200, response.text[:500]
        return response.json()["value"]

    def cmd(self, method: str, path: str, body: dict | None = None):
        return self._ok(self.http.request(method, f"/session/{self.session}{path}", json=body))

    def get(self, url: str) -> None:
        self.cmd("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def type(self, css: str, text: str) -> None:
        self.cmd("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self.cmd("POST", f"/element/{self.find(css)}/click", {})

    def js(self, script: str):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": []})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.cmd("GET", "/screenshot"))

    def close(self) -> None:
        self.http.delete(f"/session/{self.session}")
        self.http.close()


@contextmanager
def browser():
    port = free_port()
    driver = subprocess.Popen(
        [CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    user_data = tempfile.mkdtemp(prefix="cineflow-chromium-")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/status", timeout=1).json()["value"]["ready"]:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "chromedriver did not start"
            time.sleep(0.1)
        b = Browser(f"http://127.0.0.1:{port}", user_data)
        try:
            yield b
        finally:
            b.close()
    finally:
        driver.terminate()
        driver.wait(10)
        shutil.rmtree(user_data, ignore_errors=True)


def wait_for(b: Browser, script: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = b.js(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}; page status: {b.js(STATUS)}")


STATUS = "return document.getElementById('status').textContent"


def test_page_generates_shows_progress_plays_and_lists(tmp_path, monkeypatch):
    monkeypatch.setenv("CINEFLOW_C2PA_DIR", str(tmp_path / "c2pa"))
    with live_server(tmp_path / "data") as base, browser() as b:
        b.get(base + "/")
        assert b.js("return document.title") == "cineflow"
        b.type("#prompt", "a red ball bounces on a gray floor")
        b.js("document.getElementById('size').value = '128x128'")
        b.click("#submit")
        # live progress: the bar moves while the job runs
        wait_for(b, "const p = document.getElementById('progress').value; return p > 0 && p < 100")
        assert "in progress" in b.js(STATUS)
        # done: the video element holds the decoded mp4
        video_id = wait_for(b, "return document.getElementById('player').dataset.videoId || null")
        wait_for(b, "return document.getElementById('player').readyState >= 2")
        size = b.js(
            "const v = document.getElementById('player'); return [v.videoWidth, v.videoHeight, v.duration]"
        )
        assert size[:2] == [128, 128] and size[2] > 1.5
        assert b.js(STATUS).startswith("completed")
        assert b.js("return document.getElementById('download').hidden") is False
        # the gallery lists the job
        cards = wait_for(b, "return [...document.querySelectorAll('.card')].map(c => c.dataset.videoId)")
        assert video_id in cards
        shot = b.screenshot()
        assert shot.startswith(b"\x89PNG")
        if os.environ.get("CINEFLOW_WEB_SCREENSHOT"):
            Path(os.environ["CINEFLOW_WEB_SCREENSHOT"]).write_bytes(shot)


def test_page_shows_api_errors_instead_of_failing_silently(tmp_path, monkeypatch):
    monkeypatch.setenv("CINEFLOW_C2PA_DIR", str(tmp_path / "c2pa"))
    with live_server(tmp_path / "data", api_keys=("k" * 20,)) as base, browser() as b:
        b.get(base + "/")
        b.type("#prompt", "anything")
        b.click("#submit")
        assert "API key" in wait_for(b, STATUS)

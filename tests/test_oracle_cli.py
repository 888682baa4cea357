"""`cineflow score VIDEO --prompt TEXT`: JSON report, partial prompts, exit codes."""

from __future__ import annotations

import json

import pytest

from cineflow.cli import main
from cineflow.io import write_video
from cineflow.world.physics import simulate
from cineflow.world.render import render
from cineflow.world.scene import ObjectSpec, SceneSpec


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    spec = SceneSpec(
        objects=(
            ObjectSpec("red", "circle", "medium", motion="right", speed="normal", x=0.25, y=0.4),
            ObjectSpec("white", "square", "large", x=0.7, y=0.7, depth=1),
        ),
        background="gray",
    )
    path = tmp_path_factory.mktemp("score") / "clip.mp4"
    write_video(path, render(spec, simulate(spec)), spec.fps, crf=23)
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["score", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_true_prompt_passes_with_per_check_json(video, capsys, tmp_path):
    out_file = tmp_path / "report.json"
    prompt = "A red ball moves right and a large white box stays still on a gray background."
    code, out, _ = _run(capsys, str(video), "--prompt", prompt, "--out", str(out_file))
    data = json.loads(out)
    assert code == 0
    assert data["pass"] is True, [c for c in data["checks"] if not c["pass"]]
    assert data["partial"] is False and data["fps"] == 8
    assert {"name", "pass", "reason"} == set(data["checks"][0])
    assert json.loads(out_file.read_text()) == data


def test_false_prompt_is_scored_and_exits_0_unless_check(video, capsys):
    prompt = "A blue ball moves left."
    code, out, _ = _run(capsys, str(video), "--prompt", prompt)
    assert code == 0 and json.loads(out)["pass"] is False
    code, out, _ = _run(capsys, str(video), "--prompt", prompt, "--check")
    assert code == 1 and json.loads(out)["pass"] is False


def test_unknown_words_mark_the_report_partial(video, capsys):
    code, out, _ = _run(capsys, str(video), "--prompt", "a red ball moves right past a dragon")
    data = json.loads(out)
    assert code == 0 and data["partial"] is True and "dragon" in data["unknown_words"]


def test_nothing_recognisable_exits_2_with_the_vocabulary(video, capsys):
    code, out, err = _run(capsys, str(video), "--prompt", "hello world")
    assert code == 2 and out == ""
    assert "colours:" in err and "Traceback" not in err


@pytest.mark.parametrize("content", [None, b"not a video at all"])
def test_unreadable_video_exits_2(tmp_path, capsys, content):
    path = tmp_path / "broken.mp4"
    if content is not None:
        path.write_bytes(content)
    code, out, err = _run(capsys, str(path), "--prompt", "a red ball")
    assert code == 2 and out == ""
    assert err.startswith("cineflow score: error:") and "Traceback" not in err


def test_bad_fps_exits_2(video, capsys):
    code, _, err = _run(capsys, str(video), "--prompt", "a red ball", "--fps", "0")
    assert code == 2 and "--fps" in err

"""`cineflow world sample`: files written, dataset format, clear errors with exit code 2."""

from __future__ import annotations

import csv
import json

import pytest

from cineflow.cli import main
from cineflow.io import probe


def test_sample_writes_clips_captions_and_annotations(tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["world", "sample", "--n", "3", "--out", str(out), "--size", "48x32", "--seconds", "1"]) == 0
    with (out / "captions.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == ["clip_00000.mp4", "clip_00001.mp4", "clip_00002.mp4"]
    info = probe(out / rows[0]["path"])
    assert (info.width, info.height, info.frames, info.codec) == (48, 32, 9, "h264")
    record = json.loads((out / "clip_00000.json").read_text())
    assert record["scene"]["width"] == 48 and len(record["frames"]) == 9
    assert record["caption"] == rows[0]["text"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary files left behind"
    # a second run with --start adds to the dataset
    assert main(["world", "sample", "--n", "1", "--start", "3", "--out", str(out), "--size", "48x32"]) == 0
    with (out / "captions.csv").open(newline="") as f:
        assert len(list(csv.DictReader(f))) == 4


def test_one_frame_is_an_image(tmp_path):
    args = ["world", "sample", "--n", "1", "--out", str(tmp_path), "--frames", "1", "--scenario", "still"]
    assert main(args) == 0
    assert probe(tmp_path / "clip_00000.png").is_image


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n", "0"], "--n"),
        (["--n", "1", "--size", "8x64"], "--size"),
        (["--n", "1", "--size", "2000x64"], "--size"),
        (["--n", "1", "--size", "64by64"], "--size"),
        (["--n", "1", "--frames", "0"], "--frames"),
        (["--n", "1", "--seconds", "-1"], "--seconds"),
        (["--n", "1", "--fps", "0"], "--fps"),
        (["--n", "1", "--scenario", "explode"], "--scenario"),
        (["--n", "1", "--crf", "60"], "--crf"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, args, message):
    assert main(["world", "sample", "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists(), "nothing is written when the arguments are wrong"

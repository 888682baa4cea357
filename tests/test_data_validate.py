"""Bad data: every kind of broken row is reported with its reason, skipped deterministically and counted."""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cineflow import io
from cineflow.cli import main
from cineflow.data.prepare import prepare
from cineflow.data.table import read_table
from cineflow.data.validate import REASONS, Limits, validate


def clip(T: int, H: int = 32, W: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (1, H, W, 3))
    return np.clip(base + np.arange(T)[:, None, None, None] * 5, 0, 255).astype(np.uint8)


def write_vfr(path: Path) -> None:
    """An mp4 whose frame intervals are 1/8 s and then 3/8 s: a variable frame rate."""
    tb = Fraction(1, 80)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.time_base = stream.codec_context.time_base = tb
        for i, pts in enumerate([0, 10, 20, 50, 60, 70, 110, 120, 130]):
            frame = av.VideoFrame.from_ndarray(clip(1, seed=i)[0], format="rgb24")
            frame.pts, frame.time_base = pts, tb
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_audio_only(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def bad_dataset(root: Path) -> Path:
    """A dataset of 15 rows: 5 fine, 10 broken each in its own way. Returns the CSV path."""
    media = root / "media"
    media.mkdir()
    io.write_video(media / "good.mp4", clip(9), fps=8)
    io.write_video(media / "good.png", clip(1), fps=8)
    io.write_video(media / "one_frame.mp4", clip(1), fps=8)
    io.write_video(media / "odd.mkv", clip(9, H=33, W=47), fps=8)  # lossless keeps the odd size
    write_vfr(media / "vfr.mp4")
    (media / "zero.mp4").write_bytes(b"")
    full = (media / "good.mp4").read_bytes()  # written with +faststart: the index is at the front
    (media / "truncated.mp4").write_bytes(full[: len(full) // 3])
    (media / "text.mp4").write_text("this is a text file renamed to .mp4\n" * 50)
    write_audio_only(media / "audio.mp4")
    io.write_video(media / "tiny.mp4", clip(9, H=8, W=8), fps=8)
    rows = [
        ("media/good.mp4", "a good clip", ""),
        ("media/zero.mp4", "zero bytes", ""),
        ("media/truncated.mp4", "cut in the middle", ""),
        ("media/text.mp4", "text renamed", ""),
        ("media/audio.mp4", "only sound", ""),
        ("media/one_frame.mp4", "a single frame", ""),
        ("media/odd.mkv", "odd size", ""),
        ("media/vfr.mp4", "variable rate", ""),
        ("media/missing.mp4", "not there", ""),
        ("media/good.mp4", "   ", ""),
        ("http://example.com/v.mp4", "remote", ""),
        ("media/good.png", "an image", ""),
        ("media/tiny.mp4", "8 pixels", ""),
        ("media/good.mp4", "wrong count", "99"),
        ("media/good.mp4", "bad number", "many"),
    ]
    file = root / "data.csv"
    with file.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "text", "num_frames"])
        writer.writerows(rows)
    return file


EXPECTED = {
    1: "empty_file",
    2: "truncated",
    3: "unreadable",
    4: "no_video_stream",
    8: "missing_file",
    9: "empty_caption",
    10: "not_local",
    12: "bad_size",
    13: "stale_metadata",
    14: "bad_row",
}


def test_each_bad_row_gets_its_reason_and_good_rows_survive(tmp_path: Path) -> None:
    report = validate(bad_dataset(tmp_path))
    assert report.total == 15
    assert {i.index: i.reason for i in report.issues} == EXPECTED
    assert [e.row.index for e in report.entries] == [0, 5, 6, 7, 11]
    assert all(i.reason in REASONS for i in report.issues)
    assert report.counts()["truncated"] == 1 and sum(report.counts().values()) == 10
    notes = {(n.index, n.reason) for n in report.notes}
    assert notes == {(5, "single_frame"), (6, "odd_size"), (7, "variable_fps")}
    odd = next(e for e in report.entries if e.row.index == 6)
    assert (odd.height, odd.width, odd.num_frames) == (33, 47, 9)
    truncated = next(i for i in report.issues if i.index == 2)
    assert "truncated.mp4" in truncated.path and truncated.detail


def test_verdicts_are_deterministic_across_runs_and_workers(tmp_path: Path) -> None:
    file = bad_dataset(tmp_path)
    one = validate(file, workers=1).to_dict()
    two = validate(file, workers=3).to_dict()
    assert one == two


def test_min_frames_turns_short_videos_into_too_short(tmp_path: Path) -> None:
    report = validate(bad_dataset(tmp_path), Limits(min_frames=5))
    reasons = {i.index: i.reason for i in report.issues}
    assert reasons[5] == "too_short" and reasons[11] == "too_short"
    assert [e.row.index for e in report.entries] == [0, 6, 7]


def test_header_only_mode_misses_truncation_but_still_sees_broken_headers(tmp_path: Path) -> None:
    report = validate(bad_dataset(tmp_path), Limits(decode=False))
    reasons = {i.index: i.reason for i in report.issues}
    assert 2 not in reasons  # the header of the truncated file is intact
    assert reasons[3] == "unreadable" and reasons[1] == "empty_file"


def test_cli_validate_prints_reasons_and_counts(tmp_path: Path, capsys) -> None:
    assert main(["data", "validate", str(bad_dataset(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "row 2 media/truncated.mp4: truncated:" in out
    assert "5 of 15 rows usable" in out and "1 empty_file" in out


def test_cli_validate_json(tmp_path: Path, capsys) -> None:
    assert main(["data", "validate", str(bad_dataset(tmp_path)), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["usable"] == 5 and data["counts"]["unreadable"] == 1
    assert {i["row"]: i["reason"] for i in data["issues"]} == EXPECTED


def test_nothing_usable_exits_non_zero_with_counts(tmp_path: Path, capsys) -> None:
    file = bad_dataset(tmp_path)
    rows = [line for i, line in enumerate(file.read_text().splitlines()) if i == 0 or i - 1 in EXPECTED]
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(rows) + "\n")
    assert main(["data", "validate", str(broken)]) == 1
    captured = capsys.readouterr()
    assert "0 of 10 rows usable" in captured.out and "1 truncated" in captured.out
    assert "no usable rows" in captured.err
    with pytest.raises(ValueError, match="no usable rows"):
        validate(broken).require_usable()


def test_jsonl_rows_and_bad_json(tmp_path: Path) -> None:
    io.write_video(tmp_path / "a.mp4", clip(5), fps=8)
    lines = [json.dumps({"path": "a.mp4", "text": "fine", "aes": 5.5}), "{not json", json.dumps(["a.mp4"])]
    file = tmp_path / "d.jsonl"
    file.write_text("\n".join(lines) + "\n\n")
    report = validate(file)
    assert [e.row.index for e in report.entries] == [0]
    assert [(i.index, i.reason) for i in report.issues] == [(1, "bad_row"), (2, "bad_row")]
    assert report.entries[0].row.extra == {"aes": 5.5}


def test_file_level_errors(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("video,caption\na.mp4,hello\n")
    with pytest.raises(ValueError, match="path and text"):
        validate(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError):
        validate(tmp_path / "none.csv")
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        validate(tmp_path / "x.txt")


def test_prepare_fills_metadata_and_rebases_paths(tmp_path: Path, capsys) -> None:
    file = bad_dataset(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main(["data", "prepare", str(file), "-o", str(out_dir / "p.jsonl"), "--drop-bad"]) == 0
    table = read_table(out_dir / "p.jsonl")
    assert [r.text for r in table.rows] == [
        "a good clip",
        "a single frame",
        "odd size",
        "variable rate",
        "an image",
    ]
    odd = table.rows[2]
    assert (odd.num_frames, odd.height, odd.width, odd.fps) == (9, 33, 47, 8.0)
    assert odd.path == "../media/odd.mkv"
    assert validate(out_dir / "p.jsonl").counts() == {}  # the filled columns agree with the media
    report = prepare(
        file
    )  # in place, keeping bad rows (the unparseable one is dropped: it cannot be written)
    assert len(read_table(file).rows) == 14 and len(report.entries) == 5

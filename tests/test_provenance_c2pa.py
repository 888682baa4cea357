"""write_with_provenance + verify: signed C2PA manifests, tamper detection, `cineflow verify` exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cineflow.cli import main
from cineflow.io import read_video, write_video
from cineflow.provenance import c2pa_sign, verify, write_with_provenance
from cineflow.world.stream import make_clip

MANIFEST = {"model": "test", "seed": 5, "prompt": "a red ball bounces", "weights_sha256": "ab" * 32}


@pytest.fixture(autouse=True)
def _c2pa_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CINEFLOW_C2PA_DIR", str(tmp_path_factory.getbasetemp() / "c2pa"))


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return make_clip(3).frames


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ".webm", ".png"])
def test_written_files_verify_as_ours_and_intact(tmp_path, frames, suffix):
    clip = frames[:1] if suffix == ".png" else frames
    path = tmp_path / f"out{suffix}"
    write_with_provenance(path, clip, 8, MANIFEST)
    report = verify(path)
    assert report.ok, report.to_dict()
    assert report.manifest.state == "Valid"  # signature and hashes check out; the local CA is untrusted
    generation = report.manifest.generation
    assert generation["seed"] == 5 and generation["model"] == "test" and "created" in generation
    assert "prompt" not in generation and len(generation["prompt_sha256"]) == 64
    assert report.manifest.detached == (suffix == ".webm")
    assert read_video(path).frames.shape[0] == clip.shape[0]
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_tampered_bytes_break_the_manifest_and_verify_exits_1(tmp_path, frames, capsys):
    path = tmp_path / "out.mp4"
    write_with_provenance(path, frames, 8, MANIFEST)
    assert main(["verify", str(path)]) == 0
    assert "OK: made by cineflow" in capsys.readouterr().out

    data = bytearray(path.read_bytes())
    mdat = data.index(b"mdat") + 64  # inside the coded video, so the file still decodes
    data[mdat] ^= 0x01
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    report = verify(tampered)
    assert report.manifest.found and not report.manifest.valid
    assert any("mismatch" in f for f in report.manifest.failures), report.manifest.failures
    assert main(["verify", str(tampered)]) == 1


def test_reencoded_copy_loses_the_manifest_but_keeps_the_watermark(tmp_path, frames, capsys):
    path = tmp_path / "out.mp4"
    write_with_provenance(path, frames, 8, MANIFEST)
    copy = tmp_path / "copy.mp4"
    write_video(copy, read_video(path).frames, 8, crf=28)
    report = verify(copy)
    assert not report.manifest.found and report.watermark.present and not report.ok
    assert main(["verify", str(copy), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["watermark"]["present"] is True and out["ok"] is False


def test_files_not_made_by_cineflow_are_not_verified(tmp_path, frames):
    plain = tmp_path / "plain.mp4"
    write_video(plain, frames, 8)
    report = verify(plain)
    assert not report.ok and not report.manifest.found and not report.watermark.present
    assert main(["verify", str(plain)]) == 1
    assert main(["verify", str(tmp_path / "missing.mp4")]) == 2


def test_webm_sidecar_must_stay_with_its_file(tmp_path, frames):
    path = tmp_path / "out.webm"
    write_with_provenance(path, frames, 8, MANIFEST)
    c2pa_sign.sidecar(path).unlink()
    assert not verify(path).ok


def test_bad_arguments_raise_before_writing(tmp_path, frames):
    with pytest.raises(ValueError, match="C2PA"):
        write_with_provenance(tmp_path / "out.avi", frames, 8, MANIFEST)
    with pytest.raises(ValueError, match="JSON"):
        write_with_provenance(tmp_path / "out.mp4", frames, 8, {"bad": object()})
    with pytest.raises(FileNotFoundError):
        write_with_provenance(tmp_path / "nowhere" / "out.mp4", frames, 8, MANIFEST)
    assert list(tmp_path.iterdir()) == []


def test_signing_credentials_are_made_once_and_private(tmp_path, frames, monkeypatch):
    monkeypatch.setenv("CINEFLOW_C2PA_DIR", str(tmp_path / "creds"))
    write_with_provenance(tmp_path / "a.mp4", frames, 8, MANIFEST)
    pem = tmp_path / "creds" / "signer.pem"
    first = pem.read_bytes()
    assert (pem.stat().st_mode & 0o777) == 0o600
    write_with_provenance(tmp_path / "b.mp4", frames, 8, MANIFEST)
    assert pem.read_bytes() == first
    assert verify(tmp_path / "a.mp4").manifest.signer == verify(tmp_path / "b.mp4").manifest.signer

"""`cineflow export`: a trainer checkpoint as a model folder, written by the code path `train` uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cineflow.cli import main
from cineflow.pipeline import WEIGHTS, Pipeline
from cineflow.train.checkpoint import list_checkpoints, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
DEBUG = str(ROOT / "configs" / "debug.yaml")
SETTINGS = ["--max-steps", "4", "--set", "checkpoint_every=2", "--set", "sample_prompts=[]"]
DIT = Path("transformer") / WEIGHTS


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    assert main(["train", DEBUG, "--out", str(out), *SETTINGS]) == 0
    return out


def test_ema_export_of_the_last_checkpoint_is_the_runs_model_folder_bit_for_bit(run, tmp_path):
    (_, last), *_ = reversed(list_checkpoints(run))
    assert main(["export", str(last), "--out", str(tmp_path / "m")]) == 0
    written = sorted(p.relative_to(run / "model") for p in (run / "model").rglob("*") if p.is_file())
    exported = sorted(p.relative_to(tmp_path / "m") for p in (tmp_path / "m").rglob("*") if p.is_file())
    assert exported == written and any(p.suffix == ".safetensors" for p in written)
    for rel in written:  # every file, the random VAE and text encoder included
        assert (tmp_path / "m" / rel).read_bytes() == (run / "model" / rel).read_bytes(), rel
    assert not list(tmp_path.glob(".tmp-*"))  # built aside and renamed into place
    Pipeline.from_pretrained(tmp_path / "m")  # loads as a model folder


def test_raw_export_holds_the_trained_weights_and_an_earlier_step_its_own(run, tmp_path):
    (first_step, first), *_ = list_checkpoints(run)
    assert main(["export", str(first), "--out", str(tmp_path / "raw"), "--raw"]) == 0
    assert main(["export", str(first), "--out", str(tmp_path / "ema")]) == 0
    state = load_checkpoint(first)
    raw, ema = load_file(tmp_path / "raw" / DIT), load_file(tmp_path / "ema" / DIT)
    assert first_step == 2 and raw.keys() == state["model"].keys()
    assert all(torch.equal(raw[k], state["model"][k]) for k in raw)
    assert all(torch.equal(ema[k], state["ema"]["model"][k]) for k in ema)
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)  # the EMA lags the trained weights
    final = load_file(run / "model" / DIT)
    assert any(not torch.equal(ema[k], final[k]) for k in ema)


def test_a_run_folder_exports_its_latest_checkpoint(run, tmp_path):
    assert main(["export", str(run), "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / DIT).read_bytes() == (run / "model" / DIT).read_bytes()


def test_bad_paths_exit_2_with_one_line(run, tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "m")]) == 2
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "m")]) == 2  # no checkpoint in it
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["export", str(run), "--out", str(tmp_path / "taken")]) == 2
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("cineflow export: error:") for line in err)

"""Generate + score + report: the harness and the oracle agree on ground truth (the ceiling is high), a
random debug model scores low, and the report files are written with the model's path and weights hash."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cineflow.config import TextConfig, VAEConfig
from cineflow.eval import report
from cineflow.eval.run import CaseResult, ModelSource, accuracy, category, evaluate, ground_truth, strip
from cineflow.eval.suites import SUITES, build_cases
from cineflow.models.dit import PRESETS
from cineflow.pipeline import Pipeline, PipelineConfig

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models

SMALL = {"width": 32, "height": 32, "num_frames": 5}


@pytest.fixture(scope="module")
def debug_model(tmp_path_factory):
    """A random debug model folder (tiny VAE, debug DiT, random text encoder, 2 sampling steps)."""
    vae = VAEConfig(latent_channels=4, base_channels=8, channel_mult=(1, 1, 1))
    pipe = Pipeline.from_configs(
        vae, PRESETS["debug"], TextConfig(name="random", dim=384), PipelineConfig(num_inference_steps=2)
    )
    with torch.no_grad():  # a transformer that does not output zeros
        for p in pipe.transformer.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.1)
    folder = tmp_path_factory.mktemp("model") / "debug"
    pipe.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("objects: count", "count"),
        ("objects: no unclaimed color", "color"),
        ("object 0 (small red ball): present", "present"),
        ("object 2 (red ball): color", "color"),
        ("object 1 (large blue square): size", "size"),
        ("object 0 (green star): motion", "motion"),
        ("object 1 (white triangle): becomes red", "becomes"),
        ("event touch_change [0, 1]", "event_touch_change"),
        ("permanence: nothing vanishes", "permanence"),
        ("camera", "camera"),
    ],
)
def test_checks_fall_into_their_categories(name, want):
    assert category(name) == want


def test_ceiling_on_ground_truth_is_high_in_every_suite():
    """Two cases of every suite rendered by the world and scored: the harness and the oracle agree."""
    cases = build_cases(list(SUITES), 1, limit=2)  # 64x64, 17 frames: the oracle's design size
    passed = trials = 0
    for name, suite_cases in cases.items():
        results, _ = evaluate(suite_cases, ground_truth)
        rates = accuracy(suite_cases, results)
        passed, trials = passed + rates["case"].hits, trials + rates["case"].trials
        for cat in SUITES[name].focus:  # what the suite is about is checked, and passes on truth
            if cat in rates:
                assert rates[cat].value >= 0.75, (name, cat, str(rates[cat]))
    assert trials == 2 * len(SUITES)
    assert passed / trials >= 0.9


def test_a_random_model_scores_low(debug_model):
    source = ModelSource(debug_model)
    cases = build_cases(["attributes", "motion", "counting"], 1, limit=3, **SMALL)
    passed = trials = 0
    for suite_cases in cases.values():
        results, _ = evaluate(suite_cases, source)
        assert all(r.shape == (5, 32, 32, 3) for r in results)
        rates = accuracy(suite_cases, results)
        passed, trials = passed + rates["case"].hits, trials + rates["case"].trials
    assert passed / trials <= 0.2


def test_model_source_is_reproducible_and_records_its_weights(debug_model):
    source = ModelSource(debug_model, steps=1)
    case = build_cases(["images"], 1, limit=1, **SMALL)["images"][0]
    a, b = source(case), source(case)
    assert a.shape == (1, 32, 32, 3) and np.array_equal(a, b)
    info = source.info()
    assert info["path"] == str(debug_model.resolve()) and info["num_inference_steps"] == 1
    assert len(info["weights_sha256"]) == 64


def test_a_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model folder"):
        ModelSource(tmp_path / "nope")


def test_strip_keeps_a_few_frames_side_by_side():
    frames = np.arange(17)[:, None, None, None].repeat(8, 1).repeat(6, 2).repeat(3, 3).astype(np.uint8)
    s = strip(frames, k=5)
    assert s.shape == (8, 30, 3)
    assert list(s[0, ::6, 0]) == [0, 4, 8, 12, 16]
    assert strip(frames[:1]).shape == (8, 6, 3)


def test_report_files_are_written(debug_model, tmp_path):
    cases = build_cases(["camera", "images"], 1, limit=2, **SMALL)
    sources = {"model": ModelSource(debug_model), "ceiling": ground_truth}
    results = {n: {s: evaluate(c, src)[0] for s, src in sources.items()} for n, c in cases.items()}
    seconds = {n: {s: 0.0 for s in sources} for n in cases}
    infos = {"model": sources["model"].info(), "ceiling": {"what": "ground truth"}}
    out = tmp_path / "run" / "report.json"
    data = report.build({"seeds": 1}, infos, cases, results, seconds, report.strips_name(out))
    written = report.write(out, data, results)

    assert written[:3] == [out, out.with_suffix(".md"), out.with_suffix(".html")]
    loaded = json.loads(out.read_text())
    assert loaded["sources"]["model"]["weights_sha256"] == infos["model"]["weights_sha256"]
    assert [c["id"] for c in loaded["cases"]] == ["camera/0/0", "camera/0/1", "images/0/0", "images/0/1"]
    assert set(loaded["suites"]["camera"]["accuracy"]) == {"model", "ceiling"}
    markdown, html = out.with_suffix(".md").read_text(), out.with_suffix(".html").read_text()
    for row in loaded["cases"]:
        png = out.parent / row["strip"]
        assert png.is_file() and f"]({row['strip']})" in markdown and f'src="{row["strip"]}"' in html
        assert row["prompt"] in markdown
    from PIL import Image

    # one row per source, scaled up to at least 64 px per row: 2 x 64 + 2 x 2 px gap (scale 2)
    assert Image.open(out.parent / loaded["cases"][0]["strip"]).size[1] == 2 * 64 + 2 * 2
    assert not list(out.parent.glob(".*"))  # no temp files left behind


def test_confusions_count_what_was_read_instead():
    def result(case_id: str, *checks: tuple[str, bool, str, str]) -> CaseResult:
        rows = [
            {"name": f"object 0: {c}", "category": c, "pass": ok, "reason": "", "claimed": want, "seen": got}
            for c, ok, want, got in checks
        ]
        rows.append({"name": "objects: count", "category": "count", "pass": False, "reason": "3 seen"})
        return CaseResult(case_id, False, rows, (1, 8, 8, 3), np.zeros((8, 8, 3), np.uint8))

    model = [
        result("m/0/0", ("motion", False, "still", "left"), ("shape", True, "star", "star")),
        result("m/0/1", ("motion", False, "still", "left"), ("motion", True, "still", "still")),
        result("m/0/2", ("motion", False, "still", "up"), ("shape", False, "star", "triangle")),
    ]
    ceiling = [result("m/0/0", ("motion", True, "still", "still"))]
    got = report.confusions({"motion": {"model": model, "ceiling": ceiling}})
    assert got["model"]["motion"] == {"still": {"right": 1, "total": 4, "instead": {"left": 2, "up": 1}}}
    assert got["model"]["shape"] == {"star": {"right": 1, "total": 2, "instead": {"triangle": 1}}}
    assert got["ceiling"] == {"motion": {"still": {"right": 1, "total": 1, "instead": {}}}}
    assert "count" not in got["model"]  # not an attribute: no claimed value to confuse
    sources = {"model": {"what": "m"}, "ceiling": {"what": "gt"}}
    empty = {"settings": {}, "sources": sources, "harness_sha256": "0" * 64, "suites": {}, "cases": []}
    page = report.to_markdown({**empty, "confusions": got})
    assert "| still | 1/4 | 1/1 | left 2, up 1 |" in page

"""The benchmark's report: JSON (every case, check and rate), Markdown and HTML beside it, frame strips.

    report.json             settings, sources (model path + weights hash), per-suite rates, per-case checks
    report.md, report.html  the same as tables: per suite, check x source with 95% intervals; per case,
                            the prompt, the verdicts and its frame strip
    report_strips/*.png     per case: a few frames side by side, one row per source (model, floor,
                            vae_ceiling, ceiling)

Every file is written to a temporary name in its folder and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cineflow.atomic import atomic_write_text
from cineflow.eval.run import CaseResult, accuracy
from cineflow.eval.stats import Rate, newcombe
from cineflow.eval.suites import SUITES, Case

SOURCE_ORDER = ("model", "floor", "vae_ceiling", "ceiling")  # columns of the tables, rows of the strips
# Differences reported per category, a - b: what the model got from the text; what the VAE loses.
DIFFERENCES = (("model", "floor"), ("vae_ceiling", "ceiling"))
STRIP_HEIGHT = 64  # strips of smaller clips are scaled up (nearest) to at least this many pixels
ATTRIBUTES = ("color", "shape", "size", "motion", "speed")  # the checks that name a claimed and a seen value


def build(
    settings: dict,
    sources: dict[str, dict],
    cases: dict[str, list[Case]],
    results: dict[str, dict[str, list[CaseResult]]],
    seconds: dict[str, dict[str, float]],
    strips_dir: str,
) -> dict:
    """The report as JSON-ready data. `results[suite][source]`: one result per case of `cases[suite]`."""
    from cineflow import __version__

    suites = {}
    case_rows = []
    rates = {n: {src: accuracy(cases[n], res) for src, res in per.items()} for n, per in results.items()}
    for name, suite_cases in cases.items():
        suite = SUITES[name]
        suites[name] = {
            "about": suite.about,
            "focus": list(suite.focus),
            "cases": len(suite_cases),
            "accuracy": {
                src: {cat: r.to_dict() for cat, r in _ordered(rates[name][src], suite.focus)}
                for src in _sources(results[name])
            },
            "seconds": {src: round(s, 2) for src, s in seconds[name].items()},
            "differences": differences(rates[name]),
        }
        for k, case in enumerate(suite_cases):
            row = case.to_dict()
            row["results"] = {src: results[name][src][k].to_dict() for src in _sources(results[name])}
            row["strip"] = f"{strips_dir}/{_slug(case.id)}.png"
            case_rows.append(row)
    return {
        "cineflow_version": __version__,
        "harness_sha256": harness_sha256(),
        "settings": settings,
        "sources": sources,
        "suites": suites,
        "confusions": confusions(results),
        "cases": case_rows,
    }


def confusions(results: dict[str, dict[str, list[CaseResult]]]) -> dict[str, dict]:
    """Over every suite, per source and attribute, per claimed value: checks passed, checks made, and what
    the oracle read instead when it failed, most frequent first:
    `{src: {attribute: {claimed: {"right": k, "total": n, "instead": {seen: count}}}}}`."""
    out: dict[str, dict] = {}
    for per_source in results.values():
        for src, source_results in per_source.items():
            for result in source_results:
                for check in result.checks:
                    if check["category"] not in ATTRIBUTES or "claimed" not in check:
                        continue
                    by_value = out.setdefault(src, {}).setdefault(check["category"], {})
                    row = by_value.setdefault(check["claimed"], {"right": 0, "total": 0, "instead": {}})
                    row["total"] += 1
                    row["right"] += check["pass"]
                    if not check["pass"]:
                        row["instead"][check["seen"]] = row["instead"].get(check["seen"], 0) + 1
    for per_attribute in out.values():
        for by_value in per_attribute.values():
            for row in by_value.values():
                row["instead"] = dict(sorted(row["instead"].items(), key=lambda kv: (-kv[1], kv[0])))
    return {src: {a: dict(sorted(v.items())) for a, v in per.items()} for src, per in out.items()}


def differences(rates: dict[str, dict[str, Rate]]) -> dict[str, dict]:
    """Differences with 95% intervals: "model - floor" per category (what the model got from the text),
    "vae_ceiling - ceiling" per category (what the VAE loses), and "heldout - train" of passing cases per
    source (the paraphrase gap)."""
    out: dict[str, dict] = {}
    for a, b in DIFFERENCES:
        if a in rates and b in rates:
            out[f"{a} - {b}"] = {
                cat: _diff(rates[a][cat], rates[b][cat]) for cat in rates[a] if cat in rates[b]
            }
    gaps = {
        src: _diff(r["case[heldout]"], r["case[train]"])
        for src, r in rates.items()
        if "case[heldout]" in r and "case[train]" in r
    }
    if gaps:
        out["heldout - train"] = gaps
    return out


def _diff(a: Rate, b: Rate) -> dict:
    d, lo, hi = newcombe(a, b)
    return {"diff": round(d, 4), "ci95": [round(lo, 4), round(hi, 4)]}


def harness_sha256() -> str:
    """sha256 of the code that makes and judges the cases (cineflow/world, cineflow/eval): two reports
    with the same value asked the same questions and judged them the same way."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted([*(root / "world").rglob("*.py"), *(root / "eval").glob("*.py")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def write(path: str | Path, report: dict, results: dict[str, dict[str, list[CaseResult]]]) -> list[Path]:
    """Write the JSON at `path`, Markdown and HTML beside it, and the strips; returns the paths written."""
    path = Path(path)
    (path.parent / strips_name(path)).mkdir(parents=True, exist_ok=True)
    written = []
    by_id = {row["id"]: row for row in report["cases"]}
    for per_source in results.values():
        sources = _sources(per_source)
        for k, result in enumerate(per_source[sources[0]]):
            target = path.parent / by_id[result.case_id]["strip"]
            _write_png(target, _stack([per_source[src][k].strip for src in sources]))
            written.append(target)
    atomic_write_text(path, json.dumps(report, indent=1) + "\n")
    markdown, html = path.with_suffix(".md"), path.with_suffix(".html")
    atomic_write_text(markdown, to_markdown(report))
    atomic_write_text(html, to_html(report))
    return [path, markdown, html, *written]


def strips_name(path: str | Path) -> str:
    """The strips folder of report `path`, relative to the report's folder."""
    return f"{Path(path).stem}_strips"


# A report page as blocks, rendered to Markdown and to HTML. A cell (or list item, or paragraph) is a list of
# fragments: plain text, or (kind, text) with kind "b" (bold), "code" or "img" (a relative image path).
Fragment = str | tuple[str, str]
Block = tuple[str, Any]  # ("h1" | "h2" | "p", [Fragment]) | ("ul", [[Fragment]]) | ("table", (head, rows))


def blocks(report: dict) -> list[Block]:
    """The report's page: sources and settings, a summary, then per suite its rates and its cases."""
    settings, sources = report["settings"], report["sources"]
    names = [s for s in SOURCE_ORDER if s in sources]
    items: list[list[Fragment]] = []
    for src in names:
        info = sources[src]
        if "path" in info:
            what = [info["what"] + ": "] if "what" in info else []
            items.append([("b", src), ": ", *what, ("code", info["path"]), " weights sha256 ",
                          ("code", info["weights_sha256"][:16])])  # fmt: skip
        else:
            items.append([("b", src), ": " + info["what"]])
    items += [
        ["harness sha256 ", ("code", report["harness_sha256"][:16]), " (cineflow/world + cineflow/eval)"],
        ["settings: ", ("code", json.dumps({k: v for k, v in settings.items() if k != "command"}))],
        ["command: ", ("code", settings.get("command", ""))],
    ]
    out: list[Block] = [("h1", ["Flatland benchmark"]), ("ul", items)]
    out.append(("p", ["Rates are per check (per case for 'case'), with Wilson 95% intervals and trials."]))
    out.append(("h2", ["Summary: cases passing every check"]))
    diffs = [f"{a} - {b}" for a, b in DIFFERENCES if a in names and b in names]
    rows = [
        [[name], [str(suite["cases"])], *([_cell(suite["accuracy"].get(s, {}).get("case"))] for s in names)]
        + [[_diff_cell(suite["differences"][d].get("case"))] for d in diffs]
        for name, suite in report["suites"].items()
    ]
    out.append(("table", (["suite", "cases", *names, *diffs], rows)))
    out += _confusion_blocks(report.get("confusions", {}), names)
    by_suite: dict[str, list[dict]] = {}
    for row in report["cases"]:
        by_suite.setdefault(row["suite"], []).append(row)
    for name, suite in report["suites"].items():
        out += [("h2", [name]), ("p", [suite["about"][:1].upper() + suite["about"][1:] + "."])]
        categories = dict.fromkeys(c for src in names for c in suite["accuracy"].get(src, {}))
        rows = [
            [[("b", cat) if cat in suite["focus"] else cat],
             *([_cell(suite["accuracy"].get(src, {}).get(cat))] for src in names)]
            + [[_diff_cell(suite["differences"][d].get(cat))] for d in diffs]
            for cat in categories
        ]  # fmt: skip
        out.append(("table", (["check", *names, *diffs], rows)))
        gaps = suite["differences"].get("heldout - train", {})
        if gaps:
            said = "; ".join(f"{src} {_diff_cell(gaps[src])}" for src in names if src in gaps)
            out.append(("p", ["Held-out minus training sentence frames, cases passing: " + said + "."]))
        rows = [
            [[row["id"]], [row["prompt"]], *([_verdict(row["results"].get(src))] for src in names),
             [("img", row["strip"])]]
            for row in by_suite.get(name, [])
        ]  # fmt: skip
        out.append(("table", (["case", "prompt", *names, f"frames (rows: {', '.join(names)})"], rows)))
    return out


def _confusion_blocks(confusions: dict[str, dict], names: list[str]) -> list[Block]:
    """Per attribute, one row per claimed value: right / made for each source, and the first source's
    wrong readings."""
    shown = [s for s in names if s in confusions]
    if not shown:
        return []
    first = shown[0]
    out: list[Block] = [
        ("h2", ["Attribute readings: what the oracle saw instead"]),
        ("p", [f"Over every suite: per claimed value, checks passed / made per source, and what {first}'s "
               "failed checks read instead (count)."]),
    ]  # fmt: skip
    for attribute in ATTRIBUTES:
        values = dict.fromkeys(v for s in shown for v in confusions[s].get(attribute, {}))
        if not values:
            continue
        rows = []
        for value in values:
            cells = []
            for src in shown:
                row = confusions[src].get(attribute, {}).get(value)
                cells.append([f"{row['right']}/{row['total']}" if row else "n/a"])
            instead = confusions[first].get(attribute, {}).get(value, {}).get("instead", {})
            rows.append([[value], *cells, [", ".join(f"{k} {n}" for k, n in instead.items()) or "-"]])
        out.append(("table", ([attribute, *shown, f"{first} read instead"], rows)))
    return out


def to_markdown(report: dict) -> str:
    """The report page as Markdown."""

    def text(fragments: list[Fragment]) -> str:
        marks = {"b": "**{}**", "code": "`{}`", "img": "![]({})"}
        return "".join(f if isinstance(f, str) else marks[f[0]].format(f[1]) for f in fragments)

    lines: list[str] = []
    for kind, body in blocks(report):
        if kind in ("h1", "h2"):
            lines += ["#" * int(kind[1]) + " " + text(body), ""]
        elif kind == "p":
            lines += [text(body), ""]
        elif kind == "ul":
            lines += [*("- " + text(item) for item in body), ""]
        else:
            head, rows = body
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(text(c) for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def to_html(report: dict) -> str:
    """The report page as a self-contained HTML file (images by relative path)."""
    from html import escape

    def text(fragments: list[Fragment]) -> str:
        marks = {"b": "<b>{}</b>", "code": "<code>{}</code>", "img": '<img src="{}" alt="frames">'}
        return "".join(
            escape(f) if isinstance(f, str) else marks[f[0]].format(escape(f[1])) for f in fragments
        )

    parts = [
        "<!doctype html><meta charset=utf-8><title>Flatland benchmark</title><style>",
        "body{font:14px sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}",
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}",
        "img{image-rendering:pixelated}</style>",
    ]
    for kind, body in blocks(report):
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{text(body)}</{kind}>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{text(item)}</li>" for item in body) + "</ul>")
        else:
            head, rows = body
            parts.append("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{text(c)}</td>" for c in row) + "</tr>" for row in rows]
            parts.append("</table>")
    return "\n".join(parts) + "\n"


def _sources(per_source: dict) -> list[str]:
    return [s for s in SOURCE_ORDER if s in per_source]


def _ordered(rates: dict[str, Rate], focus: tuple[str, ...]) -> list[tuple[str, Rate]]:
    """`case` first, then the suite's focus categories, then the rest alphabetically."""
    first = list(dict.fromkeys(["case", *sorted(k for k in rates if k.startswith("case[")), *focus]))
    head = [(k, rates[k]) for k in first if k in rates]
    return head + sorted((k, r) for k, r in rates.items() if k not in first)


def _cell(rate: dict | None) -> str:
    if not rate or rate["rate"] is None:
        return "n/a"
    lo, hi = rate["ci95"]
    return f"{rate['rate']:.2f} [{lo:.2f}, {hi:.2f}] n={rate['trials']}"


def _diff_cell(diff: dict | None) -> str:
    if not diff or diff["diff"] != diff["diff"]:  # absent, or NaN (no trials on a side)
        return "n/a"
    lo, hi = diff["ci95"]
    return f"{diff['diff']:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def _verdict(result: dict | None) -> str:
    if result is None:
        return ""
    if result["pass"]:
        return "pass"
    failed = [c["name"] for c in result["checks"] if not c["pass"]]
    return "fail: " + "; ".join(failed[:3]) + (" ..." if len(failed) > 3 else "")


def _slug(case_id: str) -> str:
    return case_id.replace("/", "_")


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    """Strips uint8 [H, W_i, 3] one above the other (narrower ones padded), 2 px apart, scaled up."""
    height = max(r.shape[0] for r in rows)
    width = max(r.shape[1] for r in rows)
    gap = np.full((2, width, 3), 255, np.uint8)
    padded = []
    for r in rows:
        canvas = np.zeros((height, width, 3), np.uint8)
        canvas[: r.shape[0], : r.shape[1]] = r
        padded += [canvas, gap]
    image = np.concatenate(padded[:-1], axis=0)
    scale = max(1, -(-STRIP_HEIGHT // height))
    return image.repeat(scale, axis=0).repeat(scale, axis=1)


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        Image.fromarray(image).save(tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

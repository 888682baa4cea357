"""Fill `num_frames,height,width,fps` of a dataset file by probing its media (Open-Sora's metadata columns).

With the columns filled, buckets can be assigned without opening a single video, which matters when a
dataset has a million rows and training starts on many machines at once.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from cineflow.data.table import Row, read_table, write_table
from cineflow.data.validate import Limits, Report, validate


def prepare(
    file: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    limits: Limits | None = None,
    *,
    drop_bad: bool = False,
    workers: int = 1,
) -> Report:
    """Validate `file` and write it to `out` (default: in place) with the metadata columns filled.

    Bad rows are kept as they are (the dataset skips them again, with the same reasons) unless `drop_bad`.
    Relative paths are rewritten relative to `out`'s folder, so the output works wherever it is written.
    """
    file = Path(file)
    out = Path(out) if out is not None else file
    if not out.parent.is_dir():
        raise FileNotFoundError(f"-o: the folder {out.parent} does not exist")
    report = validate(file, limits, workers=workers)
    table = read_table(file)
    filled = {
        e.row.index: replace(e.row, num_frames=e.num_frames, height=e.height, width=e.width, fps=e.fps)
        for e in report.entries
    }
    rows: list[Row] = []
    for row in table.rows:
        if row.index in filled:
            rows.append(filled[row.index])
        elif not drop_bad:
            rows.append(row)
    root, new_root = table.root, out.resolve().parent
    if new_root != root:
        rows = [_rebase(row, root, new_root) for row in rows]
    write_table(out, rows)
    return report


def _rebase(row: Row, root: Path, new_root: Path) -> Row:
    if Path(row.path).is_absolute() or "://" in row.path:
        return row
    return replace(row, path=os.path.relpath(root / row.path, new_root))

"""Atomic file writes: a temporary file beside the target, then `os.replace`; readers never see half a file.

Not `tempfile.mkstemp`: its files are private (0600), and what we write should get the usual permissions
(umask), like any other file the user makes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def temp_path(target: Path) -> Path:
    """A fresh hidden name next to `target`, with the same suffix (writers pick the format from it)."""
    return target.parent / f".{target.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{target.suffix}"


def atomic_write_text(file: str | Path, content: str) -> None:
    """Write a UTF-8 text file atomically, creating its folder if needed."""
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(file)
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as f:
            f.write(content)
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

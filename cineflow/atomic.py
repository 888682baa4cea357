"""Atomic file writes: a temporary file beside the target, then `os.replace`; readers never see half a file.

Not `tempfile.mkstemp`: its files are private (0600), and what we write should get the usual permissions
(umask), like any other file the user makes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import torch


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


def atomic_save_safetensors(
    tensors: dict[str, torch.Tensor], file: str | Path, metadata: dict[str, str] | None = None
) -> None:
    """Write a safetensors file atomically, with the umask's permissions (safetensors' writer makes 0600)."""
    from safetensors.torch import save_file

    file = Path(file)
    tmp = temp_path(file)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (`os.umask` can only read it by
    setting it, and for that moment a file another thread creates would get the wrong permissions)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o077)  # elsewhere: set and restore, briefly private rather than briefly open
    os.umask(mask)
    return mask

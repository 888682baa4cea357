"""Atomic writes: whole files or none, with the permissions the user's umask gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from cineflow.atomic import atomic_save_safetensors, atomic_write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_safetensors_round_trip_with_metadata_and_shared_permissions(tmp_path: Path, umask_022) -> None:
    file = tmp_path / "w.safetensors"
    atomic_save_safetensors({"x": torch.arange(6.0).reshape(2, 3)}, file, {"text": "a red ball"})
    with safe_open(file, "pt") as f:
        assert f.metadata() == {"text": "a red ball"}
        assert torch.equal(f.get_tensor("x"), torch.arange(6.0).reshape(2, 3))
    assert file.stat().st_mode & 0o777 == 0o644  # not safetensors' private 0600
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    file = tmp_path / "w.safetensors"
    atomic_save_safetensors({"x": torch.zeros(2)}, file)
    with pytest.raises(RuntimeError, match="share memory"):  # safetensors refuses aliased tensors
        shared = torch.zeros(4)
        atomic_save_safetensors({"a": shared, "b": shared}, file)
    with safe_open(file, "pt") as f:
        assert list(f.keys()) == ["x"]
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_text_gets_shared_permissions(tmp_path: Path, umask_022) -> None:
    atomic_write_text(tmp_path / "a" / "b.txt", "hello")
    assert (tmp_path / "a" / "b.txt").read_text() == "hello"
    assert (tmp_path / "a" / "b.txt").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_safetensors_follow_whatever_umask_is_set(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        atomic_save_safetensors({"x": torch.zeros(2)}, tmp_path / "w.safetensors")
    finally:
        os.umask(old)
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask

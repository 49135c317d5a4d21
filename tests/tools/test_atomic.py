"""Atomic writes: readers and concurrent writers of a shared folder never see half a file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tools.atomic import atomic_path, atomic_write_bytes


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = atomic_write_bytes(tmp_path / "mask.png", b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half of the new")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["mask.png"]


def test_the_temporary_name_keeps_the_suffixes(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "labels.nii.gz") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".nii.gz") and tmp.name[0] == "."
        tmp.write_bytes(b"x")
    assert (tmp_path / "labels.nii.gz").read_bytes() == b"x"


def test_concurrent_writers_of_one_name_leave_one_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "view.png"
    bodies = [bytes([i]) * 200_000 for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: atomic_write_bytes(target, b), bodies))
    assert target.read_bytes() in bodies
    assert [p.name for p in tmp_path.iterdir()] == ["view.png"]

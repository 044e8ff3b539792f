"""Files other processes may read at any moment are replaced whole, or left as they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.files import write_atomically


def test_a_file_is_replaced_whole_and_no_partial_is_left(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text("old")
    write_atomically(path, "new")
    write_atomically(tmp_path / "bytes.npy", b"\x93NUMPY")
    assert path.read_text() == "new"
    assert (tmp_path / "bytes.npy").read_bytes() == b"\x93NUMPY"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bytes.npy", "record.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_partial(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text("old")
    (tmp_path / "record.json.d").mkdir()
    with pytest.raises(OSError):
        write_atomically(tmp_path / "record.json.d", "cannot replace a folder")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json", "record.json.d"]

"""Atomic outputs: all or nothing, and the usual file mode."""

import os

import pytest

from llmdiff.files import atomic_output


def test_output_appears_whole_with_the_umask_mode(tmp_path):
    path = tmp_path / "out.txt"
    with atomic_output(path) as file:
        file.write("done")
    assert path.read_text() == "done"
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_failed_block_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(path) as file:
            file.write("half")
            raise RuntimeError("crash")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]

"""Atomic outputs get the usual file mode (all-or-nothing is tested with the data manifests)."""

import os

from llmdiff.files import atomic_output


def test_output_appears_whole_with_the_umask_mode(tmp_path):
    path = tmp_path / "out.txt"
    with atomic_output(path) as file:
        file.write("done")
    assert path.read_text() == "done"
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


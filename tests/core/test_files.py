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


def test_a_folder_replaces_another_only_once_whole_with_the_usual_modes(tmp_path):
    import tempfile
    from pathlib import Path

    from llmdiff.files import replace_path

    output = tmp_path / "model"
    output.mkdir()
    (output / "old.txt").write_text("old")
    staging = Path(tempfile.mkdtemp(dir=tmp_path))  # private, as mkdtemp and safetensors make them
    (staging / "weights.bin").write_text("new")
    os.chmod(staging / "weights.bin", 0o600)
    replace_path(staging, output)
    mask = os.umask(0)
    os.umask(mask)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]
    assert [path.name for path in output.iterdir()] == ["weights.bin"]
    assert output.stat().st_mode & 0o777 == 0o777 & ~mask
    assert (output / "weights.bin").stat().st_mode & 0o777 == 0o666 & ~mask

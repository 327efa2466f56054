import json

import pytest

from llmdiff.data.files import atomic_output, parse_size
from llmdiff.data.manifest import ManifestWriter, read_manifest, safe_id
from llmdiff.errors import UserError


def test_records_get_absolute_image_paths_and_line_numbers(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"id": "a", "image": "img/a.png", "caption": "x", "aesthetic": 6.5}\n'
        "\n"
        '{"id": "b", "image": "/abs/b.png", "caption": "y", "width": 3, "height": 4, "sha256": "ff"}\n'
    )
    entries = list(read_manifest(manifest))
    assert [entry.line for entry in entries] == [1, 3]
    assert entries[0].record == {"id": "a", "image": str(tmp_path / "img" / "a.png"), "caption": "x",
                                 "aesthetic": 6.5, "width": None, "height": None, "sha256": None}
    assert entries[1].record["image"] == "/abs/b.png"


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "line 2: not valid JSON"),
        ('["a"]', "line 2: expected a JSON object"),
        ('{"id": "b", "image": "b.png"}', "line 2: missing field 'caption'"),
        ('{"id": "", "image": "b.png", "caption": ""}', "line 2: 'id' must be a non-empty string"),
        ('{"id": "b", "image": "b.png", "caption": "c", "width": "64"}', "line 2: 'width' must be an integer"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text('{"id": "a", "image": "a.png", "caption": "ok"}\n' + line + "\n")
    with pytest.raises(UserError) as error:
        list(read_manifest(manifest))
    assert str(manifest) in str(error.value)
    assert message in str(error.value)


def test_writer_rebases_paths_to_its_own_folder(tmp_path):
    inside = {"id": "a", "image": str(tmp_path / "out" / "img" / "a.png"), "caption": "x"}
    outside = {"id": "b", "image": str(tmp_path / "elsewhere" / "b.png"), "caption": "y"}
    (tmp_path / "out").mkdir()
    with ManifestWriter(tmp_path / "out" / "m.jsonl") as writer:
        writer.write(inside)
        writer.write(outside)
    lines = [json.loads(line) for line in (tmp_path / "out" / "m.jsonl").read_text().splitlines()]
    assert lines[0]["image"] == "img/a.png"
    assert lines[1]["image"] == str(tmp_path / "elsewhere" / "b.png")
    # Reading back resolves both to the same absolute paths.
    assert [entry.record["image"] for entry in read_manifest(tmp_path / "out" / "m.jsonl")] == [
        inside["image"], outside["image"]]


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "m.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as file:
            file.write("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["m.jsonl"]


def test_parse_size_and_safe_id():
    assert parse_size("64MB") == 64_000_000
    assert parse_size("1.5 KiB") == 1536
    assert parse_size("5000") == 5000
    with pytest.raises(UserError, match="64 parsecs"):
        parse_size("64 parsecs")
    assert safe_id("cats/001.v2") == "cats_001_v2"
    assert safe_id("...") == "sample"

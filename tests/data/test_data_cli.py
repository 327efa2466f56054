import json

from data_helpers import read_jsonl

from llmdiff.cli.main import main


def test_ingest_validate_filter_stats_shard(messy_folder, tmp_path, capsys, clip_tokenizer_dir):
    manifest, valid, curated = tmp_path / "raw.jsonl", tmp_path / "valid.jsonl", tmp_path / "curated.jsonl"
    assert main(["data", "ingest", str(messy_folder), "-o", str(manifest), "--workers", "2"]) == 0
    assert main(["data", "validate", str(manifest), "-o", str(valid)]) == 0
    assert main(["data", "filter", str(valid), "-o", str(curated), "--min-words", "3", "--min-width", "70"]) == 0
    assert main(["data", "stats", str(curated), "--clip-tokenizer", str(clip_tokenizer_dir), "--no-llm-tokens"]) == 0
    assert main(["data", "shard", str(curated), "-o", str(tmp_path / "shards"), "--shard-size", "1MB"]) == 0
    out = capsys.readouterr().out
    assert f"{valid}: kept 4 of 11, rejected 7" in out
    assert "rejected for: duplicate_caption 1, duplicate_image 1, empty_caption 1, extreme_aspect 1, " \
           "too_small 1, truncated 1, unreadable 1" in out
    assert f"{curated}: kept 3 of 4" in out
    assert [row["id"] for row in read_jsonl(curated)] == ["img1", "img2", "more_photo"]
    stats = json.loads((tmp_path / "curated.stats.json").read_text())
    assert stats["caption_words"]["count"] == 3
    assert (tmp_path / "curated.stats.png").is_file()
    index = json.loads((tmp_path / "shards" / "index.json").read_text())
    assert (index["samples"], len(index["shards"])) == (3, 1)


def test_bad_input_is_one_line_naming_file_and_line(tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "image": "a.png", "caption": "x"}\n{"id": "b"}\n')
    assert main(["data", "filter", str(manifest), "-o", str(tmp_path / "out.jsonl"), "--min-words", "1"]) == 2
    error = capsys.readouterr().err
    assert error == f"llmdiff data: error: {manifest} line 2: missing field 'image'\n"
    assert not (tmp_path / "out.jsonl").exists()


def test_bad_size_and_rule_are_user_errors(tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("")
    assert main(["data", "shard", str(manifest), "-o", str(tmp_path / "s"), "--shard-size", "lots"]) == 2
    assert main(["data", "filter", str(manifest), "-o", str(tmp_path / "f.jsonl"), "--score", "aesthetic"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[0].startswith("llmdiff data: error: size 'lots' is not understood")
    assert errors[1].startswith("llmdiff data: error: score rule 'aesthetic' is not understood")

from data_helpers import read_jsonl, write_manifest

from llmdiff.data.ingest import ingest_sources
from llmdiff.data.validate import ValidateConfig, validate_manifest


def test_every_problem_is_counted_listed_and_excluded(messy_folder, tmp_path):
    ingest_sources([messy_folder], tmp_path / "m.jsonl")
    report = validate_manifest(tmp_path / "m.jsonl", tmp_path / "ok.jsonl")
    kept = [row["id"] for row in read_jsonl(tmp_path / "ok.jsonl")]
    rejects = {row["id"]: row for row in read_jsonl(tmp_path / "ok.rejects.jsonl")}
    assert kept == ["img0", "img1", "img2", "more_photo"]
    assert {key: row["reasons"] for key, row in rejects.items()} == {
        "garbage": ["unreadable"],
        "nocaption": ["empty_caption"],
        "tiny": ["too_small"],
        "truncated": ["truncated"],
        "wide": ["extreme_aspect"],
        "x_dupcaption": ["duplicate_caption"],
        "x_dupimage": ["duplicate_image"],
    }
    assert rejects["x_dupcaption"]["detail"] == "same caption as 'img0'"
    assert rejects["x_dupimage"]["detail"] == "same image as 'img1'"
    assert rejects["wide"]["detail"] == "400x64: aspect 6.25 above 4"
    assert rejects["tiny"]["line"] == 6
    assert (report.total, report.kept, report.rejected) == (11, 4, 7)
    assert sum(report.reasons.values()) == 7


def test_thresholds_and_duplicate_captions_are_configurable(messy_folder, tmp_path):
    ingest_sources([messy_folder], tmp_path / "m.jsonl")
    config = ValidateConfig(min_side=8, max_aspect=8, duplicate_captions=False, workers=1)
    validate_manifest(tmp_path / "m.jsonl", tmp_path / "ok.jsonl", tmp_path / "why.jsonl", config)
    kept = {row["id"] for row in read_jsonl(tmp_path / "ok.jsonl")}
    assert {"tiny", "wide", "x_dupcaption"} <= kept
    assert "x_dupimage" not in kept


def test_trusting_the_manifest_needs_no_images(tmp_path):
    records = [
        {"id": "a", "image": "gone.png", "caption": "one", "width": 64, "height": 64, "sha256": "1"},
        {"id": "a", "image": "gone.png", "caption": "two", "width": 64, "height": 64, "sha256": "2"},
        {"id": "c", "image": "gone.png", "caption": "three", "width": 64, "height": 64, "sha256": "1"},
        {"id": "d", "image": "gone.png", "caption": "four", "width": None, "height": None, "sha256": None},
        {"id": "e", "image": "gone.png", "caption": "five", "width": 64, "height": 64, "sha256": "5"},
    ]
    write_manifest(tmp_path / "m.jsonl", records)
    report = validate_manifest(tmp_path / "m.jsonl", tmp_path / "ok.jsonl", config=ValidateConfig(check_images=False))
    assert [row["id"] for row in read_jsonl(tmp_path / "ok.jsonl")] == ["a", "e"]
    assert dict(report.reasons) == {"duplicate_id": 1, "duplicate_image": 1, "unreadable": 1}


def test_missing_image_file_is_a_reject_not_a_crash(tmp_path):
    write_manifest(tmp_path / "m.jsonl", [{"id": "a", "image": "nope.png", "caption": "x"}])
    report = validate_manifest(tmp_path / "m.jsonl", tmp_path / "ok.jsonl")
    assert report.kept == 0 and dict(report.reasons) == {"missing": 1}
    assert (tmp_path / "ok.jsonl").read_text() == ""

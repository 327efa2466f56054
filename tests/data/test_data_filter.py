import pytest
from data_helpers import read_jsonl, write_manifest

from llmdiff.data.filter import FilterConfig, ScoreRule, filter_manifest
from llmdiff.errors import UserError

RECORDS = [
    {"id": "short", "image": "a.png", "caption": "a red square", "width": 512, "height": 512, "aesthetic": 6.1},
    {"id": "long", "image": "b.png", "caption": "a red square " * 10, "width": 1024, "height": 768, "aesthetic": 5.0},
    {"id": "small", "image": "c.png", "caption": "one two three four", "width": 256, "height": 256, "aesthetic": 7.0},
    {"id": "wide", "image": "d.png", "caption": "one two three four five", "width": 2048, "height": 512},
    {"id": "unscored", "image": "e.png", "caption": "six words are in this caption", "width": 512, "height": 640,
     "aesthetic": "n/a"},
]


@pytest.fixture
def manifest(tmp_path):
    return write_manifest(tmp_path / "m.jsonl", RECORDS)


def kept_ids(path):
    return [row["id"] for row in read_jsonl(path)]


@pytest.mark.parametrize(
    "config, expected",
    [
        (FilterConfig(min_words=4), ["long", "small", "wide", "unscored"]),
        (FilterConfig(min_words=4, max_words=5), ["small", "wide"]),
        (FilterConfig(min_side=512), ["short", "long", "wide", "unscored"]),
        (FilterConfig(min_width=1000), ["long", "wide"]),
        (FilterConfig(max_aspect=2.0), ["short", "long", "small", "unscored"]),
        (FilterConfig(scores=["aesthetic>=6"]), ["short", "small"]),
        (FilterConfig(scores=["aesthetic>5", "aesthetic<7"]), ["short"]),
        (FilterConfig(min_side=512, max_aspect=2, scores=["aesthetic>=5"]), ["short", "long"]),
    ],
)
def test_bounds_keep_exactly_the_passing_samples(manifest, tmp_path, config, expected):
    report = filter_manifest(manifest, tmp_path / "out.jsonl", config)
    assert kept_ids(tmp_path / "out.jsonl") == expected
    assert (report.total, report.kept) == (5, len(expected))


def test_reasons_are_counted(manifest, tmp_path):
    report = filter_manifest(manifest, tmp_path / "out.jsonl", FilterConfig(min_side=512, scores=["aesthetic>=6"]))
    assert dict(report.reasons) == {"resolution": 1, "aesthetic>=6": 3}


def test_a_score_field_no_record_has_is_an_error_and_writes_nothing(manifest, tmp_path):
    with pytest.raises(UserError, match="aestetic"):
        filter_manifest(manifest, tmp_path / "out.jsonl", FilterConfig(scores=["aestetic>=5.5", "aesthetic>=6"]))
    assert not (tmp_path / "out.jsonl").exists()


def test_clip_token_bounds(manifest, tmp_path, clip_tokenizer_dir):
    # "a red square" is three whole words in the fixture's vocabulary: 3 + start + end = 5 tokens.
    config = FilterConfig(max_clip_tokens=5, clip_tokenizer=str(clip_tokenizer_dir))
    filter_manifest(manifest, tmp_path / "out.jsonl", config)
    assert kept_ids(tmp_path / "out.jsonl") == ["short"]
    config = FilterConfig(min_clip_tokens=32, max_clip_tokens=32, clip_tokenizer=str(clip_tokenizer_dir))
    filter_manifest(manifest, tmp_path / "out.jsonl", config)
    assert kept_ids(tmp_path / "out.jsonl") == ["long"]  # 30 whole words + 2


def test_bad_configs_are_user_errors():
    with pytest.raises(UserError, match="aesthetic=>6"):
        ScoreRule.parse("aesthetic=>6")
    with pytest.raises(UserError, match="min_words"):
        FilterConfig(min_words=10, max_words=2)
    with pytest.raises(UserError, match="CLIP tokenizer"):
        FilterConfig(max_clip_tokens=77)
    assert str(ScoreRule.parse(" aesthetic >= 5.5 ")) == "aesthetic>=5.5"

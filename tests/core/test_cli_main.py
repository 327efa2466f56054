import pytest

from llmdiff.cli.main import main

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_overrides_may_follow_options(tmp_path, capsys):
    manifest = tmp_path / "captions.jsonl"
    manifest.write_text('{"id": "a", "caption": "a red circle"}\n', encoding="utf-8")
    status = main(["train", str(ROOT / "configs/shapes/align.yaml"), "--dry-run", "train.max_steps=3",
                   f"data.train=[{{path: {manifest}}}]", "data.text_fields=[caption]", "data.clip_text_field=null"])
    out = capsys.readouterr().out
    assert status == 0
    assert "max_steps: 3" in out and str(manifest) in out


def test_unknown_options_are_still_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "a cat", "-o", "x.png", "--bogus"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err

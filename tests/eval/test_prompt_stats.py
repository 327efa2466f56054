import json

import pytest
from PIL import Image

from llmdiff.cli.main import main
from llmdiff.eval.prompt_stats import clip_prompt_limit, prompt_stats, save_histogram
from llmdiff.eval.prompts import PromptRecord, write_prompts


@pytest.fixture(scope="module")
def clip_tokenizer(tmp_path_factory):
    from transformers import CLIPTokenizer

    from llmdiff.testing import make_clip_tokenizer

    return CLIPTokenizer.from_pretrained(make_clip_tokenizer(tmp_path_factory.mktemp("clip"), ("a", "red", "cat")))


RECORDS = [PromptRecord("short", "a red cat", None, 0), PromptRecord("long", " ".join(["cat"] * 100), None, 1)]


def test_counts_and_share_dropped(clip_tokenizer, default_tokenizer):
    stats = prompt_stats(RECORDS, clip_tokenizer, default_tokenizer)
    assert clip_prompt_limit(clip_tokenizer) == stats.clip_limit == 75  # 77 minus start and end tokens
    short, long = stats.prompts
    assert (short.clip_tokens, long.clip_tokens) == (3, 100)
    assert (short.clip_dropped_share, long.clip_dropped_share) == (0.0, 0.25)  # (100 − 75) / 100
    assert short.llm_tokens == len(default_tokenizer("a red cat", add_special_tokens=False)["input_ids"])
    summary = stats.summary()
    assert summary["share_truncated_by_clip"] == 0.5 and summary["mean_clip_dropped_share"] == 0.125
    assert summary["clip_tokens"] == {"mean": 51.5, "median": 51.5, "min": 3, "max": 100}


def test_histogram_png(clip_tokenizer, default_tokenizer, tmp_path):
    save_histogram(prompt_stats(RECORDS, clip_tokenizer, default_tokenizer), tmp_path / "h.png")
    with Image.open(tmp_path / "h.png") as image:
        assert image.format == "PNG" and image.size == (700, 400)


def test_cli_stats(tiny_models, tmp_path, capsys):
    write_prompts(tmp_path / "prompts.jsonl", RECORDS)
    assert main(["eval", "stats", str(tmp_path), "--base", str(tiny_models["sd"])]) == 0
    assert "CLIP truncates 50.0% of prompts" in capsys.readouterr().out
    saved = json.loads((tmp_path / "stats.json").read_text())
    assert [p["clip_tokens"] for p in saved["prompts"]] == [3, 100]
    assert (tmp_path / "length_histogram.png").is_file()

from collections import Counter

import pytest
from data_helpers import write_manifest
from PIL import Image

from llmdiff.data.stats import StatsConfig, manifest_stats, plot_stats, summarise, write_stats

CAPTIONS = ["a red square", "a red square image", "", "zz " * 40]


@pytest.fixture
def manifest(tmp_path):
    records = [{"id": f"r{i}", "image": f"{i}.png", "caption": caption, "width": 64 * (i + 1), "height": 64}
               for i, caption in enumerate(CAPTIONS)]
    records.append({"id": "unknown", "image": "x.png", "caption": "a", "width": None, "height": None})
    return write_manifest(tmp_path / "m.jsonl", records)


def test_summarise_percentiles():
    assert summarise(Counter({1: 50, 2: 40, 10: 10})) == {
        "count": 100, "mean": 2.3, "min": 1, "max": 10, "p50": 1, "p90": 2, "p99": 10}
    assert summarise(Counter()) == {"count": 0}


def test_counts_words_clip_and_llm_tokens(manifest, tmp_path, clip_tokenizer_dir, default_tokenizer):
    stats = manifest_stats(manifest, StatsConfig(clip_tokenizer=str(clip_tokenizer_dir)))
    assert stats.words == Counter({3: 1, 4: 1, 0: 1, 40: 1, 1: 1})
    # Whole-word tokens for a/red/square/image; "zz" is two byte tokens: z + z</w>. Plus start and end.
    assert stats.clip_tokens == Counter({5: 1, 6: 1, 2: 1, 82: 1, 3: 1})
    expected_llm = Counter(len(default_tokenizer(c, add_special_tokens=False)["input_ids"]) for c in CAPTIONS + ["a"])
    assert stats.llm_tokens == expected_llm
    assert stats.sizes == Counter({(64, 64): 1, (128, 64): 1, (192, 64): 1, (256, 64): 1, (0, 0): 1})

    summary = write_stats(stats, tmp_path / "s.json")
    assert summary["samples"] == 5
    assert summary["caption_clip_tokens"]["over_77"] == 1
    assert summary["caption_clip_tokens"]["fraction_over_77"] == 0.2
    assert summary["image_sizes"]["unknown"] == 1
    assert summary["image_sizes"]["long_side"]["max"] == 256


def test_figure_is_a_png(manifest, tmp_path):
    stats = manifest_stats(manifest, StatsConfig(count_llm_tokens=False))
    plot_stats(stats, tmp_path / "fig.png")
    with Image.open(tmp_path / "fig.png") as image:
        assert image.format == "PNG"
        assert image.size == (1320, 504)  # 11 x 4.2 inches at 120 dpi

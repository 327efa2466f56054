"""Measuring a manifest: caption lengths (words, CLIP tokens, LLM tokens) and image sizes.

Lengths are kept as histograms (length → count), so memory depends on the longest caption, not on the
number of samples. The figure shows the caption length distributions with CLIP's 77-token limit drawn, as
in the ParaImage paper's plot, beside the distribution of image sizes.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from llmdiff.data.files import atomic_output, batched
from llmdiff.data.manifest import iter_records
from llmdiff.data.tokens import CLIP_MAX_TOKENS, clip_counter, llm_counter, word_count


@dataclass
class StatsConfig:
    clip_tokenizer: str | None = None
    """CLIP tokenizer directory; without one, CLIP token counts are left out."""
    llm: str | None = None
    """LLM whose tokenizer counts LLM tokens (None: the default LLM)."""
    count_llm_tokens: bool = True
    batch_size: int = 512


def summarise(histogram: Counter) -> dict:
    """Count, mean, min, max and percentiles of a length → count histogram."""
    total = sum(histogram.values())
    if total == 0:
        return {"count": 0}
    lengths = sorted(histogram)
    summary = {
        "count": total,
        "mean": round(sum(length * count for length, count in histogram.items()) / total, 3),
        "min": lengths[0],
        "max": lengths[-1],
    }
    targets = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
    seen = 0
    for length in lengths:
        seen += histogram[length]
        for name, fraction in list(targets.items()):
            if seen >= fraction * total:
                summary[name] = length
                del targets[name]
    return summary


@dataclass
class ManifestStats:
    words: Counter = field(default_factory=Counter)
    clip_tokens: Counter = field(default_factory=Counter)
    llm_tokens: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)
    """(width, height) → count; images of unknown size are counted under (0, 0)."""

    def to_dict(self) -> dict:
        result = {"samples": sum(self.words.values()), "caption_words": summarise(self.words)}
        if self.clip_tokens:
            clip = summarise(self.clip_tokens)
            over = sum(count for length, count in self.clip_tokens.items() if length > CLIP_MAX_TOKENS)
            clip["over_77"] = over
            clip["fraction_over_77"] = round(over / clip["count"], 6)
            result["caption_clip_tokens"] = clip
        if self.llm_tokens:
            result["caption_llm_tokens"] = summarise(self.llm_tokens)
        known = Counter({size: count for size, count in self.sizes.items() if size != (0, 0)})
        result["image_sizes"] = {
            "unknown": self.sizes.get((0, 0), 0),
            "short_side": summarise(_by(known, min)),
            "long_side": summarise(_by(known, max)),
            "most_common": [{"width": w, "height": h, "count": c} for (w, h), c in known.most_common(10)],
        }
        return result


def _by(sizes: Counter, side) -> Counter:
    result = Counter()
    for size, count in sizes.items():
        result[side(size)] += count
    return result


def manifest_stats(manifest: str | os.PathLike, config: StatsConfig | None = None) -> ManifestStats:
    config = config or StatsConfig()
    clip = clip_counter(config.clip_tokenizer) if config.clip_tokenizer else None
    llm = llm_counter(config.llm) if config.count_llm_tokens else None
    stats = ManifestStats()
    for batch in batched(iter_records(manifest), config.batch_size):
        captions = [record["caption"] for record in batch]
        stats.words.update(word_count(caption) for caption in captions)
        if clip:
            stats.clip_tokens.update(clip.count(captions))
        if llm:
            stats.llm_tokens.update(llm.count(captions))
        stats.sizes.update((record.get("width") or 0, record.get("height") or 0) for record in batch)
    return stats


def _plot_lengths(axes, stats: ManifestStats) -> None:
    import numpy as np

    series = [("words", stats.words), ("CLIP tokens", stats.clip_tokens), ("LLM tokens", stats.llm_tokens)]
    series = [(label, histogram) for label, histogram in series if histogram]
    if not series:
        return
    longest = max(max(histogram) for _, histogram in series)
    bins = np.linspace(0, max(longest, CLIP_MAX_TOKENS) + 1, 61)
    for label, histogram in series:
        axes.hist(list(histogram), bins=bins, weights=list(histogram.values()), histtype="step",
                  linewidth=1.5, label=label)
    axes.axvline(CLIP_MAX_TOKENS, color="black", linestyle="--", linewidth=1)
    label = f"CLIP limit ({CLIP_MAX_TOKENS})"
    if stats.clip_tokens:
        over = sum(count for length, count in stats.clip_tokens.items() if length > CLIP_MAX_TOKENS)
        label += f": {over / sum(stats.clip_tokens.values()):.0%} of captions longer"
    axes.annotate(label, (CLIP_MAX_TOKENS, 1), xycoords=("data", "axes fraction"),
                  xytext=(4, -14), textcoords="offset points", fontsize=8)
    axes.set_xlabel("caption length")
    axes.set_ylabel("captions")
    axes.set_title("Caption length distribution")
    axes.legend()


def _plot_sizes(axes, stats: ManifestStats) -> None:
    known = {size: count for size, count in stats.sizes.items() if size != (0, 0)}
    if known:
        widths, heights = zip(*known)
        counts = list(known.values())
        largest = max(counts)
        axes.scatter(widths, heights, s=[10 + 190 * count / largest for count in counts], alpha=0.6)
    axes.set_xlabel("width (px)")
    axes.set_ylabel("height (px)")
    axes.set_title("Image sizes (area ∝ count)")


def plot_stats(stats: ManifestStats, path: str | os.PathLike) -> None:
    """Save the length and size figure as a PNG (atomically). No pyplot: no global figure state."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    lengths, sizes = figure.subplots(1, 2, width_ratios=(3, 2))
    _plot_lengths(lengths, stats)
    _plot_sizes(sizes, stats)
    with atomic_output(Path(path), "wb") as file:
        figure.savefig(file, format="png", dpi=120)


def write_stats(stats: ManifestStats, json_path: str | os.PathLike) -> dict:
    result = stats.to_dict()
    with atomic_output(Path(json_path)) as file:
        json.dump(result, file, indent=2)
        file.write("\n")
    return result

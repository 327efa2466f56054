"""How long the prompts are for each encoder, and how much of each the baseline's CLIP never reads.

CLIP keeps `model_max_length` tokens (77) including its start and end tokens, so 75 of the prompt's own;
the rest is silently cut. The share dropped is counted in CLIP tokens.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from llmdiff.eval.prompts import PromptRecord


@dataclass
class PromptLength:
    id: str
    clip_tokens: int
    """CLIP tokens of the prompt itself, before truncation, special tokens excluded"""
    llm_tokens: int
    """LLM tokens of the prompt, special tokens excluded"""
    clip_dropped_share: float
    """fraction of the CLIP tokens beyond the limit"""


@dataclass
class PromptStats:
    clip_limit: int
    """prompt tokens CLIP keeps (model_max_length minus start and end tokens)"""
    prompts: list[PromptLength]

    def summary(self) -> dict:
        clip = [p.clip_tokens for p in self.prompts]
        llm = [p.llm_tokens for p in self.prompts]
        dropped = [p.clip_dropped_share for p in self.prompts]
        return {
            "count": len(self.prompts),
            "clip_limit": self.clip_limit,
            "clip_tokens": _describe(clip),
            "llm_tokens": _describe(llm),
            "share_truncated_by_clip": sum(d > 0 for d in dropped) / len(dropped),
            "mean_clip_dropped_share": statistics.fmean(dropped),
        }

    def to_json(self) -> dict:
        return {"summary": self.summary(), "prompts": [asdict(p) for p in self.prompts]}


def _describe(values: list[int]) -> dict:
    return {"mean": statistics.fmean(values), "median": statistics.median(values), "min": min(values),
            "max": max(values)}


def count_tokens(tokenizer, prompts: list[str]) -> list[int]:
    # No truncation: we want the full length, the part CLIP would drop included.
    ids = tokenizer(prompts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    return [len(row) for row in ids]


def clip_prompt_limit(clip_tokenizer) -> int:
    specials = len(clip_tokenizer("", add_special_tokens=True)["input_ids"])
    return clip_tokenizer.model_max_length - specials


def prompt_stats(records: list[PromptRecord], clip_tokenizer, llm_tokenizer) -> PromptStats:
    texts = [r.prompt for r in records]
    limit = clip_prompt_limit(clip_tokenizer)
    clip_counts = count_tokens(clip_tokenizer, texts)
    llm_counts = count_tokens(llm_tokenizer, texts)
    lengths = [
        PromptLength(r.id, c, n, max(c - limit, 0) / c if c else 0.0)
        for r, c, n in zip(records, clip_counts, llm_counts)
    ]
    return PromptStats(limit, lengths)


def save_histogram(stats: PromptStats, path: Path) -> None:
    """Length histogram of both tokenizers with CLIP's limit marked."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    from matplotlib import pyplot as plt

    clip = [p.clip_tokens for p in stats.prompts]
    llm = [p.llm_tokens for p in stats.prompts]
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    top = max(clip + llm + [stats.clip_limit])
    bins = min(40, max(5, top // 5))
    axes.hist([clip, llm], bins=bins, range=(0, top), label=["CLIP tokens", "LLM tokens"], alpha=0.8)
    axes.axvline(stats.clip_limit, color="black", linestyle="--", label=f"CLIP keeps {stats.clip_limit}")
    axes.set_xlabel("tokens per prompt")
    axes.set_ylabel("prompts")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)

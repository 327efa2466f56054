"""Caption-length statistics: token counts of short vs paragraph captions, and the 77-token figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmdiff.worlds.shapes.oracle import CLIP_WINDOW

MAX_COUNTED = 2048  # longer captions land in the last bin; fixed size keeps memory flat
CLIP_CONTEXT = 77


STYLE_COLOURS = {"short": "tab:orange", "canonical": "tab:green", "paragraph": "tab:blue", "freeform": "tab:purple"}


class LengthHistograms:
    """Per (language, style, tokenizer), how many captions had each token count; and, per language, how
    many paragraphs describe an object only after the 77-token window."""

    def __init__(self):
        self.counts: dict[tuple[str, str, str], np.ndarray] = {}
        self.after_window: dict[str, list[int]] = {}  # language -> [paragraphs with a late object, paragraphs]

    def add(self, record: dict) -> None:
        for language, styles in record["captions"].items():
            for style, entry in styles.items():
                for tokenizer in ("clip", "llm"):
                    key = (language, style, tokenizer)
                    if key not in self.counts:
                        self.counts[key] = np.zeros(MAX_COUNTED + 1, dtype=np.int64)
                    self.counts[key][min(entry[f"{tokenizer}_tokens"], MAX_COUNTED)] += 1
                if "mentions" in entry:
                    late = any(m["clip_token"] >= CLIP_WINDOW for m in entry["mentions"])
                    tally = self.after_window.setdefault(language, [0, 0])
                    tally[0] += late
                    tally[1] += 1

    def summary(self) -> dict:
        out = {}
        for (language, style, tokenizer), hist in sorted(self.counts.items()):
            total = int(hist.sum())
            lengths = np.repeat(np.arange(len(hist)), hist)
            out.setdefault(language, {}).setdefault(style, {})[f"{tokenizer}_tokens"] = {
                "mean": round(float(lengths.mean()), 2), "min": int(lengths.min()), "max": int(lengths.max()),
                "p50": int(np.percentile(lengths, 50)), "p95": int(np.percentile(lengths, 95)),
                "over_77": round(float(hist[CLIP_CONTEXT + 1:].sum() / total), 4),
            }
        for language, (late, total) in self.after_window.items():
            out[language]["paragraphs_with_object_after_window"] = round(late / total, 4)
        return out

    def languages(self) -> list[str]:
        return sorted({language for language, _, _ in self.counts})

    def plot(self, path: str | Path, language: str = "en") -> Path | None:
        """The ParaImage-style length figure for one language, one bar series per caption style in the
        dataset (short, paragraph, canonical, freeform); None if the language has no captions."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [("clip", "base CLIP tokenizer"), ("llm", "LLM tokenizer")]
        styles = [style for style in STYLE_COLOURS if (language, style, "llm") in self.counts]
        styles += sorted({s for lang, s, _ in self.counts if lang == language} - set(styles))
        if not styles:
            return None
        figure, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
        for axis, (tokenizer, title) in zip(axes, panels):
            for style in styles:
                colour = STYLE_COLOURS.get(style, "tab:gray")
                hist = self.counts.get((language, style, tokenizer))
                if hist is None:
                    continue
                used = np.nonzero(hist)[0]
                axis.bar(np.arange(used.max() + 1), hist[: used.max() + 1] / hist.sum(), width=1.0,
                         color=colour, alpha=0.7, label=style)
            axis.axvline(CLIP_CONTEXT, color="black", linestyle="--", linewidth=1, label="77 tokens")
            axis.set_title(title)
            axis.set_xlabel("tokens per caption")
            axis.legend()
        axes[0].set_ylabel("fraction of captions")
        figure.suptitle(f"Caption lengths ({language})")
        figure.tight_layout()
        path = Path(path)
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return path


def histograms_from_jsonl(path: str | Path) -> LengthHistograms:
    """Rebuild the histograms from a dataset's records.jsonl, one line at a time."""
    histograms = LengthHistograms()
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            histograms.add(json.loads(line))
    return histograms

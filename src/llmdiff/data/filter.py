"""Building a curated subset: keep the samples whose caption length, size, shape and scores pass.

Every bound is optional; a sample is kept only if it passes all that are set. Score rules compare a
pass-through column (`aesthetic>=5.5`); a sample without that column, or with a non-number in it, fails.
"""

from __future__ import annotations

import math
import operator
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from llmdiff.data.files import batched
from llmdiff.data.manifest import ManifestWriter, iter_records
from llmdiff.data.tokens import TokenCounter, clip_counter, llm_counter, word_count
from llmdiff.errors import UserError

_OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class ScoreRule:
    column: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> "ScoreRule":
        """'aesthetic>=5.5' → ScoreRule('aesthetic', '>=', 5.5)."""
        match = re.fullmatch(r"\s*([A-Za-z_][\w.-]*)\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.eE+-]+)\s*", text)
        try:
            value = float(match.group(3)) if match else None
        except ValueError:
            value = None
        if value is None:
            raise UserError(f"score rule '{text}' is not understood; write e.g. aesthetic>=5.5")
        return cls(match.group(1), match.group(2), value)

    def passes(self, record: dict) -> bool:
        value = record.get(self.column)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        return _OPERATORS[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value:g}"


@dataclass
class FilterConfig:
    min_words: int | None = None
    max_words: int | None = None
    min_clip_tokens: int | None = None
    max_clip_tokens: int | None = None
    clip_tokenizer: str | None = None
    """CLIP tokenizer directory; needed by the CLIP token bounds."""
    min_llm_tokens: int | None = None
    max_llm_tokens: int | None = None
    llm: str | None = None
    """LLM whose tokenizer counts for the LLM token bounds (None: the default LLM)."""
    min_width: int | None = None
    min_height: int | None = None
    min_side: int | None = None
    """Minimum of the shorter side, in pixels."""
    max_aspect: float | None = None
    """Maximum long side / short side."""
    scores: list[ScoreRule] = field(default_factory=list)

    def __post_init__(self):
        self.scores = [ScoreRule.parse(rule) if isinstance(rule, str) else rule for rule in self.scores]
        for low, high in [("min_words", "max_words"), ("min_clip_tokens", "max_clip_tokens"),
                          ("min_llm_tokens", "max_llm_tokens")]:
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise UserError(f"{low} ({lo}) is above {high} ({hi}): nothing could pass")
        if (self.min_clip_tokens is not None or self.max_clip_tokens is not None) and not self.clip_tokenizer:
            raise UserError("CLIP token bounds need a CLIP tokenizer directory (--clip-tokenizer)")

    @property
    def needs_clip(self) -> bool:
        return self.min_clip_tokens is not None or self.max_clip_tokens is not None

    @property
    def needs_llm(self) -> bool:
        return self.min_llm_tokens is not None or self.max_llm_tokens is not None


@dataclass
class FilterReport:
    total: int = 0
    kept: int = 0
    reasons: Counter = field(default_factory=Counter)


def _outside(value: float | None, low, high) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)


def failed_checks(record: dict, config: FilterConfig, clip_tokens: int | None, llm_tokens: int | None) -> list[str]:
    """Names of the bounds a record fails, e.g. ['words', 'aesthetic>=5.5']."""
    failed = []
    if _outside(word_count(record["caption"]), config.min_words, config.max_words):
        failed.append("words")
    if clip_tokens is not None and _outside(clip_tokens, config.min_clip_tokens, config.max_clip_tokens):
        failed.append("clip_tokens")
    if llm_tokens is not None and _outside(llm_tokens, config.min_llm_tokens, config.max_llm_tokens):
        failed.append("llm_tokens")
    width, height = record.get("width"), record.get("height")
    size_bounds = (config.min_width, config.min_height, config.min_side, config.max_aspect)
    if any(bound is not None for bound in size_bounds):
        if width is None or height is None:
            failed.append("size_unknown")
        else:
            if _outside(width, config.min_width, None) or _outside(height, config.min_height, None):
                failed.append("resolution")
            if _outside(min(width, height), config.min_side, None):
                failed.append("resolution")
            if config.max_aspect is not None and min(width, height) > 0:
                if max(width, height) / min(width, height) > config.max_aspect:
                    failed.append("aspect")
    failed += [str(rule) for rule in config.scores if not rule.passes(record)]
    return list(dict.fromkeys(failed))


def filter_manifest(
    manifest: str | os.PathLike,
    output: str | os.PathLike,
    config: FilterConfig,
    batch_size: int = 512,
) -> FilterReport:
    """Stream `manifest` and write the records passing every bound of `config` to `output`."""
    clip: TokenCounter | None = clip_counter(config.clip_tokenizer) if config.needs_clip else None
    llm: TokenCounter | None = llm_counter(config.llm) if config.needs_llm else None
    report = FilterReport()
    unseen_scores = {rule.column for rule in config.scores}
    with ManifestWriter(Path(output)) as writer:
        for batch in batched(iter_records(manifest), batch_size):
            captions = [record["caption"] for record in batch]
            clip_counts = clip.count(captions) if clip else [None] * len(batch)
            llm_counts = llm.count(captions) if llm else [None] * len(batch)
            for record, clip_tokens, llm_tokens in zip(batch, clip_counts, llm_counts):
                report.total += 1
                unseen_scores.difference_update(record.keys())
                failed = failed_checks(record, config, clip_tokens, llm_tokens)
                if failed:
                    report.reasons.update(failed)
                else:
                    writer.write(record)
                    report.kept += 1
        if unseen_scores and report.total:
            # Raised inside the writer's block, so no output file is left: a typo or an unscored manifest
            # would otherwise "keep 0" and look like a strict filter.
            missing = ", ".join(sorted(unseen_scores))
            raise UserError(
                f"no record of {manifest} has the field(s) {missing} that the score rules read; check the "
                "name, or add the scores to the records first"
            )
    return report

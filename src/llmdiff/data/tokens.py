"""Counting caption tokens the way the text encoders will see them.

CLIP counts include its start and end tokens, because its 77-token limit does too. LLM counts are the
caption alone, without special tokens: the prompt template the text encoder wraps it in adds a fixed
amount whatever the caption.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from llmdiff.errors import UserError

CLIP_MAX_TOKENS = 77


@dataclass
class TokenCounter:
    tokenizer: object
    add_special_tokens: bool
    name: str

    def count(self, captions: list[str]) -> list[int]:
        encoded = self.tokenizer(captions, add_special_tokens=self.add_special_tokens, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]


def _uncapped(tokenizer):
    # We only count; without this the tokenizer warns about every caption longer than its model limit.
    tokenizer.model_max_length = 10**9
    return tokenizer


def clip_counter(path: str | os.PathLike) -> TokenCounter:
    """A CLIP tokenizer from a local directory (vocab.json + merges.txt, or a saved tokenizer)."""
    from transformers import AutoTokenizer, CLIPTokenizer

    from llmdiff.loading import check_source, user_errors

    path = str(path)
    check_source("CLIP tokenizer", path)
    with user_errors("CLIP tokenizer", path):
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError, KeyError):
            tokenizer = CLIPTokenizer.from_pretrained(path)
    return TokenCounter(_uncapped(tokenizer), add_special_tokens=True, name="clip")


def llm_counter(spec: str | os.PathLike | None = None) -> TokenCounter:
    """The tokenizer of an LLM spec: directory, hub id, .gguf file, or None for the default LLM."""
    from llmdiff.loading import load_llm_tokenizer

    tokenizer = load_llm_tokenizer(spec)
    if tokenizer is None:
        raise UserError(f"LLM '{spec}' has no tokenizer")
    return TokenCounter(_uncapped(tokenizer), add_special_tokens=False, name="llm")


def word_count(caption: str) -> int:
    return len(caption.split())

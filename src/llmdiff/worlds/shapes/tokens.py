"""Token counts and the token positions at which objects are first fully described."""

from __future__ import annotations

from collections.abc import Sequence


def mention_positions(tokenizer, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]] | None]):
    """Token counts of `texts` and, per text with spans, the index of the token that ends each span.

    Indices count the tokenizer's special tokens (CLIP's `<|startoftext|>` is index 0), and counts include
    them, so both compare directly with a 77-token window. One batched call of a fast tokenizer.
    """
    # The backend's batch calls: fast, and free of the "longer than 77" warning, which is the point here.
    backend = tokenizer.backend_tokenizer
    counts: list[int] = [0] * len(texts)
    positions: list[list[int] | None] = [None] * len(texts)
    plain = [i for i, s in enumerate(spans) if s is None]
    located = [i for i, s in enumerate(spans) if s is not None]
    if plain:  # counts only: the offset-free call is faster
        for i, encoding in zip(plain, backend.encode_batch_fast([texts[i] for i in plain], add_special_tokens=True)):
            counts[i] = len(encoding.ids)
    if located:
        for i, encoding in zip(located, backend.encode_batch([texts[i] for i in located], add_special_tokens=True)):
            counts[i] = len(encoding.ids)
            # Start of each token, with special tokens (empty offsets) at -1 so they never match a char.
            starts = [start if end > start else -1 for start, end in encoding.offsets]
            positions[i] = [_token_at(starts, end - 1) for _, end in spans[i]]
    return counts, positions


def _token_at(starts: list[int], char: int) -> int:
    """Index of the last token that starts at or before `char`."""
    from bisect import bisect_right

    # Starts rise through the text; special tokens (-1) sit only at the ends, so drop a trailing one.
    end = len(starts)
    while end and starts[end - 1] == -1:
        end -= 1
    return max(bisect_right(starts, char, 0, end) - 1, 0)

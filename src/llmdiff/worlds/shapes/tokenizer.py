"""The world's base tokenizer: a small CLIP-format BPE, standing in for the CLIP tokenizer of a base model.

No CLIP tokenizer can be downloaded here, so one is trained on the world's own English captions, in CLIP's
exact format (lower-casing, CLIP's pre-tokenising regex, byte-level alphabet, `</w>` end-of-word suffix,
`<|startoftext|>`/`<|endoftext|>`, 77 tokens), and shipped as package data. `transformers.CLIPTokenizer`
loads it like any CLIP tokenizer; `llmdiff shapes tokenizer` (or `train_clip_tokenizer()`) regenerates it,
byte for byte, and must be run whenever the English captions change (a test checks that it was).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

TOKENIZER_DIR = Path(__file__).parent / "clip_tokenizer"
MAX_LENGTH = 77
VOCAB_SIZE = 4096
"""Upper bound; the world's English has fewer distinct words, so training stops earlier."""
CORPUS_SEEDS = 3000
SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")
# CLIP's pre-tokenising pattern (openai/CLIP simple_tokenizer.py), as transformers' converter writes it.
CLIP_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


@lru_cache(maxsize=1)
def clip_tokenizer():
    """The shipped base tokenizer, as a `transformers.CLIPTokenizer` (max length 77)."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR))


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) byte-to-character table: printable bytes map to themselves, the rest to
    unused code points from 256 on, so that any byte string is a string of visible characters."""
    visible = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    characters = visible[:]
    extra = 0
    for byte in range(256):
        if byte not in visible:
            visible.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(visible, map(chr, characters)))


def training_corpus(seeds: int = CORPUS_SEEDS):
    """English short and paragraph captions of scenes from grids of every supported size."""
    from llmdiff.worlds.shapes.captions import caption
    from llmdiff.worlds.shapes.config import WorldConfig
    from llmdiff.worlds.shapes.scene import sample_scene

    configs = [WorldConfig(grid=g, max_objects=min(5, g * g), resolution=16 * g, backgrounds=("white", "gray", "black"))
               for g in (1, 2, 3, 4)]
    for seed in range(seeds):
        config = configs[seed % len(configs)]
        scene = sample_scene(seed, config)
        for style in ("short", "paragraph"):
            # The vocabulary predates places in short captions; leaving them out keeps it byte-identical.
            yield caption(scene, style, "en", seed, short_places=False)


def train_clip_tokenizer(out_dir: str | Path = TOKENIZER_DIR, seeds: int = CORPUS_SEEDS) -> Path:
    """Train the base tokenizer on `seeds` scenes' English captions and write it to `out_dir`."""
    from tokenizers import (
        Regex,
        Tokenizer,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )

    tokenizer = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
    )
    tokenizer.train_from_iterator(training_corpus(seeds), trainer=trainer)
    merges = [tuple(pair) for pair in json.loads(tokenizer.to_str())["model"]["merges"]]

    # CLIP's vocabulary layout: the 256 byte characters, the same with `</w>`, one token per merge, then
    # the two special tokens. Every byte is thus representable, in and at the end of a word.
    alphabet = list(bytes_to_unicode().values())
    tokens = alphabet + [c + "</w>" for c in alphabet]
    seen = set(tokens)
    for left, right in merges:
        if left + right not in seen:
            seen.add(left + right)
            tokens.append(left + right)
    tokens += list(SPECIAL_TOKENS)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_LENGTH,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "do_lower_case": True,
        "errors": "replace",
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    special = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")
    clip_tokenizer.cache_clear()
    return out

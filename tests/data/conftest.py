"""Fixtures for the data tooling tests: small image folders made on the spot, a tiny CLIP tokenizer."""

from pathlib import Path

import pytest
from data_helpers import COLOURS, save_image


@pytest.fixture
def good_folder(tmp_path) -> Path:
    """Four valid, distinct images with distinct captions, one in a subfolder."""
    root = tmp_path / "images"
    for index, colour in enumerate(COLOURS[:3]):
        save_image(root / f"img{index}.png", (64 + index * 8, 64), colour)
        (root / f"img{index}.txt").write_text(f"a {colour} square\n", encoding="utf-8")
    save_image(root / "more" / "photo.jpg", (96, 64), "blue")
    (root / "more" / "photo.txt").write_text("a blue photo", encoding="utf-8")
    return root


@pytest.fixture
def messy_folder(good_folder) -> Path:
    """`good_folder` plus one sample for every validate reason, named after it."""
    root = good_folder
    save_image(root / "tiny.png", (16, 16), "red")
    (root / "tiny.txt").write_text("a tiny image", encoding="utf-8")
    save_image(root / "wide.png", (400, 64), "green")
    (root / "wide.txt").write_text("a very wide image", encoding="utf-8")
    save_image(root / "nocaption.png", (64, 64), "purple")  # no sidecar: empty caption
    # Duplicates sort after the originals, which are the ones kept.
    save_image(root / "x_dupcaption.png", (64, 64), "orange")
    (root / "x_dupcaption.txt").write_text("A  Red square", encoding="utf-8")  # same as img0 modulo case/spaces
    (root / "x_dupimage.png").write_bytes((root / "img1.png").read_bytes())
    (root / "x_dupimage.txt").write_text("the same pixels again", encoding="utf-8")
    (root / "garbage.png").write_bytes(b"this is not an image")
    (root / "garbage.txt").write_text("garbage", encoding="utf-8")
    jpeg = (root / "more" / "photo.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "truncated.txt").write_text("cut short", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def clip_tokenizer_dir(tmp_path_factory) -> Path:
    """A CLIP tokenizer: byte alphabet, `</w>` variants, start/end tokens, and a few whole words."""
    from llmdiff.testing import make_clip_tokenizer

    return make_clip_tokenizer(tmp_path_factory.mktemp("clip"), words=("a", "red", "square", "image"))


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory) -> Path:
    from tiny_vlm import make_tiny_llava

    return make_tiny_llava(tmp_path_factory.mktemp("llava"))

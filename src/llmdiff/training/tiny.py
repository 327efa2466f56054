"""`python -m llmdiff.training.tiny DIR`: tiny random models and an 8-image dataset for the tiny configs.

Writes DIR/sd (SD1.5-shaped pipeline), DIR/sdxl, DIR/llama (tiny Llama with the default LLM's tokenizer)
and DIR/data/captions.jsonl (coloured shapes, an English caption and a translation each), which
configs/train/*.yaml read. Seconds on a CPU; nothing is downloaded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CAPTIONS = [
    ("a red circle", "ein roter Kreis"),
    ("a blue square", "un carré bleu"),
    ("a red square", "un cuadrado rojo"),
    ("a blue circle", "un cerchio blu"),
    ("a red cat", "一只红猫"),
    ("a blue dog", "ein blauer Hund"),
    ("a red dog", "un chien rouge"),
    ("a blue cat", "un gato azul"),
]


def write_tiny_dataset(root: str | Path, corrupt: int = 0, size: int = 24) -> Path:
    """8 records (id, image, caption, translation); the first `corrupt` images are unreadable bytes."""
    from PIL import Image, ImageDraw

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (english, other) in enumerate(CAPTIONS):
        path = root / f"{index}.png"
        if index < corrupt:
            path.write_bytes(b"not a png at all")
        else:
            image = Image.new("RGB", (size, size), "white")
            draw = ImageDraw.Draw(image)
            shape = draw.ellipse if "circle" in english or index % 2 else draw.rectangle
            shape((4, 4, size - 4, size - 4), fill="red" if "red" in english else "blue")
            image.save(path)
        rows.append({"id": f"s{index}", "image": path.name, "caption": english, "translation": other})
    manifest = root / "captions.jsonl"
    manifest.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return manifest


def make_tiny_setup(root: str | Path) -> dict[str, Path]:
    from llmdiff.loading import load_llm_tokenizer
    from llmdiff.testing import make_tiny_base, make_tiny_llm

    root = Path(root)
    return {
        "sd": make_tiny_base(root / "sd", "sd"),
        "sdxl": make_tiny_base(root / "sdxl", "sdxl"),
        "llm": make_tiny_llm(root / "llama", "llama", tokenizer=load_llm_tokenizer(None)),
        "data": write_tiny_dataset(root / "data"),
    }


if __name__ == "__main__":
    for name, path in make_tiny_setup(sys.argv[1] if len(sys.argv) > 1 else "outputs/tiny").items():
        print(f"{name}: {path}")

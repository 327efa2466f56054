"""`python -m llmdiff.training.tiny DIR`: tiny random models and an 8-image dataset for the tiny configs.

Writes DIR/sd (SD1.5-shaped pipeline), DIR/sdxl, DIR/sd_llm_width and DIR/sdxl_narrow (see
`make_tiny_setup`), DIR/llama (tiny Llama with the default LLM's tokenizer) and DIR/data/captions.jsonl (coloured shapes, an English caption and a translation each), which
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


def rewidened_base(source: Path, target: Path, cond_dim: int, clip_widths: tuple[int, ...] = (), seed: int = 0) -> Path:
    """A copy of the tiny pipeline `source` whose UNet reads conditioning `cond_dim` wide (fresh weights):
    an LLM-wide UNet for an identity connector (ParaDiffusion-style), or, with `clip_widths`, an SDXL-shaped
    base with narrow CLIP encoders (their widths summing to `cond_dim`, the last one's projection pooled),
    so that a connector as wide as its conditioning (OmniDiffusion-style) stays small."""
    import shutil

    import torch
    import transformers
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig

    shutil.copytree(source, target, dirs_exist_ok=True)
    unet_config = dict(UNet2DConditionModel.load_config(source / "unet"))
    unet_config["cross_attention_dim"] = cond_dim
    if clip_widths:
        unet_config["projection_class_embeddings_input_dim"] = unet_config["addition_time_embed_dim"] * 6 + clip_widths[-1]
        torch.manual_seed(seed)
        for name, width in zip(("text_encoder", "text_encoder_2"), clip_widths):
            folder = target / name
            clip_config = CLIPTextConfig.from_pretrained(folder)
            model_class = getattr(transformers, clip_config.architectures[0])  # as saved: CLIPTextModel(WithProjection)
            clip_config.update({"hidden_size": width, "projection_dim": width})
            for file in folder.iterdir():
                file.unlink()
            model_class(clip_config).save_pretrained(folder, safe_serialization=True)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config({key: value for key, value in unet_config.items() if not key.startswith("_")})
    shutil.rmtree(target / "unet")
    unet.save_pretrained(target / "unet", safe_serialization=True)
    return target


LLM_WIDTH = 64
"""The tiny Llama's width (`llmdiff.testing.make_tiny_llm`)."""


def make_tiny_setup(root: str | Path) -> dict[str, Path]:
    """The tiny bases, LLM and dataset: sd, sdxl; sd_llm_width (a UNet reading the LLM's states as they
    are); sdxl_narrow (SDXL-shaped, 32 + 32 wide CLIPs, pooled 32)."""
    from llmdiff.loading import load_llm_tokenizer
    from llmdiff.testing import make_tiny_base, make_tiny_llm

    root = Path(root)
    setup = {
        "sd": make_tiny_base(root / "sd", "sd"),
        "sdxl": make_tiny_base(root / "sdxl", "sdxl"),
        "llm": make_tiny_llm(root / "llama", "llama", tokenizer=load_llm_tokenizer(None)),
        "data": write_tiny_dataset(root / "data"),
    }
    setup["sd_llm_width"] = rewidened_base(setup["sd"], root / "sd_llm_width", LLM_WIDTH)
    setup["sdxl_narrow"] = rewidened_base(setup["sdxl"], root / "sdxl_narrow", 64, clip_widths=(32, 32))
    return setup


if __name__ == "__main__":
    for name, path in make_tiny_setup(sys.argv[1] if len(sys.argv) > 1 else "outputs/tiny").items():
        print(f"{name}: {path}")

"""A UNet that reads text of another width: a `text_proj` layer in front of its cross-attention (as Kolors).

A UNet trained on 256-wide conditioning cannot read a 576-wide LLM's states as they are. diffusers' UNet takes
`encoder_hid_dim_type="text_proj"`: a linear `encoder_hid_proj` (text width -> cross-attention width) applied to
`encoder_hidden_states` inside the UNet. A linear map followed by the attention's key and value projections is
itself a key and value projection of the wider input (of rank at most the old width), so this is a UNet whose
cross-attention reads the LLM's width, keeping every trained weight; only the projection starts fresh.
`BaseModelInfo` reads such a UNet's text width from `encoder_hid_dim`, so an identity connector fits it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from llmdiff.errors import UserError

PROJECTION = "encoder_hid_proj"


def unet_with_text_projection(unet, text_dim: int, seed: int = 0):
    """A copy of `unet` whose cross-attention reads `text_dim`-wide states through a fresh `text_proj` layer
    (PyTorch's default Linear initialisation, drawn from `seed`); every other weight is `unet`'s."""
    from diffusers import UNet2DConditionModel

    config = dict(unet.config)
    if config.get("encoder_hid_dim_type") is not None:
        raise UserError(f"the UNet already projects its text ({config['encoder_hid_dim_type']}); "
                        "it takes no second projection")
    if isinstance(config["cross_attention_dim"], (list, tuple)):
        raise UserError("the UNet's blocks read text of different widths; one text projection cannot feed them")
    if text_dim < 1:
        raise UserError(f"text width must be positive, not {text_dim}")
    config.update(encoder_hid_dim=int(text_dim), encoder_hid_dim_type="text_proj")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        widened = UNet2DConditionModel.from_config(config)
    missing, unexpected = widened.load_state_dict(unet.state_dict(), strict=False)
    if unexpected or any(not key.startswith(PROJECTION + ".") for key in missing):
        raise UserError(f"the widened UNet does not take the UNet's weights (missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]})")
    return widened if widened.dtype == unet.dtype else widened.to(unet.dtype)


def write_base_with_text_projection(base: str | os.PathLike, output: str | os.PathLike, text_dim: int,
                                    seed: int = 0) -> Path:
    """`base` (a diffusers SD pipeline folder) copied to `output` with its UNet reading `text_dim`-wide text.

    Written into a temporary folder beside `output` and moved into place, so a crash leaves no half folder."""
    from diffusers import UNet2DConditionModel

    from llmdiff.files import replace_path

    base, output = Path(base), Path(output)
    if not (base / "unet" / "config.json").is_file():
        raise UserError(f"'{base}' is not a diffusers pipeline folder with a unet/")
    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet", use_safetensors=True)
    widened = unet_with_text_projection(unet, text_dim, seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        target = staging / "base"
        shutil.copytree(base, target, ignore=shutil.ignore_patterns("unet"))
        widened.save_pretrained(target / "unet", safe_serialization=True)
        replace_path(target, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output

import json
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel

from llmdiff.connectors import build_connector
from llmdiff.errors import UserError
from llmdiff.pipeline import BaseModelInfo
from llmdiff.text_projection import unet_with_text_projection, write_base_with_text_projection

SHIPPED_BASE = Path(__file__).resolve().parents[2] / "src" / "llmdiff" / "models" / "shapes" / "base"


def test_the_widened_unet_reads_llm_width_and_is_the_shipped_unet_behind_the_projection(tmp_path):
    out = write_base_with_text_projection(SHIPPED_BASE, tmp_path / "wide" / "base", 576, seed=3)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in SHIPPED_BASE.iterdir())
    config = json.loads((out / "unet" / "config.json").read_text())
    info = BaseModelInfo.from_unet_config(config)
    assert (info.family, info.cond_dim, info.pooled_dim) == ("sd", 576, None)
    assert build_connector("identity", 576, info.cond_dim).cond_dim == 576  # ParaDiffusion's row fits it
    shipped = UNet2DConditionModel.from_pretrained(SHIPPED_BASE, subfolder="unet").eval()
    wide = UNet2DConditionModel.from_pretrained(out, subfolder="unet").eval()
    assert tuple(wide.encoder_hid_proj.weight.shape) == (256, 576)
    torch.manual_seed(0)
    latents, text = torch.randn(2, 4, 8, 8), torch.randn(2, 5, 576)
    with torch.no_grad():
        through = wide(latents, 500, encoder_hidden_states=text).sample
        by_hand = shipped(latents, 500, encoder_hidden_states=wide.encoder_hid_proj(text)).sample
    torch.testing.assert_close(through, by_hand, rtol=1e-5, atol=1e-5)
    # the same seed draws the same projection; the VAE and CLIP folders are the shipped ones, bit for bit
    again = unet_with_text_projection(shipped, 576, seed=3)
    assert torch.equal(again.encoder_hid_proj.weight, wide.encoder_hid_proj.weight)
    assert (out / "vae" / "diffusion_pytorch_model.safetensors").read_bytes() == \
        (SHIPPED_BASE / "vae" / "diffusion_pytorch_model.safetensors").read_bytes()


def test_refusals(tmp_path):
    shipped = UNet2DConditionModel.from_pretrained(SHIPPED_BASE, subfolder="unet")
    wide = unet_with_text_projection(shipped, 64)
    with pytest.raises(UserError, match="already projects its text"):
        unet_with_text_projection(wide, 32)
    with pytest.raises(UserError, match="not a diffusers pipeline folder"):
        write_base_with_text_projection(tmp_path, tmp_path / "out", 64)
    assert not (tmp_path / "out").exists()

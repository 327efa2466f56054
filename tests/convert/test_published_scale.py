"""The converters read the published layouts at full size: tensors on the meta device stand in for the files
(names and shapes of the released checkpoints), so widths, depths and parameter totals come out as published."""

import shutil

import torch

from llmdiff.convert import ConvertOptions, prepare


def meta_state(model) -> dict:
    return {name: torch.empty(tensor.shape, device="meta", dtype=torch.float16) for name, tensor in model.state_dict().items()}


def test_ella_release_at_published_size(monkeypatch, tiny_models, tmp_path):
    from llmdiff.connectors import FAMILIES

    with torch.device("meta"):
        published = meta_state(FAMILIES["ella"].published())
    assert len(published) == 93
    file = tmp_path / "ella-sd1.5-tsc-t5xl.safetensors"
    file.touch()
    monkeypatch.setattr("llmdiff.convert.ella.read_safetensors", lambda path: published)
    conversion = prepare("ella", file, ConvertOptions(base=str(tiny_models["sd"])))
    assert conversion.reads[0].parameters == 66_820_608
    assert "google/flan-t5-xl" in conversion.writes[-1].note


def test_omnidiffusion_release_at_published_size(monkeypatch, tiny_models, tmp_path):
    from llmdiff.connectors import FAMILIES

    with torch.device("meta"):
        published = meta_state(FAMILIES["omnidiffusion"].published())
    stage = tmp_path / "stage-2"
    (stage / "text_encoder_adapter").mkdir(parents=True)
    (stage / "text_encoder_adapter" / "pytorch_model.bin").touch()
    shutil.copytree(tiny_models["sdxl"] / "unet", stage / "unet_ema")  # SDXL widths: 2048 + pooled 1280
    monkeypatch.setattr("llmdiff.convert.omnidiffusion.read_weights", lambda path: published)
    conversion = prepare("omnidiffusion", tmp_path, ConvertOptions(base=str(tiny_models["sdxl"]), variant="stage-2"))
    assert conversion.reads[0].parameters == 487_346_688
    assert conversion.release == "OmniDiffusion stage-2"

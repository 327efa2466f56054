"""Synthetic releases laid out exactly as the published ones, at small widths.

Each builder writes the files a user downloads (same folder and file names, same key names, pickles where
the release has pickles) with random tensors of small models, so a conversion can be compared number by
number with what it read.
"""

import json
import shutil

import pytest
import torch
from torch import nn

from llmdiff.testing import tiny_unet_config

LORA_RANK = 4


def reference_lora_walk(model: nn.Module, classes: set[str]) -> list[nn.Module]:
    """The release's injection walk, written from its code: modules whose class name is a target, in
    `model.modules()` order; inside each, every Linear/Conv2d in `named_modules` order."""
    found = []
    for ancestor in model.modules():
        if ancestor.__class__.__name__ in classes:
            for _, module in ancestor.named_modules():
                if isinstance(module, (nn.Linear, nn.Conv2d)):
                    found.append(module)
    return found


def random_lora_list(modules: list[nn.Module], seed: int) -> list[torch.Tensor]:
    """[up0, down0, up1, down1, ...] as the release saves it (fp16; Conv2d: down keeps the kernel, up 1x1)."""
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for module in modules:
        if isinstance(module, nn.Conv2d):
            up = (module.out_channels, LORA_RANK, 1, 1)
            down = (LORA_RANK, module.in_channels, *module.kernel_size)
        else:
            up, down = (module.out_features, LORA_RANK), (LORA_RANK, module.in_features)
        tensors += [0.05 * torch.randn(up, generator=generator), 0.05 * torch.randn(down, generator=generator)]
    return [tensor.half() for tensor in tensors]


def merge_reference_lora(modules: list[nn.Module], tensors: list[torch.Tensor]) -> None:
    """The release's LoRA folded into the weights: W += up @ down (scale 1.0), as its collapse_lora does."""
    with torch.no_grad():
        for index, module in enumerate(modules):
            up, down = tensors[2 * index].float(), tensors[2 * index + 1].float()
            delta = (up.flatten(1) @ down.flatten(1)).reshape(module.weight.shape)
            module.weight.add_(delta)


def randomise(model: nn.Module, seed: int, scale: float = 0.1) -> nn.Module:
    """Every tensor moved off its initial value (zero-initialised layers would hide wrong mappings)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return model


@pytest.fixture(scope="session")
def lavi_release(tmp_path_factory, tiny_models):
    """`llama2_unet/` with adapter/ (pickled TextAdapter), lora_text.pt, lora_vis.pt, for the tiny Llama and SD base."""
    from diffusers import UNet2DConditionModel
    from transformers import AutoModel

    from llmdiff.connectors import build_connector

    root = tmp_path_factory.mktemp("lavi") / "LaVi-Bridge"
    folder = root / "llama2_unet"
    (folder / "adapter").mkdir(parents=True)
    adapter = randomise(build_connector("lavi_bridge", 64, 768, hidden_dim=48), seed=1).half()
    torch.save(adapter.state_dict(), folder / "adapter" / "diffusion_pytorch_model.bin")
    (folder / "adapter" / "config.json").write_text(json.dumps(
        {"_class_name": "TextAdapter", "_diffusers_version": "0.24.0", "in_dim": 64, "int_dim": 48, "out_dim": 768}))
    llm = AutoModel.from_pretrained(tiny_models["llama"])
    text_list = random_lora_list(reference_lora_walk(llm, {"LlamaAttention"}), seed=2)
    torch.save(text_list, folder / "lora_text.pt")
    unet = UNet2DConditionModel.from_pretrained(tiny_models["sd"], subfolder="unet")
    vis_list = random_lora_list(reference_lora_walk(unet, {"ResnetBlock2D", "CrossAttention", "Attention", "GEGLU"}), 3)
    torch.save(vis_list, folder / "lora_vis.pt")
    return {"root": root, "folder": folder, "adapter": adapter.state_dict(), "text_lora": text_list,
            "vis_lora": vis_list}


@pytest.fixture(scope="session")
def ella_release(tmp_path_factory):
    """`ella-sd1.5-tsc-t5xl.safetensors` of a small ELLA (LLM width 64, output 768 for the SD base)."""
    from safetensors.torch import save_file

    from llmdiff.connectors import build_connector

    root = tmp_path_factory.mktemp("ella")
    connector = randomise(build_connector("ella", 64, 768, num_layers=2, num_heads=8, num_latents=8,
                                          time_channels=32), seed=4).half()
    state = {name: tensor.contiguous() for name, tensor in connector.state_dict().items()}
    save_file(state, str(root / "ella-sd1.5-tsc-t5xl.safetensors"))
    return {"file": root / "ella-sd1.5-tsc-t5xl.safetensors", "state": state}


def sdxl_unet_config(cross: int, pooled: int) -> dict:
    config = tiny_unet_config("sdxl")
    config.update(cross_attention_dim=cross, projection_class_embeddings_input_dim=8 * 6 + pooled)
    return config


@pytest.fixture(scope="session")
def omni_release(tmp_path_factory):
    """`stage-2/` and `stage-3/` with text_encoder_adapter/pytorch_model.bin (pickled), unet/ and unet_ema/."""
    from diffusers import UNet2DConditionModel

    from llmdiff.connectors import build_connector

    root = tmp_path_factory.mktemp("omni") / "llm-conditioned-diffusion-v1.0"
    states = {}
    for index, stage in enumerate(("stage-2", "stage-3")):
        folder = root / stage
        (folder / "text_encoder_adapter").mkdir(parents=True)
        connector = randomise(build_connector("omnidiffusion", 64, 64, 1280, num_heads=8, num_encoder_layers=2,
                                              num_decoder_layers=1, ff_dim=96, num_queries=7), seed=5 + index).half()
        torch.save(connector.state_dict(), folder / "text_encoder_adapter" / "pytorch_model.bin")
        states[stage] = connector.state_dict()
        for offset, name in enumerate(("unet", "unet_ema")):
            torch.manual_seed(10 * index + offset)
            UNet2DConditionModel(**sdxl_unet_config(64, 1280)).half().save_pretrained(folder / name)
    return {"root": root, "states": states}


@pytest.fixture(scope="session")
def para_release(tmp_path_factory, tiny_models):
    """Llama-2-7b-hf/, text_encoder_lora/ (peft, pickled, trained on the causal-LM class), unet/ (pickled .bin),
    sdxl-vae-fp16-fix/, scheduler/ — at small widths (the UNet reads the tiny Llama's 64-d states)."""
    from diffusers import UNet2DConditionModel
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("para") / "ParaDiffusion"
    shutil.copytree(tiny_models["llama"], root / "Llama-2-7b-hf")
    llm = AutoModelForCausalLM.from_pretrained(tiny_models["llama"])
    lora = get_peft_model(llm, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    randomise(lora, seed=7, scale=0.0)
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "lora_" in name:
                parameter.copy_(0.1 * torch.randn_like(parameter))
    lora.save_pretrained(root / "text_encoder_lora", safe_serialization=False)
    torch.manual_seed(8)
    config = tiny_unet_config("sd")
    config.update(cross_attention_dim=64)
    unet = UNet2DConditionModel(**config).half()
    (root / "unet").mkdir()
    unet.save_config(root / "unet")
    torch.save(unet.state_dict(), root / "unet" / "diffusion_pytorch_model.bin")
    shutil.copytree(tiny_models["sdxl"] / "vae", root / "sdxl-vae-fp16-fix")
    shutil.copytree(tiny_models["sdxl"] / "scheduler", root / "scheduler")
    return {"root": root, "unet": unet.state_dict()}

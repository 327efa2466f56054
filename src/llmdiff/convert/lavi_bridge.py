"""LaVi-Bridge (shihaozhao/LaVi-Bridge, MIT): Llama-2-7B or T5-Large + SD1.4, LoRA on both sides.

Release layout: `llama2_unet/` or `t5_unet/`, each with `adapter/` (diffusers `TextAdapter`: config.json +
weights), `lora_text.pt` and `lora_vis.pt` (unnamed LoRA lists, see `llmdiff.convert.lora`). The UNet is
the base model's own (SD1.4) plus `lora_vis`; the model folder gets the base in `base/`, the UNet LoRA in
`adapter/unet_lora/` (diffusers' LoRA layout) and the text LoRA in `adapter/llm_lora/` (peft's layout).
Text path (the release's scripts): final hidden state, 77 tokens padded to the maximum, no mask anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmdiff.convert.connector_folder import checked_connector, dim
from llmdiff.convert.diffusers_folders import (
    check_diffusers_model,
    copy_pipeline,
    local_pipeline,
    meta_model,
    read_json,
    weight_files,
)
from llmdiff.convert.llm import llm_config, llm_width, meta_text_model, recorded_llm
from llmdiff.convert.lora import (
    lora_targets,
    name_lora_list,
    peft_lora_config,
    target_names,
    write_peft_lora,
    write_unet_lora,
)
from llmdiff.convert.pickles import read_pickled_tensor_list
from llmdiff.convert.plan import Conversion, ConvertOptions, Part
from llmdiff.convert.tensors import parameter_count, read_weights, require
from llmdiff.convert.text_config import text_settings, write_text_settings
from llmdiff.errors import UserError
from llmdiff.unet_lora import UNET_LORA_DIR, apply_unet_lora

DEFAULT_BASE = "CompVis/stable-diffusion-v1-4"
UNET_LORA_CLASSES = frozenset({"ResnetBlock2D", "CrossAttention", "Attention", "GEGLU"})
"""the classes the release's scripts inject LoRA into (VIS_REPLACE_MODULES)"""
WHAT = "a LaVi-Bridge TextAdapter"


@dataclass(frozen=True)
class Variant:
    llm: str
    text_lora_classes: frozenset[str]
    pad_token_id: int | None = None
    """the id the release pads with, where it is not the tokenizer's own pad token"""


VARIANTS = {
    # The Llama scripts set pad_token = '[PAD]', a string Llama-2's vocabulary lacks: it pads with id 0 (<unk>).
    "llama2_unet": Variant("meta-llama/Llama-2-7b-hf", frozenset({"LlamaAttention"}), pad_token_id=0),
    "t5_unet": Variant("google-t5/t5-large", frozenset({"T5Attention"})),
}


def _variant_folder(source: Path, variant: str | None) -> tuple[Path, str]:
    if (source / "lora_vis.pt").exists() or (source / "adapter").is_dir():
        name = variant or source.name
        if name not in VARIANTS:
            raise UserError(f"cannot tell which LaVi-Bridge model '{source}' is; pass --variant ({', '.join(VARIANTS)})")
        return source, name
    name = variant or "llama2_unet"
    if name not in VARIANTS:
        hint = " (t5_transformer is a PixArt model, which llmdiff does not run)" if name == "t5_transformer" else ""
        raise UserError(f"LaVi-Bridge variant '{name}' is not one llmdiff converts{hint}; choose {', '.join(VARIANTS)}")
    return require(source / name, f"'{name}/' folder (LaVi-Bridge model)"), name


def prepare(source: Path, options: ConvertOptions) -> Conversion:
    from diffusers import UNet2DConditionModel

    folder, name = _variant_folder(source, options.variant)
    variant = VARIANTS[name]
    adapter_dir = require(folder / "adapter", "adapter/ folder (TextAdapter)")
    adapter_config = read_json(adapter_dir / "config.json", "adapter config")
    adapter_file = weight_files(adapter_dir)[0]
    state = read_weights(adapter_file)
    llm_dim = dim(state, "norm1.weight", 0, adapter_file, WHAT)
    hidden_dim = dim(state, "norm2.weight", 0, adapter_file, WHAT)
    cond_dim = dim(state, "ff2.net.2.weight", 0, adapter_file, WHAT)
    declared = (adapter_config.get("in_dim"), adapter_config.get("int_dim"), adapter_config.get("out_dim"))
    if declared != (llm_dim, hidden_dim, cond_dim):
        raise UserError(f"'{adapter_dir / 'config.json'}' declares widths {declared}, but its weights have "
                        f"{(llm_dim, hidden_dim, cond_dim)}")
    connector = checked_connector(state, adapter_file, WHAT, "lavi_bridge", llm_dim, cond_dim, hidden_dim=hidden_dim)

    llm = recorded_llm(options.llm or variant.llm)
    config = llm_config(llm, options.trust_remote_code)
    if llm_width(config) != llm_dim:
        raise UserError(f"the LLM '{llm}' has width {llm_width(config)}, but '{adapter_file}' reads width {llm_dim}")
    text_model = meta_text_model(config, llm)
    text_file = require(folder / "lora_text.pt", "text LoRA (lora_text.pt)")
    text_layers = lora_targets(text_model, variant.text_lora_classes)
    text_lora, text_rank = name_lora_list(read_pickled_tensor_list(text_file), text_layers, text_file,
                                          f"the attention layers of '{llm}'")

    base = local_pipeline(options.base or DEFAULT_BASE)
    unet_config = read_json(base / "unet" / "config.json", "base UNet config")
    unet_params = check_diffusers_model(base / "unet", UNet2DConditionModel, "a UNet")
    if unet_config.get("cross_attention_dim") != cond_dim:
        raise UserError(f"the base model '{base}' reads width {unet_config.get('cross_attention_dim')}, but "
                        f"'{adapter_file}' gives width {cond_dim}")
    unet = meta_model(UNet2DConditionModel, unet_config, base / "unet" / "config.json")
    vis_file = require(folder / "lora_vis.pt", "UNet LoRA (lora_vis.pt)")
    unet_lora, unet_rank = name_lora_list(read_pickled_tensor_list(vis_file), lora_targets(unet, UNET_LORA_CLASSES),
                                          vis_file, f"the UNet of '{base}'")
    text_targets = target_names(text_model, [layer for layer, _ in text_layers])
    settings = text_settings(llm, layers=[-1], max_length=77, pad_to_max_length=True, use_attention_mask=False,
                             pad_token_id=variant.pad_token_id, trust_remote_code=options.trust_remote_code)

    def write(target: Path) -> None:
        copy_pipeline(base, target / "base")
        adapter = target / "adapter"
        connector.save_pretrained(adapter, safe_serialization=True)
        write_text_settings(adapter, settings)
        write_peft_lora(adapter / "llm_lora", text_lora, peft_lora_config(text_rank, text_targets, llm))
        write_unet_lora(adapter / UNET_LORA_DIR, unet_lora, unet_rank)
        if options.fuse_unet_lora:
            fuse_into_base(target / "base", adapter)

    return Conversion(
        release=f"LaVi-Bridge {name}",
        write=write,
        reads=[
            Part(str(adapter_file), parameter_count(state), f"TextAdapter {llm_dim} -> {hidden_dim} -> {cond_dim}"),
            Part(str(text_file), parameter_count(text_lora), f"{len(text_layers)} LoRA layers of rank {text_rank}"),
            Part(str(vis_file), parameter_count(unet_lora), f"{len(unet_lora) // 2} LoRA layers of rank {unet_rank}"),
            Part(str(base), unet_params, "base pipeline (UNet parameters)"),
            Part(llm, None, "LLM config only"),
        ],
        writes=[
            Part("base/", unet_params, f"copy of {options.base or DEFAULT_BASE}"),
            Part("adapter/ (LaViBridgeConnector)", parameter_count(state)),
            Part("adapter/llm_lora/ (peft)", parameter_count(text_lora)),
            Part("base/unet/ with the UNet LoRA folded in" if options.fuse_unet_lora else
                 f"adapter/{UNET_LORA_DIR}/pytorch_lora_weights.safetensors (diffusers LoRA)", parameter_count(unet_lora)),
            Part("adapter/text_encoder_config.json", None, f"LLM {llm}"),
        ],
    )


def fuse_into_base(base: Path, adapter: Path) -> None:
    """Fold the UNet LoRA into base/unet (in the UNet's stored dtype) and drop the LoRA folder: the base is
    then the release's UNet for any loader, with nothing left to apply."""
    import shutil

    from diffusers import StableDiffusionPipeline
    from safetensors import safe_open

    weights = weight_files(base / "unet")
    with safe_open(str(weights[0]), framework="pt") as file:
        dtype = file.get_tensor(next(iter(file.keys()))).dtype
    pipeline = StableDiffusionPipeline.from_pretrained(base, torch_dtype=dtype, use_safetensors=True,
                                                       text_encoder=None, tokenizer=None, safety_checker=None)
    apply_unet_lora(pipeline, adapter, fuse=True)
    for file in weights:
        file.unlink()
    pipeline.unet.save_pretrained(base / "unet", safe_serialization=True)
    shutil.rmtree(adapter / UNET_LORA_DIR)

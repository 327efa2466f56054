"""ParaDiffusion (weijiawu/ParaDiffusion, Apache-2.0): Llama-2-7B with a LoRA, read by an SDXL-sized UNet.

Release layout: `Llama-2-7b-hf/`, `text_encoder_lora/` and `text_encoder_lora_1/` (peft folders), `unet/`
and `unet_1/` (diffusers layout, pickled `.bin`), `sdxl-vae-fp16-fix/`, `scheduler/`. There is no
connector: the LLM's 4096-d states go to the UNet as they are (an `IdentityConnector`), so the UNet's
config says the width it reads (`cross_attention_dim`, or `encoder_hid_dim` when it projects inside).
Text path: `last_hidden_state` with the mask given to Llama, 256 tokens, right padding to the maximum.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmdiff.convert.diffusers_folders import check_diffusers_model, copy_model_folder, read_json, weight_files
from llmdiff.convert.llm import llm_config, llm_width, meta_text_model, recorded_llm
from llmdiff.convert.plan import Conversion, ConvertOptions, Part
from llmdiff.convert.tensors import check_tensors, one_line, parameter_count, read_weights, require, shapes
from llmdiff.convert.text_config import text_settings, write_text_settings
from llmdiff.errors import UserError

RELEASE_LLM = "Llama-2-7b-hf"
UNETS = {"unet": "text_encoder_lora", "unet_1": "text_encoder_lora_1"}
"""each UNet with the LLM LoRA it was trained with"""
VAE = "sdxl-vae-fp16-fix"


def _lora_state(lora_dir: Path, model) -> tuple[dict, dict, int]:
    """The peft LoRA's tensors keyed as peft saves a LoRA of `model`, its settings, and its parameter count."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    settings = read_json(lora_dir / "adapter_config.json", "LoRA config (adapter_config.json)")
    names = [f"adapter_model{suffix}" for suffix in (".safetensors", ".bin")]
    files = [lora_dir / name for name in names if (lora_dir / name).is_file()]
    if not files:
        raise UserError(f"the release has no LoRA weights: '{lora_dir}' holds neither {' nor '.join(names)}")
    state = read_weights(files[0])
    # A LoRA trained on the causal-LM class names its layers one `model.` deeper than the model llmdiff runs.
    state = {key.replace("base_model.model.model.", "base_model.model.", 1): value for key, value in state.items()}
    try:
        config = LoraConfig.from_pretrained(str(lora_dir))
        config.inference_mode = True
        expected = shapes(get_peft_model_state_dict(get_peft_model(model, config)))
    except Exception as error:
        raise UserError(f"'{lora_dir / 'adapter_config.json'}' is not a LoRA of this LLM: {one_line(error)}") from error
    check_tensors(files[0], shapes(state), expected, "a LoRA of the release's LLM")
    return state, settings, parameter_count(state)


def prepare(source: Path, options: ConvertOptions) -> Conversion:
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from llmdiff.pipeline import BaseModelInfo

    unet_name = options.variant or "unet"
    if unet_name not in UNETS:
        raise UserError(f"ParaDiffusion ships no UNet '{unet_name}'; choose {', '.join(UNETS)}")
    unet_dir = require(source / unet_name, f"'{unet_name}/' folder (UNet)")
    lora_dir = require(source / UNETS[unet_name], f"'{UNETS[unet_name]}/' folder (LLM LoRA)")
    vae_dir = require(source / VAE, f"'{VAE}/' folder (VAE)")
    scheduler_dir = require(source / "scheduler", "'scheduler/' folder")
    scheduler = read_json(scheduler_dir / "scheduler_config.json", "scheduler config")
    unet_config = read_json(unet_dir / "config.json", "UNet config")
    unet_params = check_diffusers_model(unet_dir, UNet2DConditionModel, "a UNet")
    vae_params = check_diffusers_model(vae_dir, AutoencoderKL, "a VAE")
    info = BaseModelInfo.from_unet_config(unet_config)
    reads_width = unet_config.get("encoder_hid_dim") or info.cond_dim

    # The release ships its LLM: the model folder reads it from there unless --llm names another.
    config_source = options.llm or str(require(source / RELEASE_LLM, f"'{RELEASE_LLM}/' folder (LLM)"))
    llm = recorded_llm(config_source)
    config = llm_config(config_source, options.trust_remote_code)
    if llm_width(config) != reads_width:
        raise UserError(f"the LLM '{config_source}' has width {llm_width(config)}, but '{unet_dir}' reads width "
                        f"{reads_width}")
    lora_state, lora_settings, lora_params = _lora_state(lora_dir, meta_text_model(config, config_source))
    lora_settings.update(base_model_name_or_path=llm, inference_mode=True)
    settings = text_settings(llm, layers=[-1], max_length=256, pad_to_max_length=True,
                             trust_remote_code=options.trust_remote_code)
    pipeline_class = "StableDiffusionXLPipeline" if info.family == "sdxl" else "StableDiffusionPipeline"

    def write(target: Path) -> None:
        from diffusers import __version__ as diffusers_version
        from safetensors.torch import save_file

        from llmdiff.connectors import build_connector

        base = target / "base"
        copy_model_folder(unet_dir, base / "unet")
        copy_model_folder(vae_dir, base / "vae")
        (base / "scheduler").mkdir()
        (base / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler, indent=2) + "\n", encoding="utf-8")
        empty = [None, None]
        index = {"_class_name": pipeline_class, "_diffusers_version": diffusers_version,
                 "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                 "scheduler": ["diffusers", scheduler.get("_class_name", "DDPMScheduler")],
                 "text_encoder": empty, "tokenizer": empty}
        if info.family == "sdxl":
            index.update(text_encoder_2=empty, tokenizer_2=empty, image_encoder=empty, feature_extractor=empty)
        else:
            index.update(safety_checker=empty, feature_extractor=empty, image_encoder=empty, requires_safety_checker=False)
        (base / "model_index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        adapter = target / "adapter"
        # The release's UNet reads every one of the 256 positions, padding states included.
        identity = build_connector("identity", reads_width, reads_width, info.pooled_dim, zero_padding=False)
        identity.save_pretrained(adapter, safe_serialization=True)
        write_text_settings(adapter, settings)
        (adapter / "llm_lora").mkdir()
        save_file({key: value.contiguous() for key, value in lora_state.items()},
                  str(adapter / "llm_lora" / "adapter_model.safetensors"), metadata={"format": "pt"})
        settings_text = json.dumps(lora_settings, indent=2) + "\n"
        (adapter / "llm_lora" / "adapter_config.json").write_text(settings_text, encoding="utf-8")

    return Conversion(
        release=f"ParaDiffusion {unet_name}",
        write=write,
        reads=[
            Part(str(weight_files(unet_dir)[0]), unet_params, "UNet"),
            Part(str(weight_files(vae_dir)[0]), vae_params, "VAE"),
            Part(str(lora_dir), lora_params, f"LLM LoRA (r={lora_settings.get('r')})"),
            Part(str(scheduler_dir), None, scheduler.get("_class_name", "scheduler")),
            Part(config_source, None, "LLM config only"),
        ],
        writes=[
            Part("base/", unet_params + vae_params, f"{pipeline_class}: unet, vae, scheduler; no CLIP"),
            Part("adapter/ (IdentityConnector)", 0, f"the UNet reads the LLM's {reads_width}-d states as they are"),
            Part("adapter/llm_lora/ (peft)", lora_params),
            Part("adapter/text_encoder_config.json", None, f"LLM {llm}"),
        ],
    )

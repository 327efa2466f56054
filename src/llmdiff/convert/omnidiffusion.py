"""OmniDiffusion (Fudan-FUXI/llm-conditioned-diffusion-v1.0, Apache-2.0): Baichuan2-7B-Chat + SDXL.

Release layout: `stage-2/` and `stage-3/`, each with `text_encoder_adapter/pytorch_model.bin` (a pickled
state dict of the `MLMAdapter`), `unet/` and `unet_ema/` (diffusers layout). The VAE and scheduler come
from the SDXL base (`--base`). Text path: the final hidden state (after the final norm) in bf16; at most
227 prompt tokens, BOS prepended and EOS appended by hand, only positions before the first EOS kept.
Baichuan2 ships its own modeling code: loading it needs `trust_remote_code`, recorded only on request.
"""

from __future__ import annotations

from pathlib import Path

from llmdiff.convert.connector_folder import checked_connector, count_indexed, dim
from llmdiff.convert.diffusers_folders import check_diffusers_model, copy_pipeline, local_pipeline, read_json
from llmdiff.convert.llm import recorded_llm_of_width
from llmdiff.convert.plan import Conversion, ConvertOptions, Part
from llmdiff.convert.tensors import parameter_count, read_weights, require
from llmdiff.convert.text_config import text_settings, write_text_settings
from llmdiff.errors import UserError

DEFAULT_BASE = "stabilityai/stable-diffusion-xl-base-1.0"
DEFAULT_LLM = "baichuan-inc/Baichuan2-7B-Chat"
STAGES = ("stage-3", "stage-2")
UNETS = ("unet_ema", "unet")
PROMPT_TOKENS = 227
WHAT = "an OmniDiffusion MLMAdapter"


def _stage_folder(source: Path, variant: str | None) -> Path:
    if (source / "text_encoder_adapter").is_dir():
        return source
    stage = variant or STAGES[0]
    if stage not in STAGES:
        raise UserError(f"OmniDiffusion has no stage '{stage}'; choose {', '.join(STAGES)}")
    return require(source / stage, f"'{stage}/' folder (OmniDiffusion stage)")


def prepare(source: Path, options: ConvertOptions) -> Conversion:
    from diffusers import UNet2DConditionModel

    from llmdiff.pipeline import BaseModelInfo

    stage = _stage_folder(source, options.variant)
    file = require(stage / "text_encoder_adapter" / "pytorch_model.bin", "adapter (text_encoder_adapter/pytorch_model.bin)")
    state = read_weights(file)
    llm_dim = dim(state, "fc.0.weight", 1, file, WHAT)
    cond_dim = dim(state, "t2i_decoder_prompt", 2, file, WHAT)
    pooled_dim = dim(state, "fc1.2.weight", 0, file, WHAT)
    found = dict(
        num_queries=dim(state, "t2i_decoder_prompt", 1, file, WHAT),
        num_encoder_layers=count_indexed(state, "llm_to_t2i_mapping.encoder.layers."),
        num_decoder_layers=count_indexed(state, "llm_to_t2i_mapping.decoder.layers."),
        ff_dim=dim(state, "llm_to_t2i_mapping.encoder.layers.0.linear1.weight", 0, file, WHAT),
    )
    connector = checked_connector(state, file, WHAT, "omnidiffusion", llm_dim, cond_dim, pooled_dim, **found)

    unet_name = options.unet or UNETS[0]
    if unet_name not in UNETS:
        raise UserError(f"OmniDiffusion ships no UNet '{unet_name}'; choose {', '.join(UNETS)}")
    unet_dir = require(stage / unet_name, f"'{unet_name}/' folder (UNet)")
    unet_params = check_diffusers_model(unet_dir, UNet2DConditionModel, "a UNet")
    info = BaseModelInfo.from_unet_config(read_json(unet_dir / "config.json", "UNet config"))
    if (info.cond_dim, info.pooled_dim) != (cond_dim, pooled_dim):
        raise UserError(f"'{unet_dir}' reads widths {info.cond_dim} + pooled {info.pooled_dim}, but '{file}' gives "
                        f"{cond_dim} + pooled {pooled_dim}")

    llm = recorded_llm_of_width(options.llm or DEFAULT_LLM, llm_dim, file, options.trust_remote_code)
    base = local_pipeline(options.base or DEFAULT_BASE)
    if BaseModelInfo.from_unet_config(read_json(base / "unet" / "config.json", "base UNet config")).family != "sdxl":
        raise UserError(f"the base model '{base}' is not an SDXL pipeline; OmniDiffusion takes its VAE and "
                        "scheduler from SDXL")
    settings = text_settings(llm, layers=[-1], max_length=PROMPT_TOKENS + 2, add_bos=True, add_eos=True,
                             drop_eos=True, dtype="bfloat16", trust_remote_code=options.trust_remote_code)

    def write(target: Path) -> None:
        copy_pipeline(base, target / "base", replace={"unet": unet_dir})
        connector.save_pretrained(target / "adapter", safe_serialization=True)
        write_text_settings(target / "adapter", settings)

    remote = "" if options.trust_remote_code else "; trust_remote_code false: loading needs --trust-remote-code"
    return Conversion(
        release=f"OmniDiffusion {stage.name}",
        write=write,
        reads=[
            Part(str(file), parameter_count(state), f"MLMAdapter, {len(state)} tensors"),
            Part(str(unet_dir), unet_params, "UNet"),
            Part(str(base), None, "base pipeline: VAE, scheduler (and CLIP encoders, copied unused)"),
        ],
        writes=[
            Part("base/", unet_params, f"{options.base or DEFAULT_BASE} with the release's {unet_name}"),
            Part("adapter/ (OmniDiffusionConnector)", parameter_count(state)),
            Part("adapter/text_encoder_config.json", None, f"LLM {llm}{remote}"),
        ],
    )

"""ELLA (QQGYLab/ELLA, Apache-2.0): FLAN-T5-XL + SD1.5 through a timestep-aware connector.

Release layout: one file, `ella-sd1.5-tsc-t5xl.safetensors`, whose keys are the connector's own (93
tensors). The base model is SD1.5 (`--base`). Text path: the T5 encoder's last hidden state in fp16 (the
authors warn that bf16 changes images). The release runs prompts either padded to 128 tokens (the
connector then reads the padding) or unpadded ("flexible length"); the conversion records the unpadded way.
"""

from __future__ import annotations

from pathlib import Path

from llmdiff.convert.connector_folder import checked_connector, count_indexed, dim
from llmdiff.convert.diffusers_folders import check_diffusers_model, copy_pipeline, local_pipeline, read_json
from llmdiff.convert.llm import recorded_llm_of_width
from llmdiff.convert.plan import Conversion, ConvertOptions, Part
from llmdiff.convert.tensors import parameter_count, read_safetensors
from llmdiff.convert.text_config import text_settings, write_text_settings
from llmdiff.errors import UserError

FILE_NAME = "ella-sd1.5-tsc-t5xl.safetensors"
DEFAULT_BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_LLM = "google/flan-t5-xl"
WHAT = "an ELLA connector"


def prepare(source: Path, options: ConvertOptions) -> Conversion:
    from diffusers import UNet2DConditionModel

    file = source / FILE_NAME if source.is_dir() else source
    if not file.is_file():
        raise UserError(f"the release has no ELLA weights: '{file}' is missing")
    state = read_safetensors(file)
    width = dim(state, "connector.latents", 1, file, WHAT)
    llm_dim = dim(state, "connector.proj_in.weight", 1, file, WHAT)
    options_found = dict(
        num_latents=dim(state, "connector.latents", 0, file, WHAT),
        num_layers=count_indexed(state, "connector.perceiver_blocks."),
        time_channels=dim(state, "time_embedding.linear_1.weight", 1, file, WHAT),
    )
    connector = checked_connector(state, file, WHAT, "ella", llm_dim, width, **options_found)

    llm = recorded_llm_of_width(options.llm or DEFAULT_LLM, llm_dim, file, options.trust_remote_code)
    base = local_pipeline(options.base or DEFAULT_BASE)
    unet_params = check_diffusers_model(base / "unet", UNet2DConditionModel, "a UNet")
    unet_config = read_json(base / "unet" / "config.json", "base UNet config")
    if unet_config.get("cross_attention_dim") != width or unet_config.get("addition_embed_type"):
        raise UserError(f"the base model '{base}' is not SD1.5-shaped (cross-attention width "
                        f"{unet_config.get('cross_attention_dim')}); ELLA gives width {width} and no pooled embedding")
    # The release's "flexible length" mode: each prompt unpadded and untruncated (T5 reads up to 512 tokens);
    # with the batch's padding masked in the connector this equals running one prompt at a time.
    settings = text_settings(llm, layers=[-1], max_length=512, dtype="float16",
                             trust_remote_code=options.trust_remote_code)

    def write(target: Path) -> None:
        copy_pipeline(base, target / "base")
        connector.save_pretrained(target / "adapter", safe_serialization=True)
        write_text_settings(target / "adapter", settings)

    return Conversion(
        release="ELLA",
        write=write,
        reads=[
            Part(str(file), parameter_count(state), f"connector, {len(state)} tensors"),
            Part(str(base), unet_params, "base pipeline (UNet parameters)"),
        ],
        writes=[
            Part("base/", unet_params, f"copy of {options.base or DEFAULT_BASE}"),
            Part("adapter/ (ELLAConnector)", parameter_count(state)),
            Part("adapter/text_encoder_config.json", None, f"LLM {llm}"),
        ],
    )

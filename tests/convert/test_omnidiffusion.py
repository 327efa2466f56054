import json

import pytest
import torch

from llmdiff.convert import ConvertOptions, convert


@pytest.fixture(scope="module")
def converted(omni_release, tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("omni_out") / "model"
    convert("omnidiffusion", omni_release["root"], out, ConvertOptions(base=str(tiny_models["sdxl"])))
    return out


def test_round_trip_and_strict_load(converted, omni_release):
    from safetensors.torch import load_file

    from llmdiff.connectors import load_connector

    source = omni_release["states"]["stage-3"]  # the default stage
    saved = load_file(str(converted / "adapter" / "diffusion_pytorch_model.safetensors"))
    assert saved.keys() == source.keys()
    assert all(torch.equal(saved[name], tensor) for name, tensor in source.items())
    connector = load_connector(converted / "adapter")
    connector.load_state_dict(saved, strict=True)
    assert type(connector).__name__ == "OmniDiffusionConnector"
    assert (connector.llm_dim, connector.cond_dim, connector.pooled_dim) == (64, 64, 1280)
    assert connector.config["num_queries"] == 7 and connector.config["ff_dim"] == 96


def test_unet_ema_of_the_stage_replaces_the_base_unet(converted, omni_release):
    source = omni_release["root"] / "stage-3" / "unet_ema" / "diffusion_pytorch_model.safetensors"
    assert (converted / "base" / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == source.read_bytes()


def test_text_settings_record_the_hand_added_bos_eos_and_no_remote_code(converted):
    settings = json.loads((converted / "adapter" / "text_encoder_config.json").read_text())
    assert settings["llm"] == "baichuan-inc/Baichuan2-7B-Chat"
    assert (settings["add_bos"], settings["add_eos"], settings["drop_eos"]) == (True, True, True)
    assert settings["max_length"] == 229 and settings["dtype"] == "bfloat16" and settings["layers"] == [-1]
    assert settings["trust_remote_code"] is False


def test_stage_2_unet_and_remote_code_opt_in(omni_release, tiny_models, tmp_path):
    options = ConvertOptions(base=str(tiny_models["sdxl"]), variant="stage-2", unet="unet", trust_remote_code=True)
    convert("omnidiffusion", omni_release["root"], tmp_path / "m", options)
    source = omni_release["root"] / "stage-2" / "unet" / "diffusion_pytorch_model.safetensors"
    assert (tmp_path / "m" / "base" / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == source.read_bytes()
    settings = json.loads((tmp_path / "m" / "adapter" / "text_encoder_config.json").read_text())
    assert settings["trust_remote_code"] is True


def test_generates_through_the_stock_sdxl_pipeline(converted, tiny_models):
    from diffusers import StableDiffusionXLPipeline

    from llmdiff.connectors import load_connector
    from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig

    connector = load_connector(converted / "adapter").float()
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(layers=(-1,)))
    pipe = StableDiffusionXLPipeline.from_pretrained(converted / "base", use_safetensors=True).to(torch.float32)
    with torch.no_grad():
        encoded = encoder.encode(["a red circle", ""])
        out = connector(encoded.hidden_states, encoded.attention_mask)
    assert out.prompt_embeds.shape == (2, 7, 64) and out.pooled_prompt_embeds.shape == (2, 1280)
    image = pipe(prompt_embeds=out.prompt_embeds[:1], negative_prompt_embeds=out.prompt_embeds[1:],
                 pooled_prompt_embeds=out.pooled_prompt_embeds[:1],
                 negative_pooled_prompt_embeds=out.pooled_prompt_embeds[1:],
                 num_inference_steps=2, height=32, width=32, output_type="np",
                 generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 32, 32, 3) and image.std() > 0


def test_a_stage_folder_itself_is_accepted(omni_release, tiny_models, tmp_path):
    from llmdiff.convert import prepare

    conversion = prepare("omnidiffusion", omni_release["root"] / "stage-2", ConvertOptions(base=str(tiny_models["sdxl"])))
    assert conversion.release == "OmniDiffusion stage-2"
    assert conversion.reads[0].parameters == sum(t.numel() for t in omni_release["states"]["stage-2"].values())

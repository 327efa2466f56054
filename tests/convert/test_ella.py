import json

import pytest
import torch

from llmdiff.convert import ConvertOptions, convert


@pytest.fixture(scope="module")
def converted(ella_release, tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("ella_out") / "model"
    convert("ella", ella_release["file"], out, ConvertOptions(llm=str(tiny_models["llama"]), base=str(tiny_models["sd"])))
    return out


def test_round_trip_and_strict_load(converted, ella_release):
    from safetensors.torch import load_file

    from llmdiff.connectors import load_connector

    saved = load_file(str(converted / "adapter" / "diffusion_pytorch_model.safetensors"))
    assert saved.keys() == ella_release["state"].keys()
    assert all(torch.equal(saved[name], tensor) for name, tensor in ella_release["state"].items())
    assert all(tensor.dtype == torch.float16 for tensor in saved.values())
    connector = load_connector(converted / "adapter")
    connector.load_state_dict(saved, strict=True)
    assert type(connector).__name__ == "ELLAConnector" and connector.timestep_aware
    assert connector.config["num_layers"] == 2 and connector.config["num_latents"] == 8


def test_text_settings_and_base(converted, tiny_models):
    settings = json.loads((converted / "adapter" / "text_encoder_config.json").read_text())
    assert settings["dtype"] == "float16" and settings["layers"] == [-1]
    assert settings["pad_to_max_length"] is False and settings["use_attention_mask"] is True
    unet = tiny_models["sd"] / "unet" / "diffusion_pytorch_model.safetensors"
    assert (converted / "base" / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == unet.read_bytes()


def test_directory_holding_the_file_is_accepted(ella_release, tiny_models, tmp_path):
    convert("ella", ella_release["file"].parent, tmp_path / "m",
            ConvertOptions(llm=str(tiny_models["llama"]), base=str(tiny_models["sd"])))
    assert (tmp_path / "m" / "adapter" / "config.json").is_file()


def test_generates_through_the_stock_pipeline_with_the_connector_run_at_each_step(converted, tiny_models):
    """The release's own way: a UNet wrapper that replaces encoder_hidden_states by the connector's output for
    the step's timestep (the stock pipeline passes the LLM states through as `prompt_embeds`)."""
    from diffusers import StableDiffusionPipeline

    from llmdiff.connectors import load_connector
    from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig

    connector = load_connector(converted / "adapter").float()
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(layers=(-1,)))
    pipe = StableDiffusionPipeline.from_pretrained(converted / "base", use_safetensors=True, safety_checker=None)
    unet = pipe.unet
    seen = []
    original_forward = unet.forward

    def forward(sample, timestep, encoder_hidden_states, *args, **kwargs):
        mask = torch.ones(encoder_hidden_states.shape[:2])
        embeds = connector(encoder_hidden_states, mask, timestep).prompt_embeds
        seen.append(float(timestep))
        return original_forward(sample, timestep, embeds, *args, **kwargs)

    unet.forward = forward
    with torch.no_grad():
        encoded = encoder.encode(["a red circle", "blue"])
    image = pipe(prompt_embeds=encoded.hidden_states[:1], negative_prompt_embeds=encoded.hidden_states[1:],
                 num_inference_steps=2, height=32, width=32, output_type="np",
                 generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 32, 32, 3) and image.std() > 0
    assert len(set(seen)) == 2  # the connector ran at two different timesteps


def test_base_copy_leaves_out_the_safety_checker(ella_release, tiny_models, tmp_path):
    import shutil

    from safetensors.torch import save_file

    base = tmp_path / "sd"
    shutil.copytree(tiny_models["sd"], base)
    index = json.loads((base / "model_index.json").read_text())
    index.update(safety_checker=["stable_diffusion", "StableDiffusionSafetyChecker"],
                 feature_extractor=["transformers", "CLIPImageProcessor"], requires_safety_checker=True)
    (base / "model_index.json").write_text(json.dumps(index))
    for name in ("safety_checker", "feature_extractor"):
        (base / name).mkdir()
        (base / name / "config.json").write_text("{}")
    save_file({"w": torch.zeros(2)}, str(base / "safety_checker" / "model.safetensors"))
    convert("ella", ella_release["file"], tmp_path / "m", ConvertOptions(llm=str(tiny_models["llama"]), base=str(base)))
    written = json.loads((tmp_path / "m" / "base" / "model_index.json").read_text())
    assert written["safety_checker"] == [None, None] and written["requires_safety_checker"] is False
    assert not (tmp_path / "m" / "base" / "safety_checker").exists()
    assert sorted(p.name for p in (tmp_path / "m" / "base").iterdir()) == [
        "model_index.json", "scheduler", "text_encoder", "tokenizer", "unet", "vae"]

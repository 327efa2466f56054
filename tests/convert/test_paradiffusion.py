import json

import pytest
import torch

from llmdiff.convert import ConvertOptions, convert


@pytest.fixture(scope="module")
def converted(para_release, tmp_path_factory):
    out = tmp_path_factory.mktemp("para_out") / "model"
    convert("paradiffusion", para_release["root"], out, ConvertOptions())
    return out


def test_pickled_unet_becomes_safetensors_with_equal_tensors(converted, para_release):
    from safetensors.torch import load_file

    saved = load_file(str(converted / "base" / "unet" / "diffusion_pytorch_model.safetensors"))
    assert saved.keys() == para_release["unet"].keys()
    assert all(torch.equal(saved[name], tensor) for name, tensor in para_release["unet"].items())
    assert not list(converted.rglob("*.bin")) and not list(converted.rglob("*.pt"))


def test_identity_connector_and_text_settings(converted, para_release):
    from llmdiff.connectors import load_connector

    connector = load_connector(converted / "adapter")
    assert type(connector).__name__ == "IdentityConnector" and connector.llm_dim == 64
    settings = json.loads((converted / "adapter" / "text_encoder_config.json").read_text())
    assert settings["llm"] == str((para_release["root"] / "Llama-2-7b-hf").resolve())  # the release's own LLM
    assert settings["max_length"] == 256 and settings["pad_to_max_length"] is True and settings["layers"] == [-1]
    index = json.loads((converted / "base" / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline" and index["text_encoder"] == [None, None]


def test_llm_lora_keys_fit_the_model_llmdiff_runs(converted, para_release, tiny_models):
    """Trained on the causal-LM class (keys one `model.` deeper); merged by llmdiff's loader into the plain
    model it gives the release's states."""
    from peft import PeftModel
    from transformers import AutoModel, AutoModelForCausalLM

    from llmdiff.llm_lora import merge_llm_lora

    ours = merge_llm_lora(AutoModel.from_pretrained(tiny_models["llama"]), converted / "adapter" / "llm_lora")
    release = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_models["llama"]),
                                        para_release["root"] / "text_encoder_lora")
    ids = torch.tensor([[1, 8, 22, 301, 4]])
    with torch.no_grad():
        expected = release(ids, output_hidden_states=True).hidden_states[-1]
        plain = AutoModel.from_pretrained(tiny_models["llama"])(ids).last_hidden_state
        got = ours(ids).last_hidden_state
    assert not torch.allclose(plain, expected, atol=1e-3)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_base_loads_as_llmdiff_loads_a_base(converted):
    from llmdiff.pipeline import load_base_pipeline

    pipe, info = load_base_pipeline(converted / "base")
    assert (info.family, info.cond_dim) == ("sd", 64) and pipe.vae is not None


def test_generates_through_the_stock_pipeline(converted, tiny_models):
    from diffusers import StableDiffusionPipeline

    from llmdiff.connectors import load_connector
    from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig

    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(layers=(-1,)),
                                             lora=converted / "adapter" / "llm_lora")
    connector = load_connector(converted / "adapter")
    # The release ships no CLIP: model_index.json leaves those slots empty, so they are passed as None.
    pipe = StableDiffusionPipeline.from_pretrained(converted / "base", use_safetensors=True, text_encoder=None,
                                                   tokenizer=None).to(torch.float32)
    with torch.no_grad():
        encoded = encoder.encode(["a red circle", ""])
        embeds = connector(encoded.hidden_states, encoded.attention_mask).prompt_embeds
    image = pipe(prompt_embeds=embeds[:1], negative_prompt_embeds=embeds[1:], num_inference_steps=2, height=32,
                 width=32, output_type="np", generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 32, 32, 3) and image.std() > 0

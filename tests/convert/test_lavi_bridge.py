import json
import shutil

import pytest
import torch
from torch import nn

from conftest import merge_reference_lora, random_lora_list, randomise, reference_lora_walk
from llmdiff.convert import ConvertOptions, convert
from llmdiff.convert.lora import lora_targets


@pytest.fixture(scope="module")
def converted(lavi_release, tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("lavi_out") / "model"
    options = ConvertOptions(llm=str(tiny_models["llama"]), base=str(tiny_models["sd"]))
    convert("lavi-bridge", lavi_release["root"], out, options)
    return out


def test_llama_7b_attention_walk_gives_the_published_128_layers_in_q_k_v_o_order():
    from accelerate import init_empty_weights
    from transformers import LlamaConfig, LlamaModel

    config = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                         num_key_value_heads=32, vocab_size=32000)
    with init_empty_weights():
        model = LlamaModel(config)
    targets = lora_targets(model, frozenset({"LlamaAttention"}))
    assert len(targets) == 128
    assert [name for name, _ in targets[:5]] == [
        "layers.0.self_attn.q_proj", "layers.0.self_attn.k_proj", "layers.0.self_attn.v_proj",
        "layers.0.self_attn.o_proj", "layers.1.self_attn.q_proj"]
    # rank 32, up and down per layer: the published lora_text.pt's size
    assert sum(32 * (m.in_features + m.out_features) for _, m in targets) == 33_554_432


def test_connector_round_trip(converted, lavi_release):
    from safetensors.torch import load_file

    from llmdiff.connectors import load_connector

    saved = load_file(str(converted / "adapter" / "diffusion_pytorch_model.safetensors"))
    assert saved.keys() == lavi_release["adapter"].keys()
    for name, tensor in lavi_release["adapter"].items():
        assert torch.equal(saved[name], tensor), name
    connector = load_connector(converted / "adapter")
    connector.load_state_dict(saved, strict=True)
    assert type(connector).__name__ == "LaViBridgeConnector"
    assert (connector.llm_dim, connector.cond_dim) == (64, 768)


def test_text_settings(converted, tiny_models):
    settings = json.loads((converted / "adapter" / "text_encoder_config.json").read_text())
    assert settings["llm"] == str(tiny_models["llama"])
    assert settings["layers"] == [-1] and settings["max_length"] == 77
    assert settings["pad_to_max_length"] is True and settings["use_attention_mask"] is False
    assert settings["pad_token_id"] == 0  # the Llama scripts pad with '[PAD]', which Llama-2 reads as <unk>
    assert settings["trust_remote_code"] is False


def test_text_lora_equals_the_release_injection(converted, lavi_release, tiny_models):
    """The peft LoRA merged by llmdiff's own loader gives the states of the release's injected LLM."""
    from transformers import AutoModel

    from llmdiff.llm_lora import merge_llm_lora

    config = json.loads((converted / "adapter" / "llm_lora" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (4, 4)
    assert config["target_modules"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    ours = merge_llm_lora(AutoModel.from_pretrained(tiny_models["llama"]), converted / "adapter" / "llm_lora")
    reference = AutoModel.from_pretrained(tiny_models["llama"])
    merge_reference_lora(reference_lora_walk(reference, {"LlamaAttention"}), lavi_release["text_lora"])
    ids = torch.tensor([[1, 5, 9, 200, 31, 7]])
    with torch.no_grad():
        plain = AutoModel.from_pretrained(tiny_models["llama"])(ids).last_hidden_state
        expected = reference(ids).last_hidden_state
        got = ours(ids).last_hidden_state
    assert not torch.allclose(plain, expected, atol=1e-3)  # the LoRA changes the states
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def reference_unet_output(lavi_release, tiny_models):
    """The base UNet with the release's LoRA injected (folded in), on a fixed input; and the plain UNet's."""
    from diffusers import UNet2DConditionModel

    reference = UNet2DConditionModel.from_pretrained(tiny_models["sd"], subfolder="unet")
    modules = reference_lora_walk(reference, {"ResnetBlock2D", "CrossAttention", "Attention", "GEGLU"})
    assert any(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in modules)
    merge_reference_lora(modules, lavi_release["vis_lora"])
    torch.manual_seed(0)
    inputs = (torch.randn(1, 4, 16, 16), 500, torch.randn(1, 5, 768))
    with torch.no_grad():
        plain = UNet2DConditionModel.from_pretrained(tiny_models["sd"], subfolder="unet")(*inputs).sample
        return inputs, reference(*inputs).sample, plain


@pytest.mark.parametrize("loader", ["diffusers", "llmdiff fused"])
def test_unet_lora_loads_in_diffusers_and_equals_the_release_injection(converted, lavi_release, tiny_models, loader):
    from diffusers import StableDiffusionPipeline

    from llmdiff.unet_lora import apply_unet_lora

    assert (converted / "adapter" / "unet_lora" / "pytorch_lora_weights.safetensors").is_file()
    pipe = StableDiffusionPipeline.from_pretrained(converted / "base", use_safetensors=True, safety_checker=None)
    if loader == "diffusers":
        pipe.load_lora_weights(converted / "adapter" / "unet_lora")
    else:
        assert apply_unet_lora(pipe, converted / "adapter", fuse=True)
        assert not any("lora" in name for name, _ in pipe.unet.named_modules())
    inputs, expected, plain = reference_unet_output(lavi_release, tiny_models)
    with torch.no_grad():
        got = pipe.unet(*inputs).sample
    assert not torch.allclose(plain, expected, atol=1e-3)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_fuse_unet_lora_folds_it_into_the_base(lavi_release, tiny_models, tmp_path):
    from diffusers import UNet2DConditionModel

    options = ConvertOptions(llm=str(tiny_models["llama"]), base=str(tiny_models["sd"]), fuse_unet_lora=True)
    convert("lavi-bridge", lavi_release["folder"], tmp_path / "m", options)
    assert not (tmp_path / "m" / "adapter" / "unet_lora").exists()
    unet = UNet2DConditionModel.from_pretrained(tmp_path / "m" / "base" / "unet", use_safetensors=True)
    inputs, expected, _ = reference_unet_output(lavi_release, tiny_models)
    with torch.no_grad():
        torch.testing.assert_close(unet(*inputs).sample, expected, atol=1e-4, rtol=1e-4)


def test_converted_model_generates_through_the_stock_pipeline(converted, tiny_models):
    from diffusers import StableDiffusionPipeline

    from llmdiff.connectors import load_connector
    from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig

    settings = json.loads((converted / "adapter" / "text_encoder_config.json").read_text())
    encoder = LLMTextEncoder.from_pretrained(
        settings["llm"], TextEncoderConfig(layers=tuple(settings["layers"]), max_length=settings["max_length"]),
        lora=converted / "adapter" / "llm_lora")
    connector = load_connector(converted / "adapter")
    pipe = StableDiffusionPipeline.from_pretrained(converted / "base", use_safetensors=True, safety_checker=None)
    pipe.load_lora_weights(converted / "adapter" / "unet_lora")
    with torch.no_grad():  # prompt and negative in one batch: one length (padding to 77 is the text path's job)
        encoded = encoder.encode(["a red circle", ""])
        embeds = connector(encoded.hidden_states, encoded.attention_mask).prompt_embeds.float()
    image = pipe(prompt_embeds=embeds[:1], negative_prompt_embeds=embeds[1:], num_inference_steps=2, height=32,
                 width=32, output_type="np", generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 32, 32, 3) and image.std() > 0


def test_t5_unet_variant_maps_the_t5_attention_lora_onto_the_encoder_llmdiff_runs(lavi_release, tiny_models, tmp_path):
    """t5_unet: the release injects into T5EncoderModel's T5Attention layers (q, k, v, o); llmdiff runs the
    encoder stack of the T5 model, so the LoRA is named for it and equals the release's injection there."""
    from transformers import AutoModel, T5Config, T5EncoderModel, T5Model

    from llmdiff.connectors import build_connector
    from llmdiff.llm_lora import merge_llm_lora

    torch.manual_seed(0)
    t5_dir = tmp_path / "t5"
    T5Model(T5Config(vocab_size=50, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)).save_pretrained(t5_dir)
    folder = tmp_path / "LaVi-Bridge" / "t5_unet"
    (folder / "adapter").mkdir(parents=True)
    adapter = randomise(build_connector("lavi_bridge", 32, 768, hidden_dim=40), seed=9)
    torch.save(adapter.state_dict(), folder / "adapter" / "diffusion_pytorch_model.bin")
    (folder / "adapter" / "config.json").write_text(json.dumps({"in_dim": 32, "int_dim": 40, "out_dim": 768}))
    reference = T5EncoderModel.from_pretrained(t5_dir)
    walk = reference_lora_walk(reference, {"T5Attention"})
    assert len(walk) == 8  # q, k, v, o of 2 layers; the relative-position embedding is not a Linear
    text_list = random_lora_list(walk, seed=10)
    torch.save(text_list, folder / "lora_text.pt")
    shutil.copy(lavi_release["folder"] / "lora_vis.pt", folder / "lora_vis.pt")
    out = tmp_path / "m"
    convert("lavi-bridge", tmp_path / "LaVi-Bridge", out,
            ConvertOptions(llm=str(t5_dir), base=str(tiny_models["sd"]), variant="t5_unet"))
    config = json.loads((out / "adapter" / "llm_lora" / "adapter_config.json").read_text())
    assert config["target_modules"] == ["k", "o", "q", "v"]
    ours = merge_llm_lora(AutoModel.from_pretrained(t5_dir).get_encoder(), out / "adapter" / "llm_lora")
    merge_reference_lora(walk, text_list)
    ids = torch.tensor([[3, 7, 11, 1]])
    with torch.no_grad():
        torch.testing.assert_close(ours(input_ids=ids).last_hidden_state, reference(input_ids=ids).last_hidden_state,
                                   atol=1e-4, rtol=1e-4)

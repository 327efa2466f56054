"""8-bit and 4-bit LLMs through bitsandbytes, on the CPU, against the same LLM unquantised.

Tolerances are the measured errors on the tiny Llama (int8: largest per-token error 0.020 of the token's
scale, least cosine 0.9998; int4: 0.22 and 0.980) with room for other CPUs' kernels.
"""

import importlib.util

import pytest
import torch

from llmdiff.errors import UserError
from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig

needs_bitsandbytes = pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                                        reason="bitsandbytes is not installed (pip install 'llmdiff[quantize]')")
PROMPTS = ["a red cat", "the blue dog is next to a red circle, and a small square sits below it", "一只红色的猫"]


def per_token_errors(reference, quantised, mask):
    real = mask.bool()
    a, b = reference[real].float(), quantised[real].float()
    relative = (a - b).abs().amax(-1) / a.abs().amax(-1).clamp(min=1e-6)
    return float(relative.max()), float(torch.nn.functional.cosine_similarity(a, b, dim=-1).min())


@needs_bitsandbytes
@pytest.mark.parametrize("quantize, layer_class, most_error, least_cosine", [
    ("int8", "Linear8bitLt", 0.04, 0.999),
    ("int4", "Linear4bit", 0.35, 0.95),
])
def test_quantised_llm_stays_close(tiny_models, quantize, layer_class, most_error, least_cosine):
    import warnings

    reference = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(layers=(-1,))).encode(PROMPTS)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="MatMul8bitLt")  # bitsandbytes notes its float16 inputs
        encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(layers=(-1,), quantize=quantize))
        quantised = encoder.encode(PROMPTS)
    assert type(encoder.model.layers[0].self_attn.q_proj).__name__ == layer_class
    assert quantised.hidden_states.dtype == torch.float32
    assert torch.equal(quantised.attention_mask, reference.attention_mask)
    error, cosine = per_token_errors(reference.hidden_states, quantised.hidden_states, reference.attention_mask)
    assert error < most_error and cosine > least_cosine, (error, cosine)
    assert error > 1e-4  # the weights really were quantised


def test_quantize_setting_is_checked(tiny_models, monkeypatch):
    with pytest.raises(UserError, match="quantize must be one of int8, int4 or null, not 'int3'"):
        TextEncoderConfig(quantize="int3")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "bitsandbytes" else real_find_spec(name, *args))
    with pytest.raises(UserError, match=r"needs bitsandbytes: pip install 'llmdiff\[quantize\]'"):
        LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(quantize="int4"))


@needs_bitsandbytes
def test_an_llm_lora_merges_into_the_quantised_llm(tiny_models, tmp_path):
    import warnings

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    from llmdiff.llm_lora import write_llm_lora

    torch.manual_seed(0)
    lora = get_peft_model(AutoModel.from_pretrained(tiny_models["llama"]),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False))
    write_llm_lora(lora, tmp_path / "lora")
    config = TextEncoderConfig(layers=(-1,))
    with_lora = LLMTextEncoder.from_pretrained(tiny_models["llama"], config, lora=tmp_path / "lora").encode(PROMPTS)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="MatMul8bitLt")
        quantised = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(layers=(-1,), quantize="int8"),
                                                   lora=tmp_path / "lora").encode(PROMPTS)
    without = LLMTextEncoder.from_pretrained(tiny_models["llama"], config).encode(PROMPTS)
    mask = with_lora.attention_mask
    assert per_token_errors(with_lora.hidden_states, quantised.hidden_states, mask)[0] < 0.04
    assert per_token_errors(with_lora.hidden_states, without.hidden_states, mask)[0] > 0.1  # the LoRA matters


@needs_bitsandbytes
def test_generate_and_serve_take_quantize(tiny_models, tmp_path, capsys, monkeypatch):
    from llmdiff.cli.main import main

    loaded = []
    load = LLMTextEncoder.from_pretrained.__func__
    monkeypatch.setattr(LLMTextEncoder, "from_pretrained",
                        classmethod(lambda cls, *args, **kwargs: loaded.append(load(cls, *args, **kwargs)) or loaded[-1]))

    for command in ("generate", "serve"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--quantize {int8,int4}" in capsys.readouterr().out
    out = tmp_path / "cat.png"
    args = ["a red cat", "-o", str(out), "--base", str(tiny_models["sd"]), "--llm", str(tiny_models["llama"]),
            "--steps", "1", "--width", "32", "--height", "32", "--quantize", "int4"]
    assert main(["generate", *args]) == 0, capsys.readouterr().err
    assert out.is_file()
    assert type(loaded[-1].model.layers[0].mlp.up_proj).__name__ == "Linear4bit"

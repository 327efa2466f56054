"""The LLM LoRA's fast merge gives peft's own merged weights, and leaves other LoRA kinds to peft."""

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model

from llmdiff.llm_lora import merge_llm_lora


@pytest.mark.parametrize("use_dora", [False, True])
def test_merge_matches_peft(tiny_models, tmp_path, monkeypatch, use_dora):
    import llmdiff.llm_lora as llm_lora

    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_models["llama"])
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], use_dora=use_dora,
                        init_lora_weights=False)  # random B too, so the update is not zero
    torch.manual_seed(0)
    wrapped = get_peft_model(copy.deepcopy(model), config)
    wrapped.save_pretrained(tmp_path / "lora", safe_serialization=True)
    expected = wrapped.merge_and_unload().state_dict()

    fast = []
    merge_plain = llm_lora._merge_plain_lora
    monkeypatch.setattr(llm_lora, "_merge_plain_lora", lambda wrapped: fast.append(merge_plain(wrapped)) or fast[-1])
    merged = merge_llm_lora(copy.deepcopy(model), tmp_path / "lora")
    assert fast == [not use_dora]  # DoRA is no plain LoRA: peft merges it
    assert not any("lora" in name for name in merged.state_dict())
    assert merged.state_dict().keys() == expected.keys()
    changed = 0
    for name, value in merged.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=0, atol=1e-6)
        changed += not torch.equal(value, model.state_dict()[name])
    assert changed == 3 * model.config.num_hidden_layers

import pytest
import torch

from llmdiff.adapter import LLMAdapter
from llmdiff.errors import UserError

SMALL = {"hidden_dim": 32, "num_heads": 4, "num_layers": 1}


def states(batch=2, length=7, width=48, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, length, width, generator=generator)


@pytest.mark.parametrize(
    "family, options, expected_pooled",
    [("sd", {"cond_dim": 768}, None), ("sdxl", {"cond_dim": 2048, "pooled_dim": 1280}, 1280)],
)
def test_output_shapes(family, options, expected_pooled):
    adapter = LLMAdapter(llm_dim=48, num_queries=10, **options, **SMALL).eval()
    out = adapter(states(), torch.ones(2, 7, dtype=torch.long))
    assert out.prompt_embeds.shape == (2, 10, options["cond_dim"])
    assert out.attention_mask.shape == (2, 10)
    if expected_pooled:
        assert out.pooled_prompt_embeds.shape == (2, expected_pooled)
    else:
        assert out.pooled_prompt_embeds is None


@pytest.mark.parametrize("num_queries", [10, None])
def test_padding_never_leaks(num_queries):
    adapter = LLMAdapter(llm_dim=48, cond_dim=64, pooled_dim=16, num_queries=num_queries, **SMALL).eval()
    hidden = states(batch=1, length=9)
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0, 0]])
    garbage = hidden.clone()
    garbage[:, 5:] = 1000 * torch.randn(1, 4, 48)
    with torch.no_grad():
        a, b = adapter(hidden, mask), adapter(garbage, mask)
        alone = adapter(hidden[:, :5], mask[:, :5])
    assert torch.allclose(a.prompt_embeds, b.prompt_embeds, atol=1e-5)
    assert torch.allclose(a.pooled_prompt_embeds, b.pooled_prompt_embeds, atol=1e-5)
    assert torch.allclose(a.pooled_prompt_embeds, alone.pooled_prompt_embeds, atol=1e-5)
    if num_queries:
        assert torch.allclose(a.prompt_embeds, alone.prompt_embeds, atol=1e-5)
    else:
        assert torch.allclose(a.prompt_embeds[:, :5], alone.prompt_embeds, atol=1e-5)
        assert a.prompt_embeds[:, 5:].abs().max() == 0


def test_save_load_round_trip_is_exact(tmp_path):
    adapter = LLMAdapter(llm_dim=48, cond_dim=2048, pooled_dim=1280, num_queries=12, **SMALL).eval()
    adapter.save_pretrained(tmp_path, safe_serialization=True)
    assert (tmp_path / "config.json").is_file()
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = LLMAdapter.load(tmp_path).eval()
    assert loaded.config.num_queries == 12 and loaded.config.pooled_dim == 1280
    for (name, a), (_, b) in zip(adapter.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    mask = torch.ones(2, 7, dtype=torch.long)
    with torch.no_grad():
        assert torch.equal(adapter(states(), mask).prompt_embeds, loaded(states(), mask).prompt_embeds)


def test_parameter_count_is_lightweight():
    adapter = LLMAdapter(llm_dim=576, cond_dim=768)
    count = sum(p.numel() for p in adapter.parameters())
    assert 2e6 < count < 100e6


def test_wrong_llm_width_names_both_widths():
    adapter = LLMAdapter(llm_dim=48, cond_dim=64, **SMALL)
    with pytest.raises(UserError, match="width 48.*width 50"):
        adapter(states(width=50), torch.ones(2, 7, dtype=torch.long))
    with pytest.raises(UserError, match="LLM width 48.*LLM's width is 576"):
        adapter.check_compatible(576, 64, None)
    with pytest.raises(UserError, match="outputs width 64.*expects width 768"):
        adapter.check_compatible(48, 768, None)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        LLMAdapter.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no diffusion_pytorch_model.safetensors"):
        LLMAdapter.load(tmp_path / "empty")
    adapter = LLMAdapter(llm_dim=48, cond_dim=64, **SMALL)
    adapter.save_pretrained(tmp_path / "cut", safe_serialization=True)
    weights = tmp_path / "cut" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(UserError, match="could not load adapter"):
        LLMAdapter.load(tmp_path / "cut")


def test_deepened_adapter_gives_the_same_outputs_and_can_learn():
    adapter = LLMAdapter(llm_dim=48, cond_dim=64, pooled_dim=16, num_queries=10, **SMALL).eval()
    grown = adapter.deepened(3).eval()
    assert grown.config.num_layers == 3 and len(grown.encoder.layers) == 3
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    with torch.no_grad():
        before, after = adapter(states(), mask), grown(states(), mask)
    assert torch.allclose(before.prompt_embeds, after.prompt_embeds, atol=1e-6)
    assert torch.allclose(before.pooled_prompt_embeds, after.pooled_prompt_embeds, atol=1e-6)
    assert not torch.equal(grown.encoder.layers[1].linear1.weight, grown.encoder.layers[2].linear1.weight)

    # The added layers start as the identity but are not stuck there: their zeroed outputs get a gradient.
    grown.train()
    grown(states(), mask).prompt_embeds.square().sum().backward()
    assert grown.encoder.layers[2].linear2.weight.grad.abs().sum() > 0
    assert grown.encoder.layers[2].self_attn.out_proj.weight.grad.abs().sum() > 0


def test_deepening_refuses_to_shrink():
    adapter = LLMAdapter(llm_dim=48, cond_dim=64, num_queries=10, **{**SMALL, "num_layers": 2})
    with pytest.raises(UserError, match="cannot deepen an adapter of 2 encoder layers to 1"):
        adapter.deepened(1)

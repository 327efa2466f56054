import math

import pytest
import torch
import torch.nn.functional as F

from llmdiff.connectors import FAMILIES, ELLAConnector, build_connector, load_connector
from llmdiff.errors import UserError


def released_keys():
    """The 93 tensors of ella-sd1.5-tsc-t5xl.safetensors, with their shapes."""
    keys = {
        "time_embedding.linear_1.weight": [768, 320], "time_embedding.linear_1.bias": [768],
        "time_embedding.linear_2.weight": [768, 768], "time_embedding.linear_2.bias": [768],
        "connector.latents": [64, 768],
        "connector.time_aware_linear.weight": [768, 768], "connector.time_aware_linear.bias": [768],
        "connector.proj_in.weight": [768, 2048], "connector.proj_in.bias": [768],
    }
    for i in range(6):
        block = f"connector.perceiver_blocks.{i}"
        keys.update({
            f"{block}.attn.in_proj_weight": [2304, 768], f"{block}.attn.in_proj_bias": [2304],
            f"{block}.attn.out_proj.weight": [768, 768], f"{block}.attn.out_proj.bias": [768],
            f"{block}.mlp.c_fc.weight": [3072, 768], f"{block}.mlp.c_fc.bias": [3072],
            f"{block}.mlp.c_proj.weight": [768, 3072], f"{block}.mlp.c_proj.bias": [768],
        })
        for norm in ("ln_1", "ln_2", "ln_ff"):
            keys.update({f"{block}.{norm}.linear.weight": [1536, 768], f"{block}.{norm}.linear.bias": [1536]})
    return keys


def test_published_configuration_on_the_meta_device():
    with torch.device("meta"):
        connector = ELLAConnector.published()
    assert sum(p.numel() for p in connector.parameters()) == 66_820_608
    shapes = {name: list(tensor.shape) for name, tensor in connector.state_dict().items()}
    assert len(shapes) == 93
    assert shapes == released_keys()
    assert (connector.llm_dim, connector.cond_dim, connector.pooled_dim) == (2048, 768, None)
    assert FAMILIES["ella"] is ELLAConnector and ELLAConnector.timestep_aware


def test_adaptive_norms_start_as_plain_layer_norms():
    connector = build_connector("ella", 16, 24, num_layers=2, num_heads=4, num_latents=5, time_channels=8)
    for block in connector.connector.perceiver_blocks:
        for norm in (block.ln_1, block.ln_2, block.ln_ff):
            assert norm.linear.weight.abs().max() == 0 and norm.linear.bias.abs().max() == 0


def reference(w, text, t, num_layers, num_heads, time_channels):
    """ELLA's forward from its description, in plain torch ops; t: (batch,) timesteps."""
    half = time_channels // 2
    frequencies = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.float()[:, None] * frequencies[None]
    sinusoid = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)[:, None]  # flip_sin_to_cos
    temb = F.linear(F.silu(F.linear(sinusoid, w["time_embedding.linear_1.weight"], w["time_embedding.linear_1.bias"])),
                    w["time_embedding.linear_2.weight"], w["time_embedding.linear_2.bias"])

    def ada_norm(prefix, x):
        shift, scale = F.linear(F.silu(temb), w[f"{prefix}.linear.weight"], w[f"{prefix}.linear.bias"]).chunk(2, -1)
        return F.layer_norm(x, x.shape[-1:], eps=1e-6) * (1 + scale) + shift

    def attention(prefix, q_in, kv_in):
        wq, wk, wv = w[f"{prefix}.in_proj_weight"].chunk(3)
        bq, bk, bv = w[f"{prefix}.in_proj_bias"].chunk(3)
        q, k, v = F.linear(q_in, wq, bq), F.linear(kv_in, wk, bk), F.linear(kv_in, wv, bv)
        batch, width = q.shape[0], q.shape[-1]
        heads = [x.reshape(batch, x.shape[1], num_heads, -1).transpose(1, 2) for x in (q, k, v)]
        scores = heads[0] @ heads[1].transpose(-1, -2) / math.sqrt(width // num_heads)
        out = (scores.softmax(-1) @ heads[2]).transpose(1, 2).reshape(batch, -1, width)
        return F.linear(out, w[f"{prefix}.out_proj.weight"], w[f"{prefix}.out_proj.bias"])

    latents = w["connector.latents"][None] + F.linear(
        F.silu(temb), w["connector.time_aware_linear.weight"], w["connector.time_aware_linear.bias"])
    x = F.linear(text, w["connector.proj_in.weight"], w["connector.proj_in.bias"])
    for i in range(num_layers):
        block = f"connector.perceiver_blocks.{i}"
        normed = ada_norm(f"{block}.ln_1", latents)
        keys = torch.cat([normed, ada_norm(f"{block}.ln_2", x)], dim=1)
        latents = latents + attention(f"{block}.attn", normed, keys)
        hidden = F.relu(F.linear(ada_norm(f"{block}.ln_ff", latents), w[f"{block}.mlp.c_fc.weight"],
                                 w[f"{block}.mlp.c_fc.bias"])) ** 2
        latents = latents + F.linear(hidden, w[f"{block}.mlp.c_proj.weight"], w[f"{block}.mlp.c_proj.bias"])
    return latents


SMALL = {"num_layers": 2, "num_heads": 4, "num_latents": 5, "time_channels": 8}


def small_connector(seed=0):
    torch.manual_seed(seed)
    connector = build_connector("ella", 16, 24, **SMALL).eval()
    with torch.no_grad():  # the AdaLN projections start at zero: make them count
        for parameter in connector.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    return connector


@pytest.mark.parametrize("timesteps", [[0, 0], [999, 999], [1, 500], [261, 37]])
def test_forward_equals_the_reference_at_several_timesteps(timesteps):
    connector = small_connector()
    text = torch.randn(2, 7, 16, generator=torch.Generator().manual_seed(1))
    t = torch.tensor(timesteps)
    with torch.no_grad():
        out = connector(text, torch.ones(2, 7), timestep=t)
        settings = {key: SMALL[key] for key in ("num_layers", "num_heads", "time_channels")}
        expected = reference(connector.state_dict(), text, t, **settings)
    assert out.prompt_embeds.shape == (2, 5, 24) and torch.equal(out.attention_mask, torch.ones(2, 5))
    assert out.pooled_prompt_embeds is None
    torch.testing.assert_close(out.prompt_embeds, expected, rtol=1e-4, atol=1e-5)


def test_output_depends_on_the_timestep_and_a_scalar_serves_the_whole_batch():
    connector = small_connector()
    text, mask = torch.randn(2, 7, 16), torch.ones(2, 7)
    with torch.no_grad():
        early, late = connector(text, mask, timestep=900), connector(text, mask, timestep=torch.tensor(100))
        per_row = connector(text, mask, timestep=torch.tensor([900, 100]))
    assert (early.prompt_embeds - late.prompt_embeds).abs().max() > 1e-2
    assert torch.equal(per_row.prompt_embeds[0], early.prompt_embeds[0])
    torch.testing.assert_close(per_row.prompt_embeds[1], late.prompt_embeds[1])
    with pytest.raises(UserError, match="timestep-aware: pass the denoiser's timestep"):
        connector(text, mask)
    with pytest.raises(UserError, match="got 3 timesteps for a batch of 2 prompts"):
        connector(text, mask, timestep=torch.tensor([1, 2, 3]))


def test_padding_is_masked_out_of_the_attention():
    connector = small_connector()
    text = torch.randn(1, 7, 16)
    padded = torch.cat([text[:, :4], 100 * torch.randn(1, 3, 16)], dim=1)
    with torch.no_grad():
        alone = connector(text[:, :4], torch.ones(1, 4), timestep=300).prompt_embeds
        masked = connector(padded, torch.tensor([[1, 1, 1, 1, 0, 0, 0]]), timestep=300).prompt_embeds
    torch.testing.assert_close(masked, alone, rtol=1e-5, atol=1e-5)


def test_round_trip(tmp_path):
    connector = small_connector()
    connector.save_pretrained(tmp_path)
    loaded = load_connector(tmp_path).eval()
    assert type(loaded) is ELLAConnector and loaded.config.num_latents == 5
    text = torch.randn(1, 3, 16)
    with torch.no_grad():
        before, after = connector(text, torch.ones(1, 3), 10), loaded(text, torch.ones(1, 3), 10)
    assert torch.equal(before.prompt_embeds, after.prompt_embeds)
    with pytest.raises(UserError, match="family 'ella' gives no pooled embedding"):
        build_connector("ella", 16, 2048, 1280)


def test_the_timestep_free_perceiver_ignores_the_timestep_and_keeps_the_released_keys(tmp_path):
    aware = small_connector()
    free = ELLAConnector(**{**aware.config, "timestep_aware": False}).eval()
    free.load_state_dict(aware.state_dict())  # the same keys and shapes: a state dict moves between them
    assert aware.timestep_aware and not free.timestep_aware and ELLAConnector.timestep_aware
    text, mask = torch.randn(2, 7, 16), torch.ones(2, 7)
    with torch.no_grad():
        early, late, none = (free(text, mask, timestep=t).prompt_embeds for t in (900, 100, None))
        at_zero = aware(text, mask, timestep=0).prompt_embeds
    assert torch.equal(early, late) and torch.equal(early, none)
    assert torch.equal(early, at_zero)  # it is the timestep-aware Perceiver held at t = 0
    free.save_pretrained(tmp_path)
    loaded = load_connector(tmp_path)
    assert not loaded.timestep_aware and set(loaded.state_dict()) == set(aware.state_dict())

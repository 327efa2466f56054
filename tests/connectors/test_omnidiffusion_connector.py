import math

import pytest
import torch
import torch.nn.functional as F

from llmdiff.connectors import FAMILIES, OmniDiffusionConnector, build_connector, load_connector
from llmdiff.errors import UserError


def released_keys(layers=4):
    """Keys and shapes of the released MLMAdapter state dict (text_encoder_adapter/pytorch_model.bin)."""
    d, ff = 2048, 8192
    attention = lambda p: {f"{p}.in_proj_weight": [3 * d, d], f"{p}.in_proj_bias": [3 * d],  # noqa: E731
                           f"{p}.out_proj.weight": [d, d], f"{p}.out_proj.bias": [d]}
    norm = lambda p: {f"{p}.weight": [d], f"{p}.bias": [d]}  # noqa: E731
    mlp = lambda p: {f"{p}.linear1.weight": [ff, d], f"{p}.linear1.bias": [ff],  # noqa: E731
                     f"{p}.linear2.weight": [d, ff], f"{p}.linear2.bias": [d]}
    keys = {"fc.0.weight": [d, 4096], "fc.0.bias": [d], "fc.2.weight": [d, d], "fc.2.bias": [d],
            "t2i_decoder_prompt": [1, 227, d],
            "fc1.0.weight": [1280, d], "fc1.0.bias": [1280], "fc1.2.weight": [1280, 1280], "fc1.2.bias": [1280]}
    for i in range(layers):
        p = f"llm_to_t2i_mapping.encoder.layers.{i}"
        keys.update({**attention(f"{p}.self_attn"), **mlp(p), **norm(f"{p}.norm1"), **norm(f"{p}.norm2")})
        p = f"llm_to_t2i_mapping.decoder.layers.{i}"
        keys.update({**attention(f"{p}.self_attn"), **attention(f"{p}.multihead_attn"), **mlp(p),
                     **norm(f"{p}.norm1"), **norm(f"{p}.norm2"), **norm(f"{p}.norm3")})
    keys.update({**norm("llm_to_t2i_mapping.encoder.norm"), **norm("llm_to_t2i_mapping.decoder.norm")})
    return keys


def test_published_configuration_on_the_meta_device():
    with torch.device("meta"):
        connector = OmniDiffusionConnector.published()
    assert sum(p.numel() for p in connector.parameters()) == 487_346_688
    assert {name: list(t.shape) for name, t in connector.state_dict().items()} == released_keys()
    assert (connector.llm_dim, connector.cond_dim, connector.pooled_dim) == (4096, 2048, 1280)
    assert FAMILIES["omnidiffusion"] is OmniDiffusionConnector and not connector.timestep_aware


def reference(w, llm_states, num_heads, layers, key_mask=None):
    """MLMAdapter's forward from its description, in plain torch ops: nn.Transformer defaults (ReLU,
    pre-norm, no dropout, no causal mask); `key_mask` (batch, tokens) of True for real tokens, or None."""

    def norm(p, x):
        return F.layer_norm(x, x.shape[-1:], w[f"{p}.weight"], w[f"{p}.bias"], 1e-5)

    def attention(p, q_in, kv_in, keep=None):
        wq, wk, wv = w[f"{p}.in_proj_weight"].chunk(3)
        bq, bk, bv = w[f"{p}.in_proj_bias"].chunk(3)
        q, k, v = F.linear(q_in, wq, bq), F.linear(kv_in, wk, bk), F.linear(kv_in, wv, bv)
        batch, width = q.shape[0], q.shape[-1]
        q, k, v = (x.reshape(batch, x.shape[1], num_heads, -1).transpose(1, 2) for x in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(width // num_heads)
        if keep is not None:
            scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, -1, width)
        return F.linear(out, w[f"{p}.out_proj.weight"], w[f"{p}.out_proj.bias"])

    def mlp(p, x):
        return F.linear(F.relu(F.linear(x, w[f"{p}.linear1.weight"], w[f"{p}.linear1.bias"])),
                        w[f"{p}.linear2.weight"], w[f"{p}.linear2.bias"])

    src = F.linear(F.gelu(F.linear(llm_states, w["fc.0.weight"], w["fc.0.bias"])), w["fc.2.weight"], w["fc.2.bias"])
    for i in range(layers):
        p = f"llm_to_t2i_mapping.encoder.layers.{i}"
        n = norm(f"{p}.norm1", src)
        src = src + attention(f"{p}.self_attn", n, n, key_mask)
        src = src + mlp(p, norm(f"{p}.norm2", src))
    memory = norm("llm_to_t2i_mapping.encoder.norm", src)
    tgt = w["t2i_decoder_prompt"].expand(llm_states.shape[0], -1, -1)
    for i in range(layers):
        p = f"llm_to_t2i_mapping.decoder.layers.{i}"
        n = norm(f"{p}.norm1", tgt)
        tgt = tgt + attention(f"{p}.self_attn", n, n)
        tgt = tgt + attention(f"{p}.multihead_attn", norm(f"{p}.norm2", tgt), memory, key_mask)
        tgt = tgt + mlp(p, norm(f"{p}.norm3", tgt))
    embeds = norm("llm_to_t2i_mapping.decoder.norm", tgt)
    hidden = embeds[:, 1:-1].mean(1)
    pooled = F.linear(F.gelu(F.linear(hidden, w["fc1.0.weight"], w["fc1.0.bias"])), w["fc1.2.weight"], w["fc1.2.bias"])
    return embeds, pooled


SMALL = {"num_heads": 4, "num_encoder_layers": 2, "num_decoder_layers": 2, "ff_dim": 40, "num_queries": 9}


def small_connector(seed=0):
    torch.manual_seed(seed)
    connector = build_connector("omnidiffusion", 20, 16, 12, **SMALL).eval()
    with torch.no_grad():  # LayerNorms start at 1/0: make every tensor count
        for parameter in connector.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return connector


def test_unpadded_input_equals_the_unmasked_reference():
    connector = small_connector()
    states = torch.randn(1, 6, 20, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = connector(states, torch.ones(1, 6, dtype=torch.long))
        embeds, pooled = reference(connector.state_dict(), states, num_heads=4, layers=2)
    assert out.prompt_embeds.shape == (1, 9, 16) and out.pooled_prompt_embeds.shape == (1, 12)
    assert torch.equal(out.attention_mask, torch.ones(1, 9, dtype=torch.long))
    torch.testing.assert_close(out.prompt_embeds, embeds, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.pooled_prompt_embeds, pooled, rtol=1e-4, atol=1e-5)


def test_padding_does_not_change_the_real_outputs():
    connector = small_connector()
    states = torch.randn(2, 8, 20, generator=torch.Generator().manual_seed(2))
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    garbage = states.clone()
    garbage[1, 5:] = 100 * torch.randn(3, 20)
    with torch.no_grad():
        batch = connector(garbage, mask)
        alone = connector(states[1:, :5], torch.ones(1, 5))
        embeds, pooled = reference(connector.state_dict(), garbage, num_heads=4, layers=2, key_mask=mask.bool())
    torch.testing.assert_close(batch.prompt_embeds[1:], alone.prompt_embeds, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batch.pooled_prompt_embeds[1:], alone.pooled_prompt_embeds, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batch.prompt_embeds, embeds, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batch.pooled_prompt_embeds, pooled, rtol=1e-4, atol=1e-5)


def test_round_trip_and_options(tmp_path):
    connector = small_connector()
    connector.save_pretrained(tmp_path)
    loaded = load_connector(tmp_path).eval()
    assert type(loaded) is OmniDiffusionConnector and loaded.pooled_dim == 12
    states = torch.randn(1, 4, 20)
    with torch.no_grad():
        a, b = connector(states, torch.ones(1, 4)), loaded(states, torch.ones(1, 4))
    assert torch.equal(a.prompt_embeds, b.prompt_embeds) and torch.equal(a.pooled_prompt_embeds, b.pooled_prompt_embeds)
    sd = build_connector("omnidiffusion", 20, 16, **SMALL)
    assert sd.pooled_dim is None and sd.fc1 is None
    assert sd(states, torch.ones(1, 4)).pooled_prompt_embeds is None
    with pytest.raises(UserError, match="at least 3 queries"):
        build_connector("omnidiffusion", 20, 16, **{**SMALL, "num_queries": 2})

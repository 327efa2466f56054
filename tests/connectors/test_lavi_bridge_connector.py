import pytest
import torch
import torch.nn.functional as F

from llmdiff.connectors import FAMILIES, LaViBridgeConnector, build_connector, load_connector
from llmdiff.errors import UserError


def shapes_of(model):
    return {name: list(tensor.shape) for name, tensor in model.state_dict().items()}


def released_keys(llm, hidden, cond):
    """The keys and shapes of a released TextAdapter(in_dim, int_dim, out_dim)."""
    return {
        "norm1.weight": [llm], "norm1.bias": [llm],
        "ff1.net.0.proj.weight": [8 * llm, llm], "ff1.net.0.proj.bias": [8 * llm],
        "ff1.net.2.weight": [hidden, 4 * llm], "ff1.net.2.bias": [hidden],
        "norm2.weight": [hidden], "norm2.bias": [hidden],
        "ff2.net.0.proj.weight": [8 * hidden, hidden], "ff2.net.0.proj.bias": [8 * hidden],
        "ff2.net.2.weight": [cond, 4 * hidden], "ff2.net.2.bias": [cond],
    }


@pytest.mark.parametrize(
    "variant, widths, total",
    [("llama2_unet", (4096, 2432, 768), 228_920_192), ("t5_unet", (1024, 896, 768), 21_254_528)],
)
def test_published_configurations_on_the_meta_device(variant, widths, total):
    with torch.device("meta"):
        connector = LaViBridgeConnector.published(variant)
    assert sum(p.numel() for p in connector.parameters()) == total
    assert shapes_of(connector) == released_keys(*widths)
    assert (connector.llm_dim, connector.cond_dim, connector.pooled_dim) == (widths[0], 768, None)
    assert FAMILIES["lavi_bridge"] is LaViBridgeConnector and not connector.timestep_aware


def reference(weights, x):
    """TextAdapter's forward from its description, in plain torch ops (eval: no dropout)."""

    def feed_forward(prefix, h):
        h, gate = F.linear(h, weights[f"{prefix}.net.0.proj.weight"], weights[f"{prefix}.net.0.proj.bias"]).chunk(2, -1)
        return F.linear(h * F.gelu(gate), weights[f"{prefix}.net.2.weight"], weights[f"{prefix}.net.2.bias"])

    def norm(prefix, h):
        return F.layer_norm(h, h.shape[-1:], weights[f"{prefix}.weight"], weights[f"{prefix}.bias"], 1e-5)

    return feed_forward("ff2", norm("norm2", feed_forward("ff1", norm("norm1", x))))


def test_forward_equals_the_reference_token_by_token():
    torch.manual_seed(0)
    connector = build_connector("lavi_bridge", 24, 16, hidden_dim=20).eval()
    with torch.no_grad():
        for parameter in connector.parameters():  # LayerNorms start at 1/0: make every tensor count
            parameter.add_(0.1 * torch.randn_like(parameter))
    hidden = torch.randn(2, 9, 24)
    with torch.no_grad():
        out = connector(hidden, torch.ones(2, 9))
        expected = reference(connector.state_dict(), hidden)
        one_token = connector(hidden[:1, 4:5], torch.ones(1, 1)).prompt_embeds
    assert out.prompt_embeds.shape == (2, 9, 16) and out.pooled_prompt_embeds is None
    torch.testing.assert_close(out.prompt_embeds, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(one_token[0, 0], out.prompt_embeds[0, 4], rtol=1e-5, atol=1e-6)


def test_padding_positions_come_out_zero_and_leave_the_rest_alone():
    connector = build_connector("lavi_bridge", 24, 16, hidden_dim=20).eval()
    hidden = torch.randn(1, 6, 24)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        masked, full = connector(hidden, mask), connector(hidden, torch.ones(1, 6))
    assert torch.equal(masked.prompt_embeds[:, :4], full.prompt_embeds[:, :4])
    assert masked.prompt_embeds[:, 4:].abs().max() == 0 and torch.equal(masked.attention_mask, mask)


def test_round_trip_and_no_pooled(tmp_path):
    connector = build_connector("lavi_bridge", 24, 16, hidden_dim=20).eval()
    connector.save_pretrained(tmp_path)
    loaded = load_connector(tmp_path).eval()
    assert type(loaded) is LaViBridgeConnector and loaded.config.hidden_dim == 20
    hidden = torch.randn(1, 3, 24)
    with torch.no_grad():
        before, after = connector(hidden, torch.ones(1, 3)), loaded(hidden, torch.ones(1, 3))
    assert torch.equal(before.prompt_embeds, after.prompt_embeds)
    with pytest.raises(UserError, match="family 'lavi_bridge' gives no pooled embedding"):
        build_connector("lavi_bridge", 24, 2048, 1280)
    with pytest.raises(UserError, match="unknown LaVi-Bridge variant 'pixart'"):
        LaViBridgeConnector.published("pixart")

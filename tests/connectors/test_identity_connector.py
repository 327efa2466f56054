import pytest
import torch

from llmdiff.connectors import FAMILIES, IdentityConnector, build_connector, load_connector
from llmdiff.errors import UserError


def test_states_pass_through_with_padding_zeroed():
    connector = build_connector("identity", 12, 12)
    assert FAMILIES["identity"] is IdentityConnector and not IdentityConnector.timestep_aware
    assert sum(p.numel() for p in connector.parameters()) == 0
    hidden = torch.randn(2, 5, 12)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    out = connector(hidden, mask)
    assert torch.equal(out.prompt_embeds[0], hidden[0])
    assert torch.equal(out.prompt_embeds[1, :2], hidden[1, :2])
    assert out.prompt_embeds[1, 2:].abs().max() == 0
    assert out.attention_mask is mask and out.pooled_prompt_embeds is None


def test_widths_must_agree():
    with pytest.raises(UserError, match=r"cross-attention width \(768\) must equal the LLM's width \(4096\)"):
        build_connector("identity", 4096, 768)
    with pytest.raises(UserError, match="family 'identity' gives no pooled embedding"):
        build_connector("identity", 2048, 2048, 1280)
    published = IdentityConnector.published()
    assert (published.llm_dim, published.cond_dim, published.pooled_dim) == (4096, 4096, None)
    published.check_compatible(4096, 4096, None)
    with pytest.raises(UserError, match="LLM width 4096.*LLM's width is 2048"):
        published.check_compatible(2048, 4096, None)


def test_save_and_load_without_parameters(tmp_path):
    build_connector("identity", 12, 12).save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = load_connector(tmp_path, torch_dtype=torch.float16)
    assert type(loaded) is IdentityConnector and loaded.cond_dim == 12
    hidden = torch.randn(1, 3, 12)
    assert torch.equal(loaded(hidden, torch.ones(1, 3)).prompt_embeds, hidden)
    assert type(IdentityConnector.load(tmp_path)) is IdentityConnector


def test_padding_states_pass_through_when_asked_as_paradiffusion_reads_them():
    states = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    kept = IdentityConnector(llm_dim=8, zero_padding=False)(states, mask)
    assert torch.equal(kept.prompt_embeds, states) and torch.equal(kept.attention_mask, mask)
    zeroed = IdentityConnector(llm_dim=8)(states, mask)
    assert torch.equal(zeroed.prompt_embeds[1, 2:], torch.zeros(3, 8))
    assert IdentityConnector.published().config.zero_padding is False

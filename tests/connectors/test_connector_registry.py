import json

import pytest
import torch

from llmdiff.adapter import AdapterOutput, LLMAdapter
from llmdiff.connectors import FAMILIES, Connector, ConnectorOutput, build_connector, load_connector
from llmdiff.defaults import default_model_dir
from llmdiff.errors import UserError

SMALL_LLMDIFF = {"hidden_dim": 32, "num_heads": 4, "num_layers": 1, "num_queries": 6}


def states(batch=2, length=7, width=48, seed=0):
    return torch.randn(batch, length, width, generator=torch.Generator().manual_seed(seed))


def test_old_import_path_names_the_same_objects():
    assert AdapterOutput is ConnectorOutput
    assert FAMILIES["llmdiff"] is LLMAdapter and LLMAdapter.family == "llmdiff"
    assert not LLMAdapter.timestep_aware


def test_the_interface_cannot_be_built_without_a_forward():
    with pytest.raises(TypeError, match="abstract"):
        Connector()


def test_shipped_adapter_loads_through_the_registry_with_the_same_outputs():
    folder = default_model_dir() / "adapter"
    direct = LLMAdapter.load(folder).eval()
    chosen = load_connector(folder).eval()
    assert type(chosen) is LLMAdapter
    assert (chosen.llm_dim, chosen.cond_dim, chosen.pooled_dim) == (576, 256, None)
    hidden, mask = states(width=576), torch.tensor([[1] * 7, [1] * 3 + [0] * 4])
    with torch.no_grad():
        a, b = direct(hidden, mask), chosen(hidden, mask, timestep=torch.tensor([10, 900]))
    assert torch.equal(a.prompt_embeds, b.prompt_embeds)
    assert torch.equal(a.attention_mask, b.attention_mask)


def test_build_connector_sizes_the_family_and_refuses_what_it_cannot_give():
    adapter = build_connector("llmdiff", 48, 64, 16, **SMALL_LLMDIFF)
    assert type(adapter) is LLMAdapter
    assert (adapter.llm_dim, adapter.cond_dim, adapter.pooled_dim) == (48, 64, 16)
    adapter.check_compatible(48, 64, 16)
    with pytest.raises(UserError, match="pooled width 16.*pooled width None"):
        adapter.check_compatible(48, 64, None)
    with pytest.raises(UserError, match="unknown connector family 'clip'; known: llmdiff"):
        build_connector("clip", 48, 64)


def test_round_trip_through_the_registry(tmp_path):
    adapter = build_connector("llmdiff", 48, 64, 16, **SMALL_LLMDIFF).eval()
    adapter.save_pretrained(tmp_path)
    loaded = load_connector(tmp_path).eval()
    mask = torch.ones(2, 7, dtype=torch.long)
    with torch.no_grad():
        assert torch.equal(adapter(states(), mask).pooled_prompt_embeds, loaded(states(), mask).pooled_prompt_embeds)
    assert type(Connector.load(tmp_path)) is LLMAdapter


def saved(tmp_path, name="adapter"):
    folder = tmp_path / name
    build_connector("llmdiff", 48, 64, **SMALL_LLMDIFF).save_pretrained(folder)
    return folder


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    for key in [key for key, value in changes.items() if value is None]:
        del config[key]
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda folder: (folder / "config.json").unlink(), r"has no config\.json"),
        (lambda folder: (folder / "config.json").write_text("{nope"), r"config\.json' is not readable JSON"),
        (lambda folder: edit_config(folder, _class_name="CLIPTextModel"),
         r"config\.json' names class 'CLIPTextModel'; known connector families: llmdiff \(LLMAdapter\)"),
        (lambda folder: edit_config(folder, _class_name=None), r"config\.json' names no connector class"),
        (lambda folder: (folder / "diffusion_pytorch_model.safetensors").unlink(),
         "has no diffusion_pytorch_model.safetensors"),
        (lambda folder: edit_config(folder, num_queries=7),
         r"safetensors': it has 1 tensor\(s\) of the wrong shape: queries \[6, 32\] \(expected \[7, 32\]\)"),
        (lambda folder: edit_config(folder, num_layers=2),
         r"safetensors': it lacks 12 tensor\(s\) the connector needs"),
        (lambda folder: edit_config(folder, pooled_dim=16), r"it lacks 6 tensor\(s\).*pooled_head"),
        (lambda folder: edit_config(folder, num_queries=None, num_resampler_layers=None) or
         edit_config(folder, num_queries=0), r"it holds \d+ tensor\(s\) the connector does not have"),
        (lambda folder: edit_config(folder, llm_dim=None), r"does not describe a LLMAdapter"),
    ],
)
def test_bad_folders_give_one_line_errors(tmp_path, spoil, message):
    folder = saved(tmp_path)
    spoil(folder)
    with pytest.raises(UserError, match=message) as error:
        load_connector(folder)
    assert "\n" not in str(error.value)
    if "names" not in message:  # loading through the class: the same checks
        with pytest.raises(UserError, match=message):
            LLMAdapter.load(folder)


def test_loading_through_a_class_refuses_another_class(tmp_path):
    folder = saved(tmp_path)
    edit_config(folder, _class_name="CLIPTextModel")
    message = r"config\.json' describes a CLIPTextModel, not a LLMAdapter \(family 'llmdiff'\)"
    with pytest.raises(UserError, match=message):
        LLMAdapter.load(folder)


def test_missing_folder_and_cut_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_connector(tmp_path / "nothing")
    folder = saved(tmp_path)
    weights = folder / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(UserError, match=r"could not load adapter from '.*diffusion_pytorch_model\.safetensors': "
                                        r"not an intact safetensors file"):
        load_connector(folder)


SMALL_FAMILIES = {
    "llmdiff": (48, 64, 16, SMALL_LLMDIFF),
    "omnidiffusion": (48, 32, 16, {"num_heads": 4, "num_encoder_layers": 1, "num_decoder_layers": 1, "ff_dim": 40,
                                   "num_queries": 5}),
    "ella": (48, 32, None, {"num_layers": 1, "num_heads": 4, "num_latents": 5, "time_channels": 8}),
    "lavi_bridge": (48, 32, None, {"hidden_dim": 24}),
    "identity": (48, 48, None, {}),
}


def test_every_family_is_tested_here():
    assert set(SMALL_FAMILIES) == set(FAMILIES)


@pytest.mark.parametrize("family", sorted(SMALL_FAMILIES))
def test_every_family_round_trips_as_its_own_class(tmp_path, family):
    llm_dim, cond_dim, pooled_dim, options = SMALL_FAMILIES[family]
    connector = build_connector(family, llm_dim, cond_dim, pooled_dim, **options).eval()
    assert type(connector) is FAMILIES[family] and connector.family == family
    connector.save_pretrained(tmp_path)
    loaded = load_connector(tmp_path).eval()
    assert type(loaded) is FAMILIES[family]
    loaded.check_compatible(llm_dim, cond_dim, pooled_dim, where=str(tmp_path))
    hidden, mask = states(width=llm_dim), torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    timestep = torch.tensor([999, 20]) if connector.timestep_aware else None
    with torch.no_grad():
        a, b = connector(hidden, mask, timestep), loaded(hidden, mask, timestep)
    assert torch.equal(a.prompt_embeds, b.prompt_embeds) and a.prompt_embeds.shape[-1] == cond_dim
    assert (a.pooled_prompt_embeds is None) == (pooled_dim is None)
    others = [cls for name, cls in FAMILIES.items() if name != family]
    for other in others:
        with pytest.raises(UserError, match=rf"describes a {type(connector).__name__}, not a {other.__name__}"):
            other.load(tmp_path)

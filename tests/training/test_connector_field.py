"""`model.connector`: the family of a fresh connector, validated against the registry and built by the stages."""

import pytest

from llmdiff.errors import UserError
from llmdiff.pipeline import BaseModelInfo
from llmdiff.training.config import load_config
from llmdiff.training.models import build_adapter

MINIMAL = {"model": {"base": "some/base"}, "data": {"train": ["x.jsonl"]}}


def config(**model):
    return load_config(data={**MINIMAL, "model": {**MINIMAL["model"], **model}})


def test_unknown_family_is_refused_naming_the_known_ones():
    with pytest.raises(UserError, match="model.connector: unknown family 'nonesuch'.*omnidiffusion"):
        config(connector="nonesuch")
    assert config().model.connector == "llmdiff"


def test_fresh_connector_is_of_the_named_family():
    info = BaseModelInfo("sd", 32, None)
    lavi = build_adapter(config(connector="lavi_bridge", adapter_config={"hidden_dim": 16}), 24, info)
    assert type(lavi).__name__ == "LaViBridgeConnector" and lavi.family == "lavi_bridge"
    default = build_adapter(config(adapter_config={"hidden_dim": 16, "num_heads": 2, "num_queries": 4}), 24, info)
    assert type(default).__name__ == "LLMAdapter"


def test_stage_one_length_sets_the_queries_of_a_family_that_has_them():
    xl = BaseModelInfo("sdxl", 32, 16)
    options = {"num_heads": 2, "num_encoder_layers": 1, "num_decoder_layers": 1, "ff_dim": 32}
    omni = build_adapter(config(connector="omnidiffusion", adapter_config=options), 24, xl, length=77)
    assert type(omni).__name__ == "OmniDiffusionConnector" and omni.config.num_queries == 77
    with pytest.raises(UserError, match="connector gives one position per LLM token; skip stage 1"):
        build_adapter(config(connector="lavi_bridge"), 24, BaseModelInfo("sd", 32, None), length=77)

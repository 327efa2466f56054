"""text_encoder_config.json for a published system: its text path, written as plain JSON.

Every field is written, the defaults included, so the file says the whole text path on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmdiff.pipeline import TEXT_ENCODER_CONFIG_NAME

DEFAULTS = {
    "layers": [-1],
    "layer_reduction": "mean",
    "max_length": 512,
    "strict": False,
    "instruction": "",
    "padding_side": "right",
    "pad_to_max_length": False,
    "pad_token_id": None,
    "add_bos": None,
    "add_eos": None,
    "drop_eos": False,
    "use_attention_mask": True,
    "dtype": None,
    "pooled": None,
    "pooled_layer": -1,
    "trust_remote_code": False,
}


def text_settings(llm: str, **fields) -> dict:
    unknown = set(fields) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"not text encoder settings: {sorted(unknown)}")
    return {**DEFAULTS, **fields, "llm": llm}


def write_text_settings(directory: Path, settings: dict) -> None:
    (directory / TEXT_ENCODER_CONFIG_NAME).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")

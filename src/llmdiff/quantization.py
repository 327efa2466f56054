"""Loading an LLM with 8-bit or 4-bit weights through bitsandbytes (CUDA and CPU), for large text encoders.

Only the frozen text encoder is quantised: its linear layers' weights are stored in int8 (LLM.int8) or
4-bit NormalFloat and dequantised on the fly; embeddings and norms keep the load dtype.
"""

from __future__ import annotations

import importlib.util

import torch

from llmdiff.errors import UserError

QUANTIZATIONS = ("int8", "int4")


def bitsandbytes_config(quantize: str | None, compute_dtype: torch.dtype | None):
    """transformers' `BitsAndBytesConfig` for a `quantize` setting (None: no quantisation)."""
    if quantize is None:
        return None
    if quantize not in QUANTIZATIONS:
        raise UserError(f"quantize must be one of {', '.join(QUANTIZATIONS)} or null, not {quantize!r}")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError(f"quantize={quantize!r} needs bitsandbytes: pip install 'llmdiff[quantize]'")
    from transformers import BitsAndBytesConfig

    if quantize == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype or torch.float32
    )

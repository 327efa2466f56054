"""The adapter: llmdiff's own connector family, kept under its first import path.

`LLMAdapter` lives in `llmdiff.connectors.llmdiff`; other families are in `llmdiff.connectors`.
"""

from llmdiff.connectors.base import ConnectorOutput as AdapterOutput
from llmdiff.connectors.base import masked_mean
from llmdiff.connectors.llmdiff import LLMAdapter

__all__ = ["AdapterOutput", "LLMAdapter", "masked_mean"]

"""Connector families: what maps an LLM's states into a denoiser's conditioning.

A family is one module and one line in `FAMILIES`. An adapter folder names its class in config.json
(`_class_name`, written by diffusers' `save_pretrained`); `load_connector` picks the class from there.
"""

from __future__ import annotations

import os
from pathlib import Path

from llmdiff.connectors.base import CONFIG_NAME, Connector, ConnectorOutput, masked_mean, read_connector_config
from llmdiff.connectors.ella import ELLAConnector
from llmdiff.connectors.identity import IdentityConnector
from llmdiff.connectors.lavi_bridge import LaViBridgeConnector
from llmdiff.connectors.llmdiff import LLMAdapter
from llmdiff.connectors.omnidiffusion import OmniDiffusionConnector
from llmdiff.errors import UserError
from llmdiff.loading import check_source, user_errors

FAMILIES: dict[str, type[Connector]] = {
    LLMAdapter.family: LLMAdapter,
    OmniDiffusionConnector.family: OmniDiffusionConnector,
    ELLAConnector.family: ELLAConnector,
    LaViBridgeConnector.family: LaViBridgeConnector,
    IdentityConnector.family: IdentityConnector,
}
"""family name -> class"""

__all__ = ["FAMILIES", "Connector", "ConnectorOutput", "ELLAConnector", "IdentityConnector", "LaViBridgeConnector",
           "LLMAdapter", "OmniDiffusionConnector", "build_connector", "load_connector", "masked_mean"]


def _known() -> str:
    return ", ".join(f"{name} ({cls.__name__})" for name, cls in FAMILIES.items())


def family_of_class(class_name: str | None, source: str) -> type[Connector]:
    """The connector class an adapter config names, or a one-line error naming the known ones."""
    by_class = {cls.__name__: cls for cls in FAMILIES.values()}
    if class_name not in by_class:
        named = f"names class '{class_name}'" if class_name else "names no connector class (_class_name)"
        raise UserError(f"'{source}' {named}; known connector families: {_known()}")
    return by_class[class_name]


def load_connector(path: str | os.PathLike, **kwargs) -> Connector:
    """The connector saved in an adapter folder, as the class its config.json names (safetensors only)."""
    path = str(path)
    check_source("adapter", path)
    if os.path.isdir(path):
        config = read_connector_config(path)
        source = str(Path(path) / CONFIG_NAME)
    else:  # a hub id
        with user_errors("adapter config", path):
            config = Connector.load_config(path)
        source = f"{path}/{CONFIG_NAME}"
    return family_of_class(config.get("_class_name"), source).load(path, **kwargs)


def build_connector(family: str, llm_dim: int, cond_dim: int, pooled_dim: int | None = None, **options) -> Connector:
    """A freshly initialised connector of `family` for these widths."""
    if family not in FAMILIES:
        raise UserError(f"unknown connector family '{family}'; known: {', '.join(FAMILIES)}")
    return FAMILIES[family].for_dims(llm_dim, cond_dim, pooled_dim, **options)

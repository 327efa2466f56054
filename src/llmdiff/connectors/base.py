"""The one interface every connector family shares: LLM states + mask (+ timestep) -> conditioning.

A connector sits between the LLM and the denoiser. Families differ in what they compute, not in how they
are called, saved or loaded: each is a diffusers `ModelMixin, ConfigMixin` whose module tree is its
published checkpoint's key layout, so a converted state dict loads with `strict=True`.
"""

from __future__ import annotations

import os
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from diffusers.configuration_utils import ConfigMixin
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput

from llmdiff.errors import UserError
from llmdiff.files import read_json_object
from llmdiff.loading import check_source, user_errors

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
CONFIG_NAME = "config.json"


@dataclass
class ConnectorOutput(BaseOutput):
    prompt_embeds: torch.Tensor
    """(batch, tokens, cond_dim): what the denoiser's cross-attention reads"""
    attention_mask: torch.Tensor
    """(batch, tokens): all ones with learned queries; the input mask otherwise"""
    pooled_prompt_embeds: torch.Tensor | None = None
    """(batch, pooled_dim) for SDXL-family models, else None"""


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class _ConnectorMeta(ABCMeta, type(ModelMixin)):
    """ModelMixin's metaclass with abstract-method checks."""


class Connector(ModelMixin, ConfigMixin, metaclass=_ConnectorMeta):
    """LLM hidden states and their mask (and, for timestep-aware families, the denoising timestep) in,
    the denoiser's `prompt_embeds` (and SDXL's `pooled_prompt_embeds`) out.

    Subclasses register their constructor with `@register_to_config`, name their family, and keep the
    widths under the config keys `llm_dim`, `cond_dim` and (if they pool) `pooled_dim`.
    """

    config_name = CONFIG_NAME
    family: ClassVar[str]
    """registry name, as in `llmdiff.connectors.FAMILIES`"""
    timestep_aware: ClassVar[bool] = False
    """True when `forward` needs the denoiser's timestep: the output changes at every denoising step"""
    gives_pooled: ClassVar[bool] = False
    """True when the family can give SDXL's pooled embedding"""

    @property
    def llm_dim(self) -> int:
        return self.config["llm_dim"]

    @property
    def cond_dim(self) -> int:
        return self.config["cond_dim"]

    @property
    def pooled_dim(self) -> int | None:
        return self.config.get("pooled_dim") or None

    @abstractmethod
    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, timestep: torch.Tensor | float | None = None
    ) -> ConnectorOutput:
        """hidden_states (batch, tokens, llm_dim), attention_mask (batch, tokens) of 1 (real) / 0 (padding);
        timestep: the denoiser's own timestep (0..999), a scalar or (batch,), required iff `timestep_aware`."""

    def _check_width(self, hidden_states: torch.Tensor) -> None:
        if hidden_states.shape[-1] != self.llm_dim:
            raise UserError(
                f"the adapter expects LLM states of width {self.llm_dim}, "
                f"but the LLM gives width {hidden_states.shape[-1]}"
            )

    def check_compatible(self, llm_dim: int, cond_dim: int, pooled_dim: int | None, where: str = "") -> None:
        """Raise a clear error if this connector cannot connect this LLM to this base model."""
        source = f" ({where})" if where else ""
        if self.llm_dim != llm_dim:
            raise UserError(
                f"adapter{source} was built for LLM width {self.llm_dim}, but the LLM's width is {llm_dim}"
            )
        if self.cond_dim != cond_dim:
            raise UserError(
                f"adapter{source} outputs width {self.cond_dim}, but the base model's cross-attention "
                f"expects width {cond_dim}"
            )
        if self.pooled_dim != (pooled_dim or None):
            raise UserError(
                f"adapter{source} has pooled width {self.pooled_dim}, but the base model expects "
                f"pooled width {pooled_dim}"
            )

    @classmethod
    def for_dims(cls, llm_dim: int, cond_dim: int, pooled_dim: int | None = None, **options) -> "Connector":
        """A freshly initialised connector for these widths (options: the family's other settings)."""
        widths = {"llm_dim": llm_dim, "cond_dim": cond_dim}
        if pooled_dim:
            if not cls.gives_pooled:
                raise UserError(
                    f"connector family '{cls.family}' gives no pooled embedding, but the base model needs one "
                    f"of width {pooled_dim} (an SDXL-family model); pick a family that pools"
                )
            widths["pooled_dim"] = pooled_dim
        elif cls.gives_pooled:
            widths["pooled_dim"] = None
        return cls(**{**options, **widths})

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs) -> "Connector":
        """`from_pretrained` from safetensors only, with a one-line error for any folder that is not a
        complete, intact connector of this class (on `Connector` itself: of the family its config names)."""
        if cls is Connector:
            from llmdiff.connectors import load_connector

            return load_connector(path, **kwargs)
        path = str(path)
        check_source("adapter", path)
        if not os.path.isdir(path):  # a hub id: from_pretrained fetches and checks it
            with user_errors("adapter", path):
                return cls.from_pretrained(path, use_safetensors=True, **kwargs)
        weights = Path(path) / WEIGHTS_NAME
        if not weights.is_file():
            raise UserError(f"adapter directory '{path}' has no {WEIGHTS_NAME}")
        config = read_connector_config(path)
        if config.get("_class_name") != cls.__name__:
            raise UserError(
                f"'{Path(path) / CONFIG_NAME}' describes a {config.get('_class_name')}, not a {cls.__name__} "
                f"(family '{cls.family}'); load it with llmdiff.connectors.load_connector"
            )
        expected = cls._expected_shapes(config, Path(path) / CONFIG_NAME)
        check_weights_file(weights, expected)
        if not expected:  # nothing to read: from_pretrained insists on tensors to load
            model = cls.from_config(config)
            dtype = kwargs.get("torch_dtype")
            return model.to(dtype) if dtype is not None else model
        with user_errors("adapter", path):
            return cls.from_pretrained(path, use_safetensors=True, **kwargs)

    @classmethod
    def _expected_shapes(cls, config: dict, source: Path) -> dict[str, tuple[int, ...]]:
        """Key -> shape of this class built from `config`, on the meta device (no memory, no time)."""
        from accelerate import init_empty_weights

        try:
            with init_empty_weights(include_buffers=True):
                model = cls.from_config(config)
        except UserError:
            raise
        except (TypeError, ValueError, RuntimeError) as error:
            raise UserError(f"'{source}' does not describe a {cls.__name__}: {error}") from error
        return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        super().save_pretrained(save_directory, *args, **kwargs)
        weights = Path(save_directory) / WEIGHTS_NAME
        if not self.state_dict() and not weights.exists():
            # A family without weights still gets a (empty) weights file: every adapter folder looks alike.
            from safetensors.torch import save_file

            save_file({}, str(weights), metadata={"format": "pt"})


def read_connector_config(path: str | os.PathLike) -> dict:
    """An adapter folder's config.json as a dict, or a one-line error naming the file."""
    file = Path(path) / CONFIG_NAME
    if not file.is_file():
        raise UserError(f"adapter directory '{path}' has no {CONFIG_NAME}")
    return read_json_object(file)


def check_weights_file(file: Path, expected: dict[str, tuple[int, ...]]) -> None:
    """Fail with one line unless `file` is an intact safetensors file with exactly these keys and shapes."""
    from safetensors import SafetensorError, safe_open

    where = f"could not load adapter from '{file}'"
    try:
        with safe_open(str(file), framework="pt") as weights:
            found = {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}
    except (SafetensorError, OSError) as error:
        detail = " ".join(str(error).split())[:200]
        raise UserError(f"{where}: not an intact safetensors file ({detail})") from error
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing:
        raise UserError(f"{where}: it lacks {len(missing)} tensor(s) the connector needs: {_few(missing)}")
    if extra:
        raise UserError(f"{where}: it holds {len(extra)} tensor(s) the connector does not have: {_few(extra)}")
    wrong = [f"{name} {list(found[name])} (expected {list(expected[name])})"
             for name in sorted(expected) if found[name] != expected[name]]
    if wrong:
        raise UserError(f"{where}: it has {len(wrong)} tensor(s) of the wrong shape: {_few(wrong)}")


def _few(items: list[str], shown: int = 3) -> str:
    more = f", and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more

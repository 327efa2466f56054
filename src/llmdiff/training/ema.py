"""Exponential moving average of the trainable weights."""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """θ̄ ← d θ̄ + (1 − d) θ with d = min(decay, (1 + n) / (10 + n)) after n updates (a short warm-up, so
    early averages are not dominated by the random initialisation)."""

    def __init__(self, modules: dict[str, nn.Module], decay: float):
        self.decay = decay
        self.updates = 0
        self.shadow = {
            f"{name}.{key}": param.detach().float().clone()
            for name, module in modules.items()
            for key, param in module.named_parameters()
            if param.requires_grad
        }

    @torch.no_grad()
    def update(self, modules: dict[str, nn.Module]) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, module in modules.items():
            for key, param in module.named_parameters():
                shadow = self.shadow.get(f"{name}.{key}")
                if shadow is not None:
                    shadow.lerp_(param.detach().float().to(shadow.device), 1 - decay)
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, name: str, module: nn.Module) -> None:
        """Write the averaged weights of `name` into `module` (a copy being exported)."""
        for key, param in module.named_parameters():
            shadow = self.shadow.get(f"{name}.{key}")
            if shadow is not None:
                param.copy_(shadow.to(param.device, param.dtype))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**self.shadow, "__updates__": torch.tensor(self.updates)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.updates = int(state["__updates__"])
        for key, value in state.items():
            if key != "__updates__":
                self.shadow[key].copy_(value)

"""Gradient (activation) checkpointing of every model a stage runs backward through.

The UNet and the LLM bring their own switches (diffusers' `enable_gradient_checkpointing`, transformers'
`gradient_checkpointing_enable`). A connector has none in its interface, so its repeated blocks (the items
of a `ModuleList`/`Sequential` that are all of one class, e.g. transformer layers, Perceiver blocks) are
run through `torch.utils.checkpoint`: their activations are recomputed in the backward pass instead of kept.
The module tree, and so the state dict, is untouched.
"""

from __future__ import annotations

import types

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def _checkpointed_forward(self: nn.Module, *args, **kwargs):
    forward = type(self).forward.__get__(self)
    if self.training and torch.is_grad_enabled():
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return forward(*args, **kwargs)


def repeated_blocks(module: nn.Module) -> list[nn.Module]:
    """The outermost items of `ModuleList`s/`Sequential`s whose items are all of one class and have weights."""
    found = []
    for child in module.children():
        items = list(child) if isinstance(child, (nn.ModuleList, nn.Sequential)) else []
        if items and len({type(item) for item in items}) == 1 and any(True for _ in items[0].parameters()):
            found += items
        else:
            found += repeated_blocks(child)
    return found


def checkpoint_blocks(module: nn.Module) -> int:
    """Run each of `module`'s repeated blocks under `torch.utils.checkpoint` while training; the count."""
    blocks = repeated_blocks(module)
    for block in blocks:
        # A bound method (not a closure), so a deep copy of the module calls its own blocks.
        block.forward = types.MethodType(_checkpointed_forward, block)
    return len(blocks)

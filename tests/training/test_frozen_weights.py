"""Checkpoints leave frozen parameters out (a LoRA run would write the whole LLM each time) and resume exactly."""

import pytest
import torch
from accelerate import Accelerator
from safetensors import safe_open
from torch import nn

from llmdiff.errors import UserError
from llmdiff.training.frozen_weights import keep_frozen_weights_out


class PartlyFrozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = nn.Linear(64, 64)  # frozen, like an LLM under LoRA
        self.lora = nn.Linear(64, 4, bias=False)  # learns
        self.register_buffer("scale", torch.tensor(2.0))  # buffers are kept
        self.base.requires_grad_(False)


def prepared(seed):
    torch.manual_seed(seed)
    accelerator = Accelerator(cpu=True)
    frozen, whole = PartlyFrozen(), nn.Linear(3, 3)
    optimizer = torch.optim.AdamW([p for m in (frozen, whole) for p in m.parameters() if p.requires_grad])
    frozen, whole, optimizer = accelerator.prepare(frozen, whole, optimizer)
    keep_frozen_weights_out(accelerator)
    return accelerator, frozen, whole


def test_a_checkpoint_holds_the_trainable_weights_and_resumes_them(tmp_path):
    accelerator, frozen, whole = prepared(seed=0)
    accelerator.save_state(str(tmp_path / "ckpt"))
    with safe_open(str(tmp_path / "ckpt" / "model.safetensors"), "pt") as file:
        assert set(file.keys()) == {"lora.weight", "scale"}
    with safe_open(str(tmp_path / "ckpt" / "model_1.safetensors"), "pt") as file:
        assert set(file.keys()) == {"weight", "bias"}  # a model that learns whole is saved whole

    other_accelerator, other, other_whole = prepared(seed=1)  # other trainable weights
    other.base.load_state_dict(frozen.base.state_dict())
    other_accelerator.load_state(str(tmp_path / "ckpt"), strict=False)
    for mine, theirs in ((frozen, other), (whole, other_whole)):
        for name, tensor in mine.state_dict().items():
            assert torch.equal(tensor, theirs.state_dict()[name]), name


def test_a_checkpoint_of_other_models_is_refused_before_anything_loads(tmp_path):
    accelerator, frozen, _ = prepared(seed=0)
    accelerator.save_state(str(tmp_path / "ckpt"))
    other_accelerator, other, _ = prepared(seed=1)
    other.lora.requires_grad_(False)
    other.base.requires_grad_(True)  # now the base learns: its weights should be in the file
    before = other.lora.weight.clone()
    with pytest.raises(UserError, match="lacks weight 'base.bias'"):
        other_accelerator.load_state(str(tmp_path / "ckpt"), strict=False)
    assert torch.equal(other.lora.weight, before)

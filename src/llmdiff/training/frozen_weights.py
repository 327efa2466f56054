"""Checkpoints hold what a run changes: a model's frozen parameters stay out of its weights file.

A LoRA run on an LLM would otherwise write the whole model it never changes into every checkpoint (14 GB for
a 7B LLM in bf16; for SmolLM2-135M, 330 MB beside 5 MB of LoRA). On resume the frozen weights are already in
place, loaded from the model's own source as at the start. Models that learn whole, and buffers, are saved as
before. DeepSpeed and FSDP save through their own engines and are left as they are.
"""

from __future__ import annotations

from pathlib import Path

from safetensors import safe_open
from torch import nn

from llmdiff.errors import UserError

# accelerate's names for the weights of its i-th model: model.safetensors, model_1.safetensors, ...
WEIGHTS_FILE = "model{suffix}.safetensors"


def frozen_names(model: nn.Module) -> set[str]:
    return {name for name, parameter in model.named_parameters() if not parameter.requires_grad}


def drop_frozen(models: list[nn.Module], weights: list[dict], _output_dir: str) -> None:
    """accelerate `save_state` pre-hook: take each model's frozen parameters out of its state dict."""
    if len(weights) != len(models):  # DeepSpeed or FSDP: their engines wrote the models already
        return
    for index, (model, state) in enumerate(zip(models, weights)):
        frozen = frozen_names(model)
        if frozen:
            weights[index] = {name: tensor for name, tensor in state.items() if name not in frozen}


def check_saved(models: list[nn.Module], input_dir: str) -> None:
    """accelerate `load_state` pre-hook: each weights file must hold every trainable parameter of its model
    and nothing the model lacks, so loading it non-strictly leaves out only frozen weights."""
    for index, model in enumerate(models):
        path = Path(input_dir) / WEIGHTS_FILE.format(suffix=f"_{index}" if index else "")
        if not path.is_file():
            continue  # a .bin checkpoint: accelerate loads it strictly
        with safe_open(str(path), "pt") as file:
            saved = set(file.keys())
        expected = set(model.state_dict())
        missing = expected - frozen_names(model) - saved
        unexpected = saved - expected
        if missing or unexpected:
            name = sorted(missing or unexpected)[0]
            raise UserError(
                f"checkpoint {input_dir} does not match this run's models: {path.name} "
                f"{'lacks' if missing else 'holds an unknown'} weight {name!r} "
                f"({len(missing)} missing, {len(unexpected)} unknown); resume with the config that wrote it"
            )


def keep_frozen_weights_out(accelerator) -> None:
    """Register the hooks on `accelerator`; then load with `load_state(dir, strict=False)`."""
    accelerator.register_save_state_pre_hook(drop_frozen)
    accelerator.register_load_state_pre_hook(check_saved)

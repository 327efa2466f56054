"""bf16 mixed precision and gradient checkpointing in stages 1 and 2, on tiny models on the CPU."""

import pytest
import torch
from conftest import tiny_config

from llmdiff.connectors import build_connector
from llmdiff.training.checkpointing import checkpoint_blocks, repeated_blocks
from llmdiff.training.config import load_config
from llmdiff.training.recipes import RECIPES

BF16_TOLERANCE = 5e-3
"""Relative difference allowed between a bf16 run's losses and the fp32 run's, step by step (5 steps). bf16
keeps 8 bits of mantissa (a relative step of 2^-8 ≈ 4e-3 per rounding); the losses are computed in fp32
from bf16 activations, and the runs seen differ by 1e-4 to 9e-4."""


@pytest.fixture
def fresh_accelerate_state():
    """accelerate keeps one process-wide state, fixed by the first `Accelerator`'s mixed precision."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def losses_of(models, dataset, output, stage, **train):
    config = load_config(data=tiny_config(models, dataset, output, stage,
                                          train={"max_steps": 5, "batch_size": 4, **train},
                                          checkpoint={"save_final": False}))
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    recipe = RECIPES[stage](config)
    recipe.setup()
    losses, dtypes = [], set()
    recipe.callbacks.append(lambda r, step: losses.append(r.last_scalars["loss"]))
    recipe.models["adapter"].output_proj.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    recipe.train()
    recipe.cleanup()
    return losses, dtypes


@pytest.mark.parametrize("stage", ["align", "end_to_end"])
def test_bf16_losses_follow_fp32(models, dataset, tmp_path, stage, fresh_accelerate_state):
    full, full_dtypes = losses_of(models, dataset, tmp_path / "fp32", stage)
    half, half_dtypes = losses_of(models, dataset, tmp_path / "bf16", stage, mixed_precision="bf16")
    assert full_dtypes == {torch.float32} and half_dtypes == {torch.bfloat16}  # the adapter really ran in bf16
    relative = [abs(a - b) / abs(a) for a, b in zip(full, half)]
    print(f"{stage}: fp32 {full}\nbf16 {half}\nrelative {relative}")
    assert len(half) == 5 and max(relative) < BF16_TOLERANCE
    assert full != half  # not the same arithmetic


def forward_counter(module):
    calls = []
    module.register_forward_pre_hook(lambda *_: calls.append(1))
    return calls


def one_step_gradients(models, dataset, output, checkpointing: bool):
    """Gradients of every trainable parameter after one stage-2 step (adapter, whole UNet, LLM LoRA), and
    how often a block of each model ran forward."""
    config = load_config(data=tiny_config(
        models, dataset, output, "end_to_end",
        train={"batch_size": 4, "components": ["adapter", "unet", "llm"], "llm_lora_rank": 4,
               "gradient_checkpointing": checkpointing}))
    recipe = RECIPES["end_to_end"](config)
    recipe.setup()
    # Modules inside a checkpointed block, called again when the block is recomputed.
    llm_mlp = next(module for name, module in recipe.models["llm"].named_modules() if name.endswith("layers.0.mlp"))
    counts = {"adapter": forward_counter(recipe.models["adapter"].encoder.layers[0].linear1),
              "unet": forward_counter(recipe.models["unet"].down_blocks[1].resnets[0]),
              "llm": forward_counter(llm_mlp)}
    for module in recipe.models.values():
        module.train()
    terms = recipe.compute_loss(recipe.next_batch())
    recipe.accelerator.backward(terms["loss"])
    gradients = {f"{name}.{key}": param.grad.clone() for name, module in recipe.models.items()
                 for key, param in module.named_parameters() if param.requires_grad and param.grad is not None}
    recipe.cleanup()
    return terms["loss"].item(), gradients, {name: len(calls) for name, calls in counts.items()}


def test_gradient_checkpointing_changes_no_gradient(models, dataset, tmp_path):
    loss, plain, plain_counts = one_step_gradients(models, dataset, tmp_path / "plain", checkpointing=False)
    loss_ckpt, checkpointed, counts = one_step_gradients(models, dataset, tmp_path / "ckpt", checkpointing=True)
    # Checkpointed blocks run forward twice: once in the forward pass, once recomputed in the backward pass.
    assert plain_counts == {"adapter": 1, "unet": 1, "llm": 1} and counts == {"adapter": 2, "unet": 2, "llm": 2}
    assert loss == loss_ckpt
    assert plain.keys() == checkpointed.keys()
    assert {key.split(".")[0] for key in plain} == {"adapter", "unet", "llm"}
    for key, gradient in plain.items():
        torch.testing.assert_close(checkpointed[key], gradient, rtol=1e-5, atol=1e-7, msg=key)


def test_connector_blocks_checkpoint_in_place(tmp_path):
    import copy

    torch.manual_seed(0)
    connector = build_connector("ella", 16, 32, num_layers=2, num_heads=4, num_latents=8, time_channels=32).train()
    plain = copy.deepcopy(connector)
    keys = list(connector.state_dict())
    assert checkpoint_blocks(connector) == 2 == len(repeated_blocks(plain))
    assert list(connector.state_dict()) == keys  # same module tree, same checkpoint keys
    copied = copy.deepcopy(connector)  # as EMA and export copy it
    states, mask = torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.long)
    calls = forward_counter(connector.connector.perceiver_blocks[0].mlp)
    grads = []
    for model in (plain, connector):
        model.zero_grad()
        model(states, mask, timestep=torch.tensor([10, 900])).prompt_embeds.square().mean().backward()
        grads.append({name: param.grad.clone() for name, param in model.named_parameters()})
    assert len(calls) == 2  # recomputed in the backward pass
    for name, gradient in grads[0].items():
        torch.testing.assert_close(grads[1][name], gradient, rtol=1e-5, atol=1e-7, msg=name)
    copied_calls = forward_counter(copied.connector.perceiver_blocks[0].mlp)
    copied(states, mask, timestep=5).prompt_embeds.sum().backward()
    assert len(copied_calls) == 2 and len(calls) == 2  # the copy checkpoints its own blocks, not the original's

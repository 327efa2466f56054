"""A `RunPlan` as a table for people or as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from llmdiff.plan.memory import GiB, STRATEGIES, STRATEGY_NAMES
from llmdiff.plan.plan import RunPlan


def _gib(value: int) -> str:
    return f"{value / GiB:.1f}"


def format_plan(plan: RunPlan) -> str:
    lines = [
        f"stage {plan.stage}: batch {plan.batch_size} per GPU, {plan.resolution}x{plan.resolution}, "
        f"text up to {plan.text_length} tokens, mixed precision {plan.mixed_precision}, "
        f"gradient checkpointing {'on' if plan.gradient_checkpointing else 'off'}",
        "",
        f"{'component':<16}{'class':<30}{'parameters':>16}{'trainable':>16}  held as",
    ]
    for c in plan.components:
        lora = f" (LoRA rank {c.lora_rank})" if c.lora_rank else ""
        lines.append(f"{c.name:<16}{c.kind:<30}{c.parameters:>16,}{c.trainable:>16,}  {c.held_dtype}{lora}")
    total = sum(c.parameters for c in plan.components)
    trainable = sum(c.trainable for c in plan.components)
    lines.append(f"{'total':<46}{total:>16,}{trainable:>16,}")
    lines += ["", f"GiB per GPU with {plan.gpus} GPU{'s' if plan.gpus > 1 else ''} (AdamW), fits in {plan.gpu_memory_gib:g} GiB:",
              f"{'strategy':<16}{'weights':>9}{'grads':>9}{'optim':>9}{'master':>9}{'activ.':>9}{'total':>9}  fits  "
              f"(activations with checkpointing {'off' if plan.gradient_checkpointing else 'on'})"]
    for name in STRATEGIES:
        m = plan.memory[name]
        mark = " <- accelerate config" if plan.strategy == name else ""
        lines.append(
            f"{STRATEGY_NAMES[name]:<16}{_gib(m.weights):>9}{_gib(m.gradients):>9}{_gib(m.optimizer):>9}"
            f"{_gib(m.master_weights):>9}{_gib(m.activations):>9}{_gib(m.total):>9}  {'yes ' if plan.fits(name) else 'no  '}"
            f"  ({_gib(m.activations_other)}){mark}"
        )
    a = plan.activations
    lines += ["", f"activations kept for backward: {_gib(a.without_checkpointing)} GiB without gradient checkpointing, "
                  f"{_gib(a.with_checkpointing)} GiB with it"]
    lines += [f"note: {note}" for note in plan.notes]
    return "\n".join(lines)


def plan_json(plan: RunPlan) -> str:
    data = asdict(plan)
    data["memory"] = {name: {**m.to_dict(), "fits": plan.fits(name)} for name, m in plan.memory.items()}
    return json.dumps(data, indent=2)

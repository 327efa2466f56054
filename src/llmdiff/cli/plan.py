"""`llmdiff plan`: parameters and per-GPU memory of a training config, without loading any weights."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    plan = subparsers.add_parser(
        "plan",
        help="parameters and per-GPU memory of a training config (no weights read)",
        description="Build every model of CONFIG.yaml on the meta device from its config.json (hub ids with "
        "no local files use shipped configs), and print parameters per component and memory per GPU under "
        "DDP, ZeRO-2 and ZeRO-3/FSDP, with activations at the config's batch and resolution.",
    )
    plan.add_argument("config", help="stage config (YAML)")
    plan.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    plan.add_argument("--accelerate-config", metavar="FILE", help="accelerate config: its strategy and process count")
    plan.add_argument("--gpus", type=int, default=None, help="GPUs (default: the accelerate config's processes, else 1)")
    plan.add_argument("--gpu-memory", type=float, default=80.0, metavar="GIB", help="memory of one GPU in GiB (default 80)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    from llmdiff.errors import UserError
    from llmdiff.plan import make_plan
    from llmdiff.plan.report import format_plan, plan_json
    from llmdiff.training.config import load_config

    if args.gpu_memory <= 0:
        raise UserError("--gpu-memory must be above 0")
    config = load_config(args.config, args.overrides)
    plan = make_plan(config, gpus=args.gpus, gpu_memory_gib=args.gpu_memory, accelerate_config=args.accelerate_config)
    print(plan_json(plan) if args.json else format_plan(plan))
    return 0

#!/usr/bin/env bash
# Full-size steps and 1024² generation on one GPU with random weights (SDXL UNet + a 7B-shaped LLM +
# OmniDiffusion's connector): stage 1, stage 2, stage 2 + LLM LoRA, and generation with and without LLM
# offload; each beside `llmdiff plan`'s prediction. About 5-8 minutes on one H200; no network, no weights.
#   bash bench/gpu_scale.sh [--json OUT] [--steps 3] [--batch 4]
#   bash bench/gpu_scale.sh --dry-run     # tiny widths on the CPU, a few seconds
# Wheels it needs (the GPU machine has no registry): see bench/README.md, "Full size on one GPU".
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
exec timeout 480 "${PYTHON:-python}" bench/gpu_scale.py "$@"

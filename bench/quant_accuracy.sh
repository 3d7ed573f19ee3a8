#!/usr/bin/env bash
# Issue 7's accuracy target: `vitrt eval` (output cosine vs the FP32 model) of ViT-B/16 (timm
# vit_base_patch16_224) and CLIP ViT-B/32 vision (HF CLIPVisionModelWithProjection, default
# config) built with --precision int8 and fp8 and the default calibration. Both models have
# RANDOM weights (seed 0, bench/gpu/torch_models.py): no trained ViT/CLIP weights are within
# reach, so the figures show how much quantization noise the engine adds to these networks,
# not what a precision costs a trained model (measure that on your own model and data:
# README, "Quantization accuracy").
#
# Images are real photographs from scikit-image (bench/quant_accuracy_images.py): 16 for
# calibration and 32 for evaluation, from other photos. The CPU runs the GPU's quantization
# contract (int8 through oneDNN, fp8 through src/cpu/quant_linear_fp8.cc).
#
#   bench/quant_accuracy.sh BIN_DIR OUT_DIR [vit_b16|clip_vision ...] [-- BUILD_FLAGS...]
#
# BUILD_FLAGS (e.g. --calib-method mse, --layer-precision '*/fc2/*=fp32') go to every
# `vitrt build`. DEVICE=cuda builds and runs the plans on the GPU (the reference stays the
# FP32 model on the CPU). Needs python3 with torch, timm, transformers, scikit-image and
# Pillow. Takes 2-5 minutes on 2 cores (exporting the models: 2 more). Prints a table and
# writes OUT_DIR/table.txt.
set -eu
bin="$1"
out="$2"
shift 2
models=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  models+=("$1")
  shift
done
[ $# -gt 0 ] && shift
[ ${#models[@]} -eq 0 ] && models=(vit_b16 clip_vision)
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
[ -d "$out/images/eval" ] || python3 "$here/quant_accuracy_images.py" "$out/images"

# CLIP's image processor: shortest edge 224 (bicubic), centre crop, CLIP's mean and std.
cat > "$out/clip_preprocessor_config.json" <<'JSON'
{"do_resize": true, "size": {"shortest_edge": 224}, "resample": 3, "do_center_crop": true,
 "crop_size": {"height": 224, "width": 224}, "do_rescale": true,
 "rescale_factor": 0.00392156862745098, "do_normalize": true,
 "image_mean": [0.48145466, 0.4578275, 0.40821073],
 "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": true}
JSON

printf "%-12s %-6s %-10s %-10s %-14s\n" model "${DEVICE:-cpu}" cos_mean cos_min max_err/scale > "$out/table.txt"
for m in "${models[@]}"; do
  onnx="$out/$m.onnx"
  [ -f "$onnx" ] || python3 "$here/gpu/torch_models.py" export "$m" "$onnx"
  config=()
  # timm's ViT normalises with mean = std = 0.5 at 224x224: vitrt's default (HF ViT's).
  [ "$m" = clip_vision ] && config=(--config "$out/clip_preprocessor_config.json")
  for p in int8 fp8; do
    plan="$out/$m.$p.plan"
    calib_config=()
    [ ${#config[@]} -gt 0 ] && calib_config=(--calib-config "${config[1]}")
    # One calibration per model (the cache holds the histograms; each format picks its
    # thresholds from them).
    if ! "$bin/vitrt" build "$onnx" -o "$plan" --device "${DEVICE:-cpu}" --precision $p \
        --calib-data "$out/images/calib" \
        "${calib_config[@]}" --calib-cache "$out/$m.calib" --verbose "$@" \
        > "$out/$m.$p.build.log" 2>&1; then
      echo "$m $p: build failed: $(tail -2 "$out/$m.$p.build.log")" | tee -a "$out/table.txt"
      continue
    fi
    "$bin/vitrt" eval "$plan" --device "${DEVICE:-cpu}" --reference "$onnx" \
      --data "$out/images/eval" "${config[@]}" --json > "$out/$m.$p.eval.log" 2>&1 || {
      echo "$m $p: eval failed: $(tail -2 "$out/$m.$p.eval.log")" | tee -a "$out/table.txt"
      continue
    }
    tail -1 "$out/$m.$p.eval.log" | python3 -c "
import json, sys
o = json.load(sys.stdin)['outputs'][0]
print(f\"{sys.argv[1]:12} {sys.argv[2]:6} {o['cosine_mean']:<10.6f} {o['cosine_min']:<10.6f} \"
      f\"{o['max_abs_error_relative']:<14.4f}\")
" "$m" "$p" >> "$out/table.txt"
    rm -f "$plan"
  done
done
cat "$out/table.txt"

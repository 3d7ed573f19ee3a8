#!/usr/bin/env bash
# The architecture sweep (python/sweep_architectures.py) on the GPU machine with --cuda-run: every
# architecture x exporter is exported there, built and run on the CPU against ONNX Runtime as in
# CI, then built into fp32 and fp16 CUDA plans (tactics timed on this GPU) and run against ONNX
# Runtime at batch 1 and 3. all.sh calls it with RUN_SWEEP=1:
#
#   sweep_cuda.sh BUNDLE_DIR OUT_DIR      (SWEEP_ONLY=PATTERN, SWEEP_JOBS=N, SWEEP_EXPORTER=ts|dynamo|both,
#                                          SWEEP_DYNAMO_OPSET=23: dynamo at that opset)
#
# Writes OUT_DIR/sweep.txt (the table) and OUT_DIR/sweep.json (every row with its messages).
set -u
bundle="$1"
out="$2"
mkdir -p "$out"
cd "$bundle"
args=(--vitrt "$bundle/vitrt" --cuda-run --jobs "${SWEEP_JOBS:-6}" --threads 2
      --exporter "${SWEEP_EXPORTER:-both}" --work /tmp/vitrt_sweep --json "$out/sweep.json")
[ -n "${SWEEP_ONLY:-}" ] && args+=(--only "$SWEEP_ONLY")
[ -n "${SWEEP_DYNAMO_OPSET:-}" ] && args+=(--dynamo-opset "$SWEEP_DYNAMO_OPSET")
python3 "$bundle/sweep_architectures.py" "${args[@]}" 2>"$out/sweep.stderr" | tee "$out/sweep.txt"

#!/usr/bin/env bash
# Runs the CUDA tests on a GPU machine and prints a short summary last.
#
#   scripts/gpu_test.sh [BIN_DIR]
#
# BIN_DIR holds vitrt and vitrt_cuda_tests (default: build and build/tests). The golden
# fixtures are read from VITRT_GOLDEN_DIR (default: tests/golden beside this script's repo).
# Full logs go to $LOG_DIR (default: /tmp/vitrt_gpu_test). compute-sanitizer (memcheck) runs a
# short subset when it is installed.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="${VITRT_ROOT:-$(cd "$here/.." && pwd)}"
bin="${1:-$root/build}"
tests_bin="$bin/vitrt_cuda_tests"
[ -x "$tests_bin" ] || tests_bin="$bin/tests/vitrt_cuda_tests"
out="${LOG_DIR:-/tmp/vitrt_gpu_test}"
mkdir -p "$out"
export VITRT_GOLDEN_DIR="${VITRT_GOLDEN_DIR:-$root/tests/golden}"
summary=()

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1
summary+=("gpu: $(head -1 "$out/gpu.txt")")
if "$bin/vitrt" --version > "$out/vitrt_version.txt" 2>&1; then
  summary+=("vitrt starts: $(head -1 "$out/vitrt_version.txt")")
else
  summary+=("vitrt does NOT start: $(tail -2 "$out/vitrt_version.txt" | tr '\n' ' ')")
fi

# The CLI path: build a cuda plan, run it.
fixture="$VITRT_GOLDEN_DIR/timm_vit_tiny_ts17"
if "$bin/vitrt" build "$fixture/model.onnx" -o "$out/tiny.plan" --device cuda --precision fp16 \
      > "$out/cli.log" 2>&1 &&
   "$bin/vitrt" bench "$out/tiny.plan" --device cuda --batch 8 --iterations 50 --json \
      >> "$out/cli.log" 2>&1; then
  summary+=("cli build+bench (cuda fp16, vit tiny b8): $(tail -1 "$out/cli.log" | cut -c1-160)")
else
  summary+=("cli FAILED: $(tail -3 "$out/cli.log" | tr '\n' ' ' | cut -c1-300)")
fi

# All CUDA tests: about 430 s on one H100 (session 37), near the device tool's 600 s a call with
# the memcheck subset after them. Past that, split the suite across calls with gtest's own
# sharding: GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=0 (then 1) in the environment of all.sh.
timeout "${VITRT_TEST_TIMEOUT:-450}" "$tests_bin" > "$out/tests.log" 2>&1
rc=$?
passed=$(grep -c '^\[       OK \]' "$out/tests.log")
failed=$(grep -c '^\[  FAILED  \] [^0-9]' "$out/tests.log")
skipped=$(grep -c '^\[  SKIPPED \]' "$out/tests.log")
summary+=("vitrt_cuda_tests: exit $rc, $passed ok, $failed failed lines, $skipped skipped")
while read -r line; do summary+=("  $line"); done < <(grep '^\[  FAILED  \] [^0-9]' "$out/tests.log" | sort -u | head -40)

# compute-sanitizer memcheck on a short subset (vitrt's own kernels: the channels-last convs run
# their im2col path there, cuDNN's engines being outside what it is for).
if command -v compute-sanitizer > /dev/null 2>&1; then
  VITRT_NO_CUDNN_CONV=1 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 3 "$tests_bin" \
    --gtest_filter='cuda/CudaKernel.*fp16*:cuda/CudaAttention.*:CudaAttentionSm90.*:CudaFp8AttentionInputs.*:cuda/CudaFusedNorm.*:cuda/CudaBiasAct.*:CudaQuantLinear.*HandQuantized*:cuda/CudaChannelsLastConv.*fp16*:*CudaChannelsLastPool.*:CudaGemvLinear.*' \
    > "$out/sanitizer.log" 2>&1
  src=$?
  summary+=("compute-sanitizer memcheck (kernel subset): exit $src, $(grep -c 'ERROR SUMMARY: 0 errors' "$out/sanitizer.log") clean summaries; $(grep 'ERROR SUMMARY' "$out/sanitizer.log" | tail -1)")
else
  summary+=("compute-sanitizer: not installed")
fi

echo "==== summary ===="
printf '%s\n' "${summary[@]}"

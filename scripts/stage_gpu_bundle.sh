#!/usr/bin/env bash
# Stages what the GPU machine needs into DEST (a git-ignored folder of the checkout the device
# tool copies, e.g. /work/main/.bundle/cuda): stripped vitrt and vitrt_cuda_tests, the
# non-CUDA shared libraries ldd finds on this machine (oneDNN, libgomp, OpenCL loader), all
# xz-compressed to stay under the 64 MiB carry limit, plus the test and benchmark scripts, the
# CLIP exporter and all.sh, which runs them there. The BPE vocabulary (1.3 MB, for the serving
# and multi-GPU benchmarks only) comes with BUNDLE_VOCAB=1: the checkout and the bundle together
# are close to the limit.
#
#   scripts/stage_gpu_bundle.sh /work/main/.bundle/cuda [BUILD_DIR]
#   BUNDLE_VOCAB=1 scripts/stage_gpu_bundle.sh ...          # for RUN_SERVE / RUN_MULTI_GPU
#   BUNDLE_CLI=0 scripts/stage_gpu_bundle.sh ...            # vitrt_cuda_tests only
#   (device) cd .bundle/cuda && TEST_BUDGET=110 RUN_BENCH=1 ./all.sh
#   (device) cd .bundle/cuda && RUN_TESTS=0 RUN_SERVE=1 ./all.sh    # bench/gpu/serve_clip.sh only
#   (device, nvidia-h200-x2) cd .bundle/cuda && RUN_TESTS=0 RUN_MULTI_GPU=1 ./all.sh
#
# cuBLASLt is not bundled: the GPU machine has it (libcublasLt.so.13); cudart is static.
set -eu
dest="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${2:-$root/build}"
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# BUNDLE_CLI=0 leaves the vitrt CLI out (about 2 MB of the payload): enough for a filtered
# vitrt_cuda_tests run, not for all.sh (gpu_test.sh's CLI checks, the benchmarks).
[ "${BUNDLE_CLI:-1}" = 1 ] && strip -o "$tmp/vitrt" "$build/vitrt"
strip -o "$tmp/vitrt_cuda_tests" "$build/tests/vitrt_cuda_tests"
 { ldd "$build/tests/vitrt_cuda_tests"; ldd "$build/vitrt"; } | awk '/=> \// {print $3}' |
  grep -E 'libdnnl|libgomp|libOpenCL|libicu|libjpeg|libpng|libwebp|libsharpyuv|libgif|libtiff|libjbig|libLerc|libdeflate' |
  xargs -I{} cp -L {} "$tmp/"
# zlib, liblzma and libzstd are not bundled: every Ubuntu 24.04 has them (same sonames).
# xz -9: the checkout and the bundle share the device tool's 64 MiB.
(cd "$tmp" && tar cf - ./* | xz -T2 -9 > "$dest/payload.tar.xz")
cp "$root/scripts/gpu_test.sh" "$root/bench/gpu/run.sh" \
  "$root/bench/gpu/torch_models.py" "$root/bench/gpu/attention_peers.py" "$root/bench/gpu/serve_clip.sh" "$root/bench/gpu/multi_gpu.sh" "$root/bench/gpu/quant_eval.sh" "$root/bench/gpu/qdq_vit.sh" "$root/bench/gpu/carry_weights.py" \
  "$root/bench/quant_accuracy.sh" "$root/bench/quant_accuracy_images.py" \
  "$root/python/export_clip.py" \
  "$root/bench/gpu/sweep_cuda.sh" "$root/bench/gpu/ab_fusion.sh" "$root/bench/gpu/ab_runtime.sh" "$root/bench/gpu/ab_lib.sh" "$root/python/sweep_architectures.py" "$root/python/make_fixtures.py" "$dest/"
rm -f "$dest/bpe_simple_vocab_16e6.txt.gz"
if [ "${BUNDLE_VOCAB:-0}" = 1 ]; then
  cp "$root/third_party_data/clip/bpe_simple_vocab_16e6.txt.gz" "$dest/"
fi
cat > "$dest/all.sh" <<'ALL'
#!/usr/bin/env bash
# One GPU-machine call: the CUDA tests (RUN_TESTS=0 skips them), then (RUN_BENCH=1) the
# ViT-B/16 benchmark, then (RUN_SERVE=1) CLIP ViT-B/32 behind `vitrt serve` (serve_clip.sh),
# then (RUN_QUANT_EVAL=1) int8/fp8 accuracy on a trained model (quant_eval.sh), then
# (RUN_QUANT_ACC=1) int8/fp8 accuracy of ViT-B/16 and CLIP B/32 (bench/quant_accuracy.sh), then
# (RUN_SWEEP=1) the architecture sweep with CUDA plans (sweep_cuda.sh), then (RUN_MULTI_GPU=1) one GPU against two (multi_gpu.sh).
# Logs are copied to $OUT; the summaries are printed last.
set -u
bundle="$(cd "$(dirname "$0")" && pwd)"
export VITRT_ROOT="$(cd "$bundle/../.." && pwd)"
work=/tmp/vitrt_bundle
mkdir -p "$work"
tar xJf "$bundle/payload.tar.xz" -C "$work"
cp "$bundle"/*.sh "$bundle"/*.py "$work"/
cp "$bundle"/*.gz "$work"/ 2>/dev/null || true  # the vocabulary, when bundled
cd "$work"
export LD_LIBRARY_PATH="$work:${LD_LIBRARY_PATH:-}"
# cuDNN (for its fused attention and convolution, loaded at run time) from the PyTorch install's wheel.
cudnn_lib="$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0] + "/lib")' 2>/dev/null)"
[ -n "$cudnn_lib" ] && [ -d "$cudnn_lib" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$cudnn_lib"
out="${OUT:-/tmp/out}"
mkdir -p "$out"
ldd ./vitrt | grep -i "not found" && echo "MISSING LIBRARIES"
if [ "${RUN_TESTS:-1}" = "1" ]; then
  LOG_DIR=/tmp/vitrt_gpu_test timeout "${TEST_BUDGET:-580}" ./gpu_test.sh "$work" > "$out/gpu_test.txt" 2>&1
  cp /tmp/vitrt_gpu_test/tests.log /tmp/vitrt_gpu_test/sanitizer.log /tmp/vitrt_gpu_test/cli.log "$out/" 2>/dev/null
fi
if [ "${RUN_BENCH:-0}" = "1" ]; then
  LOG_DIR=/tmp/vitrt_gpu_bench timeout "${BENCH_BUDGET:-150}" ./run.sh "$work" > "$out/bench.txt" 2>&1
  # A run cut by the time limit still leaves the table of what finished.
  [ $? -eq 124 ] && { echo "(bench cut at ${BENCH_BUDGET:-150} s)"; cat /tmp/vitrt_gpu_bench/summary.txt; } >> "$out/bench.txt"
  tar czf "$out/bench_logs.tgz" -C /tmp/vitrt_gpu_bench --exclude='*.onnx' --exclude='*.plan' . 2>/dev/null
fi
if [ "${RUN_SERVE:-0}" = "1" ]; then
  # Logs, perf.json/csv/svg, decode.json, metrics.txt and summary.txt land in $OUT/serve.
  timeout "${SERVE_BUDGET:-420}" ./serve_clip.sh "$work" "$out/serve" > "$out/serve.txt" 2>&1
  [ $? -eq 124 ] && echo "(serve_clip.sh cut at ${SERVE_BUDGET:-420} s)" >> "$out/serve.txt"
fi
if [ "${RUN_QUANT_EVAL:-0}" = "1" ]; then
  # The trained digits ViT in fp32/fp16/int8/fp8 CUDA plans against its FP32 model.
  timeout "${QUANT_EVAL_BUDGET:-120}" ./quant_eval.sh "$work" "$VITRT_ROOT" /tmp/vitrt_quant_eval \
    > "$out/quant_eval.txt" 2>&1
fi
if [ "${RUN_QUANT_ACC:-0}" = "1" ]; then
  # Issue 7's accuracy table (ViT-B/16 and CLIP B/32 vision, int8 and fp8, real photos) with the
  # plans built and run on this GPU; the script finds the exporter under gpu/.
  mkdir -p qa/gpu && cp quant_accuracy.sh quant_accuracy_images.py qa/ && cp torch_models.py qa/gpu/
  DEVICE=cuda timeout "${QUANT_ACC_BUDGET:-240}" qa/quant_accuracy.sh "$work" "$out/quant_accuracy" \
    > "$out/quant_accuracy.txt" 2>&1
fi
if [ "${RUN_SWEEP:-0}" = "1" ]; then
  # The architecture sweep with fp32/fp16 CUDA plans run against ONNX Runtime (sweep_cuda.sh).
  timeout "${SWEEP_BUDGET:-420}" ./sweep_cuda.sh "$work" "$out/sweep" > "$out/sweep_run.txt" 2>&1
  [ $? -eq 124 ] && echo "(sweep cut at ${SWEEP_BUDGET:-420} s)" >> "$out/sweep_run.txt"
fi
if [ "${RUN_MULTI_GPU:-0}" = "1" ]; then
  timeout "${MULTI_GPU_BUDGET:-540}" ./multi_gpu.sh "$work" "$out/multi_gpu" > "$out/multi_gpu.txt" 2>&1
  [ $? -eq 124 ] && echo "(multi_gpu.sh cut at ${MULTI_GPU_BUDGET:-540} s)" >> "$out/multi_gpu.txt"
fi
echo "---- bench ----"
[ -f "$out/bench.txt" ] && tail -30 "$out/bench.txt"
if [ -f "$out/serve.txt" ]; then
  echo "---- serve ----"
  tail -25 "$out/serve.txt"
fi
if [ -f "$out/quant_eval.txt" ]; then
  echo "---- quantized plans on a trained model ----"
  tail -8 "$out/quant_eval.txt"
fi
if [ -f "$out/quant_accuracy.txt" ]; then
  echo "---- int8/fp8 accuracy, random-weight towers, real photos ----"
  tail -8 "$out/quant_accuracy.txt"
fi
if [ -f "$out/multi_gpu.txt" ]; then
  echo "---- multi-GPU ----"
  tail -15 "$out/multi_gpu.txt"
fi
if [ -f "$out/sweep_run.txt" ]; then
  echo "---- architecture sweep, CUDA plans ----"
  grep -v ' ok ' "$out/sweep_run.txt" | tail -40
fi
[ -f "$out/gpu_test.txt" ] && sed -n '/==== summary/,$p' "$out/gpu_test.txt"
ALL
chmod +x "$dest"/*.sh
du -sh "$dest"

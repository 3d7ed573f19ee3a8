#!/usr/bin/env bash
# Installs everything vitrt needs on a fresh Debian 12 machine, then configures and builds it.
#
#   scripts/setup.sh            Debian packages + release build in build/
#   scripts/setup.sh --bench    also the PyPI packages the benchmarks and fixture scripts use
#                               (torch, transformers, timm, onnx, onnxruntime)
#
# Idempotent: packages already present are not reinstalled, and the build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

with_bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) with_bench=1 ;;
    *) echo "setup.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

# Why each package (README.md "Dependencies" says more):
#   cmake ninja-build g++   the build
#   libdnnl-dev             oneDNN: the CPU GEMM/convolution library, chosen by measurement
#   libgtest-dev            GoogleTest for the unit tests
#   libonnx-testdata        ONNX's operator conformance cases (inputs + expected outputs)
#   clang-14 libclang-rt-14-dev   libFuzzer for the importer's fuzz target
#   libjpeg62-turbo-dev libpng-dev libwebp-dev   image decoding for `vitrt clip` (src/vision),
#                           libjpeg-turbo being the JPEG decoder PIL uses, so pixels match HF
#   nlohmann-json3-dev      JSON (preprocessor_config.json; header-only, for the whole project)

packages=(cmake ninja-build g++ libdnnl-dev libgtest-dev libonnx-testdata clang-14
          libclang-rt-14-dev libjpeg62-turbo-dev libpng-dev libwebp-dev nlohmann-json3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ $with_bench -eq 1 ]; then
  python3 -m pip install -q numpy onnx onnxscript onnxruntime torch transformers timm
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build

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
#   clang-14 libclang-rt-14-dev   libFuzzer for the importer's fuzz target, and the compiler of
#                           the ASan/UBSan unit-test build (2-2.6x faster than g++ there)
#   libomp-14-dev           OpenMP for that clang build
#   libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libtiff-dev libavif-dev   image
#                           decoding (src/vision), libjpeg-turbo and libtiff being the decoders
#                           PIL uses, so pixels match HF (libavif is loaded at run time)
#   nlohmann-json3-dev      JSON (preprocessor_config.json; header-only, for the whole project)
#   libicu-dev              ICU: NFC/NFKC, letter/number classes and lower-casing for the CLIP
#                           tokenizer (src/text/), the same Unicode rules open_clip gets from Python
#   zlib1g-dev              zlib: reads CLIP's gzip-compressed BPE vocabulary
#   libboost-dev            Boost.Beast/Asio (header-only): the HTTP server of `vitrt serve`,
#                           chosen over cpp-httplib by a load test (bench/NOTES.md, "HTTP library")

packages=(cmake ninja-build g++ libdnnl-dev libgtest-dev libonnx-testdata clang-14
          libclang-rt-14-dev libomp-14-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libtiff-dev
          libavif-dev nlohmann-json3-dev
          libicu-dev zlib1g-dev libboost-dev python3-pip)
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
  # scipy: transformers imports it for Mask2Former (python/sweep_architectures.py).
  # scikit-image and open_clip_torch: python/make_image_references.py and
  # python/make_torchvision_preprocess_references.py.
  python3 -m pip install -q numpy onnx onnxscript onnxruntime torch transformers timm scipy \
    scikit-image open_clip_torch
fi

# The server's end-to-end test (ctest serve_e2e) talks to `vitrt serve` through the clients users
# have: NVIDIA's tritonclient (KServe v2) and the openai package (/v1/embeddings). It fails
# without them, so they are installed here, not only with --bench. onnx and onnxruntime: the
# quantized plans' reference (ctest quant_reference) is ONNX Runtime running the model with the
# quantization written in; the mutation fuzzer (ctest mutation_fuzz) edits models with onnx.
python3 -m pip install -q numpy 'tritonclient[http]' openai onnx onnxruntime

# CLIP's BPE vocabulary is not ours to commit: it ships inside the open-clip-torch wheel, so
# fetch that wheel (no dependencies, no torch) and take the one file out of it. The tokenizer
# looks for it here (find_clip_vocab in src/text/clip_tokenizer.h).
clip_vocab=third_party_data/clip/bpe_simple_vocab_16e6.txt.gz
if [ ! -f "$clip_vocab" ]; then
  wheel_dir=$(mktemp -d)
  if python3 -m pip download -q open-clip-torch==3.3.0 --no-deps -d "$wheel_dir"; then
    mkdir -p "$(dirname "$clip_vocab")"
    python3 - "$wheel_dir" "$clip_vocab" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/open_clip_torch-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("open_clip/bpe_simple_vocab_16e6.txt.gz"))
PY
  else
    echo "setup: could not download open-clip-torch; the CLIP tokenizer tests need $clip_vocab" >&2
  fi
  rm -rf "$wheel_dir"
fi

# CUTLASS (NVIDIA's header-only CUDA template library, on PyPI as the nvidia-cutlass wheel):
# its Hopper int8 GEMMs dequantize in their epilogue, which cuBLASLt's int8 kernels cannot
# (src/cuda/cutlass/int8_gemm.cu). Only its include tree is used, taken out of the wheel like the
# vocabulary above; without it the CUDA build leaves that kernel out.
cutlass_dir=third_party_data/cutlass
if [ ! -f "$cutlass_dir/include/cutlass/cutlass.h" ]; then
  wheel_dir=$(mktemp -d)
  if python3 -m pip download -q nvidia-cutlass==4.2.0.0 --no-deps -d "$wheel_dir"; then
    python3 - "$wheel_dir" "$cutlass_dir" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/nvidia_cutlass-*.whl")[0]
prefix = "cutlass_library/source/include/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            dst = os.path.join(sys.argv[2], "include", name[len(prefix):])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "wb") as out:
                out.write(z.read(name))
PY
  else
    echo "setup: could not download nvidia-cutlass; CUDA int8 layers use cuBLASLt only" >&2
  fi
  rm -rf "$wheel_dir"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build

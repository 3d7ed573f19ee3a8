#!/bin/sh
# Exports a random-weight CLIP ViT-B/32 (HF CLIPConfig defaults: text tower 12 layers, width
# 512, 77 tokens) to $WORK, builds its plans and runs the benchmark. Timing does not depend on
# the weights. Needs a build configured with -DVITRT_BENCH=ON.
#   bench/clip_text_truncation/run.sh [BUILD_DIR] [REPEATS]
set -e
BUILD=${1:-build}
REPEATS=${2:-5}
WORK=${WORK:-/tmp/vitrt_clip_b32}
[ -f "$WORK/clip.json" ] || python3 python/export_clip.py --hf-random --out "$WORK"
"$BUILD/vitrt" build "$WORK"
"$BUILD/bench/clip_text_truncation" "$WORK" "$REPEATS"

# Shared by bench/gpu/ab_fusion.sh and bench/gpu/ab_runtime.sh (sourced, not run): the model
# export, the two optimization profiles, the calibration images and the medians they both use.
# Expects `here` (this folder) and `out` (the log folder) to be set.

# The median_ms of `vitrt bench --json` on stdin (nan when the run failed).
median() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["median_ms"])' 2>/dev/null || echo nan; }

# The median of the numbers given as arguments.
median_of() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ab_export MODEL: sets onnx to $out/MODEL.onnx, exported by torch_models.py unless it is there
# already; fails (after printing the log's tail) when the export does.
ab_export() {
  onnx="$out/$1.onnx"
  [ -f "$onnx" ] || python3 "$here/torch_models.py" export "$1" "$onnx" > "$out/$1.export.log" 2>&1 || {
    echo "$1: export failed"; tail -5 "$out/$1.export.log"; return 1; }
}

# ab_profiles MODEL: sets the array profiles to run.sh's two (batch 1-16 tuned at 1, 17-256 at
# 256) for the model's input.
ab_profiles() {
  local in d
  if [ "$1" = clip_text ]; then in=input_ids; d=x77; else in=pixel_values; d=x3x224x224; fi
  profiles=(--profile "$in:min=1$d,opt=1$d,max=16$d" --profile "$in:min=17$d,opt=256$d,max=256$d")
}

# ab_quant PRECISION: sets the array quant to the calibration arguments an int8 or fp8 build
# needs (CALIB_DIR, default 8 random images made once in $out/calib), empty otherwise.
ab_quant() {
  quant=()
  if [ "$1" = int8 ] || [ "$1" = fp8 ]; then
    local calib="${CALIB_DIR:-$out/calib}"
    if [ ! -d "$calib" ]; then
      mkdir -p "$calib"
      python3 -c "
import numpy as np
for i in range(8):
    np.save(f'$calib/x{i}.npy', np.random.default_rng(i).standard_normal((1, 3, 224, 224)).astype('float32'))"
    fi
    quant=(--calib-data "$calib")
  fi
}

"""Times PyTorch's fused attention backends (FlashAttention-2, memory-efficient, cuDNN's fused
attention through its graph API, and the unfused math path) on the attention shapes of the three
benchmark models, fp16, on the GPU: the peers of vitrt.Attention's kernels.

  python3 attention_peers.py [--json OUT.json]

Q, K and V are strided views of one packed [batch, seq, 3, heads, dim] tensor, as the packed qkv
projection leaves them in vitrt (PyTorch's backends take them transposed to [batch, heads, seq,
dim] without a copy). Prints ms per attention call (one layer) and per 12 layers (the tower), so
the last column compares directly with the Attention row of `vitrt bench --profile`.
"""
import argparse
import json
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

# name, batch, heads, tokens, head dim, causal, layers
SHAPES = [
    ("vit_b16", 1, 12, 197, 64, False, 12),
    ("vit_b16", 256, 12, 197, 64, False, 12),
    ("clip_vision", 1, 12, 50, 64, False, 12),
    ("clip_vision", 256, 12, 50, 64, False, 12),
    ("clip_text", 1, 8, 77, 64, True, 12),
    ("clip_text", 256, 8, 77, 64, True, 12),
]
BACKENDS = [
    ("flash", SDPBackend.FLASH_ATTENTION),
    ("efficient", SDPBackend.EFFICIENT_ATTENTION),
    ("cudnn", SDPBackend.CUDNN_ATTENTION),
    ("math", SDPBackend.MATH),
]


def time_ms(fn, iters, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--json")
    args = p.parse_args()
    torch.manual_seed(0)
    rows = []
    print(f"{'model':12} {'batch':>5} {'backend':10} {'ms/layer':>9} {'ms/tower':>9} {'TFLOP/s':>8}")
    for name, b, h, s, d, causal, layers in SHAPES:
        qkv = torch.randn(b, s, 3, h, d, device="cuda", dtype=torch.float16)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
        flop = 4.0 * b * h * s * s * d * (0.5 if causal else 1.0)
        for label, backend in BACKENDS:
            try:
                with sdpa_kernel([backend]):
                    fn = lambda: torch.nn.functional.scaled_dot_product_attention(
                        q, k, v, is_causal=causal)
                    ms = time_ms(fn, 50 if b > 8 else 200)
            except Exception as e:  # a backend that does not take the shape: say why
                print(f"{name:12} {b:5d} {label:10} n/a ({str(e).splitlines()[0][:80]})")
                continue
            rows.append({"model": name, "batch": b, "backend": label, "ms_layer": ms,
                         "ms_tower": ms * layers})
            print(f"{name:12} {b:5d} {label:10} {ms:9.4f} {ms * layers:9.3f} "
                  f"{flop / ms / 1e9:8.1f}")
        sys.stdout.flush()
    if args.json:
        json.dump(rows, open(args.json, "w"))


if __name__ == "__main__":
    main()

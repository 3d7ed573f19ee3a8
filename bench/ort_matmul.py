"""ONNX Runtime's fp32 MatMul on the ViT-B/16 shapes of gemm_libraries and linear_kernels.

The peer for vitrt's MatMul kernel: one-node models with the weights as initializers, run
through an InferenceSession like a model would be. Usage:
    python3 bench/ort_matmul.py [seconds_per_case] [threads]
"""
import sys
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def model(a_shape, b_shape, b_const):
    rng = np.random.default_rng(0)
    inits, inputs = [], [helper.make_tensor_value_info("a", TensorProto.FLOAT, a_shape)]
    if b_const:
        inits.append(numpy_helper.from_array(rng.standard_normal(b_shape, np.float32), "b"))
    else:
        inputs.append(helper.make_tensor_value_info("b", TensorProto.FLOAT, b_shape))
    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "g", inputs,
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    cases = []
    for rows in (1, 8):
        for name, k, n in (("qkv", 768, 2304), ("proj", 768, 768), ("fc1", 768, 3072),
                           ("fc2", 3072, 768)):
            cases.append((f"MatMul {name} M={197 * rows}", [rows, 197, k], [k, n], True,
                          2.0 * rows * 197 * k * n))
    cases.append(("MatMul q@kT 12x197x64x197", [1, 12, 197, 64], [1, 12, 64, 197], False,
                  2.0 * 12 * 197 * 64 * 197))
    cases.append(("MatMul p@v 12x197x197x64", [1, 12, 197, 197], [1, 12, 197, 64], False,
                  2.0 * 12 * 197 * 197 * 64))
    cases.append(("MatMul tiny 4x16x16 (overhead)", [4, 16], [16, 16], True, 2.0 * 4 * 16 * 16))
    print(f"onnxruntime {ort.__version__}, intra_op_num_threads={threads}")
    print("GFLOP/s: best and median wall-clock run, best per CPU-second")
    print(f"{'case':32s} {'best':>8s} {'median':>8s} {'cpu':>8s}")
    rng = np.random.default_rng(1)
    for name, a_shape, b_shape, b_const, flops in cases:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(model(a_shape, b_shape, b_const), so,
                                    providers=["CPUExecutionProvider"])
        feed = {"a": rng.standard_normal(a_shape, np.float32)}
        if not b_const:
            feed["b"] = rng.standard_normal(b_shape, np.float32)
        for _ in range(3):
            sess.run(None, feed)
        runs, best_cpu, start = [], float("inf"), time.perf_counter()
        while time.perf_counter() - start < seconds or len(runs) < 5:
            t0, c0 = time.perf_counter(), time.process_time()
            sess.run(None, feed)
            best_cpu = min(best_cpu, time.process_time() - c0)
            runs.append(time.perf_counter() - t0)
        runs.sort()
        print(f"{name:32s} {flops / runs[0] * 1e-9:8.1f} {flops / runs[len(runs) // 2] * 1e-9:8.1f}"
              f" {flops / max(best_cpu, 1e-9) * 1e-9:8.1f}   (best {runs[0] * 1e6:.1f} us)", flush=True)


if __name__ == "__main__":
    main()

// GPU time of vitrt.QuantLinear (int8 and FP8 E4M3, per-tensor and per-channel weight scales)
// against the fp16 vitrt.Linear it replaces, on ViT-B/16 batch-256 shapes (M = 256 * 197
// tokens): one-node CUDA plans with constant weights and tactics timed as `vitrt build` times
// them, then the node's own GPU time from the engine's profiler (quantizing X, the GEMM and
// the epilogue; the input upload and the output download are not in it). Prints ms and
// TFLOP/s (2 M K N per call) per case.
//
// Usage (on the GPU machine, configured with -DVITRT_BENCH=ON):
//   build/bench/quant_linear_gpu [runs] [case name substring]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/cuda_engine.h"
#include "cuda/cuda_kernel.h"
#include "ir/op_schema.h"

namespace vitrt {
namespace {

constexpr int64_t kTokens = 256 * 197;

// A cheap deterministic fill (the input of K = 3072 holds 155 M values).
struct Lcg {
  uint64_t s;
  uint32_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(s >> 33);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * (next() / 2147483648.0f); }
};

Tensor random_f32(std::vector<int64_t> shape, uint64_t seed, float lo, float hi) {
  Tensor t = Tensor::empty(DType::kFloat32, std::move(shape));
  Lcg rng{seed};
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.uniform(lo, hi);
  return t;
}

struct Case {
  std::string name;
  std::string op;      // Linear or QuantLinear
  std::string format;  // int8 | fp8 (QuantLinear)
  bool per_channel = true;
  int64_t k = 0, n = 0;
  std::string act = "none";
};

Graph make_graph(const Case& c) {
  Graph g;
  g.name = c.name;
  g.opset_imports[""] = 17;
  g.opset_imports["vitrt"] = 1;
  Value xv;
  xv.name = "x";
  xv.dtype = DType::kFloat32;
  xv.has_shape = true;
  xv.shape = {kTokens, c.k};
  const ValueId x = g.add_value(std::move(xv));
  g.inputs.push_back(x);
  Node node;
  node.name = c.name;
  node.op_type = c.op;
  node.domain = "vitrt";
  node.inputs.push_back(x);
  if (c.op == "Linear") {
    node.inputs.push_back(g.add_constant("w", random_f32({c.k, c.n}, 2, -0.05f, 0.05f)));
  } else {
    const bool int8 = c.format == "int8";
    Tensor w = Tensor::empty(int8 ? DType::kInt8 : DType::kUInt8, {c.k, c.n});
    Lcg rng{3};
    uint8_t* p = static_cast<uint8_t*>(w.raw_data());
    for (int64_t i = 0; i < w.numel(); ++i) {
      // int8: any value; E4M3: finite codes below 32 in magnitude (exponent field <= 11).
      const uint32_t r = rng.next();
      p[i] = int8 ? static_cast<uint8_t>(r) : static_cast<uint8_t>((r & 0x80) | ((r >> 8) % 0x5F));
    }
    node.inputs.push_back(g.add_constant("w_q", w));
    Tensor ws = random_f32({c.n}, 4, 0.001f, 0.002f);
    if (!c.per_channel) std::fill(ws.data<float>(), ws.data<float>() + c.n, 0.0015f);
    node.inputs.push_back(g.add_constant("w_scale", ws));
    node.attrs.set_string("format", c.format);
    node.attrs.set_float("input_scale", int8 ? 3.0f / 127.0f : 3.0f / 448.0f);
  }
  node.inputs.push_back(g.add_constant("bias", random_f32({c.n}, 5, -0.1f, 0.1f)));
  node.attrs.set_string("activation", c.act);
  Value yv;
  yv.name = "y";
  const ValueId y = g.add_value(std::move(yv));
  node.outputs.push_back(y);
  g.add_node(std::move(node));
  g.outputs.push_back(y);
  return g;
}

// The node's mean GPU ms over `runs` profiled runs, its tactics timed first.
Result<double> node_ms(const Case& c, const Tensor& x, int runs) {
  Graph g = make_graph(c);
  VITRT_RETURN_IF_ERROR(infer_shapes(g));
  cuda::TacticTuner tuner;
  tuner.device_key = "bench";
  tuner.log = [](const std::string& line) { std::printf("  %s\n", line.c_str()); };
  cuda::CudaEngineOptions options;
  options.precision = "fp16";
  options.cuda_graphs = false;
  options.tuner = &tuner;
  {
    VITRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> tuning, cuda::create_cuda_engine(g, options));
    std::unique_ptr<ExecutionContext> ctx = tuning->create_context();
    VITRT_RETURN_IF_ERROR(ctx->run({{"x", x}}).status());
  }
  for (const auto& [node, tactics] : tuner.by_node) {
    g.nodes[node].attrs.set_ints(cuda::kGemmTacticsAttr, cuda::encode_gemm_tactics(tactics));
  }
  options.tuner = nullptr;
  VITRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, cuda::create_cuda_engine(g, options));
  std::unique_ptr<ExecutionContext> ctx = engine->create_context();
  VITRT_RETURN_IF_ERROR(ctx->run({{"x", x}}).status());  // warm-up: plan, arena
  ctx->set_profiling(true);
  for (int r = 0; r < runs; ++r) VITRT_RETURN_IF_ERROR(ctx->run({{"x", x}}).status());
  for (const NodeProfile& p : ctx->profile()) {
    if (p.node_name == c.name && p.runs > 0) return p.total_ms / static_cast<double>(p.runs);
  }
  return internal_error("no profile for node ", c.name);
}

int run(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  const std::string filter = argc > 2 ? argv[2] : "";
  struct Shape {
    const char* layer;
    int64_t k, n;
    const char* act;
  };
  const Shape shapes[] = {{"qkv", 768, 2304, "none"},
                          {"proj", 768, 768, "none"},
                          {"fc1", 768, 3072, "gelu"},
                          {"fc2", 3072, 768, "none"}};
  std::printf("vitrt.QuantLinear vs fp16 vitrt.Linear, M = %lld, %d profiled runs each\n",
              static_cast<long long>(kTokens), runs);
  std::printf("%-28s %10s %10s %8s\n", "case", "ms", "TFLOP/s", "vs fp16");
  for (const Shape& s : shapes) {
    const std::vector<Case> cases = {
        {str_cat(s.layer, " fp16 Linear"), "Linear", "", true, s.k, s.n, s.act},
        {str_cat(s.layer, " int8 per-channel"), "QuantLinear", "int8", true, s.k, s.n, s.act},
        {str_cat(s.layer, " fp8 per-tensor"), "QuantLinear", "fp8", false, s.k, s.n, s.act},
        {str_cat(s.layer, " fp8 per-channel"), "QuantLinear", "fp8", true, s.k, s.n, s.act},
    };
    const Tensor x = random_f32({kTokens, s.k}, 1, -3.0f, 3.0f);
    double fp16_ms = 0.0;
    for (const Case& c : cases) {
      if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
      Result<double> ms = node_ms(c, x, runs);
      if (!ms.ok()) {
        std::printf("%-28s failed: %s\n", c.name.c_str(), ms.status().message().c_str());
        continue;
      }
      if (c.op == "Linear") fp16_ms = *ms;
      const double tflops = 2.0 * kTokens * s.k * s.n / (*ms * 1e-3) / 1e12;
      std::printf("%-28s %10.4f %10.1f %7.2fx\n", c.name.c_str(), *ms, tflops,
                  fp16_ms > 0.0 ? fp16_ms / *ms : 0.0);
    }
  }
  return 0;
}

}  // namespace
}  // namespace vitrt

int main(int argc, char** argv) {
  return vitrt::run(argc, argv);
}

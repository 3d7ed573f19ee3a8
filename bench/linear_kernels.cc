// Throughput of vitrt's own linear kernels (MatMul, Conv, vitrt.Linear fp32 and bf16) on
// ViT-B/16 shapes, and of Conv on the depthwise and grouped shapes of ConvNeXt-T, MobileNet,
// EfficientNet and ResNeXt (the direct path against the general im2col path), through the CPU
// kernel interface, per-call overhead included: one-node graphs with constant weights, as an
// engine loads them. Compare with gemm_libraries (the raw library) in the same run.
//
// Usage: OMP_NUM_THREADS=2 linear_kernels [seconds_per_case] [case name substring]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cpu/cpu_kernel.h"
#include "cpu/linear.h"
#include "ir/op_schema.h"

namespace vitrt {
namespace {

using Clock = std::chrono::steady_clock;

// Process CPU time (see gemm_libraries.cc: the robust measure on a shared machine).
using bench_util::cpu_seconds;
using bench_util::random_f32;

struct Case {
  std::string name;
  const char* domain;
  const char* op;
  Attributes attrs;
  std::vector<Tensor> inputs;
  std::vector<bool> constant;
  double flops;
  CpuKernelFactory factory = nullptr;  // null: the registry's
};

int bench(const Case& c, double seconds) {
  Graph g;
  g.opset_imports[""] = 17;
  Node n;
  n.name = c.name;
  n.op_type = c.op;
  n.domain = c.domain;
  n.attrs = c.attrs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.constant[i]) {
      n.inputs.push_back(g.add_constant("in" + std::to_string(i), c.inputs[i]));
    } else {
      Value v;
      v.name = "in" + std::to_string(i);
      v.dtype = DType::kFloat32;
      v.has_shape = true;
      v.shape = sym_shape_from_static(c.inputs[i].shape());
      n.inputs.push_back(g.add_value(std::move(v)));
    }
  }
  Value out;
  out.name = "out";
  n.outputs.push_back(g.add_value(std::move(out)));
  g.add_node(std::move(n));
  Status s = infer_shapes(g);
  const CpuKernelFactory factory =
      c.factory != nullptr ? c.factory : CpuKernelRegistry::global().find(c.domain, c.op);
  auto kernel =
      s.ok() ? factory(KernelInit{g, g.nodes[0], 17}) : Result<std::unique_ptr<CpuKernel>>(s);
  if (!kernel.ok()) {
    std::printf("%s: %s\n", c.name.c_str(), kernel.status().to_string().c_str());
    return 1;
  }
  std::vector<const Tensor*> ins;
  for (const Tensor& t : c.inputs) ins.push_back(&t);
  std::vector<Tensor> outs(1);
  for (int i = 0; i < 3; ++i) {
    if (!(*kernel)->run(ins, outs).ok()) return 1;
  }
  std::vector<double> runs;
  double best_cpu = 1e30;
  const auto start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds || runs.size() < 5) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    Status r = (*kernel)->run(ins, outs);
    best_cpu = std::min(best_cpu, cpu_seconds() - c0);
    runs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    if (!r.ok()) return 1;
  }
  std::sort(runs.begin(), runs.end());
  std::printf("%-44s %8.1f %8.1f %8.1f   (best %.1f us)\n", c.name.c_str(),
              c.flops / runs[0] * 1e-9, c.flops / runs[runs.size() / 2] * 1e-9,
              c.flops / best_cpu * 1e-9, runs[0] * 1e6);
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace vitrt

int main(int argc, char** argv) {
  using namespace vitrt;
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const std::string filter = argc > 2 ? argv[2] : "";
  std::vector<Case> cases;
  const std::vector<std::pair<const char*, std::pair<int64_t, int64_t>>> linear = {
      {"qkv", {768, 2304}}, {"proj", {768, 768}}, {"fc1", {768, 3072}}, {"fc2", {3072, 768}}};
  for (int64_t batch : {1, 8}) {
    for (const auto& [name, kn] : linear) {
      const auto [k, n] = kn;
      cases.push_back({std::string("MatMul ") + name + " M=" + std::to_string(batch * 197),
                       "",
                       "MatMul",
                       {},
                       {random_f32({batch, 197, k}, 1), random_f32({k, n}, 2)},
                       {false, true},
                       2.0 * batch * 197 * k * n});
    }
  }
  // vitrt.Linear with bias (and GELU on fc1, as fuse_linear_activation leaves it), fp32 and bf16.
  for (const char* precision : {"fp32", "bf16"}) {
    for (int64_t batch : {1, 8}) {
      for (const auto& [name, kn] : linear) {
        const auto [k, n] = kn;
        Attributes attrs;
        attrs.set_string("compute_precision", precision);
        if (std::string(name) == "fc1") attrs.set_string("activation", "gelu");
        cases.push_back(
            {std::string("Linear ") + precision + " " + name + " M=" + std::to_string(batch * 197),
             "vitrt",
             "Linear",
             attrs,
             {random_f32({batch, 197, k}, 1), random_f32({k, n}, 2), random_f32({n}, 3)},
             {false, true, true},
             2.0 * batch * 197 * k * n});
      }
    }
  }
  cases.push_back({"MatMul q@kT 12x197x64x197",
                   "",
                   "MatMul",
                   {},
                   {random_f32({1, 12, 197, 64}, 3), random_f32({1, 12, 64, 197}, 4)},
                   {false, false},
                   2.0 * 12 * 197 * 64 * 197});
  cases.push_back({"MatMul p@v 12x197x197x64",
                   "",
                   "MatMul",
                   {},
                   {random_f32({1, 12, 197, 197}, 5), random_f32({1, 12, 197, 64}, 6)},
                   {false, false},
                   2.0 * 12 * 197 * 197 * 64});
  // Per-call overhead: a product too small for the arithmetic to matter.
  cases.push_back({"MatMul tiny 4x16x16 (overhead)",
                   "",
                   "MatMul",
                   {},
                   {random_f32({4, 16}, 10), random_f32({16, 16}, 11)},
                   {false, true},
                   2.0 * 4 * 16 * 16});
  Attributes patch;
  patch.set_ints("strides", {16, 16});
  for (int64_t batch : {1, 8}) {
    cases.push_back({"Conv patch-embed batch " + std::to_string(batch),
                     "",
                     "Conv",
                     patch,
                     {random_f32({batch, 3, 224, 224}, 7), random_f32({768, 3, 16, 16}, 8),
                      random_f32({768}, 9)},
                     {false, true, true},
                     2.0 * batch * 196 * 768 * 768});
  }
  // Depthwise (group = channels) and grouped 2-D convs, [channels, size, kernel, stride, group]:
  // each on the auto path (direct for these) and forced through im2col + one product per group.
  struct GroupedConv {
    const char* name;
    int64_t channels, size, kernel, stride, group;
  };
  const std::vector<GroupedConv> grouped = {
      {"dw7 convnext stage1 96x56", 96, 56, 7, 1, 96},
      {"dw7 convnext stage2 192x28", 192, 28, 7, 1, 192},
      {"dw7 convnext stage3 384x14", 384, 14, 7, 1, 384},
      {"dw7 convnext stage4 768x7", 768, 7, 7, 1, 768},
      {"dw3 mobilenet 144x56", 144, 56, 3, 1, 144},
      {"dw3 s2 mobilenet 144x56", 144, 56, 3, 2, 144},
      {"dw5 s2 efficientnet 240x28", 240, 28, 5, 2, 240},
      {"g32 resnext 3x3 128x56 (4/gr)", 128, 56, 3, 1, 32},
      {"g32 resnext 3x3 256x28 (8/gr)", 256, 28, 3, 1, 32},
      {"g32 resnext 3x3 512x14 (16/gr)", 512, 14, 3, 1, 32},
      {"g32 resnext 3x3 1024x7 (32/gr)", 1024, 7, 3, 1, 32},
      {"g8 regnet 3x3 448x14 (56/gr)", 448, 14, 3, 1, 8},
      {"g2 3x3 64x56 (32/gr)", 64, 56, 3, 1, 2},
  };
  const CpuKernelFactory im2col = [](const KernelInit& init) {
    return make_conv_kernel(init, ConvPath::kIm2col);
  };
  for (const GroupedConv& gc : grouped) {
    Attributes attrs;
    attrs.set_int("group", gc.group);
    attrs.set_ints("strides", {gc.stride, gc.stride});
    const int64_t pad = gc.kernel / 2;
    attrs.set_ints("pads", {pad, pad, pad, pad});
    const int64_t out = (gc.size + 2 * pad - gc.kernel) / gc.stride + 1;
    const double flops =
        2.0 * gc.channels * (gc.channels / gc.group) * gc.kernel * gc.kernel * out * out;
    for (bool general : {false, true}) {
      cases.push_back({std::string("Conv ") + gc.name + (general ? " im2col" : ""),
                       "",
                       "Conv",
                       attrs,
                       {random_f32({1, gc.channels, gc.size, gc.size}, 12),
                        random_f32({gc.channels, gc.channels / gc.group, gc.kernel, gc.kernel}, 13),
                        random_f32({gc.channels}, 14)},
                       {false, true, true},
                       flops,
                       general ? im2col : nullptr});
    }
  }
  std::printf("GFLOP/s: best and median wall-clock run, best per CPU-second\n");
  std::printf("%-44s %8s %8s %8s\n", "case", "best", "median", "cpu");
  int failures = 0;
  for (const Case& c : cases) {
    if (c.name.find(filter) != std::string::npos) failures += bench(c, seconds);
  }
  return failures == 0 ? 0 : 1;
}

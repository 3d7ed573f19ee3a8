// vitrt.Attention against the unfused ops it replaces (head split Reshape/Transpose, q k^T
// MatMul, scale Mul, causal mask Add, Softmax, P v MatMul, merge Transpose/Reshape), both
// through the CPU engine, on ViT-B/16 and CLIP text shapes and one long sequence.
//
// Usage: OMP_NUM_THREADS=1 attention_kernel [seconds_per_case]
// Prints GFLOP/s (2 * (Sq Sk Dh + Sq Sk Dv) * B * H flop per call): best and median wall clock,
// and best process CPU time (the robust number on a shared machine, see bench/NOTES.md).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "ir/op_schema.h"
#include "runtime/cpu_engine.h"

namespace vitrt {
namespace {

using Clock = std::chrono::steady_clock;

using bench_util::cpu_seconds;
using bench_util::random_f32;

struct Shape {
  std::string name;
  int64_t batch, seq, heads, head_dim;
  bool causal;
};

class Builder {
 public:
  Builder() { g.opset_imports[""] = 17; }
  ValueId input(const std::string& name, const std::vector<int64_t>& shape) {
    Value v;
    v.name = name;
    v.dtype = DType::kFloat32;
    v.has_shape = true;
    v.shape = sym_shape_from_static(shape);
    const ValueId id = g.add_value(std::move(v));
    g.inputs.push_back(id);
    return id;
  }
  ValueId op(const std::string& type, std::vector<ValueId> in, Attributes a = {},
             const std::string& domain = "") {
    Node n;
    n.name = str_cat(type, g.nodes.size());
    n.op_type = type;
    n.domain = domain;
    n.inputs = std::move(in);
    n.attrs = std::move(a);
    Value out;
    out.name = str_cat(n.name, "_out");
    n.outputs.push_back(g.add_value(std::move(out)));
    const ValueId id = n.outputs[0];
    g.add_node(std::move(n));
    return id;
  }
  ValueId ints(std::vector<int64_t> v) {
    return g.add_constant(str_cat("c", g.values.size()), Tensor::from_int64(v));
  }
  Graph g;
};

Attributes perm(std::vector<int64_t> p) {
  Attributes a;
  a.set_ints("perm", std::move(p));
  return a;
}

Graph fused_graph(const Shape& s) {
  Builder b;
  const int64_t d = s.heads * s.head_dim;
  std::vector<ValueId> in = {b.input("q", {s.batch, s.seq, d}), b.input("k", {s.batch, s.seq, d}),
                             b.input("v", {s.batch, s.seq, d})};
  Attributes a;
  a.set_int("num_heads", s.heads);
  a.set_int("causal", s.causal);
  b.g.outputs.push_back(b.op("Attention", in, a, "vitrt"));
  return b.g;
}

Graph unfused_graph(const Shape& s) {
  Builder b;
  const int64_t d = s.heads * s.head_dim;
  auto split = [&](ValueId x) {
    return b.op("Transpose", {b.op("Reshape", {x, b.ints({0, s.seq, s.heads, s.head_dim})})},
                perm({0, 2, 1, 3}));
  };
  ValueId q = split(b.input("q", {s.batch, s.seq, d}));
  ValueId k = split(b.input("k", {s.batch, s.seq, d}));
  ValueId v = split(b.input("v", {s.batch, s.seq, d}));
  ValueId scores = b.op("MatMul", {q, b.op("Transpose", {k}, perm({0, 1, 3, 2}))});
  scores = b.op(
      "Mul", {scores, b.g.add_constant("scale", Tensor::from_float(
                                                    {1.0f / std::sqrt(float(s.head_dim))}, true))});
  if (s.causal) {
    Tensor m = Tensor::zeros(DType::kFloat32, {s.seq, s.seq});
    for (int64_t i = 0; i < s.seq; ++i) {
      for (int64_t j = i + 1; j < s.seq; ++j) m.data<float>()[i * s.seq + j] = -INFINITY;
    }
    scores = b.op("Add", {scores, b.g.add_constant("mask", m)});
  }
  Attributes axis;
  axis.set_int("axis", -1);
  ValueId o = b.op("MatMul", {b.op("Softmax", {scores}, axis), v});
  b.g.outputs.push_back(
      b.op("Reshape", {b.op("Transpose", {o}, perm({0, 2, 1, 3})), b.ints({0, s.seq, d})}));
  return b.g;
}

int bench(const char* what, Graph g, const Shape& s, double seconds) {
  Status inferred = infer_shapes(g);
  if (!inferred.ok()) {
    std::printf("%s: %s\n", what, inferred.to_string().c_str());
    return 1;
  }
  auto engine = create_cpu_engine(std::move(g));
  if (!engine.ok()) {
    std::printf("%s: %s\n", what, engine.status().to_string().c_str());
    return 1;
  }
  const int64_t d = s.heads * s.head_dim;
  std::vector<NamedTensor> inputs = {{"q", random_f32({s.batch, s.seq, d}, 1)},
                                     {"k", random_f32({s.batch, s.seq, d}, 2)},
                                     {"v", random_f32({s.batch, s.seq, d}, 3)}};
  auto ctx = (*engine)->create_context();
  for (int i = 0; i < 2; ++i) {
    if (!ctx->run(inputs).ok()) return 1;
  }
  double flops = 4.0 * s.batch * s.heads * s.seq * s.seq * s.head_dim;
  if (s.causal) flops /= 2;  // what a causal kernel needs; the unfused path does it all
  std::vector<double> runs;
  double best_cpu = 1e30;
  const auto start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds || runs.size() < 3) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    if (!ctx->run(inputs).ok()) return 1;
    best_cpu = std::min(best_cpu, cpu_seconds() - c0);
    runs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(runs.begin(), runs.end());
  std::printf("%-40s %-8s %8.1f %8.1f %8.1f   (best %.2f ms, cpu %.2f ms)\n", s.name.c_str(), what,
              flops / runs[0] * 1e-9, flops / runs[runs.size() / 2] * 1e-9, flops / best_cpu * 1e-9,
              runs[0] * 1e3, best_cpu * 1e3);
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace vitrt

int main(int argc, char** argv) {
  using namespace vitrt;
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const std::vector<Shape> shapes = {
      {"ViT-B/16 B=1 S=197 H=12 Dh=64", 1, 197, 12, 64, false},
      {"ViT-B/16 B=8 S=197 H=12 Dh=64", 8, 197, 12, 64, false},
      {"CLIP text B=8 S=77 H=8 Dh=64 causal", 8, 77, 8, 64, true},
      {"long B=1 S=3000 H=2 Dh=64", 1, 3000, 2, 64, false},
  };
  std::printf("%-40s %-8s %8s %8s %8s   GFLOP/s\n", "shape", "path", "best", "median", "cpu");
  int rc = 0;
  for (const Shape& s : shapes) {
    rc |= bench("fused", fused_graph(s), s, seconds);
    rc |= bench("unfused", unfused_graph(s), s, seconds);
  }
  return rc;
}

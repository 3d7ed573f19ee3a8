// vitrt.ChannelsLastPool against the NCHW MaxPool / AveragePool it replaces in a channels-last
// trunk, on the CPU, through one-node CPU engines (per-call overhead included): ResNet's stem
// pool (3x3, stride 2, pad 1 over 64 channels at 112x112) and a 2x2 stride-2 pool, fp32.
//
// Usage: OMP_NUM_THREADS=2 pool_kernels [seconds_per_case] [batch]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "ir/op_schema.h"
#include "runtime/cpu_engine.h"

namespace vitrt {
namespace {

using Clock = std::chrono::steady_clock;

using bench_util::random_f32;

// A graph of one pool node over input "x" of `shape`.
Graph pool_graph(const char* domain, const char* op, const Attributes& attrs,
                 const std::vector<int64_t>& shape) {
  Graph g;
  g.opset_imports[""] = 17;
  g.opset_imports["vitrt"] = 1;
  Value x;
  x.name = "x";
  x.dtype = DType::kFloat32;
  x.has_shape = true;
  x.shape = sym_shape_from_static(shape);
  const ValueId in = g.add_value(std::move(x));
  g.inputs.push_back(in);
  Value y;
  y.name = "y";
  const ValueId out = g.add_value(std::move(y));
  g.outputs.push_back(out);
  Node n;
  n.name = "pool";
  n.op_type = op;
  n.domain = domain;
  n.attrs = attrs;
  n.inputs = {in};
  n.outputs = {out};
  g.add_node(std::move(n));
  return g;
}

// Best and median milliseconds per run over `seconds` (at least 5 runs); negative on error.
std::pair<double, double> time_ms(Graph g, const std::vector<int64_t>& shape, double seconds) {
  if (!infer_shapes(g).ok()) return {-1, -1};
  auto engine = create_cpu_engine(g);
  if (!engine.ok()) {
    std::printf("%s\n", engine.status().to_string().c_str());
    return {-1, -1};
  }
  std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
  const std::vector<NamedTensor> in = {{"x", random_f32(shape, 1)}};
  for (int i = 0; i < 3; ++i) {
    if (!ctx->run(in).ok()) return {-1, -1};
  }
  std::vector<double> runs;
  const auto start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds || runs.size() < 5) {
    const auto t0 = Clock::now();
    if (!ctx->run(in).ok()) return {-1, -1};
    runs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(runs.begin(), runs.end());
  return {runs[0], runs[runs.size() / 2]};
}

struct PoolShape {
  const char* name;
  int64_t h, w, c, k, stride, pad;
};

}  // namespace
}  // namespace vitrt

int main(int argc, char** argv) {
  using namespace vitrt;
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 8;
  const PoolShape shapes[] = {{"ResNet stem 3x3 s2 p1", 112, 112, 64, 3, 2, 1},
                              {"2x2 s2", 56, 56, 256, 2, 2, 0}};
  std::printf("batch %lld, fp32, ms per run: best / median\n", static_cast<long long>(batch));
  std::printf("%-32s %-8s %22s %22s\n", "shape", "mode", "ChannelsLastPool NHWC", "NCHW pool");
  for (const PoolShape& s : shapes) {
    for (const char* mode : {"max", "average"}) {
      Attributes a;
      a.set_ints("kernel_shape", {s.k, s.k});
      a.set_ints("strides", {s.stride, s.stride});
      a.set_ints("pads", {s.pad, s.pad, s.pad, s.pad});
      Attributes cl = a;
      cl.set_string("mode", mode);
      const std::vector<int64_t> nhwc = {batch, s.h, s.w, s.c}, nchw = {batch, s.c, s.h, s.w};
      const auto t_cl = time_ms(pool_graph("vitrt", "ChannelsLastPool", cl, nhwc), nhwc, seconds);
      const auto t_nc =
          time_ms(pool_graph("", std::string(mode) == "max" ? "MaxPool" : "AveragePool", a, nchw),
                  nchw, seconds);
      std::printf("%-32s %-8s %10.3f / %9.3f %10.3f / %9.3f\n", s.name, mode, t_cl.first,
                  t_cl.second, t_nc.first, t_nc.second);
      std::fflush(stdout);
    }
  }
  return 0;
}

// Helpers of the CUDA tests: run a hand-built graph on the CUDA engine, compare by precision.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/float8.h"
#include "core/half.h"
#include "core/npy.h"
#include "cuda/cuda_engine.h"
#include "cuda/device_info.h"
#include "cuda/launch.h"
#include "testing/compare.h"
#include "testing/test_graph.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt::testing {

inline bool have_gpu() {
  return cuda::device_count() > 0;
}

#define VITRT_REQUIRE_GPU() \
  if (!::vitrt::testing::have_gpu()) GTEST_SKIP() << "no CUDA device"

inline Result<std::vector<Tensor>> run_graph_cuda(const Graph& graph,
                                                  const std::vector<Tensor>& inputs,
                                                  const std::string& precision,
                                                  bool cuda_graphs = true) {
  cuda::CudaEngineOptions options;
  options.precision = precision;
  options.cuda_graphs = cuda_graphs;
  VITRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, cuda::create_cuda_engine(graph, options));
  std::vector<NamedTensor> named;
  for (size_t i = 0; i < inputs.size() && i < graph.inputs.size(); ++i) {
    named.push_back({graph.values[graph.inputs[i]].name, inputs[i]});
  }
  std::unique_ptr<ExecutionContext> ctx = engine->create_context();
  VITRT_ASSIGN_OR_RETURN(std::vector<NamedTensor> outs, ctx->run(named));
  std::vector<Tensor> result;
  for (NamedTensor& o : outs) result.push_back(std::move(o.tensor));
  return result;
}

// Bytes of one element of a CUDA kernel's float type.
inline size_t elt_bytes(cuda::Elt type) {
  return type == cuda::Elt::kF32 ? 4 : 2;
}

// A device buffer freed at scope exit, for tests that launch kernels directly.
struct DeviceBuffer {
  void* ptr = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
};

// Copies `v` to a new device buffer in `type` (fp16/bf16: rounded to nearest even).
inline ::testing::AssertionResult upload(cuda::Elt type, const std::vector<float>& v,
                                         DeviceBuffer* d) {
  std::vector<uint8_t> bytes(v.size() * elt_bytes(type));
  for (size_t i = 0; i < v.size(); ++i) {
    if (type == cuda::Elt::kF32) {
      std::memcpy(&bytes[4 * i], &v[i], 4);
    } else {
      const uint16_t h = type == cuda::Elt::kF16 ? float_to_half(v[i]) : float_to_bf16(v[i]);
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  }
  if (cudaMalloc(&d->ptr, std::max<size_t>(bytes.size(), 16)) != cudaSuccess ||
      cudaMemcpy(d->ptr, bytes.data(), bytes.size(), cudaMemcpyHostToDevice) != cudaSuccess) {
    return ::testing::AssertionFailure() << "cannot upload " << v.size() << " values";
  }
  return ::testing::AssertionSuccess();
}

// Cosine similarity and max |a - b| / max |b| of two float32 tensors.
struct Agreement {
  double cosine = 0.0;
  double max_rel = 0.0;
};

inline Agreement agreement(const Tensor& a, const Tensor& b) {
  double dot = 0, na = 0, nb = 0, maxerr = 0, scale = 0;
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i) {
    const double x = a.element_as_double(i), y = b.element_as_double(i);
    dot += x * y;
    na += x * x;
    nb += y * y;
    maxerr = std::max(maxerr, std::fabs(x - y));
    scale = std::max(scale, std::fabs(y));
  }
  Agreement r;
  r.cosine = (na == 0 && nb == 0) ? 1.0 : dot / std::sqrt(na * nb);
  r.max_rel = scale > 0 ? maxerr / scale : maxerr;
  return r;
}

// Same shape, the worst element within `rel` of the expected output's scale and cosine at least
// `min_cosine`.
inline ::testing::AssertionResult floats_agree(const Tensor& actual, const Tensor& expected,
                                               double rel, double min_cosine) {
  const Agreement a = agreement(actual, expected);
  if (actual.shape() == expected.shape() && a.max_rel <= rel && a.cosine >= min_cosine) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "max_rel " << a.max_rel << ", cosine " << a.cosine;
}

// fp32: every element within `fp32_rel` of the output's scale. fp16/bf16: cosine >= min_cosine
// and the worst element within `reduced_rel` of the scale.
inline ::testing::AssertionResult outputs_agree(const Tensor& actual, const Tensor& expected,
                                                const std::string& precision,
                                                double fp32_rel = 1e-5, double min_cosine = 0.9999,
                                                double reduced_rel = 2e-2) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_to_string(actual.shape())
                                         << " != " << shape_to_string(expected.shape());
  }
  if (precision == "fp32" || !dtype_is_float(expected.dtype())) {
    if (!dtype_is_float(expected.dtype())) return tensors_close(actual, expected, {0.0, 0.0});
    return tensors_close_to_scale(actual, expected, fp32_rel);
  }
  const Agreement a = agreement(actual, expected);
  if (a.cosine >= min_cosine && a.max_rel <= reduced_rel) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << precision << ": cosine " << a.cosine << " (min " << min_cosine << "), max error "
         << a.max_rel << " of scale (max " << reduced_rel << ")";
}

// Runs `graph` on CUDA in `precision`, eagerly and replayed in a CUDA graph, and expects output 0
// of each run to agree with `want` (the CPU kernel's output 0) by outputs_agree.
inline void expect_cuda_output_agrees(const Graph& graph, const std::vector<Tensor>& inputs,
                                      const Tensor& want, const std::string& precision) {
  for (bool graphs : {false, true}) {
    SCOPED_TRACE(graphs ? "CUDA graph" : "eager");
    Result<std::vector<Tensor>> got = run_graph_cuda(graph, inputs, precision, graphs);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_TRUE(outputs_agree((*got)[0], want, precision));
  }
}

inline float bf16_round(float v) {
  return bf16_to_float(float_to_bf16(v));
}

// Uniform values in [lo, hi) rounded to bf16, so that a plan's conversion to fp16 or bf16 is
// exact and the GPU and the CPU start from the same numbers.
inline Tensor bf16_random(std::vector<int64_t> shape, uint64_t seed, float lo, float hi) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> u(lo, hi);
  Tensor t = Tensor::empty(DType::kFloat32, shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v = bf16_round(u(rng));
    // fp16 subnormals would round differently from bf16: keep them out.
    if (std::fabs(v) < 1e-3f) v = 0.0f;
    t.data<float>()[i] = v;
  }
  return t;
}

// E4M3 codes: every code of `actual` equals the one of `expected` or is its neighbour on the
// E4M3 grid (values computed in a different order may round to either side of a rounding
// boundary), and at most `max_fraction` of them differ.
inline ::testing::AssertionResult codes_agree(const Tensor& actual, const Tensor& expected,
                                              double max_fraction) {
  if (actual.dtype() != DType::kUInt8 || actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure()
           << "got " << actual.describe() << ", expected " << expected.describe();
  }
  int64_t differ = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const uint8_t a = actual.data<uint8_t>()[i], e = expected.data<uint8_t>()[i];
    if (a == e) continue;
    ++differ;
    const float va = e4m3_to_float(a), ve = e4m3_to_float(e);
    // Neighbours: within one step of the larger magnitude's binade (2^-3 relative), or both in
    // the subnormal range / straddling zero by one subnormal step (2^-9).
    const float step = std::max(std::ldexp(1.0f, -9), std::max(std::fabs(va), std::fabs(ve)) / 8);
    if (!(std::fabs(va - ve) <= step * 1.0001f)) {
      return ::testing::AssertionFailure() << "code " << i << ": " << va << " vs " << ve;
    }
  }
  if (static_cast<double>(differ) <= max_fraction * static_cast<double>(expected.numel())) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << differ << " of " << expected.numel() << " codes differ";
}

// E4M3 codes whose decoded values differ by at most one step of the larger magnitude's binade
// plus `abs_tol` (in code units): for codes of outputs computed at different precisions, where
// values near zero differ by more than one step.
inline ::testing::AssertionResult codes_near(const Tensor& actual, const Tensor& expected,
                                             double abs_tol) {
  if (actual.dtype() != DType::kUInt8 || actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure()
           << "got " << actual.describe() << ", expected " << expected.describe();
  }
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const float va = e4m3_to_float(actual.data<uint8_t>()[i]);
    const float ve = e4m3_to_float(expected.data<uint8_t>()[i]);
    if (std::isnan(va) || std::isnan(ve)) {
      if (std::isnan(va) != std::isnan(ve)) {
        return ::testing::AssertionFailure() << "code " << i << ": " << va << " vs " << ve;
      }
      continue;
    }
    const double step = std::max(std::ldexp(1.0, -9), std::max(std::fabs(va), std::fabs(ve)) / 8.0);
    if (!(std::fabs(double(va) - double(ve)) <= step * 1.0001 + abs_tol)) {
      return ::testing::AssertionFailure() << "code " << i << ": " << va << " vs " << ve
                                           << " (tolerance " << step + abs_tol << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// int8 codes: each within `max_steps` of the expected one, at most `max_fraction` of them off,
// and every code within [qmin, 127].
inline ::testing::AssertionResult int8_codes_agree(const Tensor& actual, const Tensor& expected,
                                                   double max_fraction, int qmin,
                                                   int max_steps = 1) {
  if (actual.dtype() != DType::kInt8 || expected.dtype() != DType::kInt8 ||
      actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure()
           << "got " << actual.describe() << ", expected " << expected.describe();
  }
  int64_t differ = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const int a = actual.data<int8_t>()[i], e = expected.data<int8_t>()[i];
    if (a < qmin) return ::testing::AssertionFailure() << "code " << i << " = " << a << " < qmin";
    if (a == e) continue;
    ++differ;
    if (std::abs(a - e) > max_steps) {
      return ::testing::AssertionFailure() << "code " << i << ": " << a << " vs " << e;
    }
  }
  if (static_cast<double>(differ) <= max_fraction * static_cast<double>(expected.numel())) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << differ << " of " << expected.numel() << " codes differ";
}

// `vitrt build --precision <precision>` of the timm ViT-tiny fixture (vitrt's calibration on its
// input) for the CPU and for CUDA: the build log's fuse_quant_producers lines holding `marker`
// ("stays FP8", "stays INT8") number cpu_edges / cuda_edges; each plan's logits, eager and from
// the captured graph, are within cosine 0.99 of PyTorch's; the CUDA plan is about as close to
// PyTorch as the CPU plan (the reference kernels with the same scales): its worst logit at most
// 1.5x the CPU plan's error plus 1% of scale, its cosine at most 0.001 below; and the two
// devices' logits agree (int8: 5e-2 of scale, cosine 0.999; fp8: 0.1, 0.998). An E4M3 code that
// a 16-bit rounding moves by one step differs by 1/16 of its value, and the logits of this
// 12-layer model carry a few such steps: two fp8 plans of one calibration sit up to about 7% of
// scale apart (session 38: CPU 8.8%, CUDA 4.7% from PyTorch, 6.9% from each other).
inline void check_quantized_vit_plans(const std::string& precision, const std::string& marker,
                                      int cpu_edges, int cuda_edges) {
  namespace fs = std::filesystem;
  const fs::path fixture = fs::path(VITRT_SOURCE_DIR) / "tests/golden/timm_vit_tiny_ts17";
  const std::string stem = "vitrt_" + precision + "_chain_";
  const fs::path calib = fs::temp_directory_path() / (stem + "calib");
  fs::remove_all(calib);
  fs::create_directories(calib / "case1");
  fs::copy_file(fixture / "case1/input.pixel_values.npy", calib / "case1/pixel_values.npy");
  Result<Tensor> x = read_npy((fixture / "case1/input.pixel_values.npy").string());
  Result<Tensor> torch = read_npy((fixture / "case1/output.0.logits.npy").string());
  ASSERT_TRUE(x.ok() && torch.ok());
  std::vector<Tensor> logits;
  std::vector<Agreement> to_torch;
  for (const char* device : {"cpu", "cuda"}) {
    SCOPED_TRACE(device);
    BuildOptions options;
    options.device = device;
    options.precision = precision;
    options.calib_data = calib.string();
    options.verbose = true;
    int edges = 0;
    options.log = [&edges, &marker](const std::string& line) {
      edges += line.find("[fuse_quant_producers]") != std::string::npos &&
               line.find(marker) != std::string::npos;
    };
    const fs::path plan = fs::temp_directory_path() / (stem + device);
    Result<BuildSummary> built =
        build_plan((fixture / "model.onnx").string(), plan.string(), options);
    ASSERT_TRUE(built.ok()) << built.status().to_string();
    EXPECT_EQ(edges, std::string(device) == "cuda" ? cuda_edges : cpu_edges);
    Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan.string());
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
    for (int round = 0; round < 2; ++round) {  // the second run replays the captured graph
      Result<std::vector<NamedTensor>> out = ctx->run({{"pixel_values", *x}});
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      EXPECT_TRUE(cosine_at_least((*out)[0].tensor, *torch, 0.99));
      if (round == 1) {
        logits.push_back((*out)[0].tensor);
        to_torch.push_back(agreement((*out)[0].tensor, *torch));
      }
    }
    std::error_code ec;
    fs::remove(plan, ec);
  }
  ASSERT_EQ(logits.size(), 2u);
  EXPECT_LE(to_torch[1].max_rel, 1.5 * to_torch[0].max_rel + 1e-2)
      << "CUDA " << to_torch[1].max_rel << " against the CPU plan's " << to_torch[0].max_rel;
  EXPECT_GE(to_torch[1].cosine, to_torch[0].cosine - 1e-3)
      << "CUDA " << to_torch[1].cosine << " against the CPU plan's " << to_torch[0].cosine;
  const bool fp8 = precision == "fp8";
  EXPECT_TRUE(floats_agree(logits[1], logits[0], fp8 ? 0.1 : 5e-2, fp8 ? 0.998 : 0.999));
}

}  // namespace vitrt::testing

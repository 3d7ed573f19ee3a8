// cuDNN's NHWC convolution (src/cuda/cudnn_conv.h) against a float64 loop of the definition on
// the host: y[b, oy, ox, o] = relu(bias[o] + R[b, oy, ox, o] + sum over (i, j, ci) of
// x[b, oy * sh - pt + i * dh, ox * sw - pl + j * dw, g * C/G + ci] * w[o, i, j, ci]), zero
// outside the image, g = o / (K/G). The inputs are rounded to the problem's type first, so
// only cuDNN's arithmetic and its output rounding remain. Where cuDNN cannot be loaded the
// tests fail, unless VITRT_ALLOW_NO_CUDNN=1 says that is expected here.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/half.h"
#include "cuda/cudnn_conv.h"
#include "cuda_test_util.h"

namespace vitrt::testing {
namespace {

using cuda::ConvBuffers;
using cuda::ConvProblem;
using cuda::Elt;

bool allow_no_cudnn() {
  const char* v = std::getenv("VITRT_ALLOW_NO_CUDNN");
  return v != nullptr && std::string(v) == "1";
}

// Every GPU machine vitrt targets has cuDNN 9 (PyTorch's wheel brings it): a missing library is
// a failure, not a skip, unless VITRT_ALLOW_NO_CUDNN=1.
#define VITRT_REQUIRE_CUDNN()                                                         \
  do {                                                                                \
    const std::string why_ = ::vitrt::cuda::cudnn_conv_unavailable();                 \
    if (!why_.empty()) {                                                              \
      if (allow_no_cudnn()) GTEST_SKIP() << "cuDNN unavailable: " << why_;            \
      FAIL() << "cuDNN unavailable: " << why_                                         \
             << " (set VITRT_ALLOW_NO_CUDNN=1 where running without it is expected)"; \
    }                                                                                 \
  } while (0)

struct ConvCase {
  const char* name;
  int64_t n, h, w, c, k, r, s, group;
  int64_t stride_h, stride_w, dil_h, dil_w;
  int64_t pad_top, pad_left, pad_bottom, pad_right;
  bool bias, residual, relu;
  bool reduced_supported;  // whether fp16/bf16 are covered (whole 8-channel vectors per group)
};

const ConvCase kCases[] = {
    {"1x1_s1", 2, 14, 14, 64, 32, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, false, false, false, true},
    {"1x1_s2", 2, 14, 14, 32, 64, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, false, false, false, true},
    {"3x3_s1_p1", 2, 14, 14, 32, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, false, false, true},
    {"3x3_s2_p1", 2, 15, 15, 32, 32, 3, 3, 1, 2, 2, 1, 1, 1, 1, 1, 1, false, false, false, true},
    // ResNet's stem: 3 input channels, which fp16/bf16 do not take.
    {"7x7_s2_p3_c3", 2, 32, 32, 3, 64, 7, 7, 1, 2, 2, 1, 1, 3, 3, 3, 3, true, false, true, false},
    // The stem with its channels zero-padded to 8, as a caller can do to reach fp16/bf16.
    {"7x7_s2_p3_c8", 2, 32, 32, 8, 64, 7, 7, 1, 2, 2, 1, 1, 3, 3, 3, 3, true, false, true, true},
    {"3x3_asymmetric_pads",
     2,
     12,
     12,
     16,
     24,
     3,
     3,
     1,
     1,
     1,
     1,
     1,
     0,
     1,
     2,
     0,
     false,
     false,
     false,
     true},
    {"3x3_dilation2", 2,     13,    13,  16, 16, 3, 3, 1, 1, 1, 2, 2, 2, 2, 2, 2,
     false,           false, false, true},
    {"5x3_rectangular",
     1,
     11,
     17,
     16,
     24,
     5,
     3,
     1,
     2,
     1,
     1,
     1,
     2,
     1,
     2,
     1,
     true,
     false,
     false,
     true},
    {"3x3_bias", 2, 10, 10, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, false, true},
    {"1x1_bias_relu", 2, 14, 14, 64, 64, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true, false, true, true},
    // A ResNet bottleneck's end: 1x1 expansion, bias, the shortcut, ReLU.
    {"1x1_bias_residual_relu",
     2,
     14,
     14,
     32,
     128,
     1,
     1,
     1,
     1,
     1,
     1,
     1,
     0,
     0,
     0,
     0,
     true,
     true,
     true,
     true},
    {"3x3_residual", 2, 9, 9, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, true, false, true},
    {"3x3_s2_odd_n3_bias_relu",
     3,
     13,
     13,
     24,
     40,
     3,
     3,
     1,
     2,
     2,
     1,
     1,
     1,
     1,
     1,
     1,
     true,
     false,
     true,
     true},
    {"3x3_group2_bias_relu",
     2,
     12,
     12,
     32,
     64,
     3,
     3,
     2,
     1,
     1,
     1,
     1,
     1,
     1,
     1,
     1,
     true,
     false,
     true,
     true},
};
constexpr int kCaseCount = static_cast<int>(sizeof(kCases) / sizeof(kCases[0]));

int64_t out_size(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t filter, int64_t stride,
                 int64_t dil) {
  return (in + pad_begin + pad_end - dil * (filter - 1) - 1) / stride + 1;
}

ConvProblem problem_of(const ConvCase& cc, Elt type) {
  ConvProblem p;
  p.type = type;
  p.n = cc.n;
  p.h = cc.h;
  p.w = cc.w;
  p.c = cc.c;
  p.k = cc.k;
  p.r = cc.r;
  p.s = cc.s;
  p.group = cc.group;
  p.stride_h = cc.stride_h;
  p.stride_w = cc.stride_w;
  p.dil_h = cc.dil_h;
  p.dil_w = cc.dil_w;
  p.pad_top = cc.pad_top;
  p.pad_left = cc.pad_left;
  p.pad_bottom = cc.pad_bottom;
  p.pad_right = cc.pad_right;
  p.oh = out_size(cc.h, cc.pad_top, cc.pad_bottom, cc.r, cc.stride_h, cc.dil_h);
  p.ow = out_size(cc.w, cc.pad_left, cc.pad_right, cc.s, cc.stride_w, cc.dil_w);
  p.bias = cc.bias;
  p.residual = cc.residual;
  p.relu = cc.relu;
  return p;
}

// Uniform values in [-1, 1) rounded to `type`.
std::vector<float> random_values(Elt type, int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& f : v) {
    f = dist(rng);
    if (type == Elt::kF16) f = half_to_float(float_to_half(f));
    if (type == Elt::kBF16) f = bf16_to_float(float_to_bf16(f));
  }
  return v;
}

// The float64 definition over NHWC x, KRSC w, [k] bias and NHWC residual.
Tensor reference(const ConvProblem& p, const std::vector<float>& x, const std::vector<float>& w,
                 const std::vector<float>& bias, const std::vector<float>& residual) {
  const int64_t cg = p.c / p.group, kg = p.k / p.group;
  Tensor y = Tensor::empty(DType::kFloat32, {p.n, p.oh, p.ow, p.k});
  float* out = y.data<float>();
  for (int64_t b = 0; b < p.n; ++b) {
    for (int64_t oy = 0; oy < p.oh; ++oy) {
      for (int64_t ox = 0; ox < p.ow; ++ox) {
        for (int64_t o = 0; o < p.k; ++o) {
          const int64_t c0 = o / kg * cg;
          double acc = 0.0;
          for (int64_t i = 0; i < p.r; ++i) {
            const int64_t iy = oy * p.stride_h - p.pad_top + i * p.dil_h;
            if (iy < 0 || iy >= p.h) continue;
            for (int64_t j = 0; j < p.s; ++j) {
              const int64_t ix = ox * p.stride_w - p.pad_left + j * p.dil_w;
              if (ix < 0 || ix >= p.w) continue;
              const float* xs = &x[static_cast<size_t>(((b * p.h + iy) * p.w + ix) * p.c + c0)];
              const float* ws = &w[static_cast<size_t>(((o * p.r + i) * p.s + j) * cg)];
              for (int64_t ci = 0; ci < cg; ++ci) acc += static_cast<double>(xs[ci]) * ws[ci];
            }
          }
          const size_t at = static_cast<size_t>(((b * p.oh + oy) * p.ow + ox) * p.k + o);
          if (p.bias) acc += bias[static_cast<size_t>(o)];
          if (p.residual) acc += residual[at];
          if (p.relu && acc < 0.0) acc = 0.0;
          out[at] = static_cast<float>(acc);
        }
      }
    }
  }
  return y;
}

// Y's device buffer read back as float32 [n, oh, ow, k].
Result<Tensor> download(const ConvProblem& p, const void* y) {
  Tensor t = Tensor::empty(DType::kFloat32, {p.n, p.oh, p.ow, p.k});
  const size_t count = static_cast<size_t>(t.numel());
  std::vector<uint8_t> bytes(count * elt_bytes(p.type));
  if (cudaMemcpy(bytes.data(), y, bytes.size(), cudaMemcpyDeviceToHost) != cudaSuccess) {
    return internal_error("cannot read Y back");
  }
  for (size_t i = 0; i < count; ++i) {
    float f = 0.0f;
    if (p.type == Elt::kF32) {
      std::memcpy(&f, &bytes[4 * i], 4);
    } else {
      uint16_t h = 0;
      std::memcpy(&h, &bytes[2 * i], 2);
      f = p.type == Elt::kF16 ? half_to_float(h) : bf16_to_float(h);
    }
    t.data<float>()[i] = f;
  }
  return t;
}

// A problem's inputs on the device, their float64 reference result and Y's buffer.
struct ConvData {
  DeviceBuffer x, w, bias, residual, y;
  Tensor expected;
  ConvBuffers buffers() const { return {x.ptr, w.ptr, bias.ptr, residual.ptr, y.ptr}; }
};

::testing::AssertionResult make_data(const ConvProblem& p, uint32_t seed, ConvData* d) {
  const std::vector<float> x = random_values(p.type, p.n * p.h * p.w * p.c, seed);
  const std::vector<float> w = random_values(p.type, p.k * p.r * p.s * (p.c / p.group), seed + 1);
  const std::vector<float> bias = random_values(p.type, p.k, seed + 2);
  const std::vector<float> residual = random_values(p.type, p.n * p.oh * p.ow * p.k, seed + 3);
  d->expected = reference(p, x, w, bias, residual);
  const size_t y_bytes = static_cast<size_t>(d->expected.numel()) * elt_bytes(p.type);
  if (auto r = upload(p.type, x, &d->x); !r) return r;
  if (auto r = upload(p.type, w, &d->w); !r) return r;
  if (p.bias) {
    if (auto r = upload(p.type, bias, &d->bias); !r) return r;
  }
  if (p.residual) {
    if (auto r = upload(p.type, residual, &d->residual); !r) return r;
  }
  if (cudaMalloc(&d->y.ptr, y_bytes) != cudaSuccess ||
      cudaMemset(d->y.ptr, 0xff, y_bytes) != cudaSuccess) {  // NaN: unwritten elements fail
    return ::testing::AssertionFailure() << "cannot allocate Y";
  }
  return ::testing::AssertionSuccess();
}

// Worst error allowed, relative to max |reference|: fp32 accumulates in fp32; TF32 rounds the
// inputs to 10-bit mantissas; fp16/bf16 round the output (and, where the epilogue is not fused,
// the convolution's result and each step after it).
double tolerance(const ConvProblem& p) {
  if (p.type == Elt::kF16) return 4e-3;
  if (p.type == Elt::kBF16) return 2e-2;
  return p.allow_tf32 ? 5e-3 : 1e-5;
}

// Prepares (timing the candidates or not), runs on a fresh stream and compares with float64.
void check_matches_float64(const ConvProblem& p, bool timing) {
  ConvData d;
  ASSERT_TRUE(make_data(p, 11, &d));
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  const ConvBuffers b = d.buffers();
  size_t ws_bytes = 0;
  const Status prepared =
      cuda::cudnn_conv_prepare(p, stream, size_t{256} << 20, timing ? &b : nullptr, &ws_bytes);
  ASSERT_TRUE(prepared.ok()) << prepared.to_string();
  EXPECT_LE(ws_bytes, size_t{256} << 20);
  // The plan chosen, in the log for whoever reads the GPU run; true FP32 takes no engine with
  // tensor-core or down-converting notes.
  const std::string summary = cuda::cudnn_conv_plan_summary(p, stream);
  std::printf("[ cuDNN    ] %s: %s\n",
              ::testing::UnitTest::GetInstance()->current_test_info()->name(), summary.c_str());
  EXPECT_FALSE(summary.empty());
  if (p.type == Elt::kF32 && !p.allow_tf32) {
    EXPECT_EQ(summary.find("tensor_core"), std::string::npos) << summary;
    EXPECT_EQ(summary.find("down_convert"), std::string::npos) << summary;
  }
  if (!p.bias && !p.residual && !p.relu) {
    EXPECT_EQ(summary.find("epilogue"), std::string::npos) << summary;
  }
  DeviceBuffer ws;
  if (ws_bytes > 0) {
    ASSERT_EQ(cudaMalloc(&ws.ptr, ws_bytes), cudaSuccess);
  }
  if (timing) {  // timing wrote Y: start again from NaN
    ASSERT_EQ(
        cudaMemset(d.y.ptr, 0xff, static_cast<size_t>(d.expected.numel()) * elt_bytes(p.type)),
        cudaSuccess);
  }
  const Status ran = cuda::cudnn_conv_run(p, b, ws.ptr, ws_bytes, stream);
  ASSERT_TRUE(ran.ok()) << ran.to_string();
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  Result<Tensor> actual = download(p, d.y.ptr);
  ASSERT_TRUE(actual.ok()) << actual.status().to_string();
  EXPECT_TRUE(tensors_close_to_scale(*actual, d.expected, tolerance(p)));
}

const char* type_name(Elt t) {
  return t == Elt::kF16 ? "fp16" : t == Elt::kBF16 ? "bf16" : "fp32";
}

using CaseParam = std::tuple<int, Elt>;
class CudnnConv : public ::testing::TestWithParam<CaseParam> {};

// Each case in fp32, fp16 and bf16. Three of them prepare with timing (up to 8 candidates
// built, some by NVRTC, and run: seconds each), one per type; the rest take the heuristic's
// first suitable engine.
TEST_P(CudnnConv, MatchesFloat64) {
  VITRT_REQUIRE_GPU();
  VITRT_REQUIRE_CUDNN();
  const auto [index, type] = GetParam();
  const ConvCase& cc = kCases[index];
  const ConvProblem p = problem_of(cc, type);
  if (type != Elt::kF32 && !cc.reduced_supported) {
    EXPECT_FALSE(cuda::cudnn_conv_supports(p));
    size_t ws = 0;
    const Status s = cuda::cudnn_conv_prepare(p, nullptr, 0, nullptr, &ws);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("not covered"), std::string::npos) << s.to_string();
    return;
  }
  ASSERT_TRUE(cuda::cudnn_conv_supports(p));
  const Elt timed_type[3] = {Elt::kF32, Elt::kF16, Elt::kBF16};
  const bool timing = index % 5 == 0 && type == timed_type[index / 5 % 3];
  SCOPED_TRACE(timing ? "timed prepare" : "heuristic prepare");
  check_matches_float64(p, timing);
}

INSTANTIATE_TEST_SUITE_P(cuda, CudnnConv,
                         ::testing::Combine(::testing::Range(0, kCaseCount),
                                            ::testing::Values(Elt::kF32, Elt::kF16, Elt::kBF16)),
                         [](const ::testing::TestParamInfo<CaseParam>& info) {
                           return std::string(kCases[std::get<0>(info.param)].name) + "_" +
                                  type_name(std::get<1>(info.param));
                         });

// fp32 with TF32 allowed: tensor-core engines may be chosen; within TF32's rounding.
TEST(CudnnConvTf32, MatchesFloat64) {
  VITRT_REQUIRE_GPU();
  VITRT_REQUIRE_CUDNN();
  for (const bool timing : {false, true}) {
    ConvProblem p = problem_of(kCases[timing ? 11 : 2], Elt::kF32);
    p.allow_tf32 = true;
    SCOPED_TRACE(kCases[timing ? 11 : 2].name);
    check_matches_float64(p, timing);
  }
}

// The static checks: what the wrapper must refuse, and the forms beside them it takes.
TEST(CudnnConvSupports, RefusesWhatItMust) {
  const ConvProblem base = problem_of(kCases[2], Elt::kF16);  // 3x3 s1 p1, c 32, k 48
  EXPECT_TRUE(cuda::cudnn_conv_supports(base));
  const auto with = [&](auto change) {
    ConvProblem p = base;
    change(p);
    return cuda::cudnn_conv_supports(p);
  };
  EXPECT_FALSE(with([](ConvProblem& p) { p.type = Elt::kI32; }));
  // 16-bit channels in whole 8-element vectors, per group.
  EXPECT_FALSE(with([](ConvProblem& p) { p.c = 3; }));
  EXPECT_TRUE(with([](ConvProblem& p) {
    p.c = 3;
    p.type = Elt::kF32;
  }));
  EXPECT_FALSE(with([](ConvProblem& p) { p.k = 12; }));
  EXPECT_FALSE(with([](ConvProblem& p) {
    p.type = Elt::kBF16;
    p.c = 8;
    p.group = 2;
  }));
  EXPECT_TRUE(with([](ConvProblem& p) {
    p.type = Elt::kBF16;
    p.c = 16;
    p.k = 16;
    p.group = 2;
  }));
  // Groups must divide both channel counts.
  EXPECT_FALSE(with([](ConvProblem& p) {
    p.type = Elt::kF32;
    p.group = 5;
  }));
  // The output extent must be the geometry's.
  EXPECT_FALSE(with([](ConvProblem& p) { p.oh += 1; }));
  EXPECT_FALSE(with([](ConvProblem& p) { p.ow -= 1; }));
  // Filters wider than the padded image give no output.
  EXPECT_FALSE(with([](ConvProblem& p) {
    p.h = 2;
    p.pad_top = p.pad_bottom = 0;
    p.oh = 0;
  }));
  EXPECT_FALSE(with([](ConvProblem& p) { p.stride_h = 0; }));
  EXPECT_FALSE(with([](ConvProblem& p) { p.dil_w = 0; }));
  EXPECT_FALSE(with([](ConvProblem& p) { p.pad_left = -1; }));
  EXPECT_FALSE(with([](ConvProblem& p) { p.n = 0; }));
  EXPECT_FALSE(with([](ConvProblem& p) { p.group = 0; }));
  // Tensors of 2^31 elements or more.
  EXPECT_FALSE(with([](ConvProblem& p) { p.n = (int64_t{1} << 31) / (14 * 14 * 32) + 1; }));
}

// max_workspace 0: either a plan without workspace (which must still compute the right
// values) or an error that says why.
TEST(CudnnConvWorkspace, ZeroLimitGivesAPlanWithoutWorkspaceOrAClearError) {
  VITRT_REQUIRE_GPU();
  VITRT_REQUIRE_CUDNN();
  // A shape no other test prepares, so the plan cache cannot answer for it.
  ConvProblem p = problem_of(kCases[13], Elt::kF16);
  p.n = 1;
  p.h = p.w = 11;
  p.oh = p.ow = 6;
  ConvData d;
  ASSERT_TRUE(make_data(p, 21, &d));
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  size_t ws_bytes = 1;
  const Status prepared = cuda::cudnn_conv_prepare(p, stream, 0, nullptr, &ws_bytes);
  if (!prepared.ok()) {
    EXPECT_NE(prepared.message().find("cuDNN convolution: no engine"), std::string::npos)
        << prepared.to_string();
    EXPECT_NE(prepared.message().find("workspace"), std::string::npos) << prepared.to_string();
  } else {
    EXPECT_EQ(ws_bytes, 0u);
    const Status ran = cuda::cudnn_conv_run(p, d.buffers(), nullptr, 0, stream);
    ASSERT_TRUE(ran.ok()) << ran.to_string();
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    Result<Tensor> actual = download(p, d.y.ptr);
    ASSERT_TRUE(actual.ok()) << actual.status().to_string();
    EXPECT_TRUE(tensors_close_to_scale(*actual, d.expected, tolerance(p)));
  }
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

// Plans are cached per (stream, problem); a problem not prepared, or buffers that break the
// plan's promises, give errors that say so.
TEST(CudnnConvCache, OnePlanPerStreamAndProblem) {
  VITRT_REQUIRE_GPU();
  VITRT_REQUIRE_CUDNN();
  ConvProblem p = problem_of(kCases[0], Elt::kBF16);  // 1x1, unique batch size below
  p.n = 5;
  ConvData d;
  ASSERT_TRUE(make_data(p, 31, &d));
  cudaStream_t a = nullptr, b = nullptr;
  ASSERT_EQ(cudaStreamCreate(&a), cudaSuccess);
  ASSERT_EQ(cudaStreamCreate(&b), cudaSuccess);
  const size_t before = cuda::cudnn_conv_plans_built();
  size_t ws = 0;
  const Status unprepared = cuda::cudnn_conv_run(p, d.buffers(), nullptr, 0, a);
  EXPECT_NE(unprepared.message().find("not prepared"), std::string::npos) << unprepared.to_string();
  EXPECT_EQ(cuda::cudnn_conv_plan_summary(p, a), "");
  ASSERT_TRUE(cuda::cudnn_conv_prepare(p, a, size_t{64} << 20, nullptr, &ws).ok());
  ASSERT_TRUE(cuda::cudnn_conv_prepare(p, a, size_t{64} << 20, nullptr, &ws).ok());
  EXPECT_EQ(cuda::cudnn_conv_plans_built() - before, 1u);
  ASSERT_TRUE(cuda::cudnn_conv_prepare(p, b, size_t{64} << 20, nullptr, &ws).ok());
  EXPECT_EQ(cuda::cudnn_conv_plans_built() - before, 2u);
  // The same problem with TF32 allowed is another plan.
  ConvProblem tf32 = p;
  tf32.type = Elt::kF32;
  tf32.allow_tf32 = true;
  ASSERT_TRUE(cuda::cudnn_conv_prepare(tf32, a, size_t{64} << 20, nullptr, &ws).ok());
  EXPECT_EQ(cuda::cudnn_conv_plans_built() - before, 3u);
  // Misaligned buffers are refused before cuDNN sees them.
  ConvBuffers bad = d.buffers();
  bad.x = static_cast<const char*>(bad.x) + 2;
  const Status misaligned = cuda::cudnn_conv_run(p, bad, nullptr, 0, a);
  EXPECT_NE(misaligned.message().find("X pointer is not 16-byte aligned"), std::string::npos)
      << misaligned.to_string();
  EXPECT_EQ(cudaStreamDestroy(a), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(b), cudaSuccess);
}

}  // namespace
}  // namespace vitrt::testing

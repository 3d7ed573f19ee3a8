// The direct depthwise convolution kernels (src/cuda/conv_direct.cu) called through
// launch_conv_direct, in both layouts, against a float64 loop of the definition on the host:
// y[b, o, oy, ox] = bias[o] + sum over (ki, kj) of x[b, o / m, oy * sh - ph + ki * dh,
// ox * sw - pw + kj * dw] * w[o, 0, ki, kj], zero outside the image (m = d / c). The NCHW path
// is also covered through the Conv op (cuda_kernels_test.cc); the NHWC path has no ONNX op
// of its own, so it is checked here directly, in fp32 and fp16.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/half.h"
#include "cuda/launch.h"
#include "cuda_test_util.h"

namespace vitrt::testing {
namespace {

struct DwCase {
  const char* name;
  int64_t b, c, mult, h, w, kh, kw, sh, sw, ph, pw, dh, dw;
  bool bias;
};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

// Reference in float64 on NCHW data.
std::vector<double> reference(const DwCase& k, const std::vector<float>& x,
                              const std::vector<float>& w, const std::vector<float>& bias) {
  const int64_t d = k.c * k.mult, oh = out_size(k.h, k.kh, k.sh, k.ph, k.dh),
                ow = out_size(k.w, k.kw, k.sw, k.pw, k.dw);
  std::vector<double> y(k.b * d * oh * ow);
  for (int64_t b = 0; b < k.b; ++b) {
    for (int64_t o = 0; o < d; ++o) {
      for (int64_t oy = 0; oy < oh; ++oy) {
        for (int64_t ox = 0; ox < ow; ++ox) {
          double acc = k.bias ? bias[o] : 0.0;
          for (int64_t ki = 0; ki < k.kh; ++ki) {
            for (int64_t kj = 0; kj < k.kw; ++kj) {
              const int64_t iy = oy * k.sh - k.ph + ki * k.dh, ix = ox * k.sw - k.pw + kj * k.dw;
              if (iy < 0 || iy >= k.h || ix < 0 || ix >= k.w) continue;
              acc += static_cast<double>(x[((b * k.c + o / k.mult) * k.h + iy) * k.w + ix]) *
                     w[o * k.kh * k.kw + ki * k.kw + kj];
            }
          }
          y[((b * d + o) * oh + oy) * ow + ox] = acc;
        }
      }
    }
  }
  return y;
}

// [B, C, H, W] <-> [B, H, W, C] on the host.
std::vector<float> to_nhwc(const std::vector<float>& v, int64_t b, int64_t c, int64_t h,
                           int64_t w) {
  std::vector<float> out(v.size());
  for (int64_t i = 0; i < b; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          out[((i * h + y) * w + x) * c + ch] = v[((i * c + ch) * h + y) * w + x];
  return out;
}

class CudaDepthwise : public ::testing::TestWithParam<std::tuple<DwCase, bool, bool>> {};

TEST_P(CudaDepthwise, MatchesFloat64) {
  VITRT_REQUIRE_GPU();
  const auto [k, channels_last, half] = GetParam();
  const int64_t d = k.c * k.mult, oh = out_size(k.h, k.kh, k.sh, k.ph, k.dh),
                ow = out_size(k.w, k.kw, k.sw, k.pw, k.dw);
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto fill = [&](int64_t n) {
    std::vector<float> v(n);
    for (float& f : v) f = dist(gen);
    if (half) {  // values exactly representable in fp16, so only the arithmetic differs
      for (float& f : v) f = half_to_float(float_to_half(f));
    }
    return v;
  };
  const std::vector<float> x = fill(k.b * k.c * k.h * k.w), w = fill(d * k.kh * k.kw),
                           bias = fill(d);
  const std::vector<double> expected = reference(k, x, w, bias);
  const std::vector<float> x_dev_order = channels_last ? to_nhwc(x, k.b, k.c, k.h, k.w) : x;

  const size_t elt = half ? 2 : 4;
  auto upload = [&](const std::vector<float>& v) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, v.size() * elt), cudaSuccess);
    if (half) {
      std::vector<uint16_t> h(v.size());
      for (size_t i = 0; i < v.size(); ++i) h[i] = float_to_half(v[i]);
      EXPECT_EQ(cudaMemcpy(p, h.data(), h.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
    } else {
      EXPECT_EQ(cudaMemcpy(p, v.data(), v.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
    }
    return p;
  };
  void* dx = upload(x_dev_order);
  void* dw = upload(w);
  void* db = upload(bias);
  void* dy = nullptr;
  const size_t ny = expected.size();
  ASSERT_EQ(cudaMalloc(&dy, ny * elt), cudaSuccess);

  cuda::ConvDirectArgs a;
  a.geom.b = k.b;
  a.geom.c = k.c;
  a.geom.h = k.h;
  a.geom.w = k.w;
  a.geom.oh = oh;
  a.geom.ow = ow;
  a.geom.kh = k.kh;
  a.geom.kw = k.kw;
  a.geom.sh = k.sh;
  a.geom.sw = k.sw;
  a.geom.ph = k.ph;
  a.geom.pw = k.pw;
  a.geom.dh = k.dh;
  a.geom.dw = k.dw;
  a.d = d;
  a.group = k.c;
  a.channels_last = channels_last;
  ASSERT_EQ(cuda::launch_conv_direct(half ? cuda::Elt::kF16 : cuda::Elt::kF32, a, dx, dw,
                                     k.bias ? db : nullptr, dy, nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> got(ny);
  if (half) {
    std::vector<uint16_t> h(ny);
    ASSERT_EQ(cudaMemcpy(h.data(), dy, ny * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    for (size_t i = 0; i < ny; ++i) got[i] = half_to_float(h[i]);
  } else {
    ASSERT_EQ(cudaMemcpy(got.data(), dy, ny * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  }
  for (void* p : {dx, dw, db, dy}) cudaFree(p);

  // Both in NCHW order for the comparison.
  const std::vector<float> got_nchw = [&] {
    if (!channels_last) return got;
    std::vector<float> out(ny);
    for (int64_t i = 0; i < k.b; ++i)
      for (int64_t ch = 0; ch < d; ++ch)
        for (int64_t y = 0; y < oh; ++y)
          for (int64_t xx = 0; xx < ow; ++xx)
            out[((i * d + ch) * oh + y) * ow + xx] = got[((i * oh + y) * ow + xx) * d + ch];
    return out;
  }();
  double scale = 0.0;
  for (double v : expected) scale = std::max<double>(scale, std::abs(v));
  // fp32 accumulation: 1e-5 of the scale; fp16 output: its rounding (2^-11 relative) on top.
  const double tol = (half ? 2e-3 : 1e-5) * std::max<double>(scale, 1.0);
  int bad = 0;
  for (size_t i = 0; i < ny && bad < 5; ++i) {
    if (std::abs(got_nchw[i] - expected[i]) > tol) {
      ADD_FAILURE() << k.name << " element " << i << ": got " << got_nchw[i] << ", expected "
                    << expected[i];
      ++bad;
    }
  }
}

const DwCase kCases[] = {
    // name, b, c, mult, h, w, kh, kw, sh, sw, ph, pw, dh, dw, bias
    {"ConvNeXt7x7", 2, 20, 1, 30, 33, 7, 7, 1, 1, 3, 3, 1, 1, true},
    {"SmallPlanes7x7", 3, 36, 1, 7, 7, 7, 7, 1, 1, 3, 3, 1, 1, true},
    {"Wide3x3", 1, 8, 1, 9, 150, 3, 3, 1, 1, 1, 1, 1, 1, false},
    {"Stride2_5x5", 2, 12, 1, 17, 19, 5, 5, 2, 2, 2, 2, 1, 1, true},
    {"Unit5x5", 2, 12, 1, 9, 21, 5, 5, 1, 1, 2, 2, 1, 1, true},
    {"Dilated3x3", 1, 16, 1, 14, 13, 3, 3, 1, 1, 2, 2, 2, 2, true},
    {"NonSquare3x5", 2, 4, 1, 11, 12, 3, 5, 1, 1, 1, 2, 1, 1, true},
    {"Multiplier2", 2, 5, 2, 10, 9, 3, 3, 1, 1, 1, 1, 1, 1, true},
    {"OddChannels", 1, 7, 1, 8, 10, 3, 3, 1, 1, 1, 1, 1, 1, true},
    {"ManyChannels", 1, 260, 1, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, true},
    {"Large13x13", 1, 8, 1, 20, 20, 13, 13, 1, 1, 6, 6, 1, 1, true},
    {"OnePixel", 2, 8, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, true},
};

std::string case_name(const ::testing::TestParamInfo<std::tuple<DwCase, bool, bool>>& info) {
  const auto& [k, channels_last, half] = info.param;
  return std::string(k.name) + (channels_last ? "_nhwc" : "_nchw") + (half ? "_fp16" : "_fp32");
}

INSTANTIATE_TEST_SUITE_P(cuda, CudaDepthwise,
                         ::testing::Combine(::testing::ValuesIn(kCases), ::testing::Bool(),
                                            ::testing::Bool()),
                         case_name);

}  // namespace
}  // namespace vitrt::testing

// Normalization family CPU kernels against float64 references written here.
#include <cmath>
#include <limits>
#include <map>

#include "cpu/single_node.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::constant_input;
using testing::random_tensor;
using testing::run_single_node;
using testing::runtime_input;
using testing::tensor_of;
using testing::tensors_close;
using testing::to_doubles;

// Splits `shape` around [a0, a1): [outer, n, inner].
struct Split {
  int64_t outer = 1, n = 1, inner = 1;
};
Split split(const std::vector<int64_t>& shape, int a0, int a1) {
  Split s;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    (i < a0 ? s.outer : i < a1 ? s.n : s.inner) *= shape[i];
  }
  return s;
}

Tensor reference_softmax(const Tensor& x, int a0, int a1, bool log) {
  const Split s = split(x.shape(), a0, a1);
  const std::vector<double> v = to_doubles(x);
  std::vector<double> y(v.size());
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t j = 0; j < s.inner; ++j) {
      auto at = [&](int64_t r) { return (o * s.n + r) * s.inner + j; };
      double m = -INFINITY, sum = 0;
      for (int64_t r = 0; r < s.n; ++r) m = std::max(m, v[at(r)]);
      for (int64_t r = 0; r < s.n; ++r) sum += std::exp(v[at(r)] - m);
      for (int64_t r = 0; r < s.n; ++r) {
        y[at(r)] = log ? v[at(r)] - m - std::log(sum) : std::exp(v[at(r)] - m) / sum;
      }
    }
  }
  return tensor_of(x.dtype(), x.shape(), y);
}

TEST(SoftmaxKernels, AlongOneAxisOpset13) {
  uint64_t seed = 100;
  const std::vector<std::pair<std::vector<int64_t>, int>> cases = {
      {{3, 5, 7}, -1}, {{3, 5, 7}, 1},      {{3, 5, 7}, 0}, {{4, 768}, -1},
      {{2, 3, 1}, 1},  {{1, 2, 300, 3}, 2}, {{13}, 0}};
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (const auto& [shape, axis] : cases) {
      const Tensor x = random_tensor(DType::kFloat32, shape, seed++, -30, 30);
      Attributes attrs;
      attrs.set_int("axis", axis);
      auto run = run_single_node(op, {runtime_input(x)}, attrs, 1, 13);
      ASSERT_TRUE(run.status.ok()) << run.status.to_string();
      const int a = axis < 0 ? axis + x.rank() : axis;
      EXPECT_TRUE(
          tensors_close(run.outputs[0], reference_softmax(x, a, a + 1, op[0] == 'L'), {2e-5, 1e-6}))
          << op << " " << shape_to_string(shape) << " axis " << axis;
    }
  }
}

TEST(SoftmaxKernels, CoercedTo2DBeforeOpset13) {
  const Tensor x = random_tensor(DType::kFloat32, {2, 3, 4}, 7, -5, 5);
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    auto by_default = run_single_node(op, {runtime_input(x)}, {}, 1, 11);  // axis 1
    ASSERT_TRUE(by_default.status.ok()) << by_default.status.to_string();
    EXPECT_TRUE(tensors_close(by_default.outputs[0], reference_softmax(x, 1, 3, op[0] == 'L'),
                              {1e-5, 1e-6}));
    Attributes attrs;
    attrs.set_int("axis", 0);
    auto flat = run_single_node(op, {runtime_input(x)}, attrs, 1, 11);
    ASSERT_TRUE(flat.status.ok());
    EXPECT_TRUE(
        tensors_close(flat.outputs[0], reference_softmax(x, 0, 3, op[0] == 'L'), {1e-5, 1e-6}));
  }
}

TEST(SoftmaxKernels, MaskedRowsAndOtherDtypes) {
  const double ninf = -std::numeric_limits<double>::infinity();
  const Tensor x = tensor_of(DType::kFloat32, {2, 4}, {1, ninf, 3, ninf, 1000, 1000, -1000, 0});
  auto run = run_single_node("Softmax", {runtime_input(x)}, {}, 1, 13);
  ASSERT_TRUE(run.status.ok());
  EXPECT_TRUE(tensors_close(run.outputs[0], reference_softmax(x, 1, 2, false)));
  EXPECT_EQ(run.outputs[0].data<float>()[1], 0.0f);

  const Tensor xd = random_tensor(DType::kFloat64, {3, 17}, 5, -10, 10);
  auto d = run_single_node("LogSoftmax", {runtime_input(xd)}, {}, 1, 13);
  ASSERT_TRUE(d.status.ok());
  EXPECT_TRUE(tensors_close(d.outputs[0], reference_softmax(xd, 1, 2, true), {1e-12, 1e-12}));

  for (DType half : {DType::kFloat16, DType::kBFloat16}) {
    const Tensor xh = random_tensor(half, {3, 40}, 6, -4, 4);
    auto h = run_single_node("Softmax", {runtime_input(xh)}, {}, 1, 13);
    ASSERT_TRUE(h.status.ok());
    EXPECT_TRUE(tensors_close(h.outputs[0], reference_softmax(xh, 1, 2, false), {1e-2, 1e-3}));
  }
  Attributes bad;
  bad.set_int("axis", 2);
  auto err = run_single_node("Softmax", {runtime_input(xd)}, bad, 1, 13);
  ASSERT_FALSE(err.status.ok());
  EXPECT_NE(err.status.message().find("attribute 'axis' 2"), std::string::npos)
      << err.status.message();
}

// ---- LayerNormalization -----------------------------------------------------------------------

struct LayerNormRef {
  Tensor y, mean, inv_std;
};

// scale/bias given as full normalized-shape vectors (the test expands broadcasts itself).
LayerNormRef reference_layer_norm(const Tensor& x, int axis, const std::vector<double>& scale,
                                  const std::vector<double>& bias, double eps) {
  const Split s = split(x.shape(), axis, x.rank());
  const std::vector<double> v = to_doubles(x);
  std::vector<double> y(v.size()), mean(s.outer), inv(s.outer);
  for (int64_t o = 0; o < s.outer; ++o) {
    double m = 0, var = 0;
    for (int64_t i = 0; i < s.n; ++i) m += v[o * s.n + i];
    m /= s.n;
    for (int64_t i = 0; i < s.n; ++i) var += (v[o * s.n + i] - m) * (v[o * s.n + i] - m);
    var /= s.n;
    mean[o] = m;
    inv[o] = 1 / std::sqrt(var + eps);
    for (int64_t i = 0; i < s.n; ++i) {
      y[o * s.n + i] = (v[o * s.n + i] - m) * inv[o] * scale[i] + (bias.empty() ? 0 : bias[i]);
    }
  }
  std::vector<int64_t> stat_shape(x.shape().begin(), x.shape().begin() + axis);
  stat_shape.resize(x.rank(), 1);
  return {tensor_of(x.dtype(), x.shape(), y), tensor_of(DType::kFloat32, stat_shape, mean),
          tensor_of(DType::kFloat32, stat_shape, inv)};
}

TEST(LayerNormKernel, LastAxisWithStatsOutputs) {
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{5, 768}, {2, 3, 37}, {1, 1}}) {
    // A large common offset checks the variance does not cancel.
    const Tensor x = random_tensor(DType::kFloat32, shape, 11, 99.0, 101.0);
    const int64_t n = shape.back();
    const Tensor scale = random_tensor(DType::kFloat32, {n}, 12, 0.5, 1.5);
    const Tensor bias = random_tensor(DType::kFloat32, {n}, 13);
    Attributes attrs;
    attrs.set_float("epsilon", 1e-6f);
    auto run = run_single_node("LayerNormalization",
                               {runtime_input(x), constant_input(scale), constant_input(bias)},
                               attrs, 3, 17);
    ASSERT_TRUE(run.status.ok()) << run.status.to_string();
    const LayerNormRef ref =
        reference_layer_norm(x, x.rank() - 1, to_doubles(scale), to_doubles(bias), 1e-6);
    EXPECT_TRUE(tensors_close(run.outputs[0], ref.y, {1e-4, 1e-4})) << shape_to_string(shape);
    EXPECT_TRUE(tensors_close(run.outputs[1], ref.mean, {1e-6, 1e-6}));
    EXPECT_TRUE(tensors_close(run.outputs[2], ref.inv_std, {1e-4, 1e-4}));
  }
}

TEST(LayerNormKernel, EarlierAxisBroadcastScaleNoBias) {
  const Tensor x = random_tensor(DType::kFloat32, {3, 4, 7}, 21);
  const Tensor scale = random_tensor(DType::kFloat32, {7}, 22);  // broadcast over [4, 7]
  Attributes attrs;
  attrs.set_int("axis", -2);
  auto run = run_single_node("LayerNormalization", {runtime_input(x), constant_input(scale)}, attrs,
                             1, 17);
  ASSERT_TRUE(run.status.ok()) << run.status.to_string();
  std::vector<double> full;
  for (int r = 0; r < 4; ++r) {
    for (double v : to_doubles(scale)) full.push_back(v);
  }
  EXPECT_TRUE(
      tensors_close(run.outputs[0], reference_layer_norm(x, 1, full, {}, 1e-5).y, {1e-5, 1e-5}));

  const Tensor bad_scale = random_tensor(DType::kFloat32, {5}, 23);
  auto bad = run_single_node("LayerNormalization", {runtime_input(x), runtime_input(bad_scale)},
                             attrs, 1, 17);
  ASSERT_FALSE(bad.status.ok());
  EXPECT_NE(bad.status.message().find("Scale"), std::string::npos) << bad.status.message();
}

TEST(LayerNormKernel, HalfAndDoubleInputs) {
  for (DType dtype : {DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    const Tensor x = random_tensor(dtype, {4, 50}, 31);
    const Tensor scale = random_tensor(dtype, {50}, 32);
    const Tensor bias = random_tensor(dtype, {50}, 33);
    auto run =
        run_single_node("LayerNormalization",
                        {runtime_input(x), constant_input(scale), constant_input(bias)}, {}, 1, 17);
    ASSERT_TRUE(run.status.ok()) << run.status.to_string();
    const double tol = dtype == DType::kFloat64 ? 1e-12 : 3e-2;
    EXPECT_TRUE(tensors_close(
        run.outputs[0], reference_layer_norm(x, 1, to_doubles(scale), to_doubles(bias), 1e-5).y,
        {tol, tol}))
        << dtype_name(dtype);
  }
}

// ---- Batch / Instance / Group normalization --------------------------------------------------

TEST(ChannelNormKernels, BatchNormInference) {
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{2, 3, 4, 5}, {2, 3}, {1, 3, 7}}) {
    const Tensor x = random_tensor(DType::kFloat32, shape, 41);
    const Tensor scale = random_tensor(DType::kFloat32, {3}, 42);
    const Tensor bias = random_tensor(DType::kFloat32, {3}, 43);
    const Tensor mean = random_tensor(DType::kFloat32, {3}, 44);
    const Tensor var = random_tensor(DType::kFloat32, {3}, 45, 0.5, 2.0);
    auto run = run_single_node("BatchNormalization",
                               {runtime_input(x), constant_input(scale), constant_input(bias),
                                constant_input(mean), constant_input(var)},
                               {}, 1, 15);
    ASSERT_TRUE(run.status.ok()) << run.status.to_string();
    const Split s = split(shape, 1, 2);
    std::vector<double> v = to_doubles(x), y(v.size());
    for (int64_t k = 0; k < x.numel(); ++k) {
      const int64_t c = k / s.inner % 3;
      y[k] = (v[k] - mean.element_as_double(c)) / std::sqrt(var.element_as_double(c) + 1e-5) *
                 scale.element_as_double(c) +
             bias.element_as_double(c);
    }
    EXPECT_TRUE(tensors_close(run.outputs[0], tensor_of(DType::kFloat32, shape, y)));
  }
}

// Training mode normalizes with the batch's own mean and biased variance over N and the spatial
// dims, and returns the running statistics blended by momentum (ONNX's reference implementation,
// computed here in double). Weight-standardized convolutions (BiT, timm ResNetV2 hybrids) export
// so, on the constant weight.
TEST(ChannelNormKernels, BatchNormTrainingMode) {
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{2, 3, 4, 5}, {1, 3, 27}, {5, 3}}) {
    const Tensor x = random_tensor(DType::kFloat32, shape, 46, -2, 3);
    const Tensor scale = random_tensor(DType::kFloat32, {3}, 47);
    const Tensor bias = random_tensor(DType::kFloat32, {3}, 48);
    const Tensor mean = random_tensor(DType::kFloat32, {3}, 49);
    const Tensor var = random_tensor(DType::kFloat32, {3}, 50, 0.5, 2.0);
    Attributes attrs;
    attrs.set_int("training_mode", 1);
    attrs.set_float("momentum", 0.8f);
    attrs.set_float("epsilon", 1e-3f);
    auto run = run_single_node("BatchNormalization",
                               {runtime_input(x), constant_input(scale), constant_input(bias),
                                constant_input(mean), constant_input(var)},
                               attrs, 3, 15);
    ASSERT_TRUE(run.status.ok()) << run.status.to_string();
    const Split s = split(shape, 1, 2);
    const std::vector<double> v = to_doubles(x);
    std::vector<double> batch_mean(3, 0.0), batch_var(3, 0.0), count(3, 0.0);
    for (int64_t k = 0; k < x.numel(); ++k) {
      batch_mean[k / s.inner % 3] += v[k];
      count[k / s.inner % 3] += 1;
    }
    for (int c = 0; c < 3; ++c) batch_mean[c] /= count[c];
    for (int64_t k = 0; k < x.numel(); ++k) {
      const int64_t c = k / s.inner % 3;
      batch_var[c] += (v[k] - batch_mean[c]) * (v[k] - batch_mean[c]) / count[c];
    }
    std::vector<double> y(v.size()), running_mean(3), running_var(3);
    for (int64_t k = 0; k < x.numel(); ++k) {
      const int64_t c = k / s.inner % 3;
      y[k] = (v[k] - batch_mean[c]) / std::sqrt(batch_var[c] + 1e-3) * scale.element_as_double(c) +
             bias.element_as_double(c);
    }
    for (int c = 0; c < 3; ++c) {
      running_mean[c] = mean.element_as_double(c) * 0.8 + batch_mean[c] * 0.2;
      running_var[c] = var.element_as_double(c) * 0.8 + batch_var[c] * 0.2;
    }
    EXPECT_TRUE(tensors_close(run.outputs[0], tensor_of(DType::kFloat32, shape, y)));
    EXPECT_TRUE(tensors_close(run.outputs[1], tensor_of(DType::kFloat32, {3}, running_mean)));
    EXPECT_TRUE(tensors_close(run.outputs[2], tensor_of(DType::kFloat32, {3}, running_var)));

    // Before opset 14 there is no training_mode: the statistics outputs (running mean and
    // variance, then the batch's saved mean and variance) make the node train.
    attrs.erase("training_mode");
    auto old = run_single_node("BatchNormalization",
                               {runtime_input(x), constant_input(scale), constant_input(bias),
                                constant_input(mean), constant_input(var)},
                               attrs, 5, 13);
    ASSERT_TRUE(old.status.ok()) << old.status.to_string();
    EXPECT_TRUE(tensors_close(old.outputs[0], tensor_of(DType::kFloat32, shape, y)));
    EXPECT_TRUE(tensors_close(old.outputs[1], tensor_of(DType::kFloat32, {3}, running_mean)));
    EXPECT_TRUE(tensors_close(old.outputs[2], tensor_of(DType::kFloat32, {3}, running_var)));
    EXPECT_TRUE(tensors_close(old.outputs[3], tensor_of(DType::kFloat32, {3}, batch_mean)));
    EXPECT_TRUE(tensors_close(old.outputs[4], tensor_of(DType::kFloat32, {3}, batch_var)));
  }
  // Inference mode has no statistics outputs to give.
  const Tensor p = random_tensor(DType::kFloat32, {3}, 51, 0.5, 1);
  auto err =
      run_single_node("BatchNormalization",
                      {runtime_input(random_tensor(DType::kFloat32, {2, 3}, 52)), constant_input(p),
                       constant_input(p), constant_input(p), constant_input(p)},
                      {}, 3, 15);
  ASSERT_FALSE(err.status.ok());
  EXPECT_NE(err.status.message().find("training_mode"), std::string::npos);
}

// Per-(sample, group) normalization over channels-in-group and spatial, per-channel affine.
Tensor reference_group_norm(const Tensor& x, int64_t groups, const std::vector<double>& scale_c,
                            const std::vector<double>& bias_c, double eps) {
  const int64_t n = x.dim(0), c = x.dim(1), len = x.numel() / (n * groups);
  const int64_t spatial = x.numel() / (n * c);
  const std::vector<double> v = to_doubles(x);
  std::vector<double> y(v.size());
  for (int64_t t = 0; t < n * groups; ++t) {
    double m = 0, var = 0;
    for (int64_t i = 0; i < len; ++i) m += v[t * len + i];
    m /= len;
    for (int64_t i = 0; i < len; ++i) var += (v[t * len + i] - m) * (v[t * len + i] - m);
    var /= len;
    for (int64_t i = 0; i < len; ++i) {
      const int64_t ch = (t * len + i) / spatial % c;
      y[t * len + i] = (v[t * len + i] - m) / std::sqrt(var + eps) * scale_c[ch] + bias_c[ch];
    }
  }
  return tensor_of(x.dtype(), x.shape(), y);
}

TEST(ChannelNormKernels, InstanceNorm) {
  const Tensor x = random_tensor(DType::kFloat32, {2, 3, 5, 7}, 51, -3, 5);
  const Tensor scale = random_tensor(DType::kFloat32, {3}, 52);
  const Tensor bias = random_tensor(DType::kFloat32, {3}, 53);
  Attributes attrs;
  attrs.set_float("epsilon", 1e-3f);
  auto run =
      run_single_node("InstanceNormalization",
                      {runtime_input(x), constant_input(scale), constant_input(bias)}, attrs, 1, 6);
  ASSERT_TRUE(run.status.ok()) << run.status.to_string();
  EXPECT_TRUE(tensors_close(run.outputs[0],
                            reference_group_norm(x, 3, to_doubles(scale), to_doubles(bias), 1e-3),
                            {1e-5, 1e-5}));
}

TEST(ChannelNormKernels, GroupNormPerGroupAndPerChannelParams) {
  const Tensor x = random_tensor(DType::kFloat32, {2, 6, 4, 3}, 61);
  Attributes attrs;
  attrs.set_int("num_groups", 3);
  // Opset 18: one scale and bias per group.
  const Tensor gs = random_tensor(DType::kFloat32, {3}, 62);
  const Tensor gb = random_tensor(DType::kFloat32, {3}, 63);
  auto per_group =
      run_single_node("GroupNormalization",
                      {runtime_input(x), constant_input(gs), constant_input(gb)}, attrs, 1, 18);
  ASSERT_TRUE(per_group.status.ok()) << per_group.status.to_string();
  std::vector<double> sc, bc;
  for (int c = 0; c < 6; ++c) {
    sc.push_back(gs.element_as_double(c / 2));
    bc.push_back(gb.element_as_double(c / 2));
  }
  EXPECT_TRUE(
      tensors_close(per_group.outputs[0], reference_group_norm(x, 3, sc, bc, 1e-5), {1e-5, 1e-5}));
  // Opset 21: one per channel.
  const Tensor cs = random_tensor(DType::kFloat32, {6}, 64);
  const Tensor cb = random_tensor(DType::kFloat32, {6}, 65);
  auto per_channel =
      run_single_node("GroupNormalization",
                      {runtime_input(x), constant_input(cs), constant_input(cb)}, attrs, 1, 21);
  ASSERT_TRUE(per_channel.status.ok());
  EXPECT_TRUE(tensors_close(per_channel.outputs[0],
                            reference_group_norm(x, 3, to_doubles(cs), to_doubles(cb), 1e-5),
                            {1e-5, 1e-5}));
  attrs.set_int("num_groups", 4);
  auto bad =
      run_single_node("GroupNormalization",
                      {runtime_input(x), constant_input(cs), constant_input(cb)}, attrs, 1, 21);
  ASSERT_FALSE(bad.status.ok());
  EXPECT_NE(bad.status.message().find("num_groups"), std::string::npos);
}

// One or two large groups of one sample (PoolFormer's one-group norm of an image, stored
// channels-last): fewer groups than threads, so the kernel sums each group in chunks on all
// threads and merges them. Values offset from zero (mean 30, deviation about 1) check that the
// merge keeps the variance.
TEST(ChannelNormKernels, GroupNormOfFewLargeGroups) {
  for (int64_t groups : {1, 2}) {
    SCOPED_TRACE(str_cat(groups, " groups"));
    Tensor x = random_tensor(DType::kFloat32, {1, 6, 160, 150}, 66, -2, 2);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] += 30.0f;
    Attributes attrs;
    attrs.set_int("num_groups", groups);
    const Tensor cs = random_tensor(DType::kFloat32, {6}, 67);
    const Tensor cb = random_tensor(DType::kFloat32, {6}, 68);
    auto run =
        run_single_node("GroupNormalization",
                        {runtime_input(x), constant_input(cs), constant_input(cb)}, attrs, 1, 21);
    ASSERT_TRUE(run.status.ok()) << run.status.to_string();
    EXPECT_TRUE(tensors_close(run.outputs[0],
                              reference_group_norm(x, groups, to_doubles(cs), to_doubles(cb), 1e-5),
                              {1e-4, 1e-4}));
  }
}

// ---- LpNormalization / MeanVarianceNormalization ---------------------------------------------

TEST(LpNormKernel, L1AndL2AlongAxes) {
  const Tensor x = random_tensor(DType::kFloat32, {3, 4, 5}, 71);
  for (int p : {1, 2}) {
    for (int axis : {-1, 1, 0}) {
      Attributes attrs;
      attrs.set_int("p", p);
      attrs.set_int("axis", axis);
      auto run = run_single_node("LpNormalization", {runtime_input(x)}, attrs, 1, 1);
      ASSERT_TRUE(run.status.ok()) << run.status.to_string();
      const int a = axis < 0 ? axis + 3 : axis;
      const Split s = split(x.shape(), a, a + 1);
      const std::vector<double> v = to_doubles(x);
      std::vector<double> y(v.size());
      for (int64_t o = 0; o < s.outer; ++o) {
        for (int64_t j = 0; j < s.inner; ++j) {
          double norm = 0;
          for (int64_t r = 0; r < s.n; ++r) {
            const double e = v[(o * s.n + r) * s.inner + j];
            norm += p == 1 ? std::fabs(e) : e * e;
          }
          if (p == 2) norm = std::sqrt(norm);
          for (int64_t r = 0; r < s.n; ++r) {
            y[(o * s.n + r) * s.inner + j] = v[(o * s.n + r) * s.inner + j] / norm;
          }
        }
      }
      EXPECT_TRUE(tensors_close(run.outputs[0], tensor_of(DType::kFloat32, x.shape(), y)))
          << "p " << p << " axis " << axis;
    }
  }
}

TEST(MvnKernel, DefaultAndCustomAxes) {
  const Tensor x = random_tensor(DType::kFloat32, {2, 3, 4, 5}, 81, -2, 3);
  for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{0, 2, 3}, {-1}}) {
    Attributes attrs;
    if (axes.size() == 1) attrs.set_ints("axes", axes);
    auto run = run_single_node("MeanVarianceNormalization", {runtime_input(x)}, attrs, 1, 13);
    ASSERT_TRUE(run.status.ok()) << run.status.to_string();
    // Group by the kept coordinates: channel for {0, 2, 3}; all but the last for {-1}.
    const std::vector<double> v = to_doubles(x);
    auto key = [&](int64_t k) { return axes.size() == 3 ? k / 20 % 3 : k / 5; };
    std::map<int64_t, std::pair<double, double>> stats;  // key -> (sum, count)
    for (int64_t k = 0; k < x.numel(); ++k) {
      stats[key(k)].first += v[k];
      stats[key(k)].second += 1;
    }
    std::map<int64_t, double> var;
    for (int64_t k = 0; k < x.numel(); ++k) {
      const double m = stats[key(k)].first / stats[key(k)].second;
      var[key(k)] += (v[k] - m) * (v[k] - m) / stats[key(k)].second;
    }
    std::vector<double> y(v.size());
    for (int64_t k = 0; k < x.numel(); ++k) {
      const double m = stats[key(k)].first / stats[key(k)].second;
      y[k] = (v[k] - m) / (std::sqrt(var[key(k)]) + 1e-9);
    }
    EXPECT_TRUE(
        tensors_close(run.outputs[0], tensor_of(DType::kFloat32, x.shape(), y), {1e-5, 1e-5}));
  }
}

}  // namespace
}  // namespace vitrt

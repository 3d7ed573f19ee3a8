// CPU kernels of the indexing family against plain index-arithmetic references.
#include <gtest/gtest.h>

#include <limits>

#include "cpu/data_movement_reference.h"
#include "ir/ops/shape_rules.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::random_bytes;
using testing::ravel;
using testing::run_cpu_op1;
using testing::same_bytes;
using testing::unravel;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

Tensor ints(const std::vector<int64_t>& v) {
  return Tensor::from_int64(v);
}
Tensor ints_shaped(const std::vector<int64_t>& v, std::vector<int64_t> shape) {
  return *Tensor::from_int64(v).reshaped(std::move(shape));
}
Tensor int32s(const std::vector<int32_t>& v, std::vector<int64_t> shape) {
  return *Tensor::copy_from(DType::kInt32, std::move(shape), v.data(), v.size() * 4);
}
Attributes attrs_int(const std::string& name, int64_t v) {
  Attributes a;
  a.set_int(name, v);
  return a;
}

// ---- Slice ----------------------------------------------------------------------------

// Python's slice(start, stop, step).indices(dim), enumerated: the positions a slice visits.
// Written independently of resolve_slice, from Python's algorithm.
std::vector<int64_t> python_slice(int64_t start, int64_t stop, int64_t step, int64_t dim) {
  auto adjust = [&](int64_t v, int64_t lower, int64_t upper) {
    if (v < 0) {
      v = v + dim;  // no overflow: dim >= 0
      return v < lower ? lower : v;
    }
    return v > upper ? upper : v;
  };
  const int64_t lower = step < 0 ? -1 : 0;
  const int64_t upper = step < 0 ? dim - 1 : dim;
  // One deliberate difference from Python: ONNX clamps a backward slice's start to
  // [0, dim - 1], so a start below -dim still visits element 0.
  start = adjust(start, step < 0 ? 0 : lower, upper);
  stop = adjust(stop, lower, upper);
  std::vector<int64_t> out;
  if (dim == 0) return out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(i);
  return out;
}

TEST(ResolveSlice, MatchesPythonSlicingIncludingInt64Extremes) {
  const std::vector<int64_t> values = {kMin, -9, -7, -3, -1, 0, 1, 4, 6, 7, 9, kMax};
  for (int64_t dim : {0, 1, 7}) {
    for (int64_t start : values) {
      for (int64_t end : values) {
        for (int64_t step : {-3, -1, 1, 2, 5}) {
          auto r = resolve_slice({dim}, {start}, {end}, {0}, {step});
          ASSERT_TRUE(r.ok());
          const std::vector<int64_t> expected = python_slice(start, end, step, dim);
          std::vector<int64_t> got;
          for (int64_t k = 0; k < (*r)[0].count; ++k) got.push_back((*r)[0].start + k * step);
          ASSERT_EQ(got, expected)
              << "dim " << dim << " [" << start << ":" << end << ":" << step << "]";
        }
      }
    }
  }
}

TEST(SliceKernel, MultiAxisWithNegativeStepsAndAxesAgainstReference) {
  const Tensor x = random_bytes(DType::kFloat16, {4, 7, 5}, 1);
  struct Case {
    std::vector<int64_t> starts, ends, axes, steps;
  };
  const std::vector<Case> cases = {{{1, -1}, {kMax, 0}, {0, -1}, {1, -2}},
                                   {{-1}, {kMin}, {1}, {-1}},
                                   {{0, 2, 1}, {4, 6, 5}, {0, 1, 2}, {3, 2, 2}},
                                   {{5}, {2}, {2}, {1}},  // empty
                                   {{-100}, {100}, {-2}, {3}}};
  for (const Case& c : cases) {
    auto out =
        run_cpu_op1({"Slice", {x, ints(c.starts), ints(c.ends), ints(c.axes), ints(c.steps)}});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    std::vector<std::vector<int64_t>> visit(3);
    for (int d = 0; d < 3; ++d) visit[d] = python_slice(0, kMax, 1, x.dim(d));
    for (size_t i = 0; i < c.axes.size(); ++i) {
      const int64_t a = c.axes[i] < 0 ? c.axes[i] + 3 : c.axes[i];
      visit[a] = python_slice(c.starts[i], c.ends[i], c.steps[i], x.dim(static_cast<int>(a)));
    }
    const std::vector<int64_t> shape = {static_cast<int64_t>(visit[0].size()),
                                        static_cast<int64_t>(visit[1].size()),
                                        static_cast<int64_t>(visit[2].size())};
    Tensor expected = Tensor::empty(x.dtype(), shape);
    for (int64_t flat = 0; flat < expected.numel(); ++flat) {
      const std::vector<int64_t> o = unravel(flat, shape);
      testing::copy_element(x, ravel({visit[0][o[0]], visit[1][o[1]], visit[2][o[2]]}, x.shape()),
                            expected, flat);
    }
    EXPECT_TRUE(same_bytes(*out, expected)) << "starts " << shape_to_string(c.starts);
  }
}

TEST(SliceKernel, DefaultAxesStepsInt32AndOpset1Attributes) {
  const Tensor x = random_bytes(DType::kInt64, {5, 6}, 2);
  auto out = run_cpu_op1({"Slice", {x, int32s({1, 2}, {2}), int32s({3, 100}, {2})}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  Tensor expected = Tensor::empty(DType::kInt64, {2, 4});
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t c = 0; c < 4; ++c)
      testing::copy_element(x, (r + 1) * 6 + c + 2, expected, r * 4 + c);
  }
  EXPECT_TRUE(same_bytes(*out, expected));
  Attributes a;
  a.set_ints("starts", {1, 2});
  a.set_ints("ends", {3, 100});
  auto v1 = run_cpu_op1({"Slice", {x}, a, 1, 1});
  ASSERT_TRUE(v1.ok()) << v1.status().to_string();
  EXPECT_TRUE(same_bytes(*v1, expected));
  EXPECT_FALSE(run_cpu_op1({"Slice", {x, ints({0}), ints({1}), ints({0}), ints({0})}}).ok());
}

// ---- Gather family --------------------------------------------------------------------

TEST(GatherKernel, AnyAxisNegativeAndScalarIndices) {
  const Tensor x = random_bytes(DType::kFloat32, {3, 5, 4}, 3);
  const Tensor idx = ints_shaped({-1, 0, 2, 4, -5, 1}, {2, 3});
  for (int64_t axis : {1, -2}) {
    auto out = run_cpu_op1({"Gather", {x, idx}, attrs_int("axis", axis)});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    ASSERT_EQ(out->shape(), (std::vector<int64_t>{3, 2, 3, 4}));
    for (int64_t flat = 0; flat < out->numel(); ++flat) {
      const std::vector<int64_t> o = unravel(flat, out->shape());
      int64_t j = idx.data<int64_t>()[o[1] * 3 + o[2]];
      if (j < 0) j += 5;
      Tensor one = Tensor::empty(DType::kFloat32, {1});
      testing::copy_element(x, ravel({o[0], j, o[3]}, x.shape()), one, 0);
      ASSERT_EQ(std::memcmp(out->data<float>() + flat, one.raw_data(), 4), 0) << flat;
    }
  }
  auto scalar = run_cpu_op1({"Gather", {x, Tensor::from_int64({-1}, true)}, attrs_int("axis", 2)});
  ASSERT_TRUE(scalar.ok()) << scalar.status().to_string();
  ASSERT_EQ(scalar->shape(), (std::vector<int64_t>{3, 5}));
  for (int64_t i = 0; i < 15; ++i) {
    ASSERT_EQ(std::memcmp(scalar->data<float>() + i, x.data<float>() + i * 4 + 3, 4), 0);
  }
  auto int32_axis0 = run_cpu_op1({"Gather", {x, int32s({2, 0}, {2})}});
  ASSERT_TRUE(int32_axis0.ok());
  EXPECT_EQ(std::memcmp(int32_axis0->data<float>(), x.data<float>() + 40, 20 * 4), 0);
  auto bad = run_cpu_op1({"Gather", {x, ints({3})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("3"), std::string::npos);
}

TEST(GatherElementsKernel, NegativeAxisAndIndices) {
  const Tensor x = random_bytes(DType::kUInt8, {3, 4}, 4);
  const Tensor idx = ints_shaped({0, -1, 2, 1, 3, 0, -4, 2}, {2, 4});
  auto out = run_cpu_op1({"GatherElements", {x, idx}, attrs_int("axis", -1)});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->shape(), (std::vector<int64_t>{2, 4}));
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t c = 0; c < 4; ++c) {
      int64_t j = idx.data<int64_t>()[r * 4 + c];
      if (j < 0) j += 4;
      EXPECT_EQ(out->data<uint8_t>()[r * 4 + c], x.data<uint8_t>()[r * 4 + j]);
    }
  }
  auto axis0 = run_cpu_op1({"GatherElements", {x, ints_shaped({2, 0, 1}, {1, 3})}});
  ASSERT_TRUE(axis0.ok());
  for (int64_t c = 0; c < 3; ++c) {
    const int64_t rows[] = {2, 0, 1};
    EXPECT_EQ(axis0->data<uint8_t>()[c], x.data<uint8_t>()[rows[c] * 4 + c]);
  }
}

TEST(GatherNDKernel, WithAndWithoutBatchDims) {
  const Tensor x = random_bytes(DType::kInt32, {2, 3, 4}, 5);
  // batch_dims 0, tuples of 2 -> rows of 4.
  auto out = run_cpu_op1({"GatherND", {x, ints_shaped({1, 2, 0, -1, 1, 0}, {3, 2})}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->shape(), (std::vector<int64_t>{3, 4}));
  const int64_t rows[3][2] = {{1, 2}, {0, 2}, {1, 0}};
  for (int t = 0; t < 3; ++t) {
    for (int64_t k = 0; k < 4; ++k) {
      EXPECT_EQ(out->data<int32_t>()[t * 4 + k],
                x.data<int32_t>()[ravel({rows[t][0], rows[t][1], k}, x.shape())]);
    }
  }
  // batch_dims 1, tuples of 2 -> scalars, per batch.
  auto batched = run_cpu_op1({"GatherND",
                              {x, ints_shaped({0, 3, 2, 1, 1, 1, 2, -1}, {2, 2, 2})},
                              attrs_int("batch_dims", 1)});
  ASSERT_TRUE(batched.ok()) << batched.status().to_string();
  ASSERT_EQ(batched->shape(), (std::vector<int64_t>{2, 2}));
  const int64_t tuples[2][2][2] = {{{0, 3}, {2, 1}}, {{1, 1}, {2, 3}}};
  for (int64_t b = 0; b < 2; ++b) {
    for (int t = 0; t < 2; ++t) {
      EXPECT_EQ(batched->data<int32_t>()[b * 2 + t],
                x.data<int32_t>()[ravel({b, tuples[b][t][0], tuples[b][t][1]}, x.shape())]);
    }
  }
}

// ---- Scatter family -------------------------------------------------------------------

TEST(ScatterNDKernel, NoneAddAndMul) {
  const Tensor x = testing::random_tensor(DType::kFloat32, {4, 3}, 6);
  const Tensor idx = ints_shaped({2, -4, 2}, {3, 1});
  const Tensor upd = testing::random_tensor(DType::kFloat32, {3, 3}, 7);
  for (const std::string reduction : {"none", "add", "mul"}) {
    Attributes a;
    a.set_string("reduction", reduction);
    auto out = run_cpu_op1({"ScatterND", {x, idx, upd}, a});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    Tensor expected = x.clone();
    const int64_t rows[] = {2, 0, 2};
    for (int t = 0; t < 3; ++t) {
      for (int64_t c = 0; c < 3; ++c) {
        float& e = expected.data<float>()[rows[t] * 3 + c];
        const float u = upd.data<float>()[t * 3 + c];
        e = reduction == "none" ? u : reduction == "add" ? e + u : e * u;
      }
    }
    EXPECT_TRUE(testing::tensors_close(*out, expected)) << reduction;
  }
  // Element tuples (k == rank) on int64 data.
  const Tensor xi = ints_shaped({1, 2, 3, 4, 5, 6}, {2, 3});
  auto elems = run_cpu_op1({"ScatterND", {xi, ints_shaped({1, 2, 0, 0}, {2, 2}), ints({-9, 9})}});
  ASSERT_TRUE(elems.ok()) << elems.status().to_string();
  EXPECT_EQ(elems->to_int64_vector(), (std::vector<int64_t>{9, 2, 3, 4, 5, -9}));
}

TEST(ScatterElementsKernel, NegativeAxisAndAddReduction) {
  const Tensor x = testing::random_tensor(DType::kFloat64, {3, 5}, 8);
  const Tensor idx = ints_shaped({4, -1, 0, 1, 1, 2}, {3, 2});
  const Tensor upd = testing::random_tensor(DType::kFloat64, {3, 2}, 9);
  for (const std::string reduction : {"none", "add"}) {
    Attributes a;
    a.set_int("axis", -1);
    a.set_string("reduction", reduction);
    auto out = run_cpu_op1({"ScatterElements", {x, idx, upd}, a});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    Tensor expected = x.clone();
    for (int64_t r = 0; r < 3; ++r) {
      for (int64_t c = 0; c < 2; ++c) {
        int64_t j = idx.data<int64_t>()[r * 2 + c];
        if (j < 0) j += 5;
        double& e = expected.data<double>()[r * 5 + j];
        const double u = upd.data<double>()[r * 2 + c];
        e = reduction == "none" ? u : e + u;
      }
    }
    EXPECT_TRUE(testing::tensors_close(*out, expected)) << reduction;
  }
  EXPECT_FALSE(run_cpu_op1({"ScatterElements", {x, ints_shaped({5}, {1, 1}), upd}}).ok());
}

// ---- OneHot, NonZero, Compress --------------------------------------------------------

TEST(OneHotKernel, AxisNegativeIndicesAndOutOfRange) {
  const Tensor idx = ints_shaped({0, -1, 3, 7, 2, -4}, {2, 3});
  const Tensor values = Tensor::from_float({-1.0f, 5.0f});
  for (int64_t axis : {-1, 1, 0}) {
    auto out = run_cpu_op1(
        {"OneHot", {idx, Tensor::from_int64({4}, true), values}, attrs_int("axis", axis)});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    const int a = static_cast<int>(axis < 0 ? axis + 3 : axis);
    ASSERT_EQ(out->dim(a), 4);
    for (int64_t flat = 0; flat < out->numel(); ++flat) {
      std::vector<int64_t> o = unravel(flat, out->shape());
      const int64_t d = o[a];
      o.erase(o.begin() + a);
      int64_t v = idx.data<int64_t>()[ravel(o, idx.shape())];
      if (v < 0) v += 4;
      ASSERT_EQ(out->data<float>()[flat], v == d ? 5.0f : -1.0f) << "axis " << axis;
    }
  }
}

TEST(NonZeroKernel, RowMajorCoordinatesAndNegativeZero) {
  Tensor x = Tensor::from_float({0.0f, 1.5f, -0.0f, 0.0f, -2.0f, 3.0f});
  x = *x.reshaped({2, 3});
  auto out = run_cpu_op1({"NonZero", {x}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(out->to_int64_vector(), (std::vector<int64_t>{0, 1, 1, 1, 1, 2}));
  auto none = run_cpu_op1({"NonZero", {Tensor::zeros(DType::kInt8, {4})}});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->shape(), (std::vector<int64_t>{1, 0}));
}

TEST(CompressKernel, WithAxisAndFlattened) {
  const Tensor x = random_bytes(DType::kFloat32, {3, 4}, 10);
  Tensor cond = Tensor::empty(DType::kBool, {3});
  const uint8_t bits[] = {1, 0, 1};
  std::memcpy(cond.raw_data(), bits, 3);
  auto rows = run_cpu_op1({"Compress", {x, cond}, attrs_int("axis", 0)});
  ASSERT_TRUE(rows.ok()) << rows.status().to_string();
  ASSERT_EQ(rows->shape(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(std::memcmp(rows->data<float>(), x.data<float>(), 16), 0);
  EXPECT_EQ(std::memcmp(rows->data<float>() + 4, x.data<float>() + 8, 16), 0);
  auto flat = run_cpu_op1({"Compress", {x, cond}});
  ASSERT_TRUE(flat.ok());
  ASSERT_EQ(flat->shape(), (std::vector<int64_t>{2}));
  EXPECT_EQ(std::memcmp(flat->data<float>() + 1, x.data<float>() + 2, 4), 0);
}

}  // namespace
}  // namespace vitrt

// Reduce family CPU kernels against straightforward float64 references written here.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "cpu/single_node.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::constant_input;
using testing::omitted_input;
using testing::random_tensor;
using testing::run_single_node;
using testing::runtime_input;
using testing::tensor_of;
using testing::tensors_close;
using testing::to_doubles;

using ListFn = std::function<double(const std::vector<double>&)>;

// Reference reduce: groups elements by their kept coordinates, then applies `fn` per group.
Tensor reference_reduce(const Tensor& x, std::vector<int64_t> axes, bool keepdims, const ListFn& fn,
                        DType out_dtype) {
  const int rank = x.rank();
  std::vector<bool> mask(rank, axes.empty());
  for (int64_t a : axes) mask[a < 0 ? a + rank : a] = true;
  std::vector<int64_t> out_shape, kept_shape;
  for (int i = 0; i < rank; ++i) {
    if (!mask[i]) kept_shape.push_back(x.dim(i));
    if (!mask[i]) out_shape.push_back(x.dim(i));
    if (mask[i] && keepdims) out_shape.push_back(1);
  }
  std::vector<std::vector<double>> groups(static_cast<size_t>(shape_numel(kept_shape)));
  const std::vector<double> v = to_doubles(x);
  std::vector<int64_t> idx(rank, 0);
  for (int64_t flat = 0; flat < x.numel(); ++flat) {
    int64_t rem = flat;
    for (int d = rank - 1; d >= 0; --d) {
      idx[d] = rem % x.dim(d);
      rem /= x.dim(d);
    }
    int64_t o = 0;
    for (int d = 0; d < rank; ++d) {
      if (!mask[d]) o = o * x.dim(d) + idx[d];
    }
    groups[o].push_back(v[flat]);
  }
  std::vector<double> out;
  for (const auto& g : groups) out.push_back(fn(g));
  return tensor_of(out_dtype, out_shape, out);
}

double sum_of(const std::vector<double>& g) {
  double s = 0;
  for (double x : g) s += x;
  return s;
}

struct ReduceCase {
  const char* op;
  ListFn fn;
  double lo, hi;  // input range
};

std::vector<ReduceCase> all_reduce_ops() {
  return {
      {"ReduceSum", sum_of, -1, 1},
      {"ReduceMean", [](const auto& g) { return sum_of(g) / g.size(); }, -1, 1},
      {"ReduceMax", [](const auto& g) { return *std::max_element(g.begin(), g.end()); }, -1, 1},
      {"ReduceMin", [](const auto& g) { return *std::min_element(g.begin(), g.end()); }, -1, 1},
      {"ReduceProd",
       [](const auto& g) {
         double p = 1;
         for (double x : g) p *= x;
         return p;
       },
       0.7, 1.3},
      {"ReduceL1",
       [](const auto& g) {
         double s = 0;
         for (double x : g) s += std::fabs(x);
         return s;
       },
       -1, 1},
      {"ReduceL2",
       [](const auto& g) {
         double s = 0;
         for (double x : g) s += x * x;
         return std::sqrt(s);
       },
       -1, 1},
      {"ReduceSumSquare",
       [](const auto& g) {
         double s = 0;
         for (double x : g) s += x * x;
         return s;
       },
       -1, 1},
      {"ReduceLogSum", [](const auto& g) { return std::log(sum_of(g)); }, 0.1, 1},
      {"ReduceLogSumExp",
       [](const auto& g) {
         double s = 0;
         for (double x : g) s += std::exp(x);
         return std::log(s);
       },
       -20, 20},
  };
}

struct AxesCase {
  std::vector<int64_t> shape;
  std::vector<int64_t> axes;
};

// Rows, column blocks wider than one block, non-contiguous axes (transpose path), size-1 dims,
// negative axes and reduce-all.
std::vector<AxesCase> axes_cases() {
  return {{{3, 5, 7}, {1}},    {{3, 5, 7}, {-1}},        {{3, 5, 7}, {0, 2}},
          {{3, 5, 7}, {}},     {{2, 3, 4, 5}, {1, 2}},   {{2, 3, 4, 5}, {0, -1}},
          {{4, 1, 300}, {-1}}, {{2, 9, 1, 301}, {1, 2}}, {{37}, {0}},
          {{2, 1, 3}, {0, 1}}, {{5, 3, 2, 3}, {1, 3}},   {{1, 600, 3}, {1}}};
}

TEST(ReduceKernels, AllOpsAllLayoutsFloat32AxesInput) {
  uint64_t seed = 1;
  for (const ReduceCase& op : all_reduce_ops()) {
    for (const AxesCase& c : axes_cases()) {
      for (int keepdims : {0, 1}) {
        const Tensor x = random_tensor(DType::kFloat32, c.shape, seed++, op.lo, op.hi);
        Attributes attrs;
        attrs.set_int("keepdims", keepdims);
        auto run = run_single_node(
            op.op, {runtime_input(x), constant_input(Tensor::from_int64(c.axes))}, attrs, 1, 18);
        ASSERT_TRUE(run.status.ok()) << op.op << ": " << run.status.to_string();
        const Tensor expected = reference_reduce(x, c.axes, keepdims, op.fn, DType::kFloat32);
        EXPECT_TRUE(tensors_close(run.outputs[0], expected, {1e-5, 1e-5}))
            << op.op << " shape " << shape_to_string(c.shape) << " axes " << shape_to_string(c.axes)
            << " keepdims " << keepdims;
      }
    }
  }
}

TEST(ReduceKernels, AxesAttributeBeforeOpset18) {
  const Tensor x = random_tensor(DType::kFloat32, {4, 6, 5}, 7);
  Attributes attrs;
  attrs.set_ints("axes", {-2, 0});
  attrs.set_int("keepdims", 0);
  auto run = run_single_node("ReduceMean", {runtime_input(x)}, attrs, 1, 13);
  ASSERT_TRUE(run.status.ok()) << run.status.to_string();
  EXPECT_TRUE(tensors_close(
      run.outputs[0],
      reference_reduce(
          x, {0, 1}, false, [](const auto& g) { return sum_of(g) / g.size(); }, DType::kFloat32)));
}

TEST(ReduceKernels, AxesFromRuntimeInput) {
  const Tensor x = random_tensor(DType::kFloat32, {3, 4, 5}, 8);
  auto run = run_single_node("ReduceSum",
                             {runtime_input(x), runtime_input(Tensor::from_int64({2}))}, {}, 1, 13);
  ASSERT_TRUE(run.status.ok()) << run.status.to_string();
  EXPECT_TRUE(tensors_close(run.outputs[0], reference_reduce(x, {2}, true, sum_of, DType::kFloat32),
                            {1e-5, 1e-6}));
}

TEST(ReduceKernels, EmptyAxes) {
  const Tensor x = random_tensor(DType::kFloat32, {3, 4}, 9);
  Attributes noop;
  noop.set_int("noop_with_empty_axes", 1);
  auto identity = run_single_node(
      "ReduceSum", {runtime_input(x), constant_input(Tensor::from_int64({}))}, noop, 1, 18);
  ASSERT_TRUE(identity.status.ok()) << identity.status.to_string();
  EXPECT_TRUE(tensors_close(identity.outputs[0], x));
  // Without noop, empty axes (given or omitted) reduce every axis.
  for (bool give_empty : {true, false}) {
    std::vector<testing::NodeInput> in = {runtime_input(x)};
    if (give_empty) in.push_back(constant_input(Tensor::from_int64({})));
    auto all = run_single_node("ReduceMax", in, {}, 1, 18);
    ASSERT_TRUE(all.status.ok()) << all.status.to_string();
    EXPECT_TRUE(tensors_close(
        all.outputs[0],
        reference_reduce(
            x, {}, true, [](const auto& g) { return *std::max_element(g.begin(), g.end()); },
            DType::kFloat32)));
  }
}

TEST(ReduceKernels, ZeroSizedReductionGivesIdentityElement) {
  const Tensor x = Tensor::empty(DType::kFloat32, {2, 0, 3});
  const Tensor axes = Tensor::from_int64({1});
  auto sum = run_single_node("ReduceSum", {runtime_input(x), constant_input(axes)}, {}, 1, 18);
  auto max = run_single_node("ReduceMax", {runtime_input(x), constant_input(axes)}, {}, 1, 18);
  auto prod = run_single_node("ReduceProd", {runtime_input(x), constant_input(axes)}, {}, 1, 18);
  ASSERT_TRUE(sum.status.ok() && max.status.ok() && prod.status.ok());
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(
      tensors_close(sum.outputs[0], tensor_of(DType::kFloat32, {2, 1, 3}, {0, 0, 0, 0, 0, 0})));
  EXPECT_TRUE(tensors_close(
      max.outputs[0], tensor_of(DType::kFloat32, {2, 1, 3}, {-inf, -inf, -inf, -inf, -inf, -inf})));
  EXPECT_TRUE(
      tensors_close(prod.outputs[0], tensor_of(DType::kFloat32, {2, 1, 3}, {1, 1, 1, 1, 1, 1})));
}

TEST(ReduceKernels, IntegerFloat64AndHalfTypes) {
  const Tensor xi = tensor_of(DType::kInt32, {2, 3}, {5, -7, 2, 100, 3, -4});
  const Tensor axes = Tensor::from_int64({-1});
  auto sum = run_single_node("ReduceSum", {runtime_input(xi), constant_input(axes)}, {}, 1, 18);
  ASSERT_TRUE(sum.status.ok()) << sum.status.to_string();
  EXPECT_TRUE(tensors_close(sum.outputs[0], tensor_of(DType::kInt32, {2, 1}, {0, 99})));
  auto mn = run_single_node(
      "ReduceMin", {runtime_input(xi), constant_input(Tensor::from_int64({0}))}, {}, 1, 18);
  ASSERT_TRUE(mn.status.ok());
  EXPECT_TRUE(tensors_close(mn.outputs[0], tensor_of(DType::kInt32, {1, 3}, {5, -7, -4})));
  const Tensor xl = tensor_of(DType::kInt64, {3}, {3, -2, 5});
  auto prod = run_single_node("ReduceProd", {runtime_input(xl)}, {}, 1, 18);
  ASSERT_TRUE(prod.status.ok());
  EXPECT_TRUE(tensors_close(prod.outputs[0], tensor_of(DType::kInt64, {1}, {-30})));

  const Tensor xd = random_tensor(DType::kFloat64, {5, 11, 3}, 21);
  auto l2 = run_single_node(
      "ReduceL2", {runtime_input(xd), constant_input(Tensor::from_int64({1}))}, {}, 1, 18);
  ASSERT_TRUE(l2.status.ok());
  EXPECT_TRUE(tensors_close(l2.outputs[0],
                            reference_reduce(
                                xd, {1}, true,
                                [](const auto& g) {
                                  double s = 0;
                                  for (double x : g) s += x * x;
                                  return std::sqrt(s);
                                },
                                DType::kFloat64),
                            {1e-12, 1e-12}));

  for (DType half : {DType::kFloat16, DType::kBFloat16}) {
    const Tensor xh = random_tensor(half, {4, 33}, 22);
    auto mean = run_single_node(
        "ReduceMean", {runtime_input(xh), constant_input(Tensor::from_int64({1}))}, {}, 1, 18);
    ASSERT_TRUE(mean.status.ok()) << mean.status.to_string();
    EXPECT_TRUE(
        tensors_close(mean.outputs[0],
                      reference_reduce(
                          xh, {1}, true, [](const auto& g) { return sum_of(g) / g.size(); }, half),
                      {1e-2, 1e-2}));
  }
}

TEST(ReduceKernels, BadAxesNameTheAxis) {
  const Tensor x = random_tensor(DType::kFloat32, {2, 3}, 3);
  auto out_of_range = run_single_node(
      "ReduceSum", {runtime_input(x), runtime_input(Tensor::from_int64({2}))}, {}, 1, 18);
  ASSERT_FALSE(out_of_range.status.ok());
  EXPECT_NE(out_of_range.status.message().find("axes value 2 is out of range"), std::string::npos)
      << out_of_range.status.message();
  Attributes dup;
  dup.set_ints("axes", {1, -1});
  auto twice = run_single_node("ReduceSum", {runtime_input(x)}, dup, 1, 11);
  ASSERT_FALSE(twice.status.ok());
  EXPECT_NE(twice.status.message().find("test_ReduceSum"), std::string::npos)
      << twice.status.message();
  EXPECT_NE(twice.status.message().find("more than once"), std::string::npos);
}

// ---- ArgMax / ArgMin -------------------------------------------------------------------------

Tensor reference_arg(const Tensor& x, int axis, bool keepdims, bool is_max, bool last) {
  return reference_reduce(
      x, {axis}, keepdims,
      [&](const std::vector<double>& g) {
        int64_t best = 0;
        for (int64_t i = 1; i < static_cast<int64_t>(g.size()); ++i) {
          const bool better = is_max ? (g[i] > g[best] || (last && g[i] == g[best]))
                                     : (g[i] < g[best] || (last && g[i] == g[best]));
          if (better) best = i;
        }
        return static_cast<double>(best);
      },
      DType::kInt64);
}

TEST(ArgReduceKernels, MatchReferenceWithTies) {
  // Few distinct values so ties are common.
  Tensor x = random_tensor(DType::kFloat32, {3, 7, 5}, 31, 0, 4);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::floor(x.data<float>()[i]);
  for (const char* op : {"ArgMax", "ArgMin"}) {
    for (int axis : {0, 1, 2, -1}) {
      for (int keepdims : {0, 1}) {
        for (int last : {0, 1}) {
          Attributes attrs;
          attrs.set_int("axis", axis);
          attrs.set_int("keepdims", keepdims);
          attrs.set_int("select_last_index", last);
          auto run = run_single_node(op, {runtime_input(x)}, attrs, 1, 13);
          ASSERT_TRUE(run.status.ok()) << run.status.to_string();
          const int a = axis < 0 ? axis + 3 : axis;
          EXPECT_TRUE(tensors_close(
              run.outputs[0], reference_arg(x, a, keepdims, std::string(op) == "ArgMax", last)))
              << op << " axis " << axis << " keepdims " << keepdims << " last " << last;
        }
      }
    }
  }
}

TEST(ArgReduceKernels, IntegerInputAndBadAxis) {
  const Tensor x = tensor_of(DType::kInt32, {2, 3}, {1, 9, 9, -5, -6, 0});
  Attributes attrs;
  attrs.set_int("axis", 1);
  attrs.set_int("keepdims", 0);
  auto run = run_single_node("ArgMax", {runtime_input(x)}, attrs, 1, 13);
  ASSERT_TRUE(run.status.ok());
  EXPECT_TRUE(tensors_close(run.outputs[0], tensor_of(DType::kInt64, {2}, {1, 2})));
  attrs.set_int("axis", 2);
  auto bad = run_single_node("ArgMax", {runtime_input(x)}, attrs, 1, 13);
  ASSERT_FALSE(bad.status.ok());
  EXPECT_NE(bad.status.message().find("attribute 'axis' 2"), std::string::npos)
      << bad.status.message();
}

// ---- CumSum -----------------------------------------------------------------------------------

TEST(CumSumKernel, ExclusiveReverseAllAxes) {
  const std::vector<int64_t> shape = {3, 4, 5};
  const Tensor x = random_tensor(DType::kFloat32, shape, 41);
  const std::vector<double> v = to_doubles(x);
  for (int axis : {0, 1, -1}) {
    for (int exclusive : {0, 1}) {
      for (int reverse : {0, 1}) {
        const int a = axis < 0 ? axis + 3 : axis;
        std::vector<int64_t> stride = {20, 5, 1};
        std::vector<double> expected(v.size());
        for (int64_t flat = 0; flat < 60; ++flat) {
          const int64_t pos = flat / stride[a] % shape[a];
          const int64_t base = flat - pos * stride[a];
          double s = 0;
          for (int64_t k = 0; k < shape[a]; ++k) {
            const bool included =
                reverse ? (exclusive ? k > pos : k >= pos) : (exclusive ? k < pos : k <= pos);
            if (included) s += v[base + k * stride[a]];
          }
          expected[flat] = s;
        }
        Attributes attrs;
        attrs.set_int("exclusive", exclusive);
        attrs.set_int("reverse", reverse);
        auto run = run_single_node(
            "CumSum", {runtime_input(x), constant_input(Tensor::from_int64({axis}, true))}, attrs,
            1, 14);
        ASSERT_TRUE(run.status.ok()) << run.status.to_string();
        EXPECT_TRUE(tensors_close(run.outputs[0], tensor_of(DType::kFloat32, shape, expected),
                                  {1e-5, 1e-6}))
            << "axis " << axis << " exclusive " << exclusive << " reverse " << reverse;
      }
    }
  }
  const Tensor xi = tensor_of(DType::kInt32, {4}, {1, 2, 3, 4});
  auto run = run_single_node("CumSum", {runtime_input(xi), runtime_input(Tensor::from_int64({0}))},
                             {}, 1, 14);
  ASSERT_TRUE(run.status.ok());
  EXPECT_TRUE(tensors_close(run.outputs[0], tensor_of(DType::kInt32, {4}, {1, 3, 6, 10})));
}

// ---- TopK -------------------------------------------------------------------------------------

TEST(TopKKernel, LargestAndSmallestWithTies) {
  const Tensor x = tensor_of(DType::kFloat32, {2, 5}, {3, 1, 3, 7, 0, -1, -1, 2, 8, 2});
  Attributes attrs;
  auto largest = run_single_node(
      "TopK", {runtime_input(x), constant_input(Tensor::from_int64({3}))}, attrs, 2, 11);
  ASSERT_TRUE(largest.status.ok()) << largest.status.to_string();
  EXPECT_TRUE(
      tensors_close(largest.outputs[0], tensor_of(DType::kFloat32, {2, 3}, {7, 3, 3, 8, 2, 2})));
  EXPECT_TRUE(
      tensors_close(largest.outputs[1], tensor_of(DType::kInt64, {2, 3}, {3, 0, 2, 3, 2, 4})));
  attrs.set_int("largest", 0);
  attrs.set_int("axis", 0);
  auto smallest = run_single_node(
      "TopK", {runtime_input(x), constant_input(Tensor::from_int64({1}))}, attrs, 2, 11);
  ASSERT_TRUE(smallest.status.ok()) << smallest.status.to_string();
  EXPECT_TRUE(
      tensors_close(smallest.outputs[0], tensor_of(DType::kFloat32, {1, 5}, {-1, -1, 2, 7, 0})));
  EXPECT_TRUE(
      tensors_close(smallest.outputs[1], tensor_of(DType::kInt64, {1, 5}, {1, 1, 1, 0, 0})));
}

}  // namespace
}  // namespace vitrt

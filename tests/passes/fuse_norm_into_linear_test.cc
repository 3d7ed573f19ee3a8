// fuse_norm_into_linear: a LayerNormalization read by one vitrt.Linear alone becomes that
// Linear's prologue (inputs 4 and 5, norm_epsilon), except in CPU plans and quantized builds
// and wherever the rows are needed without the Linear; and vitrt.Linear's prologue on the CPU
// against a float64 LayerNorm and product.
#include <gtest/gtest.h>

#include <cmath>

#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_pass;
using testing::TestGraph;

constexpr int64_t kK = 40, kN = 24;

struct Form {
  bool beta = true;
  bool bias = true;
  const char* activation = "gelu";
  bool norm_read_twice = false;  // a Relu reads the LayerNorm's output too
  bool norm_is_output = false;
  bool residual = false;   // the Linear adds a residual
  int64_t axis = -1;       // 1 on a rank-3 input: the last two axes
  bool mean_read = false;  // the LayerNorm's Mean output is a graph output
};

// x -> LayerNormalization -> Linear (-> the graph output).
TestGraph norm_block(const Form& f) {
  TestGraph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId x = g.input("x", DType::kFloat32, {batch, 5, kK});
  Attributes ln;
  ln.set_float("epsilon", 1e-6f);
  ln.set_int("axis", f.axis);
  std::vector<ValueId> ln_in = {
      x, g.constant("gamma", testing::random_tensor(DType::kFloat32, {kK}, 6, 0.5, 1.5))};
  if (f.beta) ln_in.push_back(g.constant("beta", testing::random_tensor(DType::kFloat32, {kK}, 7)));
  const std::vector<ValueId> ln_out =
      g.op_multi("LayerNormalization", ln_in, f.mean_read ? 2 : 1, ln, "", "norm");
  const ValueId normed = ln_out[0];
  Attributes attrs;
  attrs.set_string("activation", f.activation);
  std::vector<ValueId> in = {
      normed, g.constant("w", testing::random_tensor(DType::kFloat32, {kK, kN}, 3, -0.3, 0.3))};
  in.push_back(f.bias ? g.constant("b", testing::random_tensor(DType::kFloat32, {kN}, 5))
                      : kNoValue);
  if (f.residual) in.push_back(g.input("r", DType::kFloat32, {batch, 5, kN}));
  g.output(g.op("Linear", in, attrs, "vitrt", "fc1"));
  if (f.norm_read_twice) g.output(g.op("Relu", {normed}));
  if (f.norm_is_output) g.output(normed);
  if (f.mean_read) g.output(ln_out[1]);
  EXPECT_TRUE(g.infer().ok());
  return g;
}

template <typename Change>
Form form(Change change) {
  Form f;
  change(f);
  return f;
}

std::vector<Tensor> inputs(const Form& f) {
  std::vector<Tensor> v = {testing::random_tensor(DType::kFloat32, {3, 5, kK}, 1, -3, 5)};
  if (f.residual) v.push_back(testing::random_tensor(DType::kFloat32, {3, 5, kN}, 2));
  return v;
}

void expect_fused(const Form& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = norm_block(f);
  const Graph before = g.graph();
  const testing::PassResult run = run_pass(fuse_norm_into_linear, g.graph());
  ASSERT_TRUE(run.status.ok()) << run.status.to_string();
  EXPECT_EQ(run.applied, 1);
  EXPECT_TRUE(
      run.logged("[fuse_norm_into_linear] Linear 'fc1' normalizes its rows <- 1 nodes: "
                 "norm"));
  EXPECT_EQ(count_ops(g.graph(), "LayerNormalization"), 0);
  const Node* fc1 = testing::node_named(g.graph(), "fc1");
  ASSERT_NE(fc1, nullptr);
  ASSERT_EQ(fc1->num_inputs(), f.beta ? 6 : 5);
  EXPECT_EQ(g.graph().values[fc1->inputs[0]].name, "x");
  EXPECT_FALSE(fc1->has_input(3));
  EXPECT_EQ(g.graph().values[fc1->inputs[4]].name, "gamma");
  EXPECT_FLOAT_EQ(*fc1->attrs.get_float("norm_epsilon", 0.0f), 1e-6f);
  // The CPU Linear normalizes with the LayerNorm kernel, then multiplies: the same numbers.
  testing::expect_outputs_close(before, g.graph(), inputs(f), 1e-6);
}

void expect_not_fused(const Form& f, const char* what, const std::string& reason) {
  SCOPED_TRACE(what);
  TestGraph g = norm_block(f);
  const testing::PassResult run = run_pass(fuse_norm_into_linear, g.graph());
  ASSERT_TRUE(run.status.ok()) << run.status.to_string();
  EXPECT_EQ(run.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "LayerNormalization"), 1);
  EXPECT_TRUE(
      run.logged("[fuse_norm_into_linear] not applied at LayerNormalization 'norm': " + reason))
      << (run.log.empty() ? std::string("(no log)") : run.log.back());
}

TEST(FuseNormIntoLinear, Fires) {
  expect_fused({}, "LayerNorm -> Linear + GELU");
  expect_fused(form([](Form& f) { f.beta = false; }), "no LayerNorm bias");
  expect_fused(form([](Form& f) { f.bias = false; }), "no Linear bias");
  expect_fused(form([](Form& f) { f.activation = "none"; }), "no activation");
  expect_fused(form([](Form& f) { f.axis = 2; }), "axis 2 of rank 3");
}

TEST(FuseNormIntoLinear, DeclinesWhereTheRowsAreNeededElsewhere) {
  expect_not_fused(form([](Form& f) { f.norm_read_twice = true; }), "two readers",
                   "its output is read by 2 nodes");
  expect_not_fused(form([](Form& f) { f.norm_is_output = true; }), "graph output",
                   "the LayerNorm output is a graph output");
  expect_not_fused(form([](Form& f) {
                     f.residual = true;
                     f.activation = "none";
                   }),
                   "residual", "Linear 'fc1' adds a residual");
  expect_not_fused(form([](Form& f) { f.axis = 1; }), "two axes",
                   "LayerNormalization normalises more than the last axis");
  expect_not_fused(form([](Form& f) { f.mean_read = true; }), "mean output",
                   "the mean or inverse-std output of LayerNormalization is used");
}

TEST(FuseNormIntoLinear, NotForCpuPlansOrQuantizedBuilds) {
  for (const char* device : {"cpu", ""}) {
    for (bool quantized : {false, true}) {
      SCOPED_TRACE(str_cat("device '", device, "'", quantized ? ", quantized" : ""));
      TestGraph g = norm_block({});
      PassContext ctx(true, nullptr);
      ctx.set_device(device);
      ctx.set_quantized_build(quantized);
      ASSERT_TRUE(fuse_norm_into_linear(g.graph(), ctx).ok());
      const bool expected = std::string(device).empty() && !quantized;
      EXPECT_EQ(count_ops(g.graph(), "LayerNormalization"), expected ? 0 : 1);
    }
  }
}

// The CPU kernel against float64: LayerNorm (biased variance) of each row, the product, the
// bias and the erf GELU, on rows with a large mean (the residual stream of a deep ViT).
TEST(LinearNormPrologue, CpuKernelMatchesFloat64) {
  constexpr int64_t m = 7, k = 96, n = 33;
  const float eps = 1e-5f;
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {m, k});
  const Tensor w = testing::random_tensor(DType::kFloat32, {k, n}, 11, -0.2, 0.2);
  const Tensor b = testing::random_tensor(DType::kFloat32, {n}, 12);
  const Tensor gamma = testing::random_tensor(DType::kFloat32, {k}, 13, 0.5, 2.0);
  const Tensor beta = testing::random_tensor(DType::kFloat32, {k}, 14);
  Attributes attrs;
  attrs.set_string("activation", "gelu");
  attrs.set_float("norm_epsilon", eps);
  g.output(g.op("Linear",
                {x, g.constant("w", w), g.constant("b", b), kNoValue, g.constant("gamma", gamma),
                 g.constant("beta", beta)},
                attrs, "vitrt", "fc1"));
  ASSERT_TRUE(g.infer().ok());
  const Tensor in = testing::random_tensor(DType::kFloat32, {m, k}, 15, 20.0, 30.0);
  Result<std::vector<Tensor>> got = testing::run_graph(g.graph(), {in});
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  const float* xv = in.data<float>();
  double worst = 0.0, scale = 0.0;
  for (int64_t r = 0; r < m; ++r) {
    double mean = 0.0, var = 0.0;
    for (int64_t c = 0; c < k; ++c) mean += xv[r * k + c];
    mean /= k;
    for (int64_t c = 0; c < k; ++c) var += (xv[r * k + c] - mean) * (xv[r * k + c] - mean);
    var /= k;
    std::vector<double> normed(k);
    for (int64_t c = 0; c < k; ++c) {
      normed[c] = (xv[r * k + c] - mean) / std::sqrt(var + eps) * gamma.data<float>()[c] +
                  beta.data<float>()[c];
    }
    for (int64_t j = 0; j < n; ++j) {
      double acc = b.data<float>()[j];
      for (int64_t c = 0; c < k; ++c) acc += normed[c] * w.data<float>()[c * n + j];
      const double want = 0.5 * acc * (1.0 + std::erf(acc / std::sqrt(2.0)));
      worst = std::max(worst, std::fabs((*got)[0].data<float>()[r * n + j] - want));
      scale = std::max(scale, std::fabs(want));
    }
  }
  EXPECT_LE(worst, 1e-5 * scale) << "scale " << scale;
}

// Bad prologues are refused by shape inference with the input named.
TEST(LinearNormPrologue, BadInputsAreErrors) {
  struct Bad {
    const char* what;
    int64_t scale_len;
    bool residual;
    bool bias_without_scale;
    const char* message;
  };
  const Bad cases[] = {
      {"short scale", kK - 1, false, false, "norm_scale must be [K]"},
      {"residual", kK, true, false, "takes no residual"},
      {"bias alone", kK, false, true, "norm_bias (input 5) needs norm_scale (input 4)"},
  };
  for (const Bad& c : cases) {
    SCOPED_TRACE(c.what);
    TestGraph g;
    const ValueId x = g.input("x", DType::kFloat32, {2, kK});
    const ValueId scale =
        g.constant("gamma", testing::random_tensor(DType::kFloat32, {c.scale_len}, 1));
    std::vector<ValueId> in = {
        x, g.constant("w", testing::random_tensor(DType::kFloat32, {kK, kN}, 2)), kNoValue,
        c.residual ? g.input("r", DType::kFloat32, {2, kN}) : kNoValue,
        c.bias_without_scale ? kNoValue : scale};
    if (c.bias_without_scale) in.push_back(scale);
    g.output(g.op("Linear", in, {}, "vitrt", "fc1"));
    const Status s = g.infer();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("fc1"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace vitrt

// vitrt.Patchify against its definition, and Patchify + vitrt.Linear against the Conv it
// replaces, on odd channel counts, patch sizes and image sizes (also sizes that are no multiple
// of the patch: both drop the rows and columns past the last whole patch).
#include <gtest/gtest.h>

#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

TEST(Patchify, MatchesDefinition) {
  const int64_t b = 2, c = 3, h = 12, w = 11, ph = 5, pw = 3;  // 2 rows, 2 columns cut
  Tensor x = testing::random_tensor(DType::kFloat32, {b, c, h, w}, 1);
  TestGraph g;
  Attributes attrs;
  attrs.set_ints("patch", {ph, pw});
  g.output(g.op("Patchify", {g.input("x", DType::kFloat32, {Dim::symbol("batch"), c, h, w})}, attrs,
                "vitrt"));
  ASSERT_TRUE(g.infer().ok());
  const Value& out = g.graph().values[g.graph().outputs[0]];
  EXPECT_EQ(sym_shape_to_string(out.shape), "[batch, 6, 45]");
  auto got = testing::run_graph(g.graph(), {x});
  ASSERT_TRUE(got.ok()) << got.status().message();
  const int64_t nw = w / pw, k = c * ph * pw;
  Tensor want = Tensor::empty(DType::kFloat32, {b, (h / ph) * nw, k});
  for (int64_t n = 0; n < b; ++n)
    for (int64_t p = 0; p < (h / ph) * nw; ++p)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < ph; ++i)
          for (int64_t j = 0; j < pw; ++j) {
            const int64_t row = (p / nw) * ph + i, col = (p % nw) * pw + j;
            want.data<float>()[(n * (h / ph) * nw + p) * k + (ch * ph + i) * pw + j] =
                x.data<float>()[((n * c + ch) * h + row) * w + col];
          }
  EXPECT_TRUE(testing::tensors_close((*got)[0], want, {0.0, 0.0}));
}

// prefix_rows (fold_prefix_tokens): each image's first rows are zero, its patches follow.
TEST(Patchify, PrefixRowsComeFirstAndAreZero) {
  const int64_t b = 3, c = 2, h = 9, w = 8, ph = 3, pw = 4, prefix = 2;
  Tensor x = testing::random_tensor(DType::kFloat32, {b, c, h, w}, 1);
  TestGraph plain, prefixed;
  for (TestGraph* g : {&plain, &prefixed}) {
    Attributes attrs;
    attrs.set_ints("patch", {ph, pw});
    if (g == &prefixed) attrs.set_int("prefix_rows", prefix);
    g->output(g->op("Patchify", {g->input("x", DType::kFloat32, {Dim::symbol("batch"), c, h, w})},
                    attrs, "vitrt"));
    ASSERT_TRUE(g->infer().ok());
  }
  EXPECT_EQ(sym_shape_to_string(prefixed.graph().values[prefixed.graph().outputs[0]].shape),
            "[batch, 8, 24]");
  auto want = testing::run_graph(plain.graph(), {x});
  auto got = testing::run_graph(prefixed.graph(), {x});
  ASSERT_TRUE(want.ok() && got.ok());
  const int64_t p = 6, k = c * ph * pw;
  for (int64_t n = 0; n < b; ++n) {
    for (int64_t r = 0; r < prefix + p; ++r) {
      for (int64_t f = 0; f < k; ++f) {
        const float v = (*got)[0].data<float>()[(n * (prefix + p) + r) * k + f];
        const float e = r < prefix ? 0.0f : (*want)[0].data<float>()[(n * p + r - prefix) * k + f];
        ASSERT_EQ(v, e) << "image " << n << " row " << r << " feature " << f;
      }
    }
  }
  Attributes bad;
  bad.set_ints("patch", {ph, pw});
  bad.set_int("prefix_rows", -1);
  TestGraph negative;
  negative.output(
      negative.op("Patchify", {negative.input("x", DType::kFloat32, {1, c, h, w})}, bad, "vitrt"));
  Status s = negative.infer();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("prefix_rows"), std::string::npos) << s.message();
}

TEST(Patchify, SymbolicImageSizeGivesFloorDivisionTokens) {
  TestGraph g;
  Attributes attrs;
  attrs.set_ints("patch", {4, 4});
  const SymShape x = {Dim::symbol("batch"), 3, Dim::symbol("height"), Dim(4) * Dim::symbol("w")};
  g.output(g.op("Patchify", {g.input("x", DType::kFloat32, x)}, attrs, "vitrt"));
  ASSERT_TRUE(g.infer().ok());
  const Value& out = g.graph().values[g.graph().outputs[0]];
  EXPECT_EQ(sym_shape_to_string(out.shape), "[batch, (height//4)*w, 48]");
}

// Patchify + Linear(W as [C*ph*pw, D]) equals Conv(kernel == stride), as fuse_patch_embedding
// relies on.
TEST(Patchify, WithLinearMatchesConv) {
  const int64_t b = 3, c = 5, h = 16, w = 15, ph = 7, pw = 4, d = 13;  // Conv crops 2 and 3
  Tensor x = testing::random_tensor(DType::kFloat32, {b, c, h, w}, 1);
  Tensor wc = testing::random_tensor(DType::kFloat32, {d, c, ph, pw}, 2);
  Tensor bias = testing::random_tensor(DType::kFloat32, {d}, 3);
  const int64_t k = c * ph * pw;
  Tensor wl = Tensor::empty(DType::kFloat32, {k, d});
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < d; ++j) wl.data<float>()[i * d + j] = wc.data<float>()[j * k + i];

  TestGraph fused;
  Attributes pa;
  pa.set_ints("patch", {ph, pw});
  const ValueId rows =
      fused.op("Patchify", {fused.input("x", DType::kFloat32, {b, c, h, w})}, pa, "vitrt");
  fused.output(
      fused.op("Linear", {rows, fused.constant("w", wl), fused.constant("b", bias)}, {}, "vitrt"));
  ASSERT_TRUE(fused.infer().ok());

  TestGraph plain;
  Attributes ca;
  ca.set_ints("strides", {ph, pw});
  const ValueId y = plain.op("Conv",
                             {plain.input("x", DType::kFloat32, {b, c, h, w}),
                              plain.constant("w", wc), plain.constant("b", bias)},
                             ca);
  // [B, D, h, w] -> [B, N, D]
  const ValueId flat =
      plain.op("Reshape", {y, plain.constant("t", Tensor::from_int64({b, d, -1}))});
  Attributes perm;
  perm.set_ints("perm", {0, 2, 1});
  plain.output(plain.op("Transpose", {flat}, perm));
  ASSERT_TRUE(plain.infer().ok());

  auto got = testing::run_graph(fused.graph(), {x});
  ASSERT_TRUE(got.ok()) << got.status().message();
  auto want = testing::run_graph(plain.graph(), {x});
  ASSERT_TRUE(want.ok()) << want.status().message();
  EXPECT_TRUE(testing::tensors_close_to_scale((*got)[0], (*want)[0], 1e-5));
}

}  // namespace
}  // namespace vitrt

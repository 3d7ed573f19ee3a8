// vitrt.RotaryEmbedding: the CPU kernel against a float64 evaluation of the op's definition on
// odd shapes (both pairings, prefix tokens, partial rotary, one-row and rank-4 tables), and the
// schema's and kernel's errors, which name the input and the expected shape.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ir/ops/rotary_embedding.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::random_tensor;
using testing::TestGraph;

struct Case {
  std::vector<int64_t> x;      // [..., S, D]
  std::vector<int64_t> table;  // cos and sin
  int64_t start = 0;
  bool interleaved = false;
};

Attributes rotary_attrs(int64_t start, int64_t interleaved) {
  Attributes a;
  a.set_int("start", start);
  a.set_int("interleaved", interleaved);
  return a;
}

// The definition in float64: rot pairs (i, i + D'/2) or (2i, 2i + 1).
Tensor reference(const Tensor& x, const Tensor& cos, const Tensor& sin, const Case& c) {
  const int64_t s_n = c.x[c.x.size() - 2], d_n = c.x.back();
  const int64_t rd = c.table.back(), rows = c.table[c.table.size() - 2];
  const int64_t table_heads = c.table.size() >= 3 ? c.table[c.table.size() - 3] : 1;
  const int64_t heads = c.x.size() >= 3 ? c.x[c.x.size() - 3] : 1;
  const int64_t outer = x.numel() / (s_n * d_n);
  Tensor y = Tensor::empty(DType::kFloat32, c.x);
  const float* xp = x.data<float>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t s = 0; s < s_n; ++s) {
      const float* xr = xp + (o * s_n + s) * d_n;
      float* yr = y.data<float>() + (o * s_n + s) * d_n;
      for (int64_t d = 0; d < d_n; ++d) {
        if (s < c.start || d >= rd) {
          yr[d] = xr[d];
          continue;
        }
        const int64_t h = table_heads == 1 ? 0 : o % heads;
        const int64_t t = (h * rows + (rows == 1 ? 0 : s - c.start)) * rd + d;
        double rot;
        if (c.interleaved) {
          rot = d % 2 == 0 ? -double(xr[d + 1]) : double(xr[d - 1]);
        } else {
          rot = d < rd / 2 ? -double(xr[d + rd / 2]) : double(xr[d - rd / 2]);
        }
        yr[d] =
            static_cast<float>(double(xr[d]) * cos.data<float>()[t] + rot * sin.data<float>()[t]);
      }
    }
  }
  return y;
}

TEST(RotaryEmbedding, MatchesFloat64Reference) {
  const std::vector<Case> cases = {
      {{2, 3, 7, 8}, {7, 8}, 0, false},         {{2, 3, 7, 8}, {7, 8}, 0, true},
      {{1, 2, 9, 64}, {1, 1, 4, 64}, 5, false}, {{3, 5, 10}, {4, 6}, 1, true},
      {{2, 2, 6, 64}, {5, 32}, 1, false},       {{4, 6}, {1, 6}, 0, false},
      {{2, 1, 3, 10}, {1, 1, 1, 4}, 3, true},  // every token in the prefix
      {{2, 3, 6, 8}, {3, 5, 8}, 1, false},     // per-head tables (timm's mixed mode)
      {{2, 3, 6, 12}, {1, 3, 1, 8}, 0, true},  // per head, one row, partial
  };
  uint64_t seed = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << "X " << shape_to_string(c.x) << ", table " << shape_to_string(c.table)
                 << ", start " << c.start << ", interleaved " << c.interleaved);
    Tensor x = random_tensor(DType::kFloat32, c.x, seed++, -3, 3);
    Tensor cos = random_tensor(DType::kFloat32, c.table, seed++);
    Tensor sin = random_tensor(DType::kFloat32, c.table, seed++);
    TestGraph g;
    g.output(g.op("RotaryEmbedding",
                  {g.input("x", DType::kFloat32, sym_shape_from_static(c.x)),
                   g.input("cos", DType::kFloat32, sym_shape_from_static(c.table)),
                   g.input("sin", DType::kFloat32, sym_shape_from_static(c.table))},
                  rotary_attrs(c.start, c.interleaved), "vitrt"));
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(sym_shape_to_string(g.graph().values[g.graph().outputs[0]].shape),
              sym_shape_to_string(sym_shape_from_static(c.x)));
    auto got = testing::run_graph(g.graph(), {x, cos, sin});
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_TRUE(testing::tensors_close((*got)[0], reference(x, cos, sin, c), {1e-6, 1e-6}));
  }
}

// token_major reads X as [..., S, H, D]: the same numbers, bit for bit, as the head-major op
// between two heads Transposes (the form fold_transpose_into_rotary replaces).
TEST(RotaryEmbedding, TokenMajorEqualsTheTransposedOp) {
  Attributes perm;
  perm.set_ints("perm", {0, 2, 1, 3});
  for (const std::vector<int64_t>& table : {std::vector<int64_t>{5, 8}, {3, 5, 8}, {1, 1, 1, 4}}) {
    for (int64_t interleaved : {0, 1}) {
      SCOPED_TRACE(shape_to_string(table) + (interleaved ? " interleaved" : ""));
      Tensor x = random_tensor(DType::kFloat32, {2, 6, 3, 8}, 1, -3, 3);
      Tensor cos = random_tensor(DType::kFloat32, table, 2);
      Tensor sin = random_tensor(DType::kFloat32, table, 3);
      TestGraph ref;
      ValueId xr = ref.input("x", DType::kFloat32, {2, 6, 3, 8});
      ValueId rot = ref.op(
          "RotaryEmbedding",
          {ref.op("Transpose", {xr}, perm), ref.constant("cos", cos), ref.constant("sin", sin)},
          rotary_attrs(1, interleaved), "vitrt");
      ref.output(ref.op("Transpose", {rot}, perm));
      ASSERT_TRUE(ref.infer().ok());
      TestGraph tm;
      Attributes a = rotary_attrs(1, interleaved);
      a.set_int("token_major", 1);
      tm.output(tm.op("RotaryEmbedding",
                      {tm.input("x", DType::kFloat32, {2, 6, 3, 8}), tm.constant("cos", cos),
                       tm.constant("sin", sin)},
                      a, "vitrt"));
      ASSERT_TRUE(tm.infer().ok());
      auto want = testing::run_graph(ref.graph(), {x});
      auto got = testing::run_graph(tm.graph(), {x});
      ASSERT_TRUE(want.ok() && got.ok());
      EXPECT_TRUE(testing::tensors_close((*got)[0], (*want)[0], {0.0, 0.0}));
    }
  }
}

// Schema errors name the input or attribute and what was expected.
TEST(RotaryEmbedding, SchemaErrors) {
  struct Bad {
    SymShape x, cos, sin;
    int64_t start, interleaved;
    DType cos_type;
    const char* message;
  };
  const Dim b = Dim::symbol("batch");
  const std::vector<Bad> bad = {
      {{b, 2, 7, 8},
       {6, 8},
       {6, 8},
       0,
       0,
       DType::kFloat32,
       "input 'cos' [6, 8] must have S - start = 7 rows"},
      {{b, 2, 7, 8}, {7, 7}, {7, 7}, 0, 0, DType::kFloat32, "the rotary dim must be even"},
      {{b, 2, 7, 8}, {7, 10}, {7, 10}, 0, 0, DType::kFloat32, "<= D = 8"},
      {{b, 2, 7, 8}, {7, 8}, {7, 4}, 0, 0, DType::kFloat32, "differ in the rotary dim"},
      {{b, 2, 7, 8}, {3, 7, 8}, {7, 8}, 0, 0, DType::kFloat32, "or X's heads just before"},
      {{b, 2, 7, 8}, {7, 8}, {7, 8}, 0, 2, DType::kFloat32, "'interleaved' must be 0 or 1"},
      {{b, 2, 7, 8}, {7, 8}, {7, 8}, -1, 0, DType::kFloat32, "'start' must be >= 0"},
      {{b, 2, 7, 8}, {1, 8}, {1, 8}, 9, 0, DType::kFloat32, "'start' 9 exceeds the 7 tokens"},
      {{b, 2, 7, 8}, {7, 8}, {7, 8}, 0, 0, DType::kFloat16, "input 'cos' must be float32"},
      {{8}, {1, 8}, {1, 8}, 0, 0, DType::kFloat32, "input 'X' must be [..., S, D]"},
  };
  for (const Bad& c : bad) {
    SCOPED_TRACE(c.message);
    TestGraph g;
    g.output(g.op("RotaryEmbedding",
                  {g.input("x", DType::kFloat32, c.x), g.input("cos", c.cos_type, c.cos),
                   g.input("sin", DType::kFloat32, c.sin)},
                  rotary_attrs(c.start, c.interleaved), "vitrt"));
    Status s = g.infer();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("RotaryEmbedding"), std::string::npos) << s.message();
  }
}

// Dynamic token counts are checked when the shapes are known: at run time, by the kernel.
TEST(RotaryEmbedding, KernelChecksRuntimeShapes) {
  TestGraph g;
  const Dim s = Dim::symbol("seq");
  g.output(g.op("RotaryEmbedding",
                {g.input("x", DType::kFloat32, {1, 2, s, 8}),
                 g.input("cos", DType::kFloat32, {Dim::symbol("rows"), 8}),
                 g.input("sin", DType::kFloat32, {Dim::symbol("rows"), 8})},
                rotary_attrs(1, 0), "vitrt"));
  ASSERT_TRUE(g.infer().ok());
  auto got = testing::run_graph(g.graph(), {random_tensor(DType::kFloat32, {1, 2, 6, 8}, 1),
                                            random_tensor(DType::kFloat32, {6, 8}, 2),
                                            random_tensor(DType::kFloat32, {6, 8}, 3)});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("cos [6, 8] must be [5 or 1, D']"), std::string::npos)
      << got.status().message();
}

TEST(RotaryEmbedding, LayoutOfSharedAndPerHeadTables) {
  auto l = rotary_layout({2, 3, 9, 16}, {1, 1, 1, 8}, {6, 8}, 3, false);
  ASSERT_TRUE(l.ok()) << l.status().to_string();
  EXPECT_EQ(l->outer, 6);
  EXPECT_EQ(l->rotary_dim, 8);
  EXPECT_EQ(l->heads, 3);
  EXPECT_EQ(l->cos_row_stride, 0);  // one row for every token
  EXPECT_EQ(l->cos_head_stride, 0);
  EXPECT_EQ(l->sin_row_stride, 8);
  EXPECT_EQ(l->sin_head_stride, 0);
  auto per_head = rotary_layout({2, 3, 9, 16}, {3, 6, 8}, {1, 3, 1, 8}, 3, true);
  ASSERT_TRUE(per_head.ok()) << per_head.status().to_string();
  EXPECT_EQ(per_head->cos_head_stride, 48);
  EXPECT_EQ(per_head->cos_row_stride, 8);
  EXPECT_EQ(per_head->sin_head_stride, 8);
  EXPECT_EQ(per_head->sin_row_stride, 0);
}

}  // namespace
}  // namespace vitrt

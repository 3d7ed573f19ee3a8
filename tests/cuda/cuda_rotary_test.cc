// vitrt.RotaryEmbedding's CUDA kernel against the CPU kernel (the reference) in fp32, fp16 and
// bf16, with CUDA graphs on and off: the 16-byte path (D and D' multiples of the lanes) and the
// element path (odd sizes), both pairings, prefix tokens, partial rotary, one-row, rank-4 and
// per-head tables, tables as constants and as run-time inputs. The DINOv3 and EVA02 golden fixtures
// run through the fused op in every precision in cuda_golden_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_test_util.h"

namespace vitrt::testing {
namespace {

struct RotaryCase {
  std::vector<int64_t> x;      // [B, H, S, D] or [B, S, D]
  std::vector<int64_t> table;  // cos and sin
  int64_t start = 0;
  bool interleaved = false;
  bool runtime_tables = false;
  bool token_major = false;  // x [B, S, H, D]
};

std::string describe(const RotaryCase& c) {
  return "X " + shape_to_string(c.x) + ", table " + shape_to_string(c.table) + ", start " +
         std::to_string(c.start) + (c.interleaved ? ", interleaved" : ", half") +
         (c.runtime_tables ? ", run-time tables" : ", constant tables") +
         (c.token_major ? ", token-major" : "");
}

TEST(CudaRotary, MatchesCpuKernel) {
  VITRT_REQUIRE_GPU();
  const std::vector<RotaryCase> cases = {
      {{2, 3, 197, 64}, {196, 64}, 1, false, false},     // ViT-B heads, cls token
      {{2, 3, 197, 64}, {196, 64}, 1, true, false},      // EVA's pairs
      {{3, 2, 21, 64}, {1, 1, 16, 32}, 5, false, true},  // partial rotary, 5 prefix tokens
      {{3, 2, 21, 64}, {16, 32}, 5, true, false},        // partial, interleaved
      {{2, 4, 9, 40}, {9, 20}, 0, false, true},          // half 10: element path in fp32/fp16
      {{1, 3, 7, 10}, {1, 6}, 0, true, false},           // odd D, one table row
      {{2, 5, 10}, {4, 6}, 1, false, false},             // rank 3, D' = 6
      {{2, 2, 4, 16}, {1, 16}, 4, false, false},         // every token a prefix token
      {{2, 3, 17, 64}, {3, 16, 64}, 1, false, false},    // per-head tables (timm mixed mode)
      {{2, 3, 17, 64}, {1, 3, 1, 32}, 1, true, true},    // per head, one row, partial
      // token_major: [B, S, H, D], attention's layout (fold_transpose_into_rotary)
      {{2, 197, 3, 64}, {196, 64}, 1, false, false, true},
      {{3, 21, 2, 64}, {16, 32}, 5, true, true, true},
      {{2, 17, 3, 64}, {3, 16, 64}, 1, false, false, true},
      {{2, 9, 4, 40}, {9, 20}, 0, false, false, true},
  };
  uint64_t seed = 100;
  for (const RotaryCase& c : cases) {
    TestGraph g;
    SymShape xs = sym_shape_from_static(c.x);
    xs[0] = Dim::symbol("batch");
    ValueId x = g.input("x", DType::kFloat32, xs);
    Tensor x_value = bf16_random(c.x, seed++, -3.0f, 3.0f);
    Tensor cos_value = bf16_random(c.table, seed++, -1.0f, 1.0f);
    Tensor sin_value = bf16_random(c.table, seed++, -1.0f, 1.0f);
    std::vector<Tensor> inputs = {x_value};
    ValueId cos, sin;
    if (c.runtime_tables) {
      cos = g.input("cos", DType::kFloat32, sym_shape_from_static(c.table));
      sin = g.input("sin", DType::kFloat32, sym_shape_from_static(c.table));
      inputs.push_back(cos_value);
      inputs.push_back(sin_value);
    } else {
      cos = g.constant("cos", cos_value);
      sin = g.constant("sin", sin_value);
    }
    Attributes attrs;
    attrs.set_int("start", c.start);
    attrs.set_int("interleaved", c.interleaved ? 1 : 0);
    if (c.token_major) attrs.set_int("token_major", 1);
    g.output(g.op("RotaryEmbedding", {x, cos, sin}, attrs, "vitrt"));
    ASSERT_TRUE(g.infer().ok()) << describe(c);
    Result<std::vector<Tensor>> want = run_graph(g.graph(), inputs);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    for (const char* precision : {"fp32", "fp16", "bf16"}) {
      for (bool cuda_graphs : {false, true}) {
        SCOPED_TRACE(describe(c) + ", " + precision + (cuda_graphs ? ", CUDA graphs" : ""));
        Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), inputs, precision, cuda_graphs);
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        // Inputs are exact in every precision; fp32 rounds as the CPU kernel does (bit for
        // bit), fp16 and bf16 differ by the output's rounding.
        const double rel = std::string(precision) == "bf16" ? 8e-3 : 1e-3;
        EXPECT_TRUE(outputs_agree((*got)[0], (*want)[0], precision, 0.0, 0.9999, rel));
      }
    }
  }
}

// Tables that do not fit X at run time are refused with the shapes named, not read past.
TEST(CudaRotary, RefusesTablesOfTheWrongLength) {
  VITRT_REQUIRE_GPU();
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {1, 2, Dim::symbol("seq"), 8});
  ValueId cos = g.input("cos", DType::kFloat32, {Dim::symbol("rows"), 8});
  ValueId sin = g.input("sin", DType::kFloat32, {Dim::symbol("rows"), 8});
  g.output(g.op("RotaryEmbedding", {x, cos, sin}, {}, "vitrt"));
  ASSERT_TRUE(g.infer().ok());
  Result<std::vector<Tensor>> got =
      run_graph_cuda(g.graph(),
                     {bf16_random({1, 2, 6, 8}, 1, -1, 1), bf16_random({5, 8}, 2, -1, 1),
                      bf16_random({5, 8}, 3, -1, 1)},
                     "fp16");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("cos [5, 8] must be [6 or 1, D']"), std::string::npos)
      << got.status().message();
}

}  // namespace
}  // namespace vitrt::testing

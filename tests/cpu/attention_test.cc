// vitrt.Attention on the CPU against a float64 reference and against the unfused
// Reshape/Transpose/MatMul/Softmax/MatMul path, on odd shapes: Sq != Sk, Dh = 24, 1 and 7 heads,
// masks of rank 2 to 4, causal with Sq < Sk, key sequences long enough for the blocked
// (online-softmax) path, and the packed qkv form.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "core/float8.h"
#include "testing/attention_op.h"
#include "testing/attention_pattern.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

struct Case {
  int64_t batch = 2, q_len = 5, k_len = 9, heads = 3, head_dim = 24, value_dim = 24;
  std::vector<int64_t> mask_shape = {};  // empty: no mask
  bool causal = false;
  bool packed = false;  // q_len == k_len, head_dim == value_dim
  float scale = 0.0f;   // 0: the default 1/sqrt(head_dim)
  bool zero_masked_rows = false;
  std::vector<float> quant_scores = {}, quant_probs = {};  // [scale, zp, lo, hi] or empty
};

testing::AttentionOp op_of(const Case& c) {
  return {.heads = c.heads,
          .causal = c.causal,
          .scale = c.scale,
          .zero_masked_rows = c.zero_masked_rows,
          .quant_scores = c.quant_scores,
          .quant_probs = c.quant_probs};
}

Result<Tensor> run_fused(const Case& c, const Tensor& q, const Tensor& k, const Tensor& v,
                         const Tensor* mask) {
  TestGraph g;
  ValueId qi, ki = kNoValue, vi = kNoValue, mi = kNoValue;
  std::vector<Tensor> feeds;
  if (c.packed) {
    const Tensor qkv = testing::pack_qkv(q, k, v);
    qi = g.input("qkv", DType::kFloat32, sym_shape_from_static(qkv.shape()));
    feeds = {qkv};
  } else {
    qi = g.input("q", DType::kFloat32, sym_shape_from_static(q.shape()));
    ki = g.input("k", DType::kFloat32, sym_shape_from_static(k.shape()));
    vi = g.input("v", DType::kFloat32, sym_shape_from_static(v.shape()));
    feeds = {q, k, v};
  }
  if (mask != nullptr) {
    mi = g.input("mask", DType::kFloat32, sym_shape_from_static(mask->shape()));
    feeds.push_back(*mask);
  }
  g.output(testing::add_attention(g, op_of(c), qi, ki, vi, mi));
  VITRT_RETURN_IF_ERROR(g.infer());
  VITRT_ASSIGN_OR_RETURN(std::vector<Tensor> outs, testing::run_graph(g.graph(), feeds));
  return outs[0];
}

// A mask of `shape` with values in [-2, 2] and, on every third key, -inf (never a whole row).
Tensor make_mask(const std::vector<int64_t>& shape, uint64_t seed) {
  Tensor m = testing::random_tensor(DType::kFloat32, shape, seed, -2.0, 2.0);
  const int64_t k = shape.back();
  for (int64_t i = 0; i < m.numel(); ++i) {
    if (i % k % 3 == 2) m.data<float>()[i] = -INFINITY;
  }
  return m;
}

void check_case(const Case& c) {
  SCOPED_TRACE(::testing::Message() << "B=" << c.batch << " Sq=" << c.q_len << " Sk=" << c.k_len
                                    << " H=" << c.heads << " Dh=" << c.head_dim << " Dv="
                                    << c.value_dim << " mask=" << shape_to_string(c.mask_shape)
                                    << " causal=" << c.causal << " packed=" << c.packed);
  Tensor q = testing::random_tensor(DType::kFloat32, {c.batch, c.q_len, c.heads * c.head_dim}, 1);
  Tensor k = testing::random_tensor(DType::kFloat32, {c.batch, c.k_len, c.heads * c.head_dim}, 2);
  Tensor v = testing::random_tensor(DType::kFloat32, {c.batch, c.k_len, c.heads * c.value_dim}, 3);
  Tensor mask;
  if (!c.mask_shape.empty()) mask = make_mask(c.mask_shape, 4);
  const Tensor* mp = c.mask_shape.empty() ? nullptr : &mask;
  Result<Tensor> got = run_fused(c, q, k, v, mp);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_TRUE(testing::tensors_close(*got, testing::attention_reference(op_of(c), q, k, v, mp),
                                     {1e-4, 1e-5}));
}

TEST(AttentionKernel, MatchesFloat64Reference) {
  check_case({});  // Sq < Sk, Dh = 24
  check_case({.batch = 1, .q_len = 17, .k_len = 17, .heads = 1, .head_dim = 16, .value_dim = 16});
  check_case({.batch = 3, .q_len = 13, .k_len = 6, .heads = 7, .head_dim = 24, .value_dim = 8});
  check_case({.batch = 1,
              .q_len = 70,
              .k_len = 70,
              .heads = 2,
              .head_dim = 64,
              .value_dim = 64,
              .scale = 0.3f});
}

// Fake quantization of q k^T and of the probabilities (a quantized model's Q/DQ pairs inside
// attention) against the float64 reference with the same steps. Float32 and float64 may round
// a value lying within ~1e-7 of a step boundary to different steps; each such flip moves an
// output by about one probability step (1/255) times |v| <= 1, so a few elements may differ by
// that much and the rest agree to 1e-4. The unquantized reference is farther away than that:
// the attributes are applied.
// `got` against the float64 reference with the same fake quantization (`want`): at most 1% of
// the elements off by more than 1e-4 and none by `flip_bound` (the effect of a value that float
// rounding moved to the neighbouring step), while the reference without the fake quantization
// (`unquantized`) is farther away: the attributes were applied.
void expect_fake_quantized(const Tensor& got, const Tensor& want, const Tensor& unquantized,
                           double flip_bound) {
  int64_t off = 0;
  double worst = 0.0, from_plain = 0.0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double e = std::fabs(got.data<float>()[i] - want.data<float>()[i]);
    off += e > 1e-4;
    worst = std::max(worst, e);
    from_plain = std::max(from_plain,
                          double(std::fabs(want.data<float>()[i] - unquantized.data<float>()[i])));
  }
  EXPECT_LE(off, want.numel() / 100) << "elements off by more than 1e-4";
  EXPECT_LT(worst, flip_bound) << "largest error";
  EXPECT_GT(from_plain, 1e-3) << "the fake quantization changed nothing";
}

// FP8 steps are relative (1/8 of the value for E4M3, 1/4 for E5M2): a flip there moves an output
// by up to `flip_bound`.
void check_fake_quant_case(const Case& c, double flip_bound = 2.5 / 255) {
  SCOPED_TRACE(::testing::Message()
               << "Sq=" << c.q_len << " Sk=" << c.k_len << " scores " << c.quant_scores.size()
               << " probs " << c.quant_probs.size() << " mask=" << shape_to_string(c.mask_shape));
  Tensor q = testing::random_tensor(DType::kFloat32, {c.batch, c.q_len, c.heads * c.head_dim}, 1);
  Tensor k = testing::random_tensor(DType::kFloat32, {c.batch, c.k_len, c.heads * c.head_dim}, 2);
  Tensor v = testing::random_tensor(DType::kFloat32, {c.batch, c.k_len, c.heads * c.value_dim}, 3);
  Tensor mask;
  if (!c.mask_shape.empty()) mask = make_mask(c.mask_shape, 4);
  const Tensor* mp = c.mask_shape.empty() ? nullptr : &mask;
  Result<Tensor> got = run_fused(c, q, k, v, mp);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  const Tensor want = testing::attention_reference(op_of(c), q, k, v, mp);
  Case plain = c;
  plain.quant_scores.clear();
  plain.quant_probs.clear();
  const Tensor unquantized = testing::attention_reference(op_of(plain), q, k, v, mp);
  expect_fake_quantized(*got, want, unquantized, flip_bound);
}

TEST(AttentionKernel, FakeQuantizedScoresAndProbabilities) {
  const std::vector<float> scores = {0.25f, 0.0f, -128.0f, 127.0f};      // int8, symmetric
  const std::vector<float> probs = {1.0f / 255.0f, 0.0f, 0.0f, 255.0f};  // uint8, [0, 1]
  check_fake_quant_case({.batch = 2,
                         .q_len = 17,
                         .k_len = 17,
                         .heads = 2,
                         .head_dim = 16,
                         .value_dim = 16,
                         .quant_scores = scores,
                         .quant_probs = probs});
  check_fake_quant_case({.batch = 1,
                         .q_len = 70,
                         .k_len = 70,
                         .heads = 3,
                         .head_dim = 24,
                         .value_dim = 8,
                         .mask_shape = {70, 70},
                         .quant_probs = probs});
  check_fake_quant_case({.batch = 1,
                         .q_len = 9,
                         .k_len = 31,
                         .heads = 2,
                         .head_dim = 16,
                         .value_dim = 16,
                         .quant_scores = scores});
  // Past kSingleKeyBlock keys the kernel normally walks key blocks; quant_probs needs one.
  check_fake_quant_case({.batch = 1,
                         .q_len = 5,
                         .k_len = 1100,
                         .heads = 1,
                         .head_dim = 16,
                         .value_dim = 16,
                         .quant_probs = {1.0f / 2047.0f, 0.0f, 0.0f, 255.0f}});
}

// FP8 fake quantization (ModelOpt's and ONNX Runtime's FP8 Q/DQ: the kind as a fifth float):
// E4M3 probabilities with a scale for [0, 1], E5M2 scores.
TEST(AttentionKernel, Fp8FakeQuantizedScoresAndProbabilities) {
  const std::vector<float> probs = {1.0f / 448.0f, 0.0f, -448.0f, 448.0f, 1.0f};
  const std::vector<float> scores = {0.01f, 0.0f, -57344.0f, 57344.0f, 2.0f};
  check_fake_quant_case({.batch = 2,
                         .q_len = 17,
                         .k_len = 17,
                         .heads = 2,
                         .head_dim = 16,
                         .value_dim = 16,
                         .quant_scores = scores,
                         .quant_probs = probs},
                        0.1);
  check_fake_quant_case({.batch = 1,
                         .q_len = 70,
                         .k_len = 70,
                         .heads = 3,
                         .head_dim = 24,
                         .value_dim = 8,
                         .mask_shape = {70, 70},
                         .quant_probs = probs},
                        0.1);
}

// The operands' fake quantization (quant_q / quant_k / quant_v with prescale_*: the pairs
// ModelOpt and ONNX Runtime put on both inputs of both attention MatMuls), int8 and FP8, with
// the probabilities' as those models have it.
TEST(AttentionKernel, FakeQuantizedInputs) {
  for (const bool fp8 : {false, true}) {
    SCOPED_TRACE(fp8 ? "fp8" : "int8");
    const int64_t b = 2, s = 19, heads = 3, dh = 16;
    Tensor q = testing::random_tensor(DType::kFloat32, {b, s, heads * dh}, 11, -2.0, 2.0);
    Tensor k = testing::random_tensor(DType::kFloat32, {b, s, heads * dh}, 12, -2.0, 2.0);
    Tensor v = testing::random_tensor(DType::kFloat32, {b, s, heads * dh}, 13, -2.0, 2.0);
    const testing::AttentionOp op = testing::fake_quantized_inputs_op(heads, fp8);
    TestGraph g;
    ValueId qi = g.input("q", DType::kFloat32, {b, s, heads * dh});
    ValueId ki = g.input("k", DType::kFloat32, {b, s, heads * dh});
    ValueId vi = g.input("v", DType::kFloat32, {b, s, heads * dh});
    g.output(testing::add_attention(g, op, qi, ki, vi));
    ASSERT_TRUE(g.infer().ok());
    Result<std::vector<Tensor>> got = testing::run_graph(g.graph(), {q, k, v});
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    const Tensor want = testing::attention_reference(op, q, k, v, nullptr);
    testing::AttentionOp plain = op;
    plain.quant_q.clear();
    plain.quant_k.clear();
    plain.quant_v.clear();
    plain.scale = 0.25f;  // the prescales, moved out
    const Tensor unquantized = testing::attention_reference(plain, q, k, v, nullptr);
    expect_fake_quantized((*got)[0], want, unquantized, fp8 ? 0.2 : 0.05);
  }
}

TEST(AttentionSchema, RejectsBadFakeQuantization) {
  for (const std::vector<float>& bad :
       std::vector<std::vector<float>>{{0.1f, 0.0f, 0.0f},
                                       {0.0f, 0.0f, 0.0f, 255.0f},
                                       {0.1f, 300.0f, 0.0f, 255.0f},
                                       {0.1f, 0.0f, 0.5f, 255.0f},
                                       {0.1f, 0.0f, 10.0f, 5.0f},
                                       {0.1f, 0.0f, -448.0f, 448.0f, 3.0f},
                                       {0.1f, 1.0f, -448.0f, 448.0f, 1.0f}}) {
    TestGraph g;
    ValueId q = g.input("q", DType::kFloat32, {1, 4, 8});
    g.output(testing::add_attention(g, {.heads = 2, .quant_probs = bad}, q, q, q));
    Status s = g.infer();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("quant_probs"), std::string::npos) << s.message();
  }
  // An input's prescale without its fake quantization (it would belong in scale), and a bad
  // input quantization, are named.
  for (const bool with_quant : {false, true}) {
    TestGraph g;
    ValueId q = g.input("q", DType::kFloat32, {1, 4, 8});
    Attributes a;
    a.set_int("num_heads", 2);
    a.set_float("prescale_k", 0.5f);
    if (with_quant) a.set_floats("quant_k", {0.1f, 0.0f, -448.0f, 448.0f, 7.0f});
    g.output(g.op("Attention", {q, q, q}, a, "vitrt"));
    const Status s = g.infer();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find(with_quant ? "quant_k" : "prescale_k"), std::string::npos)
        << s.message();
  }
}

TEST(AttentionKernel, MasksOfEveryRank) {
  check_case({.mask_shape = {5, 9}});
  check_case({.mask_shape = {1, 9}});
  check_case({.mask_shape = {3, 5, 9}});
  check_case({.mask_shape = {1, 1, 9}});
  check_case({.mask_shape = {2, 3, 5, 9}});
  check_case({.mask_shape = {2, 1, 1, 9}});  // padding mask
  check_case({.mask_shape = {1, 3, 5, 1}});
}

TEST(AttentionKernel, Causal) {
  check_case({.causal = true});  // Sq < Sk: row i sees keys j <= i + 4
  check_case({.batch = 2,
              .q_len = 33,
              .k_len = 33,
              .heads = 7,
              .head_dim = 24,
              .value_dim = 24,
              .causal = true});
  check_case({.batch = 1,
              .q_len = 77,
              .k_len = 77,
              .heads = 2,
              .head_dim = 16,
              .value_dim = 16,
              .mask_shape = {1, 1, 1, 77},
              .causal = true});
}

// More keys than one block holds: the online softmax over key blocks.
TEST(AttentionKernel, LongKeySequences) {
  check_case({.batch = 1, .q_len = 37, .k_len = 1500, .heads = 2, .head_dim = 24, .value_dim = 24});
  check_case({.batch = 1,
              .q_len = 40,
              .k_len = 1300,
              .heads = 1,
              .head_dim = 24,
              .value_dim = 24,
              .mask_shape = {40, 1300},
              .causal = true});
  check_case({.batch = 1,
              .q_len = 1100,
              .k_len = 1100,
              .heads = 1,
              .head_dim = 8,
              .value_dim = 8,
              .causal = true});
}

TEST(AttentionKernel, PackedQkv) {
  check_case({.batch = 2,
              .q_len = 17,
              .k_len = 17,
              .heads = 3,
              .head_dim = 24,
              .value_dim = 24,
              .packed = true});
  check_case({.batch = 1,
              .q_len = 9,
              .k_len = 9,
              .heads = 7,
              .head_dim = 8,
              .value_dim = 8,
              .mask_shape = {9, 9},
              .causal = true,
              .packed = true});
}

// A row whose keys are all -inf gives NaN, as PyTorch's softmax does; with zero_masked_rows
// (the NaN guard fuse_attention absorbed), 0.
TEST(AttentionKernel, FullyMaskedRowIsNaN) {
  const Case c{.batch = 1,
               .q_len = 2,
               .k_len = 3,
               .heads = 1,
               .head_dim = 8,
               .value_dim = 8,
               .mask_shape = {2, 3}};
  Tensor q = testing::random_tensor(DType::kFloat32, {1, 2, 8}, 1);
  Tensor k = testing::random_tensor(DType::kFloat32, {1, 3, 8}, 2);
  Tensor v = testing::random_tensor(DType::kFloat32, {1, 3, 8}, 3);
  Tensor mask = Tensor::zeros(DType::kFloat32, {2, 3});
  for (int j = 0; j < 3; ++j) mask.data<float>()[3 + j] = -INFINITY;
  Result<Tensor> got = run_fused(c, q, k, v, &mask);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  for (int e = 0; e < 8; ++e) {
    EXPECT_FALSE(std::isnan(got->data<float>()[e]));
    EXPECT_TRUE(std::isnan(got->data<float>()[8 + e]));
  }
  Case zero = c;
  zero.zero_masked_rows = true;
  Result<Tensor> zeroed = run_fused(zero, q, k, v, &mask);
  ASSERT_TRUE(zeroed.ok()) << zeroed.status().to_string();
  for (int e = 0; e < 8; ++e) {
    EXPECT_EQ(zeroed->data<float>()[e], got->data<float>()[e]);
    EXPECT_EQ(zeroed->data<float>()[8 + e], 0.0f);
  }
  // With quant_probs too: the Q/DQ pair the attribute stands for makes Softmax's NaN its zero
  // point, 0.
  Case quant = c;
  quant.quant_probs = {1.0f / 255.0f, 0.0f, 0.0f, 255.0f};
  Result<Tensor> quantized = run_fused(quant, q, k, v, &mask);
  ASSERT_TRUE(quantized.ok()) << quantized.status().to_string();
  for (int e = 0; e < 8; ++e) {
    EXPECT_FALSE(std::isnan(quantized->data<float>()[e]));
    EXPECT_EQ(quantized->data<float>()[8 + e], 0.0f);
  }
}

// The same numbers as the unfused ONNX ops the fusion replaces.
TEST(AttentionKernel, MatchesUnfusedGraph) {
  for (const auto& mask_shape : {std::vector<int64_t>{}, std::vector<int64_t>{1, 1, 5, 9}}) {
    testing::AttentionPattern p;
    p.projections = false;
    p.batch = 2;
    p.q_len = 5;
    p.k_len = 9;
    p.heads = 3;
    p.head_dim = 24;
    p.value_dim = 16;
    if (!mask_shape.empty()) {
      p.mask = testing::AttentionPattern::Mask::kInput;
      p.mask_shape = mask_shape;
    }
    TestGraph plain;
    testing::build_attention_pattern(plain, p);
    ASSERT_TRUE(plain.infer().ok());
    const Case c{.batch = 2,
                 .q_len = 5,
                 .k_len = 9,
                 .heads = 3,
                 .head_dim = 24,
                 .value_dim = 16,
                 .mask_shape = mask_shape};
    Tensor q = testing::random_tensor(DType::kFloat32, {2, 5, 72}, 1);
    Tensor k = testing::random_tensor(DType::kFloat32, {2, 9, 72}, 2);
    Tensor v = testing::random_tensor(DType::kFloat32, {2, 9, 48}, 3);
    std::vector<Tensor> feeds = {q, k, v};
    Tensor mask;
    if (!mask_shape.empty()) feeds.push_back(mask = make_mask(mask_shape, 4));
    auto want = testing::run_graph(plain.graph(), feeds);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    Result<Tensor> got = run_fused(c, q, k, v, mask_shape.empty() ? nullptr : &mask);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_TRUE(testing::tensors_close(*got, (*want)[0], {1e-4, 1e-5}));
  }
}

// ---- output_scale: the output as E4M3 codes --------------------------------------------------

// One graph, two Attention nodes on the same inputs, one writing float32 and one codes of
// out / output_scale; every code must be float_to_e4m3(float output / output_scale) (int8_qmin
// set: clamp(round_half_even(float output / output_scale), qmin, 127), NaN 0), bit for bit: the
// encoding vitrt.QuantLinear's quantize step applies to the float output.
void check_codes(const Case& c, float output_scale_of_amax,
                 std::optional<int64_t> int8_qmin = std::nullopt) {
  SCOPED_TRACE(::testing::Message()
               << "B=" << c.batch << " Sq=" << c.q_len << " Sk=" << c.k_len << " H=" << c.heads
               << " Dh=" << c.head_dim << " mask=" << shape_to_string(c.mask_shape)
               << " causal=" << c.causal << " packed=" << c.packed);
  Tensor q =
      testing::random_tensor(DType::kFloat32, {c.batch, c.q_len, c.heads * c.head_dim}, 1, -3, 3);
  Tensor k =
      testing::random_tensor(DType::kFloat32, {c.batch, c.k_len, c.heads * c.head_dim}, 2, -3, 3);
  Tensor v = testing::random_tensor(DType::kFloat32, {c.batch, c.k_len, c.heads * c.value_dim}, 3);
  Tensor mask;
  if (!c.mask_shape.empty()) mask = make_mask(c.mask_shape, 4);
  const Tensor* mp = c.mask_shape.empty() ? nullptr : &mask;
  // The scale from the float output's range, as calibration would choose it (times a factor:
  // below 1 the largest outputs saturate at 448).
  Result<Tensor> plain = run_fused(c, q, k, v, mp);
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  float amax = 0.0f;
  for (int64_t i = 0; i < plain->numel(); ++i) {
    if (!std::isnan(plain->data<float>()[i])) {
      amax = std::max(amax, std::fabs(plain->data<float>()[i]));
    }
  }
  const float output_scale = output_scale_of_amax * amax / (int8_qmin ? 127.0f : kE4M3Max);

  TestGraph g;
  std::vector<ValueId> in;
  std::vector<Tensor> feeds;
  if (c.packed) {
    const Tensor qkv = testing::pack_qkv(q, k, v);
    in = {g.input("qkv", DType::kFloat32, sym_shape_from_static(qkv.shape())), kNoValue, kNoValue};
    feeds = {qkv};
  } else {
    in = {g.input("q", DType::kFloat32, sym_shape_from_static(q.shape())),
          g.input("k", DType::kFloat32, sym_shape_from_static(k.shape())),
          g.input("v", DType::kFloat32, sym_shape_from_static(v.shape()))};
    feeds = {q, k, v};
  }
  ValueId mi = kNoValue;
  if (mp != nullptr) {
    mi = g.input("mask", DType::kFloat32, sym_shape_from_static(mask.shape()));
    feeds.push_back(mask);
  }
  testing::AttentionOp op = op_of(c);
  g.output(testing::add_attention(g, op, in[0], in[1], in[2], mi));
  op.output_scale = output_scale;
  op.output_int8 = int8_qmin.has_value();
  op.output_qmin = int8_qmin.value_or(-127);
  const ValueId codes = testing::add_attention(g, op, in[0], in[1], in[2], mi);
  g.output(codes);
  ASSERT_TRUE(g.infer().ok());
  const DType code_type = int8_qmin ? DType::kInt8 : DType::kUInt8;
  EXPECT_EQ(g.graph().values[codes].dtype, code_type);
  Result<std::vector<Tensor>> out = testing::run_graph(g.graph(), feeds);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  const Tensor& y_codes = (*out)[1];
  ASSERT_EQ(y_codes.dtype(), code_type);
  ASSERT_EQ(y_codes.shape(), y.shape());
  int saturated = 0;
  if (int8_qmin) {
    for (int64_t i = 0; i < y.numel(); ++i) {
      const int want =
          testing::int8_code_of(y.data<float>()[i], output_scale, static_cast<int>(*int8_qmin));
      ASSERT_EQ(y_codes.data<int8_t>()[i], want) << "element " << i << ": " << y.data<float>()[i];
      saturated += want == 127 || want == *int8_qmin;
    }
    if (output_scale_of_amax < 1.0f) {
      EXPECT_GT(saturated, 0);
    }
    return;
  }
  for (int64_t i = 0; i < y.numel(); ++i) {
    const uint8_t want = float_to_e4m3(y.data<float>()[i] / output_scale);
    ASSERT_EQ(y_codes.data<uint8_t>()[i], want) << "element " << i << ": " << y.data<float>()[i];
    saturated += (want & 0x7F) == 0x7E;
  }
  if (output_scale_of_amax < 1.0f) {
    EXPECT_GT(saturated, 0);
  }
}

TEST(AttentionKernel, CodesAreTheEncodedFloatOutput) {
  check_codes({}, 1.0f);  // Sq < Sk, Dh = 24
  check_codes({.mask_shape = {2, 3, 5, 9}}, 1.0f);
  check_codes({.causal = true}, 0.5f);  // the largest outputs saturate
  check_codes({.batch = 2,
               .q_len = 9,
               .k_len = 9,
               .heads = 3,
               .head_dim = 8,
               .value_dim = 8,
               .mask_shape = {9, 9},
               .causal = true,
               .packed = true},
              1.0f);
  // The sequence lengths of the towers and a single token, causal and not.
  for (int64_t s : {1, 50, 77, 197, 257}) {
    for (bool causal : {false, true}) {
      check_codes({.batch = 1,
                   .q_len = s,
                   .k_len = s,
                   .heads = 2,
                   .head_dim = 16,
                   .value_dim = 16,
                   .causal = causal,
                   .packed = s % 2 == 1},
                  1.0f);
    }
  }
  // Several key blocks (the online softmax), rows of the last query block cut short.
  check_codes({.batch = 1,
               .q_len = 1100,
               .k_len = 1100,
               .heads = 1,
               .head_dim = 8,
               .value_dim = 8,
               .causal = true},
              1.0f);
}

// output_format int8: the codes QuantLinear's int8 quantize step makes from the float output,
// both lower clamps, a scale where the largest outputs clamp, ViT's length packed.
TEST(AttentionKernel, Int8CodesAreTheQuantizedFloatOutput) {
  check_codes({}, 1.0f, -127);
  check_codes({.mask_shape = {2, 3, 5, 9}}, 0.5f, -128);
  check_codes({.causal = true}, 0.5f, -127);
  check_codes({.batch = 1,
               .q_len = 197,
               .k_len = 197,
               .heads = 2,
               .head_dim = 16,
               .value_dim = 16,
               .packed = true},
              1.0f, -128);
}

// A row with every key masked is NaN in float: the NaN code 0x7F as E4M3 codes, and 0 as int8
// ones (QuantLinear's quantize step makes NaN 0).
TEST(AttentionKernel, FullyMaskedRowCodes) {
  TestGraph g;
  ValueId q = g.input("q", DType::kFloat32, {1, 2, 8});
  ValueId k = g.input("k", DType::kFloat32, {1, 3, 8});
  ValueId v = g.input("v", DType::kFloat32, {1, 3, 8});
  ValueId m = g.input("mask", DType::kFloat32, {2, 3});
  g.output(testing::add_attention(g, {.heads = 1, .output_scale = 0.01f}, q, k, v, m));
  g.output(testing::add_attention(
      g, {.heads = 1, .output_scale = 0.01f, .output_int8 = true, .output_qmin = -128}, q, k, v,
      m));
  ASSERT_TRUE(g.infer().ok());
  Tensor mask = Tensor::zeros(DType::kFloat32, {2, 3});
  for (int j = 0; j < 3; ++j) mask.data<float>()[3 + j] = -INFINITY;
  Result<std::vector<Tensor>> out =
      testing::run_graph(g.graph(), {testing::random_tensor(DType::kFloat32, {1, 2, 8}, 1),
                                     testing::random_tensor(DType::kFloat32, {1, 3, 8}, 2),
                                     testing::random_tensor(DType::kFloat32, {1, 3, 8}, 3), mask});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ((*out)[1].dtype(), DType::kInt8);
  for (int e = 0; e < 8; ++e) {
    EXPECT_NE((*out)[0].data<uint8_t>()[e] & 0x7F, 0x7F);
    EXPECT_EQ((*out)[0].data<uint8_t>()[8 + e], 0x7F);
    EXPECT_EQ((*out)[1].data<int8_t>()[8 + e], 0);
  }
}

// output_format int8 makes int8 codes; a bad format or qmin, or either without output_scale, is
// refused with the attribute's name.
TEST(AttentionSchema, OutputFormatInt8MakesInt8Codes) {
  struct Variant {
    bool scale;
    const char* format;
    int64_t qmin;       // 1: no attribute
    const char* error;  // nullptr: accepted
  };
  const Variant variants[] = {
      {true, "int8", 1, nullptr},          {true, "int8", -128, nullptr},
      {true, "fp8", 1, nullptr},           {true, "int4", 1, "output_format"},
      {true, "int8", -129, "output_qmin"}, {true, "fp8", -127, "output_qmin"},
      {false, "int8", 1, "output_format"}};
  for (const Variant& v : variants) {
    SCOPED_TRACE(::testing::Message() << v.format << " " << v.qmin << " " << v.scale);
    TestGraph g;
    ValueId qkv = g.input("qkv", DType::kFloat32, {2, 17, 3 * 48});
    Attributes attrs;
    attrs.set_int("num_heads", 3);
    if (v.scale) attrs.set_float("output_scale", 0.02f);
    attrs.set_string("output_format", v.format);
    if (v.qmin != 1) attrs.set_int("output_qmin", v.qmin);
    ValueId out = g.op("Attention", {qkv}, attrs, "vitrt", "attn");
    g.output(out);
    Status s = g.infer();
    if (v.error == nullptr) {
      ASSERT_TRUE(s.ok()) << s.to_string();
      EXPECT_EQ(g.graph().values[out].dtype,
                std::string(v.format) == "int8" ? DType::kInt8 : DType::kUInt8);
    } else {
      ASSERT_FALSE(s.ok());
      EXPECT_NE(s.message().find(v.error), std::string::npos) << s.message();
      EXPECT_NE(s.message().find("attn"), std::string::npos) << s.message();
    }
  }
}

TEST(AttentionSchema, OutputScaleMakesCodes) {
  for (float output_scale : {0.5f, 0.0f, -1.0f, INFINITY, NAN}) {
    TestGraph g;
    ValueId qkv = g.input("qkv", DType::kFloat32, {Dim::symbol("batch"), 17, 3 * 48});
    Attributes attrs;
    attrs.set_int("num_heads", 3);
    attrs.set_float("output_scale", output_scale);
    ValueId out = g.op("Attention", {qkv}, attrs, "vitrt", "attn");
    g.output(out);
    Status s = g.infer();
    if (output_scale == 0.5f) {
      ASSERT_TRUE(s.ok()) << s.to_string();
      EXPECT_EQ(g.graph().values[out].dtype, DType::kUInt8);
      EXPECT_EQ(sym_shape_to_string(g.graph().values[out].shape), "[batch, 17, 48]");
    } else {
      ASSERT_FALSE(s.ok()) << output_scale;
      EXPECT_NE(s.message().find("output_scale"), std::string::npos) << s.message();
      EXPECT_NE(s.message().find("attn"), std::string::npos) << s.message();
    }
  }
}

TEST(AttentionSchema, RejectsBadShapesWithNames) {
  TestGraph g;
  ValueId q = g.input("q", DType::kFloat32, {2, 5, 12});
  ValueId k = g.input("k", DType::kFloat32, {2, 7, 12});
  ValueId v = g.input("v", DType::kFloat32, {2, 7, 12});
  ValueId m = g.input("m", DType::kFloat32, {2, 3, 6, 7});
  g.output(testing::add_attention(g, {.heads = 3}, q, k, v, m));
  Status s = g.infer();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("mask"), std::string::npos) << s.message();
}

TEST(AttentionSchema, InfersMergedHeads) {
  TestGraph g;
  ValueId qkv = g.input("qkv", DType::kFloat32, {Dim::symbol("batch"), 17, 3 * 48});
  ValueId out = testing::add_attention(g, {.heads = 3}, qkv, kNoValue, kNoValue);
  g.output(out);
  ASSERT_TRUE(g.infer().ok());
  EXPECT_EQ(sym_shape_to_string(g.graph().values[out].shape), "[batch, 17, 48]");
}

}  // namespace
}  // namespace vitrt

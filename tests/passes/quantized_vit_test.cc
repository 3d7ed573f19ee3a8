// Quantized ViTs as the quantizers write them (tests/data/qdq/vit_*, python/
// make_qdq_vit_fixtures.py): fold_repeated_qdq drops the Q/DQ pairs ONNX Runtime repeats after
// every Reshape, Transpose and Split without changing a bit, and fuse_attention takes the pairs
// on q k^T and on the probabilities into vitrt.Attention (quant_scores, quant_probs), so the
// attention of a quantized model fuses; the outputs stay those of the quantized model.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>

#include "core/npy.h"
#include "onnx/onnx_import.h"
#include "passes/linear_pass_testing.h"
#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::apply_pass;
using testing::count_ops;
using testing::random_tensor;
using testing::TestGraph;

Tensor scalar(float v) {
  return Tensor::from_float({v}, true);
}
Tensor uint8_scalar(uint8_t v) {
  return testing::tensor_of<uint8_t>(DType::kUInt8, {}, {v});
}

// Q then DQ of x with scale s and uint8 zero point zp.
ValueId fake_quant(TestGraph& g, ValueId x, float s, uint8_t zp) {
  const ValueId scale = g.constant("s", scalar(s));
  const ValueId zero = g.constant("zp", uint8_scalar(zp));
  return g.op("DequantizeLinear", {g.op("QuantizeLinear", {x, scale, zero}), scale, zero});
}

// x -> FQ -> Reshape -> Transpose -> FQ (same) -> Relu, as ONNX Runtime writes around a head
// split: the first pair goes, bit for bit.
TEST(FoldRepeatedQdq, DropsThePairBeforeDataMovement) {
  for (const bool same : {true, false}) {
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {2, 6, 8});
    ValueId a = fake_quant(g, x, 0.03f, 120);
    ValueId r = g.op("Reshape", {a, g.constant("shape", Tensor::from_int64({2, 6, 2, 4}))});
    ValueId t = g.op("Transpose", {r}, [] {
      Attributes at;
      at.set_ints("perm", {0, 2, 1, 3});
      return at;
    }());
    g.output(g.op("Relu", {fake_quant(g, t, same ? 0.03f : 0.031f, 120)}));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), fold_repeated_qdq);
    EXPECT_EQ(applied, same ? 1 : 0);
    EXPECT_EQ(count_ops(after, "QuantizeLinear"), same ? 1 : 2);
    testing::expect_same_outputs(g.graph(), after,
                                 {random_tensor(DType::kFloat32, {2, 6, 8}, 3, -4.0, 4.0)});
  }
}

// A pair whose values something computes with (Relu) before quantizing again stays.
TEST(FoldRepeatedQdq, KeepsAPairReadByComputation) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {4, 8});
  ValueId a = fake_quant(g, x, 0.03f, 120);
  ValueId flat = g.op("Flatten", {a});
  g.output(fake_quant(g, flat, 0.03f, 120));
  g.output(g.op("Relu", {a}));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), fold_repeated_qdq);
  EXPECT_EQ(applied, 0);
  EXPECT_EQ(count_ops(after, "QuantizeLinear"), 2);
}

struct Fixture {
  Graph graph;
  Tensor input, expected;
};

Fixture load(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "data" / "qdq" / name;
  Result<Graph> graph = import_onnx_file((dir / "model.onnx").string());
  EXPECT_TRUE(graph.ok()) << graph.status().to_string();
  EXPECT_TRUE(infer_shapes(*graph).ok());
  return {std::move(*graph), *read_npy((dir / "input.npy").string()),
          *read_npy((dir / "expected.npy").string())};
}

// The fused Attention nodes and whether each took the probabilities' (and scores') Q/DQ, and
// the pairs on q, k and v (then the heads' split and merge are inside the fused op: no
// Transpose is left).
void expect_quantized_attention(const Graph& g, int n, bool scores, bool split_inside = true) {
  int found = 0;
  for (const Node& node : g.nodes) {
    if (node.dead || node.op_type != "Attention") continue;
    ++found;
    EXPECT_TRUE(node.attrs.has("quant_probs")) << node.name;
    EXPECT_EQ(node.attrs.has("quant_scores"), scores) << node.name;
    for (const char* a : {"quant_q", "quant_k", "quant_v"}) {
      EXPECT_TRUE(node.attrs.has(a)) << node.name << " " << a;
    }
  }
  if (split_inside) {
    EXPECT_EQ(count_ops(g, "Transpose"), 0);
  }
  EXPECT_EQ(found, n);
  EXPECT_EQ(count_ops(g, "Softmax"), 0);
  EXPECT_EQ(count_ops(g, "MatMul"), 0);
}

// Optimizes f.graph; returns the graph as imported.
Graph optimize(Fixture& f) {
  Graph unfused = f.graph;
  PassContext ctx(false, nullptr);
  EXPECT_TRUE(optimize_graph(f.graph, ctx).ok());
  return unfused;
}

// The optimized graph's output against ONNX Runtime's (f.expected) to `tol` of scale and, given
// `min_cosine`, by cosine; and against the graph as imported (`unfused`) to `tol`.
void expect_output_matches(const Fixture& f, const Graph& unfused, double tol,
                           std::optional<double> min_cosine = std::nullopt) {
  Result<std::vector<Tensor>> out = testing::run_graph(f.graph, {f.input});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  if (min_cosine) {
    EXPECT_TRUE(testing::cosine_at_least((*out)[0], f.expected, *min_cosine));
  }
  EXPECT_TRUE(testing::tensors_close_to_scale((*out)[0], f.expected, tol));
  testing::expect_outputs_close(unfused, f.graph, {f.input}, tol);
}

// ModelOpt's INT8 placement (Q/DQ on every MatMul input, the attention's included): every
// projection becomes QuantLinear, both attentions fuse with the probabilities' quantization,
// and the output is ONNX Runtime's float evaluation of the Q/DQ graph.
TEST(QuantizedVit, ModelOptInt8FusesAndMatchesOnnxRuntime) {
  Fixture f = load("vit_modelopt_int8");
  const Graph unfused = optimize(f);
  expect_quantized_attention(f.graph, 2, false);
  // 8 projections, the last block's packed q, k, v split in three (select_rows_early: only the
  // class token's query row is computed there).
  EXPECT_EQ(count_ops(f.graph, "QuantLinear"), 10);
  // The residual stream's pairs are inside the AddLayerNorm nodes; the one left quantizes the
  // image for the patch embedding, which stays float.
  EXPECT_EQ(count_ops(f.graph, "FakeQuant"), 1);
  EXPECT_EQ(count_ops(f.graph, "Add"), 0);
  expect_output_matches(f, unfused, 1e-5);
}

// ModelOpt's FP8 mode (the Hopper form: float8e4m3fn Q/DQ, per-tensor activations, the float
// weights quantized in the graph per output channel): the same placement as INT8, every
// projection an fp8 QuantLinear, both attentions fused with the probabilities' FP8 fake
// quantization, and the output ONNX Runtime's float evaluation of the Q/DQ graph. The fp8
// QuantLinear sums the products of E4M3 values in float32 and scales once, where ONNX Runtime
// multiplies dequantized floats: a value that float rounding moves across half an E4M3 step
// (1/16 of its magnitude) is quantized to the neighbouring value downstream, hence the bound.
TEST(QuantizedVit, ModelOptFp8FusesAndMatchesOnnxRuntime) {
  Fixture f = load("vit_modelopt_fp8");
  const Graph unfused = optimize(f);
  expect_quantized_attention(f.graph, 2, false);
  EXPECT_EQ(count_ops(f.graph, "QuantLinear"), 10);  // the last q, k, v split, as above
  EXPECT_EQ(count_ops(f.graph, "QuantizeLinear"), 0);
  for (const Node& n : f.graph.nodes) {
    if (n.dead) continue;
    if (n.op_type == "QuantLinear") {
      EXPECT_EQ(*n.attrs.get_string("format", ""), "fp8") << n.name;
    }
    if (n.op_type == "Attention") {
      EXPECT_EQ(n.attrs.get_floats("quant_probs", {})->size(), 5u) << n.name;  // FP8 kind
    }
  }
  // The residual stream's pairs are inside the AddLayerNorm nodes.
  EXPECT_EQ(count_ops(f.graph, "FakeQuant"), 0);
  EXPECT_EQ(count_ops(f.graph, "Add"), 0);
  expect_output_matches(f, unfused, 0.01, 0.9999);
}

// ModelOpt's FP8 form of a DINOv2 (HF, dynamo export): LayerScale multiplies each branch before
// its residual Add, so the pairs ModelOpt puts on the residual stream sit after a Mul, not a
// MatMul. They still end inside the AddLayerNorm nodes (no FakeQuant or Add left), the
// attentions fuse with their quantization, and the output is ONNX Runtime's evaluation of the
// Q/DQ graph.
TEST(QuantizedVit, ModelOptFp8DinoV2LayerScaleFuses) {
  Fixture f = load("dinov2_modelopt_fp8");
  const Graph unfused = optimize(f);
  expect_quantized_attention(f.graph, 2, false);
  EXPECT_EQ(count_ops(f.graph, "QuantLinear"), 12);
  EXPECT_EQ(count_ops(f.graph, "FakeQuant"), 0);
  EXPECT_EQ(count_ops(f.graph, "Add"), 0);
  int quantized_norms = 0;
  for (const Node& n : f.graph.nodes) {
    quantized_norms +=
        !n.dead && n.op_type == "AddLayerNorm" &&
        (n.attrs.has("quant_a") || n.attrs.has("quant_b") || n.attrs.has("quant_sum"));
  }
  EXPECT_GE(quantized_norms, 4);
  expect_output_matches(f, unfused, 0.01, 0.9999);
}

// ONNX Runtime's quantize_static with float8e4m3fn activations and weights (MatMul and Gemm
// only): the weights are float8e4m3fn initializers, each product is quantized again before its
// bias, and the attention's two products have both inputs quantized. The projections become
// fp8 QuantLinear, the classifier's Gemm too, and the output stays ONNX Runtime's.
TEST(QuantizedVit, OnnxRuntimeFp8FusesAndMatchesOnnxRuntime) {
  Fixture f = load("vit_ort_fp8");
  const Graph unfused = optimize(f);
  expect_quantized_attention(f.graph, 2, true);
  EXPECT_EQ(count_ops(f.graph, "QuantLinear"), 9);
  EXPECT_EQ(count_ops(f.graph, "QuantizeLinear"), 0);
  expect_output_matches(f, unfused, 0.01, 0.9999);
}

// The pairs no other fusion takes become vitrt.FakeQuant: the same values bit for bit (float32
// arithmetic both ways) on round-half-to-even ties, both saturation ends, NaN (zero point),
// infinities and subnormals, for uint8 and int8 codes. A QuantizeLinear whose codes something
// else reads stays beside the FakeQuant; a pair with two different scales stays as it is.
TEST(FuseFakeQuant, PairsBecomeOneOpWithTheSameBits) {
  enum Case { kUint8, kInt8, kCodesRead, kTwoScales };
  for (const Case c : {kUint8, kInt8, kCodesRead, kTwoScales}) {
    SCOPED_TRACE(c);
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {64});
    const float s = 0.05f;
    const ValueId scale = g.constant("s", scalar(s));
    const ValueId zero =
        c == kInt8 ? g.constant("zp", testing::tensor_of<int8_t>(DType::kInt8, {}, {int8_t{-3}}))
                   : g.constant("zp", uint8_scalar(7));
    const ValueId codes = g.op("QuantizeLinear", {x, scale, zero});
    const ValueId dq_scale = c == kTwoScales ? g.constant("s2", scalar(0.06f)) : scale;
    g.output(g.op("Relu", {g.op("DequantizeLinear", {codes, dq_scale, zero})}));
    if (c == kCodesRead) g.output(codes);
    ASSERT_TRUE(g.infer().ok());
    auto [fused, applied] = apply_pass(g.graph(), fuse_fake_quant);
    EXPECT_EQ(applied, c == kTwoScales ? 0 : 1);
    const Graph after = apply_pass(fused, eliminate_dead_nodes).first;  // a Q nothing reads
    EXPECT_EQ(count_ops(after, "FakeQuant"), c == kTwoScales ? 0 : 1);
    EXPECT_EQ(count_ops(after, "QuantizeLinear"), c == kUint8 || c == kInt8 ? 0 : 1);

    std::vector<float> v;
    for (int i = -20; i < 20; ++i) v.push_back((static_cast<float>(i) + 0.5f) * s);  // ties
    for (float e : {-1e9f, 1e9f, 200 * s, -200 * s, 1e-40f, -1e-40f, 0.0f, -0.0f}) v.push_back(e);
    v.push_back(std::numeric_limits<float>::quiet_NaN());
    v.push_back(std::numeric_limits<float>::infinity());
    v.push_back(-std::numeric_limits<float>::infinity());
    while (v.size() < 64) v.push_back(static_cast<float>(v.size()) * 0.013f - 0.4f);
    const Tensor in = Tensor::from_float(v);
    testing::expect_same_bits(g.graph(), after, {in});
  }
}

// FP8 pairs (float8e4m3fn, float8e5m2 with a zero point of 0) likewise: the same bits on ties
// between neighbouring values, subnormals, both saturation ends, NaN, infinities and -0.
TEST(FuseFakeQuant, Fp8PairsBecomeOneOpWithTheSameBits) {
  for (const DType type : {DType::kFloat8E4M3FN, DType::kFloat8E5M2}) {
    SCOPED_TRACE(dtype_name(type));
    TestGraph g(19);
    ValueId x = g.input("x", DType::kFloat32, {96});
    const float s = 0.05f;
    const ValueId scale = g.constant("s", scalar(s));
    const ValueId zero = g.constant("zp", testing::tensor_of<uint8_t>(type, {}, {0}));
    const ValueId codes = g.op("QuantizeLinear", {x, scale, zero});
    g.output(g.op("Relu", {g.op("DequantizeLinear", {codes, scale, zero})}));
    ASSERT_TRUE(g.infer().ok());
    auto [fused, applied] = apply_pass(g.graph(), fuse_fake_quant);
    EXPECT_EQ(applied, 1);
    const Graph after = apply_pass(fused, eliminate_dead_nodes).first;
    EXPECT_EQ(count_ops(after, "FakeQuant"), 1);
    EXPECT_EQ(count_ops(after, "QuantizeLinear"), 0);
    std::vector<float> v;
    // Ties between neighbouring E4M3 values around 1 (steps of 1/8), of E5M2 (1/4), and
    // around the subnormal steps.
    for (int i = 0; i < 16; ++i) v.push_back((1.0f + (static_cast<float>(i) + 0.5f) / 8.0f) * s);
    for (int i = 0; i < 8; ++i) v.push_back((static_cast<float>(i) + 0.5f) * 0x1p-9f * s);
    for (int i = 0; i < 8; ++i) v.push_back((static_cast<float>(i) + 0.5f) * 0x1p-16f * s);
    for (float e : {-1e9f, 1e9f, 450 * s, 470 * s, -6e4f * s, 1e-40f, -1e-40f, 0.0f, -0.0f}) {
      v.push_back(e);
    }
    v.push_back(std::numeric_limits<float>::quiet_NaN());
    v.push_back(std::numeric_limits<float>::infinity());
    v.push_back(-std::numeric_limits<float>::infinity());
    while (v.size() < 96) v.push_back(static_cast<float>(v.size()) * 0.37f - 17.0f);
    testing::expect_same_bits(g.graph(), after, {Tensor::from_float(v)});
  }
}

// ONNX Runtime's product -> pair -> Add(bias) -> pair: one FakeQuant with the bias and
// quant_out, the same bits. A [1, 1, N] bias is taken as [N]; where the sum is also a graph
// output the second pair stays; a bias along another axis stays an Add.
TEST(FuseFakeQuant, TakesTheBiasAndThePairAfterIt) {
  enum Case { kVector, kRowTensor, kSumIsOutput, kOtherAxis };
  for (const Case c : {kVector, kRowTensor, kSumIsOutput, kOtherAxis}) {
    SCOPED_TRACE(c);
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {2, 3, 8});
    const ValueId first = fake_quant(g, x, 0.05f, 128);
    const std::vector<int64_t> bshape = c == kVector      ? std::vector<int64_t>{8}
                                        : c == kOtherAxis ? std::vector<int64_t>{3, 1}
                                                          : std::vector<int64_t>{1, 1, 8};
    const ValueId sum =
        g.op("Add", {first, g.constant("b", random_tensor(DType::kFloat32, bshape, 4))});
    g.output(g.op("Relu", {fake_quant(g, sum, 0.07f, 100)}));
    if (c == kSumIsOutput) g.output(sum);
    ASSERT_TRUE(g.infer().ok());
    auto [fused, applied] = apply_pass(g.graph(), fuse_fake_quant);
    const Graph after = apply_pass(fused, eliminate_dead_nodes).first;
    EXPECT_EQ(count_ops(after, "Add"), c == kOtherAxis ? 1 : 0);
    EXPECT_EQ(count_ops(after, "FakeQuant"), c == kVector || c == kRowTensor ? 1 : 2);
    EXPECT_EQ(count_ops(after, "QuantizeLinear"), 0);
    const Tensor in = random_tensor(DType::kFloat32, {2, 3, 8}, 5, -6.0, 6.0);
    testing::expect_same_bits(g.graph(), after, {in});
  }
}

// Q then DQ of x to FP8 E4M3 with scale s.
ValueId fake_quant_fp8(TestGraph& g, ValueId x, float s) {
  const ValueId scale = g.constant("s8", scalar(s));
  const ValueId zero =
      g.constant("zp8", testing::tensor_of<uint8_t>(DType::kFloat8E4M3FN, {}, {0}));
  return g.op("DequantizeLinear", {g.op("QuantizeLinear", {x, scale, zero}), scale, zero});
}

// The residual stream of a quantized ViT block as NVIDIA ModelOpt writes it, x1 = Add(x,
// FQ(proj)) with LayerNorm(FQ(x1)) and x1 also read by the next residual add, and the forms
// around it: both addends quantized, the quantized sum read by another op too (its FakeQuant
// stays, reading the fused op's sum output), no Add (a residual a Linear took in its epilogue:
// a zero addend), a quantized addend read twice (its FakeQuant stays). Every form gives the bits
// of the Q/DQ graph, int8 and FP8 pairs alike.
TEST(FuseFakeQuantNorm, ResidualStreamPairsJoinTheAddLayerNorm) {
  enum Case { kModelOpt, kBothAddends, kSumReadElsewhere, kNoAdd, kAddendReadTwice };
  for (const bool fp8 : {false, true}) {
    for (const Case c : {kModelOpt, kBothAddends, kSumReadElsewhere, kNoAdd, kAddendReadTwice}) {
      SCOPED_TRACE(::testing::Message() << "case " << c << (fp8 ? " fp8" : " int8"));
      TestGraph g(19);
      const auto fq = [&](ValueId v, float s) {
        return fp8 ? fake_quant_fp8(g, v, s * 0.01f) : fake_quant(g, v, s, 128);
      };
      ValueId x = g.input("x", DType::kFloat32, {2, 5, 24});
      ValueId r = g.input("r", DType::kFloat32, {2, 5, 24});
      ValueId sum = x;
      int fake_quants_left = 0;
      if (c != kNoAdd) {
        const ValueId qr = fq(r, 0.05f);
        sum = g.op("Add", {c == kBothAddends ? fq(x, 0.04f) : x, qr});
        if (c == kAddendReadTwice) {
          g.output(g.op("Relu", {qr}));
          ++fake_quants_left;
        }
      } else {
        g.output(g.op("Relu", {r}));
      }
      const ValueId qsum = fq(sum, 0.06f);
      Attributes ln;
      ln.set_int("axis", -1);
      ln.set_float("epsilon", 1e-5f);
      g.output(g.op("LayerNormalization",
                    {qsum, g.constant("gamma", random_tensor(DType::kFloat32, {24}, 6)),
                     g.constant("beta", random_tensor(DType::kFloat32, {24}, 7))},
                    ln));
      if (c != kNoAdd) g.output(g.op("Neg", {sum}));  // the residual stream
      if (c == kSumReadElsewhere) {
        g.output(g.op("Relu", {qsum}));
        ++fake_quants_left;
      }
      ASSERT_TRUE(g.infer().ok());
      const Graph quantized = apply_pass(g.graph(), fuse_fake_quant).first;
      auto [fused, applied] = apply_pass(quantized, fuse_fake_quant_norm);
      const Graph after = apply_pass(fused, eliminate_dead_nodes).first;
      EXPECT_EQ(count_ops(after, "AddLayerNorm"), 1);
      EXPECT_EQ(count_ops(after, "LayerNormalization"), 0);
      EXPECT_EQ(count_ops(after, "Add"), 0);
      EXPECT_EQ(count_ops(after, "FakeQuant"), fake_quants_left);
      for (const Node& n : after.nodes) {
        if (n.dead || n.op_type != "AddLayerNorm") continue;
        EXPECT_TRUE(n.attrs.has("quant_sum"));
        EXPECT_EQ(n.attrs.has("quant_a"), c == kBothAddends);
        EXPECT_EQ(n.attrs.has("quant_b"), c != kNoAdd && c != kAddendReadTwice);
        EXPECT_EQ(n.attrs.get_floats("quant_sum", {})->size(), fp8 ? 5u : 4u);
      }
      testing::expect_same_bits(g.graph(), after,
                                {random_tensor(DType::kFloat32, {2, 5, 24}, 8, -3.0, 3.0),
                                 random_tensor(DType::kFloat32, {2, 5, 24}, 9, -3.0, 3.0)});
    }
  }
}

// VITRT_DISABLE_FUSIONS skips the named fusion passes (here the residual stream's, so its pairs
// stay FakeQuant + Add + LayerNorm) and the model still computes ONNX Runtime's numbers; a name
// that is no fusion pass is an error that lists them.
TEST(FuseFakeQuantNorm, DisableFusionsSkipsThePass) {
  struct EnvGuard {
    ~EnvGuard() { unsetenv("VITRT_DISABLE_FUSIONS"); }
  } guard;
  ASSERT_EQ(setenv("VITRT_DISABLE_FUSIONS", "fuse_fake_quant_norm", 1), 0);
  Fixture f = load("vit_modelopt_fp8");
  const Graph unfused = optimize(f);
  EXPECT_EQ(count_ops(f.graph, "FakeQuant"), 6);
  EXPECT_EQ(count_ops(f.graph, "Add"), 2);
  expect_output_matches(f, unfused, 0.01, 0.9999);

  ASSERT_EQ(setenv("VITRT_DISABLE_FUSIONS", "fuse_fake_quant_norm,fuse_everything", 1), 0);
  Fixture g = load("vit_modelopt_fp8");
  PassContext ctx(false, nullptr);
  const Status s = optimize_graph(g.graph, ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.to_string().find("'fuse_everything'"), std::string::npos) << s.to_string();
  EXPECT_NE(s.to_string().find("fuse_attention"), std::string::npos) << s.to_string();
}

// A fake quantization attribute of vitrt.AddLayerNorm that is not one names itself.
TEST(FuseFakeQuantNorm, AddLayerNormRefusesABadQuantAttribute) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 8});
  Attributes a;
  a.set_floats("quant_sum", {0.0f, 0.0f, -128.0f, 127.0f});
  g.output(g.op("AddLayerNorm", {x, x, g.constant("gamma", random_tensor(DType::kFloat32, {8}, 1))},
                a, "vitrt"));
  const Status s = g.infer();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.to_string().find("quant_sum"), std::string::npos) << s.to_string();
  EXPECT_NE(s.to_string().find("scale"), std::string::npos) << s.to_string();
}

// ONNX Runtime's quantize_static defaults (Q/DQ after nearly every op): the pairs repeated
// after the head split's Reshape, Transpose, Split and Squeeze go, and the attentions fuse with
// both the scores' and the probabilities' quantization. The output equals vitrt's per-op run
// of the graph bit for bit. Against ONNX Runtime's own float evaluation it agrees by cosine:
// both compute Softmax and Erf with their own float rounding, and a value within that rounding
// of a quantization step's boundary lands on the other step in one of them (vitrt's unfused
// run parts from ONNX Runtime the same way).
TEST(QuantizedVit, OnnxRuntimeDefaultsFuseAndKeepTheirNumbers) {
  Fixture f = load("vit_ort_uint8");
  Graph unfused = f.graph;
  const int pairs_before = count_ops(f.graph, "QuantizeLinear");
  PassContext ctx(false, nullptr);
  ASSERT_TRUE(optimize_graph(f.graph, ctx).ok());
  // Two pairs on q and on k (after the head split and after the scaling): the fused op takes
  // the one next to the MatMul only, and the split stays outside.
  expect_quantized_attention(f.graph, 2, true, false);
  EXPECT_GT(ctx.applied_counts().at("fold_repeated_qdq"), 10);
  // The rest of the pairs (residual adds, the GELU's pieces, the q and k scaling) are FakeQuant.
  EXPECT_EQ(count_ops(f.graph, "QuantizeLinear"), 0);
  EXPECT_LT(count_ops(f.graph, "FakeQuant"), pairs_before - 20);
  EXPECT_GT(count_ops(f.graph, "FakeQuant"), 20);
  testing::expect_same_outputs(unfused, f.graph, {f.input});
  Result<std::vector<Tensor>> out = testing::run_graph(f.graph, {f.input});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(testing::cosine_at_least((*out)[0], f.expected, 0.998));
}

}  // namespace
}  // namespace vitrt

// fuse_residual_into_linear: Add(residual, Linear) becomes the Linear's residual input (and the
// QuantLinear's), only where the sum is exactly X.W + bias + residual with nothing else reading
// the Linear's output; the LayerNorm after it stays a plain LayerNormalization, and
// AddLayerNorm still forms where no Linear feeds the add.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/npy.h"
#include "passes/run_fusion.h"
#include "passes/run_pass.h"
#include "quant/quantize_build.h"
#include "runtime/build_pipeline.h"
#include "testing/golden_models.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_pass;
using testing::TestGraph;

constexpr int64_t kK = 24, kN = 20;

struct Form {
  bool linear_first = false;  // Add(Linear, r) rather than Add(r, Linear)
  bool bias = true;
  std::string activation = "none";
  std::string quant;               // "", "int8" or "fp8": a vitrt.QuantLinear
  bool linear_read_twice = false;  // a Relu reads the Linear's output too
  bool linear_is_output = false;   // the Linear's output is a graph output
  bool broadcast = false;          // r is [5, N] against [batch, 5, N]
  bool sum_is_output = false;      // the sum is the graph output (no LayerNorm after it)
};

// x -> Linear -> Add(r) -> LayerNormalization, and the sum into a Mul (the residual stream the
// next block reads).
TestGraph residual_block(const Form& f) {
  TestGraph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId x = g.input("x", DType::kFloat32, {batch, 5, kK});
  const ValueId r = f.broadcast ? g.input("r", DType::kFloat32, {5, kN})
                                : g.input("r", DType::kFloat32, {batch, 5, kN});
  Attributes attrs;
  attrs.set_string("activation", f.activation);
  std::vector<ValueId> in;
  if (f.quant.empty()) {
    in = {x, g.constant("w", testing::random_tensor(DType::kFloat32, {kK, kN}, 3))};
  } else {
    attrs.set_string("format", f.quant);
    attrs.set_float("input_scale", 0.01f);
    const bool int8 = f.quant == "int8";
    Tensor w_q = Tensor::empty(int8 ? DType::kInt8 : DType::kUInt8, {kK, kN});
    // Codes 0..0x3F: finite E4M3 values and int8 values of either sign.
    for (int64_t i = 0; i < w_q.numel(); ++i) {
      w_q.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37 + 11) % (int8 ? 255 : 0x3F));
    }
    in = {x, g.constant("w_q", w_q),
          g.constant("w_scale", testing::random_tensor(DType::kFloat32, {kN}, 4, 0.001, 0.02))};
  }
  if (f.bias) in.push_back(g.constant("b", testing::random_tensor(DType::kFloat32, {kN}, 5)));
  const ValueId y = g.op(f.quant.empty() ? "Linear" : "QuantLinear", in, attrs, "vitrt", "proj");
  const ValueId sum = f.linear_first ? g.op("Add", {y, r}, {}, "", "residual_add")
                                     : g.op("Add", {r, y}, {}, "", "residual_add");
  if (f.sum_is_output) {
    g.output(sum);
  } else {
    Attributes ln;
    ln.set_float("epsilon", 1e-6f);
    g.output(g.op("LayerNormalization",
                  {sum, g.constant("gamma", testing::random_tensor(DType::kFloat32, {kN}, 6)),
                   g.constant("beta", testing::random_tensor(DType::kFloat32, {kN}, 7))},
                  ln));
    g.output(g.op("Mul", {sum, sum}));
  }
  if (f.linear_read_twice) g.output(g.op("Relu", {y}));
  if (f.linear_is_output) g.output(y);
  EXPECT_TRUE(g.infer().ok());
  return g;
}

// A Form with some fields changed (designated initializers would leave the std::string fields
// "missing" to -Wmissing-field-initializers).
template <typename Change>
Form form(Change change) {
  Form f;
  change(f);
  return f;
}

std::vector<Tensor> inputs(const Form& f) {
  return {testing::random_tensor(DType::kFloat32, {3, 5, kK}, 1),
          f.broadcast ? testing::random_tensor(DType::kFloat32, {5, kN}, 2, -3, 3)
                      : testing::random_tensor(DType::kFloat32, {3, 5, kN}, 2, -3, 3)};
}

void expect_fused(const Form& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = residual_block(f);
  const Graph before = g.graph();
  const testing::PassResult run = run_pass(fuse_residual_into_linear, g.graph());
  ASSERT_TRUE(run.status.ok()) << run.status.to_string();
  EXPECT_EQ(run.applied, 1);
  EXPECT_TRUE(run.logged("[fuse_residual_into_linear] " +
                         std::string(f.quant.empty() ? "Linear" : "QuantLinear") +
                         " 'proj' + residual 'r' <- 1 nodes: residual_add"));
  EXPECT_EQ(count_ops(g.graph(), "Add"), 0);
  const Node* proj = testing::node_named(g.graph(), "proj");
  ASSERT_NE(proj, nullptr);
  const int index = f.quant.empty() ? 3 : 4;
  ASSERT_EQ(proj->num_inputs(), index + 1);
  EXPECT_EQ(g.graph().values[proj->inputs[index]].name, "r");
  EXPECT_EQ(proj->has_input(index - 1), f.bias);
  // The sum is computed in fp32 in the same order (X.W + bias, then + r): equal to rounding.
  testing::expect_outputs_close(before, g.graph(), inputs(f), 1e-6);
}

void expect_not_fused(const Form& f, const char* what, const std::string& reason) {
  SCOPED_TRACE(what);
  TestGraph g = residual_block(f);
  const testing::PassResult run = run_pass(fuse_residual_into_linear, g.graph());
  ASSERT_TRUE(run.status.ok()) << run.status.to_string();
  EXPECT_EQ(run.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Add"), 1);
  EXPECT_EQ(run.near_misses, 1);
  EXPECT_TRUE(
      run.logged("[fuse_residual_into_linear] not applied at Add 'residual_add': " + reason))
      << (run.log.empty() ? std::string("(no log)") : run.log.back());
}

TEST(FuseResidualIntoLinear, Fires) {
  expect_fused({}, "Add(r, Linear)");
  expect_fused(form([](Form& f) { f.linear_first = true; }), "Add(Linear, r)");
  expect_fused(form([](Form& f) { f.bias = false; }),
               "no bias: an omitted input before the residual");
  expect_fused(form([](Form& f) { f.sum_is_output = true; }), "the sum is a graph output");
  expect_fused(form([](Form& f) { f.quant = "int8"; }), "int8 QuantLinear");
  expect_fused(form([](Form& f) {
                 f.bias = false;
                 f.quant = "fp8";
               }),
               "fp8 QuantLinear without bias");
}

TEST(FuseResidualIntoLinear, DeclinesLookAlikes) {
  expect_not_fused(form([](Form& f) { f.activation = "gelu"; }), "activation",
                   "Linear 'proj' has activation 'gelu': the residual is added after the "
                   "activation");
  expect_not_fused(form([](Form& f) {
                     f.activation = "relu";
                     f.quant = "int8";
                   }),
                   "quant activation", "QuantLinear 'proj' has activation 'relu'");
  expect_not_fused(form([](Form& f) { f.linear_read_twice = true; }), "Linear output read twice",
                   "the output of Linear 'proj' is also read by 'Relu_");
  expect_not_fused(form([](Form& f) { f.linear_is_output = true; }),
                   "Linear output is a graph output",
                   "the output of Linear 'proj' is a graph output");
  expect_not_fused(form([](Form& f) { f.broadcast = true; }), "broadcast add",
                   "the Add broadcasts: 'r' [5, 20] against the Linear output [batch, 5, 20]");
}

// A Linear that adds a residual already is not given a second one, and fuse_linear_activation
// gives it no activation (it would have to follow the residual add).
TEST(FuseResidualIntoLinear, OneResidualAndNoActivationAfter) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), kK});
  const ValueId r0 = g.input("r0", DType::kFloat32, {Dim::symbol("batch"), kN});
  const ValueId r1 = g.input("r1", DType::kFloat32, {Dim::symbol("batch"), kN});
  const ValueId y =
      g.op("Linear",
           {x, g.constant("w", testing::random_tensor(DType::kFloat32, {kK, kN}, 3)), kNoValue, r0},
           {}, "vitrt", "proj");
  g.output(g.op("Add", {y, r1}, {}, "", "residual_add"));
  ASSERT_TRUE(g.infer().ok());
  const testing::PassResult run = run_pass(fuse_residual_into_linear, g.graph());
  EXPECT_EQ(run.applied, 0);
  EXPECT_TRUE(
      run.logged("not applied at Add 'residual_add': Linear 'proj' already adds a "
                 "residual"));

  TestGraph act;
  const ValueId ax = act.input("x", DType::kFloat32, {2, kK});
  const ValueId ar = act.input("r", DType::kFloat32, {2, kN});
  const ValueId ay = act.op(
      "Linear",
      {ax, act.constant("w", testing::random_tensor(DType::kFloat32, {kK, kN}, 3)), kNoValue, ar},
      {}, "vitrt", "proj");
  act.output(act.op("Relu", {ay}));
  ASSERT_TRUE(act.infer().ok());
  EXPECT_EQ(run_pass(fuse_linear_activation, act.graph()).applied, 0);
  EXPECT_EQ(count_ops(act.graph(), "Relu"), 1);
}

// A ResNet bottleneck's end: Relu(Add(Linear(x), shortcut)) becomes one Linear with the
// residual and activation "relu" applied after the add; a QuantLinear keeps the Relu (its
// epilogue has no activation after the residual), and so does a sum read twice.
TEST(FuseResidualIntoLinear, ReluAfterTheSumJoinsTheLinear) {
  for (bool quant : {false, true}) {
    for (bool read_twice : {false, true}) {
      SCOPED_TRACE(str_cat(quant ? "QuantLinear" : "Linear", read_twice ? ", sum read twice" : ""));
      TestGraph g;
      const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 5, kK});
      const ValueId r = g.input("r", DType::kFloat32, {Dim::symbol("batch"), 5, kN});
      std::vector<ValueId> in = {x};
      Attributes attrs;
      if (quant) {
        attrs.set_string("format", "int8");
        attrs.set_float("input_scale", 0.01f);
        Tensor w_q = Tensor::empty(DType::kInt8, {kK, kN});
        for (int64_t i = 0; i < w_q.numel(); ++i) {
          w_q.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37 + 11) % 255);
        }
        in.push_back(g.constant("w_q", w_q));
        in.push_back(
            g.constant("w_scale", testing::random_tensor(DType::kFloat32, {kN}, 4, 0.001, 0.02)));
      } else {
        in.push_back(g.constant("w", testing::random_tensor(DType::kFloat32, {kK, kN}, 3)));
      }
      in.push_back(g.constant("b", testing::random_tensor(DType::kFloat32, {kN}, 5)));
      const ValueId y = g.op(quant ? "QuantLinear" : "Linear", in, attrs, "vitrt", "conv3");
      const ValueId sum = g.op("Add", {y, r});
      g.output(g.op("Relu", {sum}));
      if (read_twice) g.output(g.op("Neg", {sum}));
      ASSERT_TRUE(g.infer().ok());
      const Graph before = g.graph();
      const testing::PassResult run = run_pass(fuse_residual_into_linear, g.graph());
      ASSERT_TRUE(run.status.ok()) << run.status.to_string();
      const bool relu_fused = !quant && !read_twice;
      EXPECT_EQ(run.applied, relu_fused ? 2 : 1);
      EXPECT_EQ(count_ops(g.graph(), "Relu"), relu_fused ? 0 : 1);
      const Node* linear = testing::node_named(g.graph(), "conv3");
      ASSERT_NE(linear, nullptr);
      EXPECT_EQ(*linear->attrs.get_string("activation", "none"), relu_fused ? "relu" : "none");
      // The output keeps its name; the numbers are the unfused graph's.
      EXPECT_EQ(g.graph().values[g.graph().outputs[0]].name, before.values[before.outputs[0]].name);
      testing::expect_outputs_close(before, g.graph(),
                                    {testing::random_tensor(DType::kFloat32, {3, 5, kK}, 1),
                                     testing::random_tensor(DType::kFloat32, {3, 5, kN}, 2, -3, 3)},
                                    1e-5);
    }
  }
}

// Through the whole optimizer on a block pair: the residual adds after the Linears join them,
// the LayerNorms after them stay plain, and the embedding-like sum no Linear feeds still
// becomes AddLayerNorm.
TEST(FuseResidualIntoLinear, LeavesAddLayerNormWhereNoLinearFeedsTheAdd) {
  TestGraph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId tokens = g.input("tokens", DType::kFloat32, {batch, 5, kN});
  const ValueId pos = g.constant("pos", testing::random_tensor(DType::kFloat32, {1, 5, kN}, 8));
  const ValueId x0 = g.op("Add", {tokens, pos});  // broadcast: stays for AddLayerNorm
  auto layer_norm = [&](ValueId v, uint64_t seed) {
    Attributes ln;
    ln.set_float("epsilon", 1e-6f);
    return g.op(
        "LayerNormalization",
        {v, g.constant(str_cat("gamma", seed), testing::random_tensor(DType::kFloat32, {kN}, seed)),
         g.constant(str_cat("beta", seed),
                    testing::random_tensor(DType::kFloat32, {kN}, seed + 1))},
        ln);
  };
  auto linear = [&](ValueId v, uint64_t seed) {
    const ValueId m =
        g.op("MatMul", {v, g.constant(str_cat("w", seed),
                                      testing::random_tensor(DType::kFloat32, {kN, kN}, seed))});
    return g.op("Add", {m, g.constant(str_cat("b", seed),
                                      testing::random_tensor(DType::kFloat32, {kN}, seed + 1))});
  };
  const ValueId x1 = g.op("Add", {x0, linear(layer_norm(x0, 10), 20)});
  const ValueId x2 = g.op("Add", {x1, linear(layer_norm(x1, 30), 40)});
  g.output(layer_norm(x2, 50));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();
  Graph after = g.graph();
  PassContext ctx(false, nullptr);
  ASSERT_TRUE(optimize_graph(after, ctx).ok());
  EXPECT_EQ(ctx.applied_counts().at("fuse_residual_into_linear"), 2);
  EXPECT_EQ(count_ops(after, "AddLayerNorm"), 1);
  EXPECT_EQ(count_ops(after, "LayerNormalization"), 2);
  EXPECT_EQ(count_ops(after, "Add"), 0);
  testing::expect_outputs_close(before, after,
                                {testing::random_tensor(DType::kFloat32, {3, 5, kN}, 9)});
}

// Linear nodes that add a residual (input 3).
int residual_linears(const Graph& g) {
  int n = 0;
  for (const Node& node : g.nodes) n += !node.dead && node.op_type == "Linear" && node.has_input(3);
  return n;
}

// Every golden fixture (both exporters; ViT, DeiT, CLIP text and vision, DINOv2, SigLIP): each
// encoder layer's two residual adds join their Linears (the optimized graph's outputs are
// checked against the unoptimized engine by golden/*.OptimizedMatchesUnoptimized).
TEST(FuseResidualIntoLinear, FiresTwicePerLayerOnTheGoldenModels) {
  const auto models = testing::golden_models();
  for (const auto& [name, model] : models) {
    Result<Graph> g = import_and_prepare(model.string(), BuildOptions{}, nullptr);
    ASSERT_TRUE(g.ok()) << name << ": " << g.status().to_string();
    const int with_residual = residual_linears(*g);
    if (name.find("swin") != std::string::npos) {
      // Swin's 4 blocks: the MLP residuals join fc2; the attention residual adds the output of
      // the window reverse (reshapes after the projection), not a Linear's.
      EXPECT_EQ(with_residual, 4) << name;
      continue;
    }
    if (name.find("samvit") != std::string::npos) {
      // SAM's 2 blocks: likewise, the attention residual adds the window unpartition's output.
      EXPECT_EQ(with_residual, 2) << name;
      continue;
    }
    if (name.find("convnext") != std::string::npos) {
      // ConvNeXt's 5 blocks: cancel_layout_transposes keeps the trunk NHWC, so each residual
      // joins fc2.
      EXPECT_EQ(with_residual, 5) << name;
      EXPECT_EQ(count_ops(*g, "AddLayerNorm"), 0) << name;
      continue;
    }
    if (name.find("resnet") != std::string::npos) {
      // ResNet's 5 bottlenecks end in a 1x1 conv (a Linear, channels-last) + the shortcut +
      // ReLU: each one GEMM with the residual and the ReLU after it.
      EXPECT_EQ(with_residual, 5) << name;
      int relu_after_residual = 0;
      for (const Node& n : g->nodes) {
        if (!n.dead && n.op_type == "Linear" && n.has_input(3) &&
            *n.attrs.get_string("activation", "none") == "relu") {
          ++relu_after_residual;
        }
      }
      EXPECT_EQ(relu_after_residual, 5) << name;
      EXPECT_EQ(count_ops(*g, "AddLayerNorm"), 0) << name;
      continue;
    }
    if (name.find("multi_query") != std::string::npos) {
      // A conv stem and one attention block whose residual adds the conv's map; no LayerNorm is
      // there to take one. The dynamo export's block runs channels-last (its stem's tokens go
      // back to an image through a Reshape the layout pass folds away), so the output
      // projection, a 1x1 conv made a Linear, takes the residual; TorchScript's stays NCHW.
      EXPECT_EQ(with_residual, name.find("dynamo") != std::string::npos ? 1 : 0) << name;
      EXPECT_EQ(count_ops(*g, "AddLayerNorm"), 0) << name;
      continue;
    }
    if (name.find("recurrent") != std::string::npos) {
      // The unrolled LSTMs (2 bidirectional, 8 steps each, zero initial state): every step but
      // the first adds its input projection to the recurrent GEMM (4 x 7), and the mixer's fc
      // takes the block's residual. The GRU's recurrent GEMM feeds a Split: none there.
      EXPECT_EQ(with_residual, 29) << name;
      EXPECT_EQ(count_ops(*g, "AddLayerNorm"), 0) << name;
      continue;
    }
    if (name.find("hiera") != std::string::npos) {
      // Hiera's 4 blocks, both residuals each; no embeddings sum is left for AddLayerNorm.
      EXPECT_EQ(with_residual, 8) << name;
      EXPECT_EQ(count_ops(*g, "AddLayerNorm"), 0) << name;
      continue;
    }
    // Two layers each; SigLIP's pooling head and timm DeiT's two heads add one more. SigLIP2's
    // position embeddings, resized per image, have the patch embedding's full shape: their sum
    // joins that Linear as its residual (one more, and no AddLayerNorm left).
    const bool siglip2 = name.find("siglip2") != std::string::npos;
    EXPECT_GE(with_residual, 4) << name;
    EXPECT_LE(with_residual, siglip2 ? 6 : 5) << name;
    // Only the embeddings' sum is left for AddLayerNorm; DINOv3 and MLCD have none (rotary
    // positions), and the RMSNorm ViTs' first norm is an RMSNormalization, which takes no
    // residual.
    const bool dinov3 =
        name.find("dinov3") != std::string::npos || name.find("mlcd") != std::string::npos;
    const bool rms = name.find("rmsnorm") != std::string::npos;
    EXPECT_EQ(count_ops(*g, "AddLayerNorm"), dinov3 || siglip2 || rms ? 0 : 1) << name;
  }
  EXPECT_GE(models.size(), 20u);
}

// The 12-layer models of tests/data/structure: 24 residual Linears each.
TEST(FuseResidualIntoLinear, FiresOnEveryLayerOfTwelveLayerModels) {
  const std::filesystem::path root =
      std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "data" / "structure";
  int models = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (entry.path().extension() != ".onnx") continue;
    ++models;
    Result<Graph> g = import_and_prepare(entry.path().string(), BuildOptions{}, nullptr);
    ASSERT_TRUE(g.ok()) << entry.path() << ": " << g.status().to_string();
    EXPECT_EQ(residual_linears(*g), 24) << entry.path();
  }
  EXPECT_GE(models, 10);
}

// Quantized builds: quantize_linear keeps each residual (QuantLinear's input 4), the fp8
// LayerNorms still write E4M3 codes for qkv and fc1 and fc1 for fc2 (fuse_quant_producers; fc2,
// which adds the residual, writes float), and the CPU engine's
// outputs stay as close to PyTorch as quantized_build_test.cc requires of 8-bit builds.
TEST(FuseResidualIntoLinear, QuantizedBuildsKeepTheResiduals) {
  namespace fs = std::filesystem;
  const fs::path fixture = fs::path(VITRT_SOURCE_DIR) / "tests/golden/timm_vit_tiny_ts17";
  const fs::path calib = fs::path(::testing::TempDir()) / "residual_calib";
  fs::remove_all(calib);
  fs::create_directories(calib / "case1");
  fs::copy_file(fixture / "case1/input.pixel_values.npy", calib / "case1/pixel_values.npy");
  Result<Tensor> x = read_npy((fixture / "case1/input.pixel_values.npy").string());
  Result<Tensor> want = read_npy((fixture / "case1/output.0.logits.npy").string());
  ASSERT_TRUE(x.ok() && want.ok());
  for (const char* precision : {"int8", "fp8"}) {
    SCOPED_TRACE(precision);
    BuildOptions options;
    options.precision = precision;
    options.calib_data = calib.string();
    Result<Graph> g = import_and_prepare((fixture / "model.onnx").string(), options, nullptr);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    ASSERT_TRUE(quant::quantize_for_build(*g, options).ok());
    int with_residual = 0, codes_in = 0;
    for (const Node& n : g->nodes) {
      if (n.dead || n.op_type != "QuantLinear") continue;
      with_residual += n.has_input(4);
      codes_in += g->values[n.inputs[0]].dtype == DType::kUInt8;
    }
    EXPECT_EQ(with_residual, 4);  // attention proj and fc2 of both blocks
    // fp8, per block: qkv and fc1 read LayerNorm's codes, proj attention's, fc2 fc1's; the
    // last block's qkv is split into q, k and v (select_rows_early), each reading the codes.
    EXPECT_EQ(codes_in, std::string(precision) == "fp8" ? 10 : 0);
    Result<std::vector<Tensor>> got = testing::run_graph(*g, {*x});
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_TRUE(testing::cosine_at_least((*got)[0], *want, 0.99));
  }
  fs::remove_all(calib);
}

}  // namespace
}  // namespace vitrt

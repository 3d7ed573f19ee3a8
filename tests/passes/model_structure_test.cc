// The optimizer's structural promise on full-depth models (tests/data/structure/, made by
// python/make_structure_fixtures.py: 12 layers like ViT-B/16 and the CLIP text tower, narrow):
// after optimization exactly 12 Attention (causal for CLIP text), no Softmax outside them, and
// 25 LayerNorms (two per layer and the final one, 26 with open_clip's ln_pre; LayerNormalization
// or vitrt.AddLayerNorm).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <tuple>

#include "runtime/build_pipeline.h"
#include "testing/compare.h"
#include "testing/golden_models.h"
#include "testing/test_graph.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

struct StructureCase {
  const char* file;
  bool causal;
  // The patch embedding's Conv -> Reshape -> Transpose becomes vitrt.Patchify only with
  // fuse_patch_embedding; text towers have no patch embedding.
  bool has_patch_embedding;
  // Two per layer and the final one; open_clip's vision tower adds ln_pre.
  int layer_norms = 25;
};

class ModelStructure : public ::testing::TestWithParam<StructureCase> {};

Result<Graph> optimized(const std::string& file) {
  const std::string path =
      (std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "data" / "structure" / file).string();
  BuildOptions options;
  return import_and_prepare(path, options, nullptr);
}

int layer_norms(const Graph& g) {
  return testing::count_ops(g, "LayerNormalization") + testing::count_ops(g, "AddLayerNorm");
}

TEST_P(ModelStructure, TwelveAttentionsAndNoSoftmaxLeft) {
  Result<Graph> g = optimized(GetParam().file);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(testing::count_ops(*g, "Attention"), 12);
  EXPECT_EQ(testing::count_ops(*g, "Softmax"), 0);
  EXPECT_EQ(layer_norms(*g), GetParam().layer_norms);
  for (const Node& n : g->nodes) {
    if (n.dead || n.op_type != "Attention") continue;
    EXPECT_EQ(*n.attrs.get_int("causal", 0), GetParam().causal ? 1 : 0) << n.name;
  }
  if (!GetParam().has_patch_embedding) {
    EXPECT_EQ(testing::count_ops(*g, "Transpose"), 0);
  }
}

// Holds once fuse_patch_embedding (another pass) turns the patch embedding's Transpose into
// vitrt.Patchify; the lead enables it at merge.
TEST_P(ModelStructure, NoTransposeLeft) {
  Result<Graph> g = optimized(GetParam().file);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(testing::count_ops(*g, "Transpose"), 0);
}

// Every encoder layer of every golden fixture (2 layers each; Swin: 2 stages of 2 blocks; the
// multi-query net: 1) becomes one Attention. SigLIP adds a pooling head (nn.MultiheadAttention,
// heads folded into the batch axis): fused where its shapes are known (the dynamo export; the
// TorchScript one needs constant folding first).
TEST(GoldenStructure, EveryEncoderAttentionIsFused) {
  const auto models = testing::golden_models();
  for (const auto& [name, model] : models) {
    Result<Graph> g = import_and_prepare(model.string(), BuildOptions{}, nullptr);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    const bool siglip = name.find("siglip") != std::string::npos;
    const int attention = testing::count_ops(*g, "Attention");
    const int softmax = testing::count_ops(*g, "Softmax");
    // Swin and Hiera: 4 blocks; SAM's windowed and global blocks fuse in their head layout.
    const bool four =
        name.find("swin") != std::string::npos || name.find("hiera") != std::string::npos;
    // ConvNeXt, ResNet and the recurrent net have no attention at all.
    const bool convnet = name.find("convnext") != std::string::npos ||
                         name.find("resnet") != std::string::npos ||
                         name.find("recurrent") != std::string::npos;
    // The multi-query fixture is one attention block on a conv stem.
    const bool one = name.find("multi_query") != std::string::npos;
    EXPECT_EQ(attention + softmax, convnet ? 0 : siglip ? 3 : four ? 4 : one ? 1 : 2) << name;
    // SigLIP2's NaFlex pooling head is masked: fused from both exports.
    const bool naflex = name.find("naflex") != std::string::npos;
    EXPECT_LE(softmax, siglip && !naflex && name.find("dynamo") == std::string::npos ? 1 : 0)
        << name;
    const bool causal = name.find("clip_text") != std::string::npos;
    for (const Node& n : g->nodes) {
      if (n.dead || n.op_type != "Attention") continue;
      EXPECT_EQ(*n.attrs.get_int("causal", 0), causal ? 1 : 0) << name << " " << n.name;
    }
  }
  EXPECT_GE(models.size(), 10u);
}

// The open_clip fixtures carry no reference outputs: the optimized engine must agree with the
// graph as imported (the unoptimized CPU path) to 1e-5 of the output's scale.
class OpenClipNumbers : public ::testing::TestWithParam<const char*> {};

TEST_P(OpenClipNumbers, OptimizedMatchesUnoptimized) {
  const std::string path =
      (std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "data" / "structure" / GetParam())
          .string();
  BuildOptions plain_options;
  plain_options.optimize = false;
  Result<std::shared_ptr<Engine>> plain = Engine::from_onnx(path, plain_options);
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  Result<std::shared_ptr<Engine>> optimized = Engine::from_onnx(path, BuildOptions{});
  ASSERT_TRUE(optimized.ok()) << optimized.status().to_string();
  std::vector<NamedTensor> inputs;
  for (const TensorInfo& info : (*plain)->inputs()) {
    std::vector<int64_t> shape;
    for (const std::string& d : info.dims) shape.push_back(d == "batch" ? 2 : std::stoll(d));
    if (info.dtype == DType::kFloat32) {
      inputs.push_back({info.name, testing::random_tensor(DType::kFloat32, shape, 11)});
      continue;
    }
    // Token ids: start token, random tokens, end token (the largest id, which the pooling
    // finds with ArgMax) at a different length per row, then padding.
    ASSERT_EQ(info.dtype, DType::kInt64);
    Tensor ids = Tensor::zeros(DType::kInt64, shape);
    const int64_t seq = shape[1];
    for (int64_t b = 0; b < shape[0]; ++b) {
      const int64_t length = 5 + 31 * b;
      int64_t* row = ids.data<int64_t>() + b * seq;
      row[0] = 498;
      for (int64_t i = 1; i + 1 < length; ++i) row[i] = 2 + (i * 37 + b * 11) % 490;
      row[length - 1] = 499;
    }
    inputs.push_back({info.name, ids});
  }
  Result<std::vector<NamedTensor>> want = (*plain)->create_context()->run(inputs);
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  Result<std::vector<NamedTensor>> got = (*optimized)->create_context()->run(inputs);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < got->size(); ++i) {
    EXPECT_TRUE(testing::tensors_close_to_scale((*got)[i].tensor, (*want)[i].tensor, 1e-5));
  }
}

INSTANTIATE_TEST_SUITE_P(Structure, OpenClipNumbers,
                         ::testing::Values("open_clip_vision_12l_dynamo.onnx",
                                           "open_clip_vision_12l_ts.onnx",
                                           "open_clip_text_12l_dynamo.onnx"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           return name.substr(0, name.find('.'));
                         });

// The dynamic-sequence text towers: the optimized engine (attention causal by flag, the mask
// subgraph gone) agrees with the graph as imported at a short and at the full context length.
class DynamicSeqNumbers : public ::testing::TestWithParam<std::tuple<const char*, int64_t>> {};

TEST_P(DynamicSeqNumbers, OptimizedMatchesUnoptimized) {
  const auto [file, seq] = GetParam();
  const std::string path =
      (std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "data" / "structure" / file).string();
  BuildOptions plain_options;
  plain_options.optimize = false;
  Result<std::shared_ptr<Engine>> plain = Engine::from_onnx(path, plain_options);
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  Result<std::shared_ptr<Engine>> optimized = Engine::from_onnx(path, BuildOptions{});
  ASSERT_TRUE(optimized.ok()) << optimized.status().to_string();
  ASSERT_EQ((*plain)->inputs().size(), 1u);
  const TensorInfo& info = (*plain)->inputs()[0];
  ASSERT_EQ(info.dtype, DType::kInt64);
  ASSERT_EQ(info.dims.size(), 2u);
  EXPECT_EQ(info.dims[1], "seq");
  // Row 0 ends at the last position (the run cut at the longest prompt), row 1 earlier and
  // padded; the end token (499) is the largest id, which the pooling finds with ArgMax.
  const int64_t batch = 2;
  Tensor ids = Tensor::zeros(DType::kInt64, {batch, seq});
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t length = b == 0 ? seq : std::max<int64_t>(2, seq / 2);
    int64_t* row = ids.data<int64_t>() + b * seq;
    row[0] = 498;
    for (int64_t i = 1; i + 1 < length; ++i) row[i] = 2 + (i * 37 + b * 11) % 490;
    row[length - 1] = 499;
  }
  const std::vector<NamedTensor> inputs = {{info.name, ids}};
  Result<std::vector<NamedTensor>> want = (*plain)->create_context()->run(inputs);
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  Result<std::vector<NamedTensor>> got = (*optimized)->create_context()->run(inputs);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < got->size(); ++i) {
    EXPECT_TRUE(testing::tensors_close_to_scale((*got)[i].tensor, (*want)[i].tensor, 1e-5));
  }
}

// Look-alikes: a text tower's mask, computed from seq alone, changed so it is causal at no
// length. No Attention may take the causal flag for it: whatever fuses keeps the mask (or, where
// the mask is computed from the shape of an intermediate the fusion would remove, the attention
// is declined), the graph stays valid and the numbers stay.
void check_non_causal_look_alike(const char* file, const std::function<int(Graph&)>& mutate) {
  const std::string path =
      (std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "data" / "structure" / file).string();
  BuildOptions raw;
  raw.optimize = false;
  Result<Graph> g = import_and_prepare(path, raw, nullptr);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  ASSERT_GE(mutate(*g), 1);
  Tensor ids = Tensor::zeros(DType::kInt64, {2, 5});
  for (int64_t i = 0; i < 10; ++i) ids.data<int64_t>()[i] = 2 + (i * 37) % 490;
  ids.data<int64_t>()[4] = 499;
  ids.data<int64_t>()[7] = 499;
  auto want = testing::run_graph(*g, {ids});
  ASSERT_TRUE(want.ok()) << want.status().to_string();

  Graph optimized = *g;
  ASSERT_TRUE(run_optimization_passes(optimized, BuildOptions{}).ok());
  ASSERT_TRUE(optimized.validate().ok()) << optimized.validate().to_string();
  for (const Node& n : optimized.nodes) {
    if (n.dead || n.op_type != "Attention") continue;
    EXPECT_EQ(*n.attrs.get_int("causal", 0), 0) << n.name;
    EXPECT_TRUE(n.has_input(3)) << n.name;
  }
  auto got = testing::run_graph(optimized, {ids});
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_TRUE(testing::tensors_close_to_scale((*got)[0], (*want)[0], 1e-5));
}

// Eager HF: LessOrEqual(j, i) made Less masks the diagonal too (the first row entirely).
TEST(DynamicSeqStructure, StrictLowerTriangularMaskIsNotCausal) {
  check_non_causal_look_alike("hf_clip_text_12l_dynseq_ts.onnx", [](Graph& g) {
    int changed = 0;
    for (Node& n : g.nodes) {
      if (!n.dead && n.op_type == "LessOrEqual") {
        n.op_type = "Less";
        ++changed;
      }
    }
    return changed;
  });
}

// SDPA HF: the Trilu flipped to the other triangle (keys after the query visible). Its mask
// takes seq from the shape of k's transposed copy, which the fusion would remove.
TEST(DynamicSeqStructure, UpperTriangularMaskIsNotCausal) {
  check_non_causal_look_alike("hf_clip_text_12l_dynseq_sdpa_ts.onnx", [](Graph& g) {
    int changed = 0;
    for (Node& n : g.nodes) {
      if (n.dead || n.op_type != "Trilu") continue;
      n.attrs.set_int("upper", 1 - *n.attrs.get_int("upper", 1));
      ++changed;
    }
    return changed;
  });
}

INSTANTIATE_TEST_SUITE_P(
    Structure, DynamicSeqNumbers,
    ::testing::Combine(::testing::Values("hf_clip_text_12l_dynseq_ts.onnx",
                                         "hf_clip_text_12l_dynseq_sdpa_ts.onnx",
                                         "open_clip_text_12l_dynseq_dynamo.onnx"),
                       ::testing::Values(int64_t{5}, int64_t{77})),
    [](const ::testing::TestParamInfo<std::tuple<const char*, int64_t>>& info) {
      std::string name = std::get<0>(info.param);
      return name.substr(0, name.find('.')) + "_seq" + std::to_string(std::get<1>(info.param));
    });

INSTANTIATE_TEST_SUITE_P(
    Structure, ModelStructure,
    ::testing::Values(StructureCase{"hf_vit_12l_eager_ts17.onnx", false, true},
                      StructureCase{"hf_vit_12l_sdpa_dynamo.onnx", false, true},
                      StructureCase{"hf_clip_text_12l_eager_ts17.onnx", true, false},
                      StructureCase{"hf_clip_text_12l_sdpa_dynamo.onnx", true, false},
                      StructureCase{"timm_vit_12l_ts17.onnx", false, true},
                      // open_clip: nn.MultiheadAttention blocks (packed in_proj, sequence-first
                      // head split), exported by python/export_clip.py's functions.
                      StructureCase{"open_clip_vision_12l_dynamo.onnx", false, true, 26},
                      StructureCase{"open_clip_vision_12l_ts.onnx", false, true, 26},
                      StructureCase{"open_clip_text_12l_dynamo.onnx", true, false},
                      // The text towers as python/export_clip.py exports them: input_ids
                      // [batch, seq], the causal mask computed from seq by shape ops.
                      StructureCase{"hf_clip_text_12l_dynseq_ts.onnx", true, false},
                      StructureCase{"hf_clip_text_12l_dynseq_sdpa_ts.onnx", true, false},
                      StructureCase{"open_clip_text_12l_dynseq_dynamo.onnx", true, false}),
    [](const ::testing::TestParamInfo<StructureCase>& info) {
      std::string name = info.param.file;
      name = name.substr(0, name.find('.'));
      return name;
    });

}  // namespace
}  // namespace vitrt

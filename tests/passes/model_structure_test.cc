// The optimizer's structural promise on full-depth models (tests/data/structure/, made by
// python/make_structure_fixtures.py: 12 layers like ViT-B/16 and the CLIP text tower, narrow):
// after optimization exactly 12 Attention (causal for CLIP text), no Softmax outside them, and
// 25 LayerNorms (two per layer and the final one; LayerNormalization or vitrt.AddLayerNorm).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "runtime/build_pipeline.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

struct StructureCase {
  const char* file;
  bool causal;
  // The patch embedding's Conv -> Reshape -> Transpose becomes vitrt.Patchify only with
  // fuse_patch_embedding; text towers have no patch embedding.
  bool has_patch_embedding;
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
  EXPECT_EQ(layer_norms(*g), 25);
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

// Every encoder layer of every golden fixture (2 layers each) becomes one Attention. SigLIP adds
// a pooling head (nn.MultiheadAttention, heads folded into the batch axis): fused where its
// shapes are known (the dynamo export; the TorchScript one needs constant folding first).
TEST(GoldenStructure, EveryEncoderAttentionIsFused) {
  const std::filesystem::path root = std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "golden";
  int fixtures = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    const std::filesystem::path model = entry.path() / "model.onnx";
    if (!std::filesystem::exists(model)) continue;
    ++fixtures;
    const std::string name = entry.path().filename().string();
    Result<Graph> g = import_and_prepare(model.string(), BuildOptions{}, nullptr);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    const bool siglip = name.find("siglip") != std::string::npos;
    const int attention = testing::count_ops(*g, "Attention");
    const int softmax = testing::count_ops(*g, "Softmax");
    EXPECT_EQ(attention + softmax, siglip ? 3 : 2) << name;
    EXPECT_LE(softmax, siglip && name.find("dynamo") == std::string::npos ? 1 : 0) << name;
    const bool causal = name.find("clip_text") != std::string::npos;
    for (const Node& n : g->nodes) {
      if (n.dead || n.op_type != "Attention") continue;
      EXPECT_EQ(*n.attrs.get_int("causal", 0), causal ? 1 : 0) << name << " " << n.name;
    }
  }
  EXPECT_GE(fixtures, 10);
}

INSTANTIATE_TEST_SUITE_P(
    Structure, ModelStructure,
    ::testing::Values(StructureCase{"hf_vit_12l_eager_ts17.onnx", false, true},
                      StructureCase{"hf_vit_12l_sdpa_dynamo.onnx", false, true},
                      StructureCase{"hf_clip_text_12l_eager_ts17.onnx", true, false},
                      StructureCase{"hf_clip_text_12l_sdpa_dynamo.onnx", true, false},
                      StructureCase{"timm_vit_12l_ts17.onnx", false, true}),
    [](const ::testing::TestParamInfo<StructureCase>& info) {
      std::string name = info.param.file;
      name = name.substr(0, name.find('.'));
      return name;
    });

}  // namespace
}  // namespace vitrt

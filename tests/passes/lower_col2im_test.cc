// lower_col2im: the values of the lowering are checked against ONNX Runtime by the conformance
// cases (tests/data/conformance_col2im); here, the Col2Im forms it must refuse, each with the
// node named and the reason, and the graph it leaves behind for the symbolic batch.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "passes/pass.h"
#include "run_pass.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

constexpr const char* kName = "/blocks.0/attn/Col2Im";

// Col2Im of x [batch, 4 * 9, 16] into 8x8 through 3x3 blocks, stride 2, pad 1 (VOLO's fold).
ValueId volo_fold(TestGraph& g, ValueId image_shape, int64_t pad = 1) {
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim(36), Dim(16)});
  Attributes a;
  a.set_ints("strides", {2, 2});
  a.set_ints("pads", {pad, pad, pad, pad});
  return g.op("Col2Im", {x, image_shape, g.constant("block", Tensor::from_int64({3, 3}))}, a, "",
              kName);
}

TEST(LowerCol2Im, KeepsTheSymbolicBatchAndChannels) {
  TestGraph g;
  g.output(volo_fold(g, g.constant("image", Tensor::from_int64({8, 8}))));
  testing::PassResult r = testing::run_pass(lower_col2im, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  const Value& y = g.graph().values[g.graph().outputs[0]];
  ASSERT_TRUE(y.has_shape);
  ASSERT_EQ(y.shape.size(), 4u);
  EXPECT_EQ(y.shape[0], Dim::symbol("batch"));
  EXPECT_EQ(y.shape[1], Dim(4));
  EXPECT_EQ(y.shape[2], Dim(8));
  EXPECT_EQ(y.shape[3], Dim(8));
}

TEST(LowerCol2Im, RefusesWithTheNodeAndTheReason) {
  struct Refused {
    const char* what;
    std::vector<int64_t> image;  // empty: image_shape is a graph input
    int64_t pad;
    const char* reason;
  };
  const std::vector<Refused> cases = {
      {"image_shape computed at run time", {}, 1, "must be int64 constants"},
      {"one image axis for two block axes", {8}, 1, "one value per spatial axis"},
      {"block larger than the image", {2, 8}, 0, "larger than the padded image"},
      {"non-positive image size", {0, 8}, 1, "sizes must be positive"},
  };
  for (const Refused& c : cases) {
    TestGraph g;
    const ValueId image = c.image.empty() ? g.input("image", DType::kInt64, {Dim(2)})
                                          : g.constant("image", Tensor::from_int64(c.image));
    g.output(volo_fold(g, image, c.pad));
    PassContext ctx(false, nullptr);
    Status s = lower_col2im(g.graph(), ctx);
    ASSERT_FALSE(s.ok()) << c.what;
    EXPECT_NE(s.message().find(kName), std::string::npos) << c.what << ": " << s.to_string();
    EXPECT_NE(s.message().find(c.reason), std::string::npos) << c.what << ": " << s.to_string();
  }
}

}  // namespace
}  // namespace vitrt

// fuse_gelu: the erf and tanh GELU formulas, QuickGELU, SiLU and HardSwish become one op, in every
// operand order exporters write; wrong constants and shared intermediates are left alone.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numbers>

#include "passes/run_fusion.h"
#include "runtime/build_pipeline.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_fusion;
using testing::TestGraph;

// Builds `body(g, x)` on x [batch, 7, 19]; the body returns the output value.
using Body = std::function<ValueId(TestGraph&, ValueId)>;

ValueId k(TestGraph& g, double v) {
  return g.constant("c" + std::to_string(g.graph().values.size()),
                    Tensor::from_float({static_cast<float>(v)}, true));
}

void check(const Body& body, const char* what, int expect_applied, const std::string& op = "",
           const std::string& attr = "") {
  SCOPED_TRACE(what);
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 7, 19});
  g.output(body(g, x));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();
  const testing::FusionRun run = run_fusion(g.graph(), fuse_gelu);
  EXPECT_EQ(run.applied, expect_applied);
  if (expect_applied == 1) {
    int live = 0;
    for (const Node& n : g.graph().nodes) {
      if (n.dead) continue;
      ++live;
      EXPECT_EQ(n.op_type, op);
      if (op == "Gelu") {
        EXPECT_EQ(n.attrs.find("approximate")->s, attr);
      }
    }
    EXPECT_EQ(live, 1);
  }
  testing::expect_outputs_close(before, g.graph(),
                                {testing::random_tensor(DType::kFloat32, {3, 7, 19}, 5, -4, 4)});
}

const double kSqrt2 = std::numbers::sqrt2;

ValueId erf_plus_one(TestGraph& g, ValueId x, bool mul_form, bool one_first) {
  const ValueId scaled =
      mul_form ? g.op("Mul", {k(g, 1.0 / kSqrt2), x}) : g.op("Div", {x, k(g, kSqrt2)});
  const ValueId e = g.op("Erf", {scaled});
  return one_first ? g.op("Add", {k(g, 1.0), e}) : g.op("Add", {e, k(g, 1.0)});
}

TEST(FuseGelu, FiresOnErfFormsInEveryOrder) {
  // HF / timm TorchScript: (x * (1 + erf)) * 0.5
  check(
      [](TestGraph& g, ValueId x) {
        return g.op("Mul", {g.op("Mul", {x, erf_plus_one(g, x, false, false)}), k(g, 0.5)});
      },
      "(x*(1+erf))*0.5", 1, "Gelu", "none");
  // torch's decomposition: (x * 0.5) * (1 + erf), Mul by 1/sqrt2
  check(
      [](TestGraph& g, ValueId x) {
        return g.op("Mul", {g.op("Mul", {x, k(g, 0.5)}), erf_plus_one(g, x, true, true)});
      },
      "(x*0.5)*(1+erf)", 1, "Gelu", "none");
  // 0.5 * (1 + erf) first, then x
  check(
      [](TestGraph& g, ValueId x) {
        return g.op("Mul", {x, g.op("Mul", {k(g, 0.5), erf_plus_one(g, x, false, true)})});
      },
      "x*(0.5*(1+erf))", 1, "Gelu", "none");
  // Div by 2 instead of Mul by 0.5
  check(
      [](TestGraph& g, ValueId x) {
        return g.op("Div", {g.op("Mul", {erf_plus_one(g, x, false, false), x}), k(g, 2.0)});
      },
      "((1+erf)*x)/2", 1, "Gelu", "none");
}

ValueId tanh_gelu(TestGraph& g, ValueId x, bool pow_cube, double coef = 0.044715) {
  const ValueId cube =
      pow_cube ? g.op("Pow", {x, k(g, 3.0)}) : g.op("Mul", {x, g.op("Mul", {x, x})});
  const ValueId inner = g.op("Add", {x, g.op("Mul", {k(g, coef), cube})});
  const ValueId t = g.op("Tanh", {g.op("Mul", {k(g, std::sqrt(2.0 / std::numbers::pi)), inner})});
  const ValueId one_plus = g.op("Add", {k(g, 1.0), t});
  return g.op("Mul", {k(g, 0.5), g.op("Mul", {x, one_plus})});
}

TEST(FuseGelu, FiresOnTanhForms) {
  check([](TestGraph& g, ValueId x) { return tanh_gelu(g, x, false); }, "x*x*x", 1, "Gelu", "tanh");
  check([](TestGraph& g, ValueId x) { return tanh_gelu(g, x, true); }, "Pow 3", 1, "Gelu", "tanh");
}

ValueId quick_gelu(TestGraph& g, ValueId x, double alpha) {
  return g.op("Mul", {x, g.op("Sigmoid", {g.op("Mul", {x, k(g, alpha)})})});
}

TEST(FuseGelu, FiresOnQuickGelu) {
  check([](TestGraph& g, ValueId x) { return quick_gelu(g, x, 1.702); }, "x*sigmoid(1.702x)", 1,
        "QuickGelu");
}

TEST(FuseGelu, FiresOnSilu) {
  // x * sigmoid(x) in both operand orders: QuickGelu with alpha 1.
  for (const bool sigmoid_first : {false, true}) {
    check(
        [&](TestGraph& g, ValueId x) {
          const ValueId s = g.op("Sigmoid", {x});
          return sigmoid_first ? g.op("Mul", {s, x}) : g.op("Mul", {x, s});
        },
        sigmoid_first ? "sigmoid(x)*x" : "x*sigmoid(x)", 1, "QuickGelu");
  }
  // A gate: y * sigmoid(x) with y != x (squeeze-and-excitation) is no SiLU.
  check(
      [](TestGraph& g, ValueId x) {
        return g.op("Mul", {g.op("Neg", {x}), g.op("Sigmoid", {x})});
      },
      "gate", 0);
  // The sigmoid also feeds the output: it cannot be absorbed.
  check(
      [](TestGraph& g, ValueId x) {
        const ValueId s = g.op("Sigmoid", {x});
        return g.op("Add", {g.op("Mul", {x, s}), s});
      },
      "sigmoid read elsewhere", 0);
}

// ONNX's Swish (opset 24) becomes QuickGelu with its alpha (default 1: SiLU).
TEST(FuseGelu, SwishBecomesQuickGelu) {
  for (const float alpha : {1.0f, 0.6f}) {
    check(
        [&](TestGraph& g, ValueId x) {
          Attributes a;
          if (alpha != 1.0f) a.set_float("alpha", alpha);
          return g.op("Swish", {x}, a);
        },
        alpha == 1.0f ? "Swish" : "Swish alpha 0.6", 1, "QuickGelu");
  }
}

// torch's export of nn.Hardswish below opset 14: x * HardSigmoid(x, alpha 1/6), either operand
// order, beta left at its default 0.5 or written out.
TEST(FuseGelu, FiresOnHardSwish) {
  for (const bool hs_first : {false, true}) {
    for (const bool beta : {false, true}) {
      check(
          [&](TestGraph& g, ValueId x) {
            Attributes a;
            a.set_float("alpha", 1.0f / 6.0f);
            if (beta) a.set_float("beta", 0.5f);
            const ValueId h = g.op("HardSigmoid", {x}, a);
            return hs_first ? g.op("Mul", {h, x}) : g.op("Mul", {x, h});
          },
          hs_first ? "HardSigmoid(x)*x" : "x*HardSigmoid(x)", 1, "HardSwish");
    }
  }
  // HardSigmoid's own defaults (alpha 0.2): not HardSwish.
  check(
      [](TestGraph& g, ValueId x) {
        return g.op("Mul", {x, g.op("HardSigmoid", {x})});
      },
      "alpha 0.2", 0);
}

TEST(FuseGelu, DeclinesLookAlikes) {
  check(
      [](TestGraph& g, ValueId x) {
        return g.op("Mul", {g.op("Mul", {x, erf_plus_one(g, x, false, false)}), k(g, 0.6)});
      },
      "0.6 instead of 0.5", 0);
  check(
      [](TestGraph& g, ValueId x) {
        const ValueId e = g.op("Erf", {g.op("Div", {x, k(g, 1.5)})});
        return g.op("Mul", {g.op("Mul", {x, g.op("Add", {e, k(g, 1.0)})}), k(g, 0.5)});
      },
      "Div by 1.5", 0);
  check([](TestGraph& g, ValueId x) { return tanh_gelu(g, x, true, 0.05); }, "0.05 cube coef", 0);
  check([](TestGraph& g, ValueId x) { return quick_gelu(g, x, 1.0); }, "SiLU", 0);
  // The erf output also feeds the graph output: it cannot be absorbed.
  check(
      [](TestGraph& g, ValueId x) {
        const ValueId one_plus = erf_plus_one(g, x, false, false);
        const ValueId y = g.op("Mul", {g.op("Mul", {x, one_plus}), k(g, 0.5)});
        return g.op("Add", {y, one_plus});
      },
      "1+erf read elsewhere", 0);
  // x * 0.5 * (1 + erf(y / sqrt2)) with y != x.
  check(
      [](TestGraph& g, ValueId x) {
        const ValueId y = g.op("Neg", {x});
        return g.op("Mul", {g.op("Mul", {x, erf_plus_one(g, y, false, false)}), k(g, 0.5)});
      },
      "erf of another value", 0);
}

TEST(FuseGelu, FusesFixtureActivations) {
  struct Case {
    const char* fixture;
    const char* op;  // the op that must be gone
  };
  for (const Case& c :
       {Case{"hf_vit_eager_ts17", "Erf"}, Case{"hf_siglip_vision_eager_ts17", "Tanh"},
        Case{"hf_clip_text_eager_ts17", "Sigmoid"}, Case{"timm_vit_tiny_unfused_ts13", "Erf"}}) {
    SCOPED_TRACE(c.fixture);
    const std::string path =
        std::string(VITRT_SOURCE_DIR) + "/tests/golden/" + c.fixture + "/model.onnx";
    auto graph = import_and_prepare(path, BuildOptions{}, nullptr);
    ASSERT_TRUE(graph.ok()) << graph.status().message();
    EXPECT_EQ(count_ops(*graph, c.op), 0);
  }
}

}  // namespace
}  // namespace vitrt

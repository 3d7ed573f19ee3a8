// Engine::load_plan end to end with the real op registries: a graph built in C++ is
// shape-inferred, written as a plan, memory-mapped back and run; the result is checked against
// a float64 loop. Skipped until the MatMul/Add/Relu families are registered.
#include <gtest/gtest.h>

#include <cstdio>

#include "cpu/cpu_kernel.h"
#include "ir/op_schema.h"
#include "plan/plan_format.h"
#include "testing/compare.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

bool have_ops() {
  for (const char* op : {"MatMul", "Add", "Relu"}) {
    if (OpRegistry::global().find("", op) == nullptr ||
        CpuKernelRegistry::global().find("", op) == nullptr) {
      return false;
    }
  }
  return true;
}

// y = Relu(x @ w + b), x: [batch, 7], w: [7, 5], b: [5]
Graph mlp_graph(const Tensor& w, const Tensor& b) {
  Graph g;
  g.name = "mlp";
  g.opset_imports[""] = 17;
  Value x;
  x.name = "x";
  x.dtype = DType::kFloat32;
  x.has_shape = true;
  x.shape = {Dim::symbol("batch"), Dim(7)};
  const ValueId xi = g.add_value(x);
  const ValueId wi = g.add_constant("w", w);
  const ValueId bi = g.add_constant("b", b);
  auto plain = [&](const std::string& name) {
    Value v;
    v.name = name;
    return g.add_value(v);
  };
  const ValueId mm = plain("mm");
  const ValueId biased = plain("biased");
  const ValueId y = plain("y");
  auto node = [&](const std::string& name, const std::string& op, std::vector<ValueId> in,
                  ValueId out) {
    Node n;
    n.name = name;
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = {out};
    g.add_node(n);
  };
  node("matmul", "MatMul", {xi, wi}, mm);
  node("add", "Add", {mm, bi}, biased);
  node("relu", "Relu", {biased}, y);
  g.inputs = {xi};
  g.outputs = {y};
  return g;
}

TEST(EngineTest, PlanRunsAndMatchesReference) {
  if (!have_ops()) GTEST_SKIP() << "MatMul/Add/Relu not registered yet";
  const Tensor w = testing::random_tensor(DType::kFloat32, {7, 5}, 1);
  const Tensor b = testing::random_tensor(DType::kFloat32, {5}, 2);
  Graph g = mlp_graph(w, b);
  ASSERT_TRUE(infer_shapes(g).ok());
  PlanMetadata m;
  m.vitrt_version = "test";
  const std::string path = ::testing::TempDir() + "/engine_mlp.plan";
  ASSERT_TRUE(write_plan_file(path, g, m).ok());

  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(path);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  ASSERT_EQ((*engine)->outputs().size(), 1u);
  EXPECT_EQ((*engine)->outputs()[0].dims, (std::vector<std::string>{"batch", "5"}));

  for (int64_t batch : {1, 3}) {
    const Tensor x = testing::random_tensor(DType::kFloat32, {batch, 7}, 10 + batch);
    Result<std::vector<NamedTensor>> out = (*engine)->create_context()->run({{"x", x}});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    Tensor expected = Tensor::empty(DType::kFloat32, {batch, 5});
    for (int64_t r = 0; r < batch; ++r) {
      for (int64_t c = 0; c < 5; ++c) {
        double acc = b.data<float>()[c];
        for (int64_t k = 0; k < 7; ++k) {
          acc += static_cast<double>(x.data<float>()[r * 7 + k]) * w.data<float>()[k * 5 + c];
        }
        expected.data<float>()[r * 5 + c] = static_cast<float>(acc > 0 ? acc : 0);
      }
    }
    EXPECT_TRUE(testing::tensors_close(out->at(0).tensor, expected, {1e-5, 1e-6}));
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace vitrt

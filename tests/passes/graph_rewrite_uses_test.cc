// Uses: the consumer lists it keeps through replace / take_over / remove_node / inputs_changed
// equal a fresh scan of the graph (Graph::consumers) after each edit, and the edits do to the
// graph what replace_uses and take_over do.
#include <algorithm>

#include "passes/graph_rewrite.h"
#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::TestGraph;

// Every value's list, sorted, against a fresh scan.
void expect_current(const Graph& graph, const Uses& uses) {
  const std::vector<std::vector<NodeId>> fresh = graph.consumers();
  for (size_t v = 0; v < fresh.size(); ++v) {
    std::vector<NodeId> kept = uses.of(static_cast<ValueId>(v));
    std::vector<NodeId> want = fresh[v];
    std::sort(kept.begin(), kept.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(kept, want) << "value '" << graph.values[v].name << "'";
  }
  EXPECT_TRUE(uses.verify().ok()) << uses.verify().to_string();
}

NodeId producer_id(const Graph& graph, ValueId v) {
  return static_cast<NodeId>(producer_of(graph, v) - graph.nodes.data());
}

TEST(Uses, EditsKeepTheListsEqualToAFreshScan) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {2, 3});
  const ValueId a = g.op("Relu", {x});
  const ValueId b = g.op("Neg", {x});
  const ValueId sum = g.op("Add", {a, a});  // reads `a` twice
  const ValueId prod = g.op("Mul", {a, b});
  const ValueId out = g.op("Sub", {sum, prod});
  g.output(out);
  g.output(a);
  ASSERT_TRUE(g.infer().ok());
  Graph& graph = g.graph();
  Uses uses(graph);
  EXPECT_EQ(uses.of(a).size(), 3u);  // Add twice, Mul once
  expect_current(graph, uses);

  // Every reader of `a` (the Add's two slots included) and the graph output move to `b`.
  const std::string a_name = graph.values[a].name;
  uses.replace(graph, a, b);
  expect_current(graph, uses);
  EXPECT_TRUE(uses.of(a).empty());
  EXPECT_EQ(uses.of(b).size(), 4u);
  EXPECT_EQ(graph.outputs[1], b);
  EXPECT_EQ(graph.values[b].name, a_name);  // the output keeps its name

  // A node is dropped from its inputs' lists, once per slot.
  const NodeId add_id = producer_id(graph, sum);
  uses.remove_node(graph, add_id);
  EXPECT_TRUE(graph.nodes[add_id].dead);
  expect_current(graph, uses);
  EXPECT_EQ(uses.of(b).size(), 2u);

  // Inputs rewritten in place, a new value (added after the lists were built) among them.
  const ValueId c = g.constant("c", Tensor::from_float({1.0f}));
  const NodeId mul_id = producer_id(graph, prod);
  const std::vector<ValueId> old_inputs = graph.nodes[mul_id].inputs;
  graph.nodes[mul_id].inputs = {x, c};
  uses.inputs_changed(mul_id, old_inputs);
  expect_current(graph, uses);
  ASSERT_NE(uses.single_consumer(c), nullptr);
  EXPECT_EQ(uses.single_consumer(c), &graph.nodes[mul_id]);

  // take_over: the target takes the replaced value's dtype and shape too.
  const ValueId d = g.op("Relu", {x});
  uses.inputs_changed(producer_id(graph, d), {});  // a node added after the lists were built
  expect_current(graph, uses);
  graph.values[d].has_shape = false;
  uses.take_over(graph, prod, d);
  expect_current(graph, uses);
  EXPECT_TRUE(graph.values[d].has_shape);
  EXPECT_EQ(producer_of(graph, out)->inputs[1], d);
}

TEST(Uses, VerifyNamesAValueWhoseListWentStale) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {4});
  const ValueId y = g.op("Relu", {x});
  g.output(g.op("Neg", {y}));
  Graph& graph = g.graph();
  Uses uses(graph);
  // An edit behind the lists' back: the Neg now reads x.
  producer_of(graph, graph.outputs[0])->inputs[0] = x;
  const Status s = uses.verify();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("consumer list"), std::string::npos) << s.to_string();
}

}  // namespace
}  // namespace vitrt

// Graph's name lookups stay right while passes add values and nodes after a lookup (they are
// kept up to date rather than rebuilt per lookup), and after compact().
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "ir/graph.h"
#include "passes/graph_rewrite.h"

namespace vitrt {
namespace {

TEST(GraphNames, ValueLookupsSeeValuesAddedAfterThem) {
  Graph g;
  const ValueId a = g.add_constant("w", Tensor::from_float({1.0f}));
  ASSERT_EQ(g.find_value("w"), a);  // builds the index
  EXPECT_EQ(g.unique_value_name("w"), "w_1");
  const ValueId b = g.add_constant(g.unique_value_name("w"), Tensor::from_float({2.0f}));
  EXPECT_EQ(g.values[b].name, "w_1");
  EXPECT_EQ(g.find_value("w_1"), b);
  EXPECT_EQ(g.unique_value_name("w"), "w_2");
  // A duplicate name keeps resolving to its first value, as a rebuilt index would.
  g.add_constant("w", Tensor::from_float({3.0f}));
  EXPECT_EQ(g.find_value("w"), a);
  g.rename_value(a, "renamed");
  EXPECT_EQ(g.find_value("renamed"), a);
  EXPECT_EQ(g.find_value("w_1"), b);
}

TEST(GraphNames, NodeNamesStayUniqueAcrossThousandsOfAdds) {
  Graph g;
  const ValueId x = g.add_constant("x", Tensor::from_float({1.0f}));
  std::set<std::string> names;
  for (int i = 0; i < 3000; ++i) {
    const NodeId id = add_node(g, "", "Relu", i % 2 == 0 ? "step" : "/rnn/step", {x}, {"y"});
    EXPECT_TRUE(names.insert(g.nodes[id].name).second) << g.nodes[id].name;
  }
  EXPECT_EQ(g.unique_node_name("step"), "step_1500");
  EXPECT_EQ(g.nodes[2].name, "step_1");
  EXPECT_EQ(g.find_value("y_2999").has_value(), true);
  // compact() drops dead nodes: their names are free again.
  remove_nodes(g, {0});
  g.compact();
  EXPECT_EQ(g.unique_node_name("step"), "step");
}

}  // namespace
}  // namespace vitrt

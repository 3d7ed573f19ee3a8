// lower_einsum: every lowered equation computes what a float64 loop over all label values
// computes (batch, contracted, one-sided and summed labels, outer products, implicit outputs,
// opset 12's attribute axes); equations it cannot lower are refused with the node named.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "run_pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

// The reference: out[o] = sum over every assignment of the labels of prod_k in_k[...].
Tensor reference_einsum(const std::vector<std::string>& terms, const std::string& out,
                        const std::vector<Tensor>& in, const std::map<char, int64_t>& sizes) {
  std::vector<int64_t> out_shape;
  for (char l : out) out_shape.push_back(sizes.at(l));
  std::vector<char> labels;  // those of the equation
  for (const auto& [l, n] : sizes) {
    bool used = false;
    for (const std::string& t : terms) used |= t.find(l) != std::string::npos;
    if (used) labels.push_back(l);
  }
  std::vector<double> acc(static_cast<size_t>(Tensor::zeros(DType::kFloat32, out_shape).numel()));
  std::map<char, int64_t> at;
  for (char l : labels) at[l] = 0;
  auto flat = [&](const std::string& t, const std::vector<int64_t>& shape) {
    int64_t e = 0;
    for (size_t i = 0; i < t.size(); ++i) e = e * shape[i] + at[t[i]];
    return e;
  };
  while (true) {
    double p = 1.0;
    for (size_t k = 0; k < terms.size(); ++k) {
      p *= in[k].data<float>()[flat(terms[k], in[k].shape())];
    }
    acc[static_cast<size_t>(flat(out, out_shape))] += p;
    size_t i = 0;
    for (; i < labels.size(); ++i) {
      if (++at[labels[i]] < sizes.at(labels[i])) break;
      at[labels[i]] = 0;
    }
    if (i == labels.size()) break;
  }
  Tensor r = Tensor::zeros(DType::kFloat32, out_shape);
  for (size_t e = 0; e < acc.size(); ++e) r.data<float>()[e] = static_cast<float>(acc[e]);
  return r;
}

struct Case {
  std::string equation;
  std::vector<std::string> terms;
  std::string out;  // the explicit or implied output
};

void check(const Case& c, int64_t opset) {
  SCOPED_TRACE(c.equation + " at opset " + std::to_string(opset));
  const std::map<char, int64_t> sizes = {{'b', 2}, {'c', 3}, {'h', 2}, {'i', 3}, {'j', 4}, {'k', 5},
                                         {'l', 2}, {'q', 3}, {'d', 4}, {'w', 3}, {'y', 2}};
  TestGraph g(opset);
  std::vector<ValueId> ins;
  std::vector<Tensor> feeds;
  for (size_t k = 0; k < c.terms.size(); ++k) {
    std::vector<int64_t> shape;
    SymShape sym;
    for (char l : c.terms[k]) {
      shape.push_back(sizes.at(l));
      sym.push_back(Dim(sizes.at(l)));
    }
    // A symbolic leading batch label, as exports have.
    if (!c.terms[k].empty() && c.terms[k][0] == 'b') sym[0] = Dim::symbol("batch");
    ins.push_back(g.input("x" + std::to_string(k), DType::kFloat32, sym));
    feeds.push_back(testing::random_tensor(DType::kFloat32, shape, 11 + k));
  }
  Attributes a;
  a.set_string("equation", c.equation);
  g.output(g.op("Einsum", ins, a, "", "/blocks.0/attn/Einsum"));
  testing::PassResult r = testing::run_pass(lower_einsum, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(testing::count_ops(g.graph(), "Einsum"), 0);
  auto outs = testing::run_graph(g.graph(), feeds);
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  EXPECT_TRUE(testing::tensors_close((*outs)[0], reference_einsum(c.terms, c.out, feeds, sizes),
                                     {1e-5, 1e-5}));
}

TEST(LowerEinsum, MatchesTheFloat64Loop) {
  const Case cases[] = {
      {"bhwc,hkc->bhwk", {"bhwc", "hkc"}, "bhwk"},      // SAM's relative position bias
      {"byhwc,hkc->byhwk", {"byhwc", "hkc"}, "byhwk"},  // MViTv2's
      {"ij,jk->ik", {"ij", "jk"}, "ik"},
      {"bij,bjk->bik", {"bij", "bjk"}, "bik"},
      {"bhqd,bhkd->bhqk", {"bhqd", "bhkd"}, "bhqk"},
      {"i,j->ij", {"i", "j"}, "ij"},          // no contraction: outer product
      {"bcij,cj->bi", {"bcij", "cj"}, "bi"},  // two contracted labels
      {"ijk,jl->il", {"ijk", "jl"}, "il"},    // k summed in one operand only
      {"ij,ij->ij", {"ij", "ij"}, "ij"},      // elementwise: no M, no N
      {"ik, kj", {"ik", "kj"}, "ij"},         // implicit output, spaces
      {"kj,ik->ij", {"kj", "ik"}, "ij"},      // M from the second operand's order
      {"ij->ji", {"ij"}, "ji"},
      {"ijk->ki", {"ijk"}, "ki"},
  };
  for (const Case& c : cases) {
    check(c, 17);
    check(c, 12);
  }
}

TEST(LowerEinsum, RefusesWhatItCannotLowerNamingTheNode) {
  const std::pair<std::string, std::string> cases[] = {
      {"ii->i", "diagonal"},
      {"...ij,...jk->...ik", "ellipsis"},
      {"ij,jk,kl->il", "3 operands"},
  };
  for (const auto& [equation, reason] : cases) {
    TestGraph g;
    std::vector<ValueId> ins;
    const size_t n = static_cast<size_t>(std::count(equation.begin(), equation.end(), ',')) + 1;
    for (size_t k = 0; k < n; ++k) {
      ins.push_back(g.input("x" + std::to_string(k), DType::kFloat32, {Dim(3), Dim(3)}));
    }
    Attributes a;
    a.set_string("equation", equation);
    g.output(g.op("Einsum", ins, a, "", "/blocks.0/attn/Einsum"));
    PassContext ctx(false, nullptr);
    Status s = lower_einsum(g.graph(), ctx);
    ASSERT_FALSE(s.ok()) << equation;
    EXPECT_NE(s.message().find("/blocks.0/attn/Einsum"), std::string::npos) << s.to_string();
    EXPECT_NE(s.message().find(reason), std::string::npos) << s.to_string();
  }
}

}  // namespace
}  // namespace vitrt

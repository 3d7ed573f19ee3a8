// Symbolic dimension arithmetic: integer polynomials over named symbols.
#include "core/dim.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>

namespace vitrt {
namespace {

TEST(Dim, StaticArithmetic) {
  EXPECT_TRUE((Dim(6) * Dim(7)).same_as(Dim(42)));
  EXPECT_TRUE((Dim(42) / Dim(7)).same_as(Dim(6)));
  EXPECT_FALSE((Dim(42) / Dim(5)).is_known());
  EXPECT_EQ((Dim(3) + Dim(4)).value(), 7);
  EXPECT_TRUE(Dim(0).is_static());
  EXPECT_EQ(Dim(0).to_string(), "0");
}

TEST(Dim, SymbolicProductsAndQuotients) {
  const Dim b = Dim::symbol("batch");
  const Dim flat = b * Dim(197);
  EXPECT_EQ(flat.to_string(), "197*batch");
  EXPECT_TRUE((flat / Dim(197)).same_as(b));
  EXPECT_TRUE((flat / b).same_as(Dim(197)));
  EXPECT_FALSE((flat / Dim(2)).is_known());
  EXPECT_FALSE((b / Dim::symbol("seq")).is_known());
  EXPECT_EQ(flat.evaluate({{"batch", 3}}).value(), 591);
}

TEST(Dim, SumsAreCanonicalPolynomials) {
  const Dim b = Dim::symbol("b"), h = Dim::symbol("h"), w = Dim::symbol("w");
  EXPECT_TRUE((b + b).same_as(Dim(2) * b));
  EXPECT_TRUE((b + Dim(0)).same_as(b));
  const Dim tokens = h * w + Dim(5);
  EXPECT_TRUE(tokens.is_symbolic());
  EXPECT_EQ(tokens.to_string(), "h*w+5");
  EXPECT_TRUE(tokens.same_as(Dim(5) + w * h));
  EXPECT_FALSE(tokens.same_as(h * w + Dim(1)));
  EXPECT_EQ((Dim(2) * b * tokens - Dim(8) * b).to_string(), "2*b*h*w+2*b");
  EXPECT_EQ((Dim(1) - h).to_string(), "-h+1");
  EXPECT_TRUE(((b + h) - h).same_as(b));
  EXPECT_TRUE((tokens - tokens).same_as(Dim(0)));
  EXPECT_EQ(tokens.symbols(), (std::set<std::string>{"h", "w"}));
  EXPECT_EQ(tokens.evaluate({{"h", 32}, {"w", 24}}).value(), 32 * 24 + 5);
  EXPECT_FALSE(tokens.evaluate({{"h", 32}}).has_value());
  EXPECT_FALSE(Dim::unknown().same_as(Dim::unknown()));
  EXPECT_FALSE((tokens + Dim::unknown()).is_known());
}

TEST(Dim, ExactDivisionOfSums) {
  const Dim b = Dim::symbol("b"), h = Dim::symbol("h"), w = Dim::symbol("w");
  const Dim tokens = h * w + Dim(5);
  // Flattening batch and tokens, then splitting them again (the attention reshapes).
  const Dim rows = b * tokens;
  EXPECT_TRUE((rows / b).same_as(tokens));
  EXPECT_TRUE((rows / tokens).same_as(b));
  EXPECT_TRUE((tokens / tokens).same_as(Dim(1)));
  EXPECT_TRUE(((Dim(12) * rows) / (Dim(4) * b)).same_as(Dim(3) * tokens));
  EXPECT_TRUE(((h + w) * (h - w) / (h - w)).same_as(h + w));
  EXPECT_FALSE((tokens / h).is_known());
  EXPECT_FALSE((tokens / Dim(2)).is_known());
  EXPECT_FALSE((rows / (h * w + Dim(1))).is_known());
  EXPECT_FALSE((tokens / Dim(0)).is_known());
}

TEST(Dim, FloorDivisionNamesTheRemainder) {
  const Dim h = Dim::symbol("height"), w = Dim::symbol("width");
  // Exact: no new symbol.
  EXPECT_TRUE((Dim(16) * h).floor_div(16).same_as(h));
  // height // 16 stays a symbol division: exact division of the symbol is still unknown.
  EXPECT_FALSE((h / Dim(16)).is_known());
  const Dim rows = h.floor_div(16);
  EXPECT_EQ(rows.to_string(), "(height//16)");
  // Conv's (H - 16) // 16 + 1 with kernel == stride is the same H // 16.
  EXPECT_TRUE(((h - Dim(16)).floor_div(16) + Dim(1)).same_as(rows));
  EXPECT_TRUE((Dim(32) * w + h).floor_div(16).same_as(Dim(2) * w + rows));
  EXPECT_EQ((h + Dim(3)).floor_div(8).to_string(), "((height+3)//8)");
  EXPECT_EQ(rows.evaluate({{"height", 47}}).value(), 2);
  EXPECT_EQ((rows * w.floor_div(16) + Dim(1)).evaluate({{"height", 518}, {"width", 224}}).value(),
            32 * 14 + 1);
  // A binding of the division's own symbol wins (probing shape arithmetic by it).
  EXPECT_EQ(rows.evaluate({{"(height//16)", 5}}).value(), 5);
  EXPECT_FALSE(h.floor_div(0).is_known());
}

TEST(Dim, ParsesExporterDimParams) {
  const Dim h8 = Dim::symbol("height").floor_div(8), w8 = Dim::symbol("width").floor_div(8);
  const std::optional<Dim> tokens = Dim::parse("((width//8))*((height//8)) + 1");
  ASSERT_TRUE(tokens.has_value());
  EXPECT_TRUE(tokens->same_as(h8 * w8 + Dim(1)));
  EXPECT_EQ(tokens->to_string(), "(height//8)*(width//8)+1");
  const std::optional<Dim> s = Dim::parse("s1*s2 + 5");
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->same_as(Dim::symbol("s1") * Dim::symbol("s2") + Dim(5)));
  EXPECT_TRUE(Dim::parse("batch")->same_as(Dim::symbol("batch")));
  EXPECT_TRUE(Dim::parse("2*(b - 1) + -3")->same_as(Dim(2) * Dim::symbol("b") - Dim(5)));
  EXPECT_TRUE(Dim::parse("197")->same_as(Dim(197)));
  // Calls the grammar has no arithmetic for are symbols named by their text, so that the
  // terms around them still cancel.
  const std::optional<Dim> call = Dim::parse("-Max(1, s0)*s1 + s1*Max(1, s0) + 3");
  ASSERT_TRUE(call.has_value());
  EXPECT_TRUE(call->same_as(Dim(3)));
  EXPECT_TRUE(Dim::parse("Max(1, s0)")->same_as(Dim::symbol("Max(1, s0)")));
  for (const char* bad : {"", "s0 +", "Max(1, s0", "s0/2", "s0//0", "s0 ** 2", "(s0", "s0)",
                          "99999999999999999999", "s0 $ 1"}) {
    EXPECT_FALSE(Dim::parse(bad).has_value()) << bad;
  }
  EXPECT_FALSE(Dim::parse(std::string(1000, '(') + "b" + std::string(1000, ')')).has_value());
}

TEST(Dim, OverflowBecomesUnknown) {
  const Dim big(int64_t{1} << 62);
  EXPECT_FALSE((big * Dim(4)).is_known());
  EXPECT_FALSE((big + big).is_known());
  EXPECT_FALSE((Dim::symbol("b") * big * Dim(4)).is_known());
  EXPECT_FALSE((Dim::symbol("b") * big).evaluate({{"b", 8}}).has_value());
}

// Random expressions over three symbols, each a Dim and an independent reference: the same
// tree evaluated on integers.
struct Expr {
  std::function<Dim()> dim;
  std::function<int64_t(const std::map<std::string, int64_t>&)> value;
  std::string text;
};

Expr random_expr(std::mt19937& rng, int depth) {
  const char* names[] = {"b", "h", "w"};
  std::uniform_int_distribution<int> pick(0, depth <= 0 ? 1 : 4);
  switch (pick(rng)) {
    case 0: {
      const int64_t c = std::uniform_int_distribution<int64_t>(-3, 6)(rng);
      return {[c] { return Dim(c); }, [c](const auto&) { return c; }, std::to_string(c)};
    }
    case 1: {
      const std::string s = names[std::uniform_int_distribution<int>(0, 2)(rng)];
      return {[s] { return Dim::symbol(s); }, [s](const auto& b) { return b.at(s); }, s};
    }
    default: {
      const Expr a = random_expr(rng, depth - 1), b = random_expr(rng, depth - 1);
      const int op = std::uniform_int_distribution<int>(0, 2)(rng);
      const char* sym[] = {"+", "-", "*"};
      return {[a, b, op] {
                const Dim x = a.dim(), y = b.dim();
                return op == 0 ? x + y : op == 1 ? x - y : x * y;
              },
              [a, b, op](const auto& m) {
                const int64_t x = a.value(m), y = b.value(m);
                return op == 0 ? x + y : op == 1 ? x - y : x * y;
              },
              "(" + a.text + sym[op] + b.text + ")"};
    }
  }
}

int64_t floor_div_ref(int64_t a, int64_t k) {
  return a >= 0 ? a / k : -((-a + k - 1) / k);
}

TEST(Dim, AgreesWithIntegerEvaluationAtRandomBindings) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> value(0, 40);
  int exact_quotients = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const Expr e = random_expr(rng, 3), f = random_expr(rng, 2);
    const Dim d = e.dim(), g = f.dim();
    ASSERT_TRUE(d.is_known()) << e.text;
    // The text form reads back as the same canonical polynomial.
    const std::optional<Dim> reparsed = Dim::parse(d.to_string());
    ASSERT_TRUE(reparsed && reparsed->same_as(d)) << e.text << " -> " << d.to_string();
    // Canonical form: commuted and distributed forms are the same Dim.
    EXPECT_TRUE((d * g).same_as(g * d)) << e.text << " " << f.text;
    EXPECT_TRUE(((d + g) * g).same_as(d * g + g * g)) << e.text << " " << f.text;
    const Dim product = d * g;
    const Dim quotient = product / g;
    if (!g.same_as(Dim(0))) {
      ASSERT_TRUE(quotient.same_as(d)) << e.text << " * " << f.text << " / " << f.text;
      ++exact_quotients;
    }
    const int64_t k = std::uniform_int_distribution<int64_t>(1, 9)(rng);
    const Dim floored = d.floor_div(k);
    ASSERT_TRUE(floored.is_known());
    for (int i = 0; i < 8; ++i) {
      const std::map<std::string, int64_t> at = {
          {"b", value(rng)}, {"h", value(rng)}, {"w", value(rng)}};
      const int64_t x = e.value(at), y = f.value(at);
      ASSERT_EQ(d.evaluate(at).value(), x) << e.text << " = " << d.to_string();
      ASSERT_EQ((d + g).evaluate(at).value(), x + y);
      ASSERT_EQ((d - g).evaluate(at).value(), x - y);
      ASSERT_EQ(product.evaluate(at).value(), x * y);
      ASSERT_EQ(floored.evaluate(at).value(), floor_div_ref(x, k))
          << e.text << " // " << k << " = " << floored.to_string();
      // A quotient that is known is exact at every binding.
      const Dim q = d / g;
      if (q.is_known()) {
        ASSERT_EQ(q.evaluate(at).value() * y, x) << e.text << " / " << f.text;
      }
    }
  }
  EXPECT_GT(exact_quotients, 300);
}

}  // namespace
}  // namespace vitrt

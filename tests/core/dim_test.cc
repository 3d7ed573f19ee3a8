// Symbolic dimension arithmetic.
#include "core/dim.h"

#include <gtest/gtest.h>

namespace vitrt {
namespace {

TEST(Dim, StaticArithmetic) {
  EXPECT_TRUE((Dim(6) * Dim(7)).same_as(Dim(42)));
  EXPECT_TRUE((Dim(42) / Dim(7)).same_as(Dim(6)));
  EXPECT_FALSE((Dim(42) / Dim(5)).is_known());
  EXPECT_EQ((Dim(3) + Dim(4)).value(), 7);
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

TEST(Dim, SumsOfUnlikeTermsAreUnknown) {
  const Dim b = Dim::symbol("batch");
  EXPECT_TRUE((b + b).same_as(Dim(2) * b));
  EXPECT_FALSE((b + Dim(1)).is_known());
  EXPECT_TRUE((b + Dim(0)).same_as(b));
  EXPECT_FALSE(Dim::unknown().same_as(Dim::unknown()));
}

}  // namespace
}  // namespace vitrt

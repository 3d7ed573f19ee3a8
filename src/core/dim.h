// Dim and SymShape: tensor dimensions that may be symbolic.
//
// A Dim is either unknown, or a monomial `coef * s1 * s2 ...` over named symbols ("batch",
// "height"). Monomials cover what vision-transformer exports do to shapes (flatten batch and
// tokens together, split heads, patchify) while keeping equality decidable: two Dims are equal
// when their canonical forms are. Sums of symbolic terms do not fit a monomial and become
// unknown, which is always safe: code that needs a fact about a dim checks it is known.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vitrt {

class Dim {
 public:
  Dim() = default;  // unknown
  Dim(int64_t value) : known_(true), coef_(value) {}  // NOLINT: implicit from an integer
  static Dim symbol(const std::string& name);
  static Dim unknown() { return Dim(); }

  bool is_known() const { return known_; }                   // concrete or symbolic monomial
  bool is_static() const { return known_ && syms_.empty(); }  // a concrete integer
  bool is_symbolic() const { return known_ && !syms_.empty(); }
  // The integer value; only meaningful when is_static().
  int64_t value() const { return coef_; }

  // Exact products and quotients; unknown when the quotient is not a monomial.
  Dim operator*(const Dim& other) const;
  Dim operator/(const Dim& other) const;
  // Sum: exact for statics, for like monomials (2*b + b = 3*b), and x + 0; else unknown.
  Dim operator+(const Dim& other) const;
  Dim operator-(const Dim& other) const;

  // Structural equality of known dims. Unknown dims are equal to nothing, themselves included.
  bool same_as(const Dim& other) const;
  bool operator==(const Dim& other) const { return same_as(other); }
  bool operator!=(const Dim& other) const { return !same_as(other); }

  // "197", "batch", "batch*197", "12*batch", "?".
  std::string to_string() const;
  // Evaluates under concrete bindings of the symbols; nullopt if unknown or unbound.
  std::optional<int64_t> evaluate(const std::map<std::string, int64_t>& bindings) const;
  const std::map<std::string, int>& symbols() const { return syms_; }
  int64_t coefficient() const { return coef_; }

 private:
  bool known_ = false;
  int64_t coef_ = 0;
  std::map<std::string, int> syms_;  // symbol -> positive exponent
};

using SymShape = std::vector<Dim>;

std::string sym_shape_to_string(const SymShape& shape);
SymShape sym_shape_from_static(const std::vector<int64_t>& shape);
// The concrete shape if every dim is static.
std::optional<std::vector<int64_t>> sym_shape_to_static(const SymShape& shape);
// Product of dims (Dim(1) for a scalar).
Dim sym_shape_numel(const SymShape& shape);

}  // namespace vitrt

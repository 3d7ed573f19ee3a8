// Dim and SymShape: tensor dimensions that may be symbolic.
//
// A Dim is either unknown, or an integer polynomial over named symbols ("batch", "height"): a
// sum of monomials `coef * s1 * s2 ...` with nonzero integer coefficients, like `h*w+5` (the
// token count of a ViT at dynamic height and width: patches, class token and registers) or
// `2*b*h*w+2*b`. Kept in canonical form (like terms merged, zero terms dropped), so equality
// is decidable: two Dims are equal when their canonical forms are.
//
// Floor division by a positive constant that does not divide exactly (a Conv or Patchify output
// `height // 16`) becomes a new symbol named by the division, "(height//16)", whose value
// evaluate() derives from its operand; before that, the exact part is pulled out, so
// (16*h + x) // 16 is h + (x//16). Whatever cannot be kept exactly (a quotient that is not a
// polynomial, a coefficient overflow) becomes unknown, which is always safe: code that needs a
// fact about a dim checks it is known.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace vitrt {

class Dim {
 public:
  // The symbols of one term with their positive exponents; empty for the constant term.
  using Monomial = std::map<std::string, int>;
  // Monomial -> nonzero coefficient.
  using Terms = std::map<Monomial, int64_t>;

  Dim() = default;     // unknown
  Dim(int64_t value);  // NOLINT: implicit from an integer
  static Dim symbol(const std::string& name);
  static Dim unknown() { return Dim(); }
  // Parses the text form: integers, symbols, + - *, parentheses, and `//` by a positive
  // integer (what to_string writes, and what the dynamo exporter writes as value_info dim
  // params: "((width//8))*((height//8)) + 1", "s1*s2 + 5"); a call such as "Max(1, s0)" is
  // one symbol named by its text. nullopt when the text is not such an expression.
  static std::optional<Dim> parse(std::string_view text);

  bool is_known() const { return known_; }  // concrete or symbolic
  bool is_static() const;                   // a concrete integer
  bool is_symbolic() const { return known_ && !is_static(); }
  // The integer value; only meaningful when is_static().
  int64_t value() const;
  // The canonical terms (empty for 0 and for unknown).
  const Terms& terms() const { return terms_; }
  // Every symbol that occurs in some term.
  std::set<std::string> symbols() const;

  // Exact products and quotients; unknown when the quotient is not a polynomial.
  Dim operator*(const Dim& other) const;
  Dim operator/(const Dim& other) const;
  Dim operator+(const Dim& other) const;
  Dim operator-(const Dim& other) const;
  // Floor division by a positive integer: exact when it divides every coefficient, else the
  // exact part plus a "(rest//divisor)" symbol. Unknown for divisor <= 0.
  Dim floor_div(int64_t divisor) const;

  // Structural equality of known dims. Unknown dims are equal to nothing, themselves included.
  bool same_as(const Dim& other) const;
  bool operator==(const Dim& other) const { return same_as(other); }
  bool operator!=(const Dim& other) const { return !same_as(other); }

  // "197", "batch", "197*batch", "(height//8)*(width//8)+1", "?". Terms by falling degree,
  // the constant last.
  std::string to_string() const;
  // Evaluates under concrete bindings of the symbols ("(h//8)" symbols from h's binding when
  // they have none of their own); nullopt if unknown, unbound or overflowing.
  std::optional<int64_t> evaluate(const std::map<std::string, int64_t>& bindings) const;

 private:
  static Dim from_terms(Terms terms);  // known; drops zero coefficients

  bool known_ = false;
  Terms terms_;
};

using SymShape = std::vector<Dim>;

std::string sym_shape_to_string(const SymShape& shape);
SymShape sym_shape_from_static(const std::vector<int64_t>& shape);
// The concrete shape if every dim is static.
std::optional<std::vector<int64_t>> sym_shape_to_static(const SymShape& shape);
// Product of dims (Dim(1) for a scalar).
Dim sym_shape_numel(const SymShape& shape);

}  // namespace vitrt

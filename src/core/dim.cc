// Symbolic dimension arithmetic: integer polynomials over named symbols (see dim.h).
#include "core/dim.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace vitrt {
namespace {

// Bounds that keep arithmetic on hostile or runaway input cheap; real shapes stay far below
// (a ViT's dims have at most a handful of terms of degree 3 or 4).
constexpr size_t kMaxTerms = 64;
constexpr int kMaxDegree = 64;
constexpr int kMaxParseDepth = 64;

int degree(const Dim::Monomial& m) {
  int d = 0;
  for (const auto& [s, e] : m) d += e;
  return d;
}

// Graded lexicographic order (total degree, then exponents over symbols in name order): a
// monomial order, so the leading term of a product is the product of the leading terms.
bool deglex_less(const Dim::Monomial& a, const Dim::Monomial& b) {
  const int da = degree(a), db = degree(b);
  if (da != db) return da < db;
  auto ia = a.begin(), ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) return false;  // a has more
    if (ia == a.end() || ib->first < ia->first) return true;
    if (ia->second != ib->second) return ia->second < ib->second;
    ++ia;
    ++ib;
  }
  return false;
}

std::optional<Dim::Monomial> multiply(const Dim::Monomial& a, const Dim::Monomial& b) {
  Dim::Monomial r = a;
  for (const auto& [s, e] : b) {
    int& x = r[s];
    x += e;
    if (x > kMaxDegree) return std::nullopt;
  }
  return r;
}

// a / b when b's symbols all occur in a with at least b's exponents.
std::optional<Dim::Monomial> divide(const Dim::Monomial& a, const Dim::Monomial& b) {
  Dim::Monomial r = a;
  for (const auto& [s, e] : b) {
    auto it = r.find(s);
    if (it == r.end() || it->second < e) return std::nullopt;
    it->second -= e;
    if (it->second == 0) r.erase(it);
  }
  return r;
}

bool add_into(Dim::Terms& terms, const Dim::Monomial& m, int64_t c) {
  int64_t& x = terms[m];
  if (__builtin_add_overflow(x, c, &x)) return false;
  if (x == 0) terms.erase(m);
  return terms.size() <= kMaxTerms;
}

int64_t floor_quotient(int64_t a, int64_t b) {  // b > 0
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// "(operand//divisor)", the name floor_div gives a symbol: {operand text, divisor}.
std::optional<std::pair<std::string, int64_t>> split_floor_symbol(const std::string& name) {
  if (name.size() < 5 || name.front() != '(' || name.back() != ')') return std::nullopt;
  const size_t slash = name.rfind("//");
  if (slash == std::string::npos || slash < 2) return std::nullopt;
  const std::string digits = name.substr(slash + 2, name.size() - slash - 3);
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::make_pair(name.substr(1, slash - 1), std::stoll(digits));
}

// Recursive-descent parser of Dim::parse's grammar:
//   expr   := term (('+' | '-') term)*
//   term   := factor ('*' factor | '//' integer)*
//   factor := integer | symbol | '(' expr ')' | '-' factor
class DimParser {
 public:
  explicit DimParser(std::string_view text) : text_(text) {}

  std::optional<Dim> parse() {
    std::optional<Dim> d = expr(0);
    skip_space();
    if (!d || pos_ != text_.size() || !d->is_known()) return std::nullopt;
    return d;
  }

 private:
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool eat(std::string_view token) {
    skip_space();
    if (text_.substr(pos_, token.size()) != token) return false;
    pos_ += token.size();
    return true;
  }
  std::optional<int64_t> integer() {
    skip_space();
    const size_t start = pos_;
    int64_t v = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, text_[pos_] - '0', &v)) {
        return std::nullopt;
      }
      ++pos_;
    }
    if (pos_ == start) return std::nullopt;
    return v;
  }
  std::optional<Dim> expr(int depth) {
    std::optional<Dim> d = term(depth);
    while (d) {
      if (eat("+")) {
        std::optional<Dim> t = term(depth);
        if (!t) return std::nullopt;
        d = *d + *t;
      } else if (eat("-")) {
        std::optional<Dim> t = term(depth);
        if (!t) return std::nullopt;
        d = *d - *t;
      } else {
        break;
      }
    }
    return d;
  }
  std::optional<Dim> term(int depth) {
    std::optional<Dim> d = factor(depth);
    while (d) {
      if (eat("//")) {
        std::optional<int64_t> k = integer();
        if (!k || *k <= 0) return std::nullopt;
        d = d->floor_div(*k);
      } else if (eat("*")) {
        std::optional<Dim> f = factor(depth);
        if (!f) return std::nullopt;
        d = *d * *f;
      } else {
        break;
      }
    }
    return d;
  }
  std::optional<Dim> factor(int depth) {
    if (depth > kMaxParseDepth) return std::nullopt;
    skip_space();
    if (pos_ >= text_.size()) return std::nullopt;
    const char c = text_[pos_];
    if (eat("(")) {
      std::optional<Dim> d = expr(depth + 1);
      if (!d || !eat(")")) return std::nullopt;
      return d;
    }
    if (eat("-")) {
      std::optional<Dim> d = factor(depth + 1);
      if (!d) return std::nullopt;
      return Dim(int64_t{0}) - *d;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      std::optional<int64_t> v = integer();
      if (!v) return std::nullopt;
      return Dim(*v);
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const size_t start = pos_;
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                     text_[pos_] == '_' || text_[pos_] == '.')) {
        ++pos_;
      }
      // A call ("CeilToInt(...)", "Max(1, s0)"): one symbol named by its text, so the terms
      // around it stay structured and equal calls cancel.
      if (pos_ < text_.size() && text_[pos_] == '(') {
        for (int open = 0; pos_ < text_.size();) {
          const char x = text_[pos_++];
          open += x == '(' ? 1 : x == ')' ? -1 : 0;
          if (open == 0) return Dim::symbol(std::string(text_.substr(start, pos_ - start)));
        }
        return std::nullopt;
      }
      return Dim::symbol(std::string(text_.substr(start, pos_ - start)));
    }
    return std::nullopt;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

std::string monomial_text(const Dim::Monomial& m) {
  std::string out;
  for (const auto& [s, e] : m) {
    for (int i = 0; i < e; ++i) {
      if (!out.empty()) out += "*";
      out += s;
    }
  }
  return out;
}

}  // namespace

Dim::Dim(int64_t value) : known_(true) {
  if (value != 0) terms_[Monomial{}] = value;
}

Dim Dim::symbol(const std::string& name) {
  Dim d;
  d.known_ = true;
  d.terms_[Monomial{{name, 1}}] = 1;
  return d;
}

Dim Dim::from_terms(Terms terms) {
  Dim d;
  d.known_ = true;
  for (auto it = terms.begin(); it != terms.end();) {
    it = it->second == 0 ? terms.erase(it) : std::next(it);
  }
  d.terms_ = std::move(terms);
  return d;
}

std::optional<Dim> Dim::parse(std::string_view text) {
  return DimParser(text).parse();
}

bool Dim::is_static() const {
  return known_ && (terms_.empty() || (terms_.size() == 1 && terms_.begin()->first.empty()));
}

int64_t Dim::value() const {
  if (terms_.empty() || !terms_.begin()->first.empty()) return 0;
  return terms_.begin()->second;
}

std::set<std::string> Dim::symbols() const {
  std::set<std::string> out;
  for (const auto& [m, c] : terms_) {
    for (const auto& [s, e] : m) out.insert(s);
  }
  return out;
}

Dim Dim::operator*(const Dim& other) const {
  if (!known_ || !other.known_) return Dim();
  Terms r;
  for (const auto& [ma, ca] : terms_) {
    for (const auto& [mb, cb] : other.terms_) {
      int64_t c;
      const std::optional<Monomial> m = multiply(ma, mb);
      if (!m || __builtin_mul_overflow(ca, cb, &c) || !add_into(r, *m, c)) return Dim();
    }
  }
  return from_terms(std::move(r));
}

Dim Dim::operator+(const Dim& other) const {
  if (!known_ || !other.known_) return Dim();
  Terms r = terms_;
  for (const auto& [m, c] : other.terms_) {
    if (!add_into(r, m, c)) return Dim();
  }
  return from_terms(std::move(r));
}

Dim Dim::operator-(const Dim& other) const {
  return *this + other * Dim(-1);
}

// Exact division: long division by leading terms (deglex; for a monomial divisor, term by
// term), which finds the quotient whenever one exists; the product is checked regardless.
Dim Dim::operator/(const Dim& other) const {
  if (!known_ || !other.known_ || other.terms_.empty()) return Dim();
  const auto lead_of = [](const Terms& t) {
    return *std::max_element(t.begin(), t.end(), [](const auto& a, const auto& b) {
      return deglex_less(a.first, b.first);
    });
  };
  const auto [lead_m, lead_c] = lead_of(other.terms_);
  Terms rest = terms_;
  Terms quotient;
  for (size_t step = 0; !rest.empty(); ++step) {
    if (step > kMaxTerms) return Dim();
    const auto [m, c] = lead_of(rest);
    const std::optional<Monomial> qm = divide(m, lead_m);
    if (!qm || (c == INT64_MIN && lead_c == -1) || c % lead_c != 0) return Dim();
    const Dim t = from_terms(Terms{{*qm, c / lead_c}});
    const Dim next = from_terms(rest) - t * other;
    if (!next.is_known() || !add_into(quotient, *qm, c / lead_c)) return Dim();
    rest = next.terms_;
  }
  Dim q = from_terms(std::move(quotient));
  return (q * other).same_as(*this) ? q : Dim();
}

Dim Dim::floor_div(int64_t divisor) const {
  if (!known_ || divisor <= 0) return Dim();
  Terms exact, remainder;
  for (const auto& [m, c] : terms_) {
    const int64_t q = floor_quotient(c, divisor);
    int64_t multiple, rem;
    if (__builtin_mul_overflow(q, divisor, &multiple) ||
        __builtin_sub_overflow(c, multiple, &rem)) {
      return Dim();
    }
    if (q != 0) exact[m] = q;
    if (rem != 0) remainder[m] = rem;
  }
  Dim r = from_terms(std::move(exact));
  if (remainder.empty()) return r;
  const Dim rest = from_terms(std::move(remainder));
  // A constant remainder lies in [0, divisor): its floor quotient is 0.
  if (rest.is_static()) return r;
  // "(h//8)", "((h+3)//8)": parse() reads the name back as this division.
  std::string name = "(";
  if (rest.terms_.size() > 1) name += '(';
  name += rest.to_string();
  if (rest.terms_.size() > 1) name += ')';
  name += "//";
  name += std::to_string(divisor);
  name += ')';
  return r + symbol(name);
}

bool Dim::same_as(const Dim& other) const {
  return known_ && other.known_ && terms_ == other.terms_;
}

std::string Dim::to_string() const {
  if (!known_) return "?";
  if (terms_.empty()) return "0";
  std::vector<std::pair<Monomial, int64_t>> sorted(terms_.begin(), terms_.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return deglex_less(b.first, a.first); });
  std::string out;
  for (const auto& [m, c] : sorted) {
    const bool negative = c < 0;
    // |c| as unsigned text: INT64_MIN has no positive int64_t.
    const uint64_t magnitude =
        negative ? uint64_t{0} - static_cast<uint64_t>(c) : static_cast<uint64_t>(c);
    if (negative) {
      out += "-";
    } else if (!out.empty()) {
      out += "+";
    }
    if (m.empty()) {
      out += std::to_string(magnitude);
    } else {
      if (magnitude != 1) out += std::to_string(magnitude) + "*";
      out += monomial_text(m);
    }
  }
  return out;
}

std::optional<int64_t> Dim::evaluate(const std::map<std::string, int64_t>& bindings) const {
  if (!known_) return std::nullopt;
  int64_t total = 0;
  for (const auto& [m, c] : terms_) {
    int64_t v = c;
    for (const auto& [s, e] : m) {
      std::optional<int64_t> x;
      if (auto it = bindings.find(s); it != bindings.end()) {
        x = it->second;
      } else if (auto fs = split_floor_symbol(s)) {
        const std::optional<Dim> operand = parse(fs->first);
        const std::optional<int64_t> n = operand ? operand->evaluate(bindings) : std::nullopt;
        if (n) x = floor_quotient(*n, fs->second);
      }
      if (!x) return std::nullopt;
      for (int i = 0; i < e; ++i) {
        if (__builtin_mul_overflow(v, *x, &v)) return std::nullopt;
      }
    }
    if (__builtin_add_overflow(total, v, &total)) return std::nullopt;
  }
  return total;
}

std::string sym_shape_to_string(const SymShape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += shape[i].to_string();
  }
  return out + "]";
}

SymShape sym_shape_from_static(const std::vector<int64_t>& shape) {
  SymShape out;
  out.reserve(shape.size());
  for (int64_t d : shape) out.emplace_back(d);
  return out;
}

std::optional<std::vector<int64_t>> sym_shape_to_static(const SymShape& shape) {
  std::vector<int64_t> out;
  out.reserve(shape.size());
  for (const Dim& d : shape) {
    if (!d.is_static()) return std::nullopt;
    out.push_back(d.value());
  }
  return out;
}

Dim sym_shape_numel(const SymShape& shape) {
  Dim n(int64_t{1});
  for (const Dim& d : shape) n = n * d;
  return n;
}

}  // namespace vitrt

// Symbolic dimension arithmetic (monomials over named symbols).
#include "core/dim.h"

namespace vitrt {

Dim Dim::symbol(const std::string& name) {
  Dim d;
  d.known_ = true;
  d.coef_ = 1;
  d.syms_[name] = 1;
  return d;
}

Dim Dim::operator*(const Dim& other) const {
  if (!known_ || !other.known_) return Dim();
  Dim r;
  r.known_ = true;
  r.coef_ = coef_ * other.coef_;
  if (r.coef_ == 0) return Dim(int64_t{0});
  r.syms_ = syms_;
  for (const auto& [s, e] : other.syms_) r.syms_[s] += e;
  return r;
}

Dim Dim::operator/(const Dim& other) const {
  if (!known_ || !other.known_ || other.coef_ == 0) return Dim();
  if (coef_ % other.coef_ != 0) return Dim();
  Dim r;
  r.known_ = true;
  r.coef_ = coef_ / other.coef_;
  r.syms_ = syms_;
  for (const auto& [s, e] : other.syms_) {
    auto it = r.syms_.find(s);
    if (it == r.syms_.end() || it->second < e) return Dim();
    it->second -= e;
    if (it->second == 0) r.syms_.erase(it);
  }
  return r;
}

Dim Dim::operator+(const Dim& other) const {
  if (!known_ || !other.known_) return Dim();
  if (is_static() && other.is_static()) return Dim(coef_ + other.coef_);
  if (is_static() && coef_ == 0) return other;
  if (other.is_static() && other.coef_ == 0) return *this;
  if (syms_ == other.syms_) {
    Dim r = *this;
    r.coef_ = coef_ + other.coef_;
    if (r.coef_ == 0) return Dim(int64_t{0});
    return r;
  }
  return Dim();
}

Dim Dim::operator-(const Dim& other) const {
  if (!other.known_) return Dim();
  Dim neg = other;
  neg.coef_ = -neg.coef_;
  return *this + neg;
}

bool Dim::same_as(const Dim& other) const {
  return known_ && other.known_ && coef_ == other.coef_ && syms_ == other.syms_;
}

std::string Dim::to_string() const {
  if (!known_) return "?";
  if (syms_.empty()) return std::to_string(coef_);
  std::string out;
  if (coef_ != 1) out = std::to_string(coef_);
  for (const auto& [s, e] : syms_) {
    for (int i = 0; i < e; ++i) {
      if (!out.empty()) out += "*";
      out += s;
    }
  }
  return out;
}

std::optional<int64_t> Dim::evaluate(const std::map<std::string, int64_t>& bindings) const {
  if (!known_) return std::nullopt;
  int64_t v = coef_;
  for (const auto& [s, e] : syms_) {
    auto it = bindings.find(s);
    if (it == bindings.end()) return std::nullopt;
    for (int i = 0; i < e; ++i) v *= it->second;
  }
  return v;
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

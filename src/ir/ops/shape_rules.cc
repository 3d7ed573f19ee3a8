// Shape rules shared by shape inference and the CPU kernels (see shape_rules.h).
#include "ir/ops/shape_rules.h"

#include <algorithm>
#include <limits>

namespace vitrt {

std::optional<std::vector<int64_t>> static_int_input(const InferContext& ctx, int i) {
  if (!ctx.has_input(i)) return std::nullopt;
  if (const std::vector<Dim>* sv = ctx.input_sym_value(i)) {
    std::vector<int64_t> out;
    out.reserve(sv->size());
    for (const Dim& d : *sv) {
      if (!d.is_static()) return std::nullopt;
      out.push_back(d.value());
    }
    return out;
  }
  const Tensor* c = ctx.input_constant(i);
  if (c != nullptr && dtype_is_integer(c->dtype())) return c->to_int64_vector();
  return std::nullopt;
}

Result<SymShape> reshape_output_shape(const SymShape* input, const std::vector<Dim>& target,
                                      bool allowzero) {
  SymShape out(target.size());
  int infer_at = -1;
  bool has_zero = false;
  Dim others(int64_t{1});  // product of the output dims except the inferred one
  for (size_t i = 0; i < target.size(); ++i) {
    const Dim& t = target[i];
    if (t.is_static() && t.value() == -1) {
      if (infer_at >= 0) {
        return invalid_model("shape input has 2 dims equal to -1 (at ", infer_at, " and ", i,
                             "); at most one may be inferred");
      }
      infer_at = static_cast<int>(i);
      continue;
    }
    if (t.is_static() && t.value() < -1) {
      return invalid_model("shape input dim ", i, " is ", t.value(),
                           "; expected -1, 0 or a positive size");
    }
    if (t.is_static() && t.value() == 0) {
      has_zero = true;
      if (!allowzero) {
        if (input == nullptr) {
          out[i] = Dim::unknown();
        } else if (i >= input->size()) {
          return invalid_model("shape input dim ", i, " is 0 (copy the input's dim ", i,
                               ") but the input has rank ", input->size());
        } else {
          out[i] = (*input)[i];
        }
      } else {
        out[i] = t;
      }
    } else {
      out[i] = t;
    }
    others = others * out[i];
  }
  if (allowzero && has_zero && infer_at >= 0) {
    return invalid_model("shape input has both 0 and -1 while allowzero=1; the -1 is ambiguous");
  }
  const Dim numel = input != nullptr ? sym_shape_numel(*input) : Dim::unknown();
  if (infer_at >= 0) {
    if (numel.is_static() && others.is_static()) {
      if (others.value() == 0 || numel.value() % others.value() != 0) {
        return invalid_model("cannot reshape ", sym_shape_to_string(*input), " (", numel.value(),
                             " elements) into ", sym_shape_to_string(out), " with dim ", infer_at,
                             " inferred: ", numel.value(), " is not a multiple of ",
                             others.value());
      }
    }
    out[infer_at] = numel / others;  // unknown unless an exact monomial
  } else if (numel.is_static() && others.is_static() && numel.value() != others.value()) {
    return invalid_model("cannot reshape ", sym_shape_to_string(*input), " (", numel.value(),
                         " elements) into ", sym_shape_to_string(out), " (", others.value(),
                         " elements)");
  }
  return out;
}

Result<std::vector<SliceRange>> resolve_slice(const std::vector<int64_t>& shape,
                                              const std::vector<int64_t>& starts,
                                              const std::vector<int64_t>& ends,
                                              const std::vector<int64_t>& axes,
                                              const std::vector<int64_t>& steps) {
  const int rank = static_cast<int>(shape.size());
  if (starts.size() != ends.size()) {
    return invalid_model("starts has ", starts.size(), " elements but ends has ", ends.size());
  }
  if (!axes.empty() && axes.size() != starts.size()) {
    return invalid_model("axes has ", axes.size(), " elements but starts has ", starts.size());
  }
  if (!steps.empty() && steps.size() != starts.size()) {
    return invalid_model("steps has ", steps.size(), " elements but starts has ", starts.size());
  }
  std::vector<int64_t> axes_or_default = axes;
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes_or_default.push_back(static_cast<int64_t>(i));
  }
  VITRT_ASSIGN_OR_RETURN(std::vector<int> norm_axes, normalize_axes(axes_or_default, rank, "axes"));
  std::vector<SliceRange> out(rank);
  for (int a = 0; a < rank; ++a) out[a] = SliceRange{0, 1, shape[a]};
  for (size_t i = 0; i < starts.size(); ++i) {
    const int a = norm_axes[i];
    const int64_t dim = shape[a];
    const int64_t step = steps.empty() ? 1 : steps[i];
    if (step == 0) return invalid_model("steps[", i, "] is 0");
    int64_t start = starts[i];
    int64_t end = ends[i];
    // Adding dim to a negative value cannot overflow (dim >= 0); INT64_MAX stays positive.
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    int64_t count = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      if (end > start) count = (end - start + step - 1) / step;
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      // -step cannot overflow in practice: step = INT64_MIN would select at most one element.
      const int64_t neg =
          step == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -step;
      if (start > end) count = (start - end + neg - 1) / neg;
    }
    out[a] = SliceRange{count > 0 ? start : 0, step, count};
  }
  return out;
}

Result<std::vector<int64_t>> even_split_sizes(int64_t dim, int64_t num_outputs) {
  if (num_outputs <= 0) return invalid_model("cannot split into ", num_outputs, " outputs");
  const int64_t chunk = (dim + num_outputs - 1) / num_outputs;
  std::vector<int64_t> sizes(static_cast<size_t>(num_outputs), chunk);
  const int64_t last = dim - chunk * (num_outputs - 1);
  if (last < 0) {
    return invalid_model("cannot split a dim of ", dim, " into ", num_outputs, " chunks of ceil(",
                         dim, "/", num_outputs, ") = ", chunk);
  }
  sizes.back() = last;
  return sizes;
}

Result<std::vector<int>> normalize_axes(const std::vector<int64_t>& axes, int rank,
                                        const char* what) {
  std::vector<int> out;
  out.reserve(axes.size());
  std::vector<bool> seen(static_cast<size_t>(std::max(rank, 0)), false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) {
      return invalid_model(what, " value ", a, " is out of range [", -rank, ", ", rank - 1,
                           "] for rank ", rank);
    }
    const int n = static_cast<int>(a < 0 ? a + rank : a);
    if (seen[n]) return invalid_model(what, " names axis ", n, " more than once");
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

Result<std::vector<int>> transpose_perm(const std::vector<int64_t>& perm, int rank) {
  std::vector<int> out;
  if (perm.empty()) {
    for (int i = rank - 1; i >= 0; --i) out.push_back(i);
    return out;
  }
  if (static_cast<int>(perm.size()) != rank) {
    return invalid_model("perm has ", perm.size(), " elements but the input has rank ", rank);
  }
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p]) {
      std::vector<int64_t> copy = perm;
      return invalid_model("perm ", shape_to_string(copy), " is not a permutation of 0..",
                           rank - 1);
    }
    seen[p] = true;
    out.push_back(static_cast<int>(p));
  }
  return out;
}

}  // namespace vitrt

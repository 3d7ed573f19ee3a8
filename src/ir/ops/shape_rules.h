// Shape rules shared by shape inference (symbolic Dims) and the CPU kernels (concrete shapes) of
// the shape-op and indexing families, so that the two cannot disagree.
//
// Errors returned here do not name the node: shape inference prefixes the node, and the
// executor does the same for kernels.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/dim.h"
#include "ir/op_schema.h"
#include "vitrt/status.h"

namespace vitrt {

// The integer elements of input `i` when every one is statically known (a constant integer
// tensor, or shape arithmetic whose sym_value is all static); nullopt otherwise.
std::optional<std::vector<int64_t>> static_int_input(const InferContext& ctx, int i);

// Reshape's output shape. `input` is nullptr when the input's rank is unknown. Target dims may
// be symbolic or unknown; 0 copies the input dim (unless allowzero) and one -1 is inferred as
// numel / product of the others (unknown when that quotient is not an exact monomial).
Result<SymShape> reshape_output_shape(const SymShape* input, const std::vector<Dim>& target,
                                      bool allowzero);

// One axis of a resolved Slice: elements start, start + step, ... (count of them).
struct SliceRange {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;
};

// Resolves Slice's starts/ends/axes/steps against a concrete shape: negative values count from
// the end, out-of-range values (INT64_MAX / INT64_MIN included) are clamped as ONNX specifies.
// `axes` empty means 0, 1, ...; `steps` empty means all 1. Returns one range per input axis
// (unsliced axes cover the whole dim).
Result<std::vector<SliceRange>> resolve_slice(const std::vector<int64_t>& shape,
                                              const std::vector<int64_t>& starts,
                                              const std::vector<int64_t>& ends,
                                              const std::vector<int64_t>& axes,
                                              const std::vector<int64_t>& steps);

// Split sizes along an axis of length `dim` into `num_outputs` chunks when no explicit split is
// given: ceil(dim / n) each, the last one smaller (opset 18's uneven split).
Result<std::vector<int64_t>> even_split_sizes(int64_t dim, int64_t num_outputs);

// Normalises axes (negative count from the end) against `rank`; rejects duplicates. `what`
// names the attribute or input in messages ("axes").
Result<std::vector<int>> normalize_axes(const std::vector<int64_t>& axes, int rank,
                                        const char* what);

// Validates a Transpose permutation (empty means reversed axes) and returns it.
Result<std::vector<int>> transpose_perm(const std::vector<int64_t>& perm, int rank);

}  // namespace vitrt

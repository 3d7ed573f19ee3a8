// vitrt.Patchify: an NCHW image cut into non-overlapping patches, each flattened into one row,
// so a patch-embedding Conv becomes Patchify + vitrt.Linear. Made by fuse_patch_embedding.
//
//   input    X [B, C, H, W] float32
//   attrs    patch: ints [ph, pw]; prefix_rows: int >= 0 (default 0), rows of zeros before
//            each image's patches (fold_prefix_tokens: the Linear after it then computes the
//            class token's row too, as its bias, where a Concat used to put it)
//   output   [B, prefix_rows + (H//ph)*(W//pw), C*ph*pw]: patches in row-major (h, w) order,
//            features in (c, i, j) order, matching a Conv weight [D, C, ph, pw] reshaped to
//            [D, C*ph*pw]. Rows and columns that do not fill a patch are dropped, as the Conv
//            drops them.
#include "ir/op_schema.h"

namespace vitrt {
namespace {

Status infer_patchify(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> patch, ctx.attrs().require_ints("patch"));
  if (patch.size() != 2 || patch[0] <= 0 || patch[1] <= 0) {
    return ctx.error("attribute 'patch' must be two positive ints [ph, pw]");
  }
  VITRT_ASSIGN_OR_RETURN(int64_t prefix, ctx.attrs().get_int("prefix_rows", 0));
  if (prefix < 0) return ctx.error("attribute 'prefix_rows' must be >= 0, got ", prefix);
  if (ctx.input_dtype(0) != DType::kFloat32) {
    return ctx.error("X must be float32, got ", dtype_name(ctx.input_dtype(0)));
  }
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, DType::kFloat32);
    return Status();
  }
  const SymShape& x = ctx.input_shape(0);
  if (x.size() != 4) return ctx.error("X must be [B, C, H, W], got ", sym_shape_to_string(x));
  const Dim patches = Dim(prefix) + x[2].floor_div(patch[0]) * x[3].floor_div(patch[1]);
  ctx.set_output(0, DType::kFloat32, {x[0], patches, x[1] * Dim(patch[0] * patch[1])});
  return Status();
}

}  // namespace

void register_patchify_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "Patchify", 1, 1, 1, 1, infer_patchify});
}

}  // namespace vitrt

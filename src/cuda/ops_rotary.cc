// vitrt.RotaryEmbedding's CUDA kernel (host side): the shapes are checked by the same
// rotary_layout() as the CPU kernel's, the device work is one pass (cuda/rotary.cu).
#include "cuda/cuda_kernel.h"
#include "ir/ops/rotary_embedding.h"

namespace vitrt::cuda {
namespace {

class RotaryEmbeddingKernel final : public CudaKernel {
 public:
  RotaryEmbeddingKernel(int64_t start, bool interleaved, bool token_major)
      : start_(start), interleaved_(interleaved), token_major_(token_major) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& cos = *in[1];
    const DeviceTensor& sin = *in[2];
    VITRT_ASSIGN_OR_RETURN(RotaryLayout l, rotary_layout(x.shape, cos.shape, sin.shape, start_,
                                                         interleaved_, token_major_));
    if (cos.dtype != x.dtype || sin.dtype != x.dtype) {
      return invalid_argument("cos (", dtype_name(cos.dtype), ") and sin (", dtype_name(sin.dtype),
                              ") must be stored as X (", dtype_name(x.dtype), ")");
    }
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    RotaryTables tables;
    tables.cos = cos.data;
    tables.sin = sin.data;
    tables.cos_head_stride = l.cos_head_stride;
    tables.cos_row_stride = l.cos_row_stride;
    tables.sin_head_stride = l.sin_head_stride;
    tables.sin_row_stride = l.sin_row_stride;
    return cuda_status(launch_rotary_embedding(t, x.data, tables, out[0].data, l.outer, l.heads,
                                               l.seq, l.dim, l.rotary_dim, l.start, l.interleaved,
                                               l.token_div, l.head_div, ctx.stream),
                       "RotaryEmbedding");
  }

 private:
  int64_t start_;
  bool interleaved_;
  bool token_major_;
};

Result<std::unique_ptr<CudaKernel>> make_rotary_embedding(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t interleaved, init.node.attrs.get_int("interleaved", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t start, init.node.attrs.get_int("start", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t token_major, init.node.attrs.get_int("token_major", 0));
  if ((interleaved != 0 && interleaved != 1) || start < 0 ||
      (token_major != 0 && token_major != 1)) {
    return invalid_model(
        "attributes 'interleaved' (0 or 1), 'start' (>= 0) and 'token_major' (0 or 1) are out of "
        "range: ",
        interleaved, ", ", start, ", ", token_major);
  }
  return std::unique_ptr<CudaKernel>(
      new RotaryEmbeddingKernel(start, interleaved != 0, token_major != 0));
}

}  // namespace

void register_cuda_rotary_kernels(CudaKernelRegistry& registry) {
  registry.add("vitrt", "RotaryEmbedding", make_rotary_embedding);
}

}  // namespace vitrt::cuda

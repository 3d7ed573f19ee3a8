// vitrt.RotaryEmbedding's CUDA kernel (host side): the shapes are checked by the same
// rotary_layout() as the CPU kernel's, the device work is one pass (cuda/rotary.cu).
#include "cuda/cuda_kernel.h"
#include "ir/ops/rotary_embedding.h"

namespace vitrt::cuda {
namespace {

class RotaryEmbeddingKernel final : public CudaKernel {
 public:
  explicit RotaryEmbeddingKernel(RotaryAttributes attrs) : attrs_(attrs) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& cos = *in[1];
    const DeviceTensor& sin = *in[2];
    VITRT_ASSIGN_OR_RETURN(RotaryLayout l,
                           rotary_layout(x.shape, cos.shape, sin.shape, attrs_.start,
                                         attrs_.interleaved, attrs_.token_major));
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
  RotaryAttributes attrs_;
};

Result<std::unique_ptr<CudaKernel>> make_rotary_embedding(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(RotaryAttributes attrs, RotaryAttributes::parse(init.node.attrs));
  return std::unique_ptr<CudaKernel>(new RotaryEmbeddingKernel(attrs));
}

}  // namespace

void register_cuda_rotary_kernels(CudaKernelRegistry& registry) {
  registry.add("vitrt", "RotaryEmbedding", make_rotary_embedding);
}

}  // namespace vitrt::cuda

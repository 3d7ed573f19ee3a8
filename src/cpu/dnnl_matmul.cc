// DnnlMatmul: oneDNN matmul primitives cached per shape, constant weights packed once.
#include "cpu/dnnl_matmul.h"

#include <cstdlib>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cpu/dnnl_common.h"

namespace vitrt {

dnnl::engine& dnnl_cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& dnnl_thread_stream() {
  thread_local dnnl::stream stream(dnnl_cpu_engine());
  return stream;
}

void* dnnl_thread_buffer(DnnlBufferSlot slot, size_t bytes) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[kNumDnnlBufferSlots];
  Buffer& buffer = buffers[slot];
  if (bytes > buffer.size) {
    std::free(buffer.data);
    buffer.size = (bytes + 63) / 64 * 64;
    buffer.data = std::aligned_alloc(64, buffer.size);
    if (buffer.data == nullptr) buffer.size = 0;
  }
  return buffer.data;
}

std::tuple<dnnl::algorithm, float, float> dnnl_eltwise_of(MatmulActivation act) {
  switch (act) {
    case MatmulActivation::kGelu:
      return {dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f};
    case MatmulActivation::kGeluTanh:
      return {dnnl::algorithm::eltwise_gelu_tanh, 0.0f, 0.0f};
    case MatmulActivation::kQuickGelu:
      return {dnnl::algorithm::eltwise_swish, 1.702f, 0.0f};
    case MatmulActivation::kRelu:
      return {dnnl::algorithm::eltwise_relu, 0.0f, 0.0f};
    case MatmulActivation::kSilu:
      return {dnnl::algorithm::eltwise_swish, 1.0f, 0.0f};
    case MatmulActivation::kHardSwish:
      // oneDNN 2.6 computes x * relu6(x + 3) / 6 and ignores alpha and beta; later versions
      // read them as x * min(1, max(0, alpha x + beta)): the same function either way.
      return {dnnl::algorithm::eltwise_hardswish, 1.0f / 6.0f, 0.5f};
    case MatmulActivation::kRelu6:
      return {dnnl::algorithm::eltwise_clip, 0.0f, 6.0f};
    case MatmulActivation::kNone:
      break;
  }
  return {dnnl::algorithm::undef, 0.0f, 0.0f};
}

namespace {

using dnnl::memory;

// A [batch,] rows x cols matrix, stored transposed (cols x rows) when `trans`.
memory::desc matrix_desc(int64_t batch, int64_t rows, int64_t cols, bool trans,
                         memory::data_type type = memory::data_type::f32) {
  if (batch == 1) {
    return memory::desc({rows, cols}, type, trans ? memory::dims{1, rows} : memory::dims{cols, 1});
  }
  return memory::desc(
      {batch, rows, cols}, type,
      trans ? memory::dims{rows * cols, 1, rows} : memory::dims{rows * cols, cols, 1});
}

}  // namespace

struct DnnlMatmul::Entry {
  dnnl::matmul primitive;
  memory::desc src_md, weights_md, dst_md, bias_md, scratchpad_md;
  size_t scratchpad_bytes = 0;
  // bf16 products: src converted from src_md (fp32, as the caller stores it) into bf16_src_md.
  memory::desc bf16_src_md;
  dnnl::reorder to_bf16;
  // The constant weights in weights_md's layout (valid when the kernel has constant weights).
  memory constant_weights;
};

// Constant weights reordered into the layouts the primitives asked for, one copy per layout.
struct DnnlMatmul::Packed {
  std::vector<std::pair<memory::desc, memory>> layouts;
};

DnnlMatmul::DnnlMatmul() = default;
DnnlMatmul::~DnnlMatmul() = default;

Status DnnlMatmul::set_constant_weights(const Tensor& weights, const MatmulShape& example) {
  if (weights.dtype() != DType::kFloat32) {
    return internal_error("DnnlMatmul: constant weights must be float32, got ",
                          dtype_name(weights.dtype()));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    constant_weights_ = weights;
    packed_ = std::make_unique<Packed>();
    cache_.clear();
  }
  return entry_for(example).status();
}

Result<std::shared_ptr<const DnnlMatmul::Entry>> DnnlMatmul::entry_for(const MatmulShape& s) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(s.key());
  if (it != cache_.end()) return it->second;
  if (s.has_bias && s.alpha != 1.0f) {
    return internal_error("DnnlMatmul: bias with alpha != 1 is not supported");
  }
  const bool constant = constant_weights_.defined();
  if (s.bf16 && !constant) {
    return internal_error("DnnlMatmul: bf16 products need constant weights");
  }
  if (constant && constant_weights_.numel() != s.batch * s.k * s.n) {
    return internal_error("DnnlMatmul: constant weights ", constant_weights_.describe(),
                          " do not hold ", s.batch, " x ", s.k, " x ", s.n, " elements");
  }
  try {
    auto entry = std::make_shared<Entry>();
    const memory::data_type compute_type =
        s.bf16 ? memory::data_type::bf16 : memory::data_type::f32;
    entry->src_md = matrix_desc(s.batch, s.m, s.k, s.trans_src);
    if (s.bf16) {
      entry->bf16_src_md = matrix_desc(s.batch, s.m, s.k, false, memory::data_type::bf16);
    }
    const memory::desc user_weights_md = matrix_desc(s.batch, s.k, s.n, s.trans_weights);
    entry->dst_md = matrix_desc(s.batch, s.m, s.n, false);
    const memory::dims wdims = user_weights_md.dims();
    // Constant weights let the primitive choose its layout; activations stay as they are.
    const memory::desc request_weights_md =
        constant ? memory::desc(wdims, compute_type, memory::format_tag::any) : user_weights_md;
    if (s.has_bias) {
      entry->bias_md = s.batch == 1
                           ? memory::desc({1, s.n}, memory::data_type::f32, {s.n, 1})
                           : memory::desc({1, 1, s.n}, memory::data_type::f32, {s.n, s.n, 1});
    }
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (s.alpha != 1.0f) attr.set_output_scales(0, {s.alpha});
    dnnl::post_ops ops;
    if (s.accumulate) ops.append_sum(1.0f);
    if (s.has_residual) ops.append_binary(dnnl::algorithm::binary_add, entry->dst_md);
    if (s.activation != MatmulActivation::kNone) {
      const auto [algorithm, a, b] = dnnl_eltwise_of(s.activation);
      ops.append_eltwise(1.0f, algorithm, a, b);
    }
    if (ops.len() > 0) attr.set_post_ops(ops);
    const memory::desc& compute_src_md = s.bf16 ? entry->bf16_src_md : entry->src_md;
    auto make_pd = [&](const memory::desc& weights_md) {
      const dnnl::matmul::desc desc =
          s.has_bias ? dnnl::matmul::desc(compute_src_md, weights_md, entry->bias_md, entry->dst_md)
                     : dnnl::matmul::desc(compute_src_md, weights_md, entry->dst_md);
      return dnnl::matmul::primitive_desc(desc, attr, dnnl_cpu_engine());
    };
    dnnl::matmul::primitive_desc pd = make_pd(request_weights_md);
    if (constant && s.batch == 1) {
      // When the primitive reads the weights row by row in a plain layout (gemm:jit on AVX2),
      // a row stride that is a multiple of 4 KiB sends every row to the same cache sets:
      // fc1's [768, 3072] ran at 34 GFLOP/s per core against 75 with 16 floats of padding
      // (bench/NOTES.md). Constant weights are then copied once into padded rows.
      const dnnl_memory_desc_t& w = pd.weights_desc().data;
      const auto& blocking = w.format_desc.blocking;
      if (w.format_kind == dnnl_blocked && w.ndims == 2 && blocking.inner_nblks == 0) {
        const bool row_major = blocking.strides[1] == 1;  // [K, N] rows of N, else rows of K
        const int64_t ld = row_major ? blocking.strides[0] : blocking.strides[1];
        if (ld * static_cast<int64_t>(sizeof(float)) % 4096 == 0) {
          const int64_t padded = ld + 16;
          pd = make_pd(memory::desc({s.k, s.n}, compute_type,
                                    row_major ? memory::dims{padded, 1} : memory::dims{1, padded}));
        }
      }
    }
    entry->weights_md = pd.weights_desc();
    entry->scratchpad_md = pd.scratchpad_desc();
    entry->scratchpad_bytes = entry->scratchpad_md.get_size();
    entry->primitive = dnnl::matmul(pd);
    if (s.bf16) {
      // A user-managed (here: absent) scratchpad keeps the reorder safe to run from several
      // threads at once, like the matmul; a plain fp32 -> bf16 conversion needs none.
      dnnl::primitive_attr reorder_attr;
      reorder_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::reorder::primitive_desc reorder_pd(dnnl_cpu_engine(), entry->src_md, dnnl_cpu_engine(),
                                               entry->bf16_src_md, reorder_attr);
      if (reorder_pd.scratchpad_desc().get_size() != 0) {
        return unsupported("oneDNN's fp32 -> bf16 conversion of a ", s.m, " x ", s.k,
                           " matrix needs a scratchpad");
      }
      entry->to_bf16 = dnnl::reorder(reorder_pd);
    }

    if (constant) {
      void* user_data = const_cast<void*>(constant_weights_.raw_data());  // only read
      if (entry->weights_md == user_weights_md) {
        entry->constant_weights = memory(user_weights_md, dnnl_cpu_engine(), user_data);
      } else {
        for (const auto& [md, mem] : packed_->layouts) {
          if (md == entry->weights_md) entry->constant_weights = mem;
        }
        if (!entry->constant_weights) {
          memory user(user_weights_md, dnnl_cpu_engine(), user_data);
          memory packed(entry->weights_md, dnnl_cpu_engine());
          dnnl::stream& stream = dnnl_thread_stream();
          dnnl::reorder(user, packed).execute(stream, user, packed);
          stream.wait();
          packed_->layouts.emplace_back(entry->weights_md, packed);
          entry->constant_weights = packed;
        }
      }
    }
    cache_.emplace(s.key(), entry);
    return std::shared_ptr<const Entry>(entry);
  } catch (const dnnl::error& e) {
    return unsupported("oneDNN cannot create a matmul for batch ", s.batch, ", M ", s.m, ", K ",
                       s.k, ", N ", s.n, ": ", e.what());
  }
}

Status DnnlMatmul::run(const MatmulShape& shape, const float* src, const float* weights,
                       const float* bias, float* dst, const float* residual) {
  // oneDNN faults on zero-sized primitives (a malformed model's empty dims reach here): an
  // empty output has nothing to write; a product over K = 0 is refused.
  if (shape.batch == 0 || shape.m == 0 || shape.n == 0) return Status();
  if (shape.k == 0) {
    return unsupported("a matrix product over an empty inner dimension (K = 0, M = ", shape.m,
                       ", N = ", shape.n, ")");
  }
  VITRT_ASSIGN_OR_RETURN(std::shared_ptr<const Entry> entry, entry_for(shape));
  try {
    dnnl::engine& engine = dnnl_cpu_engine();
    std::unordered_map<int, memory> args;
    args.reserve(6);
    dnnl::stream& stream = dnnl_thread_stream();
    memory user_src(entry->src_md, engine, const_cast<float*>(src));
    if (shape.bf16) {
      void* converted = dnnl_thread_buffer(kBf16Src, entry->bf16_src_md.get_size());
      if (converted == nullptr) {
        return Status(
            StatusCode::kOutOfMemory,
            str_cat("bf16 copy of matmul src: ", entry->bf16_src_md.get_size(), " bytes"));
      }
      memory bf16_src(entry->bf16_src_md, engine, converted);
      entry->to_bf16.execute(stream, user_src, bf16_src);
      args.emplace(DNNL_ARG_SRC, bf16_src);
    } else {
      args.emplace(DNNL_ARG_SRC, user_src);
    }
    if (entry->constant_weights) {
      args.emplace(DNNL_ARG_WEIGHTS, entry->constant_weights);
    } else {
      if (weights == nullptr) return internal_error("DnnlMatmul: weights missing");
      args.emplace(DNNL_ARG_WEIGHTS,
                   memory(entry->weights_md, engine, const_cast<float*>(weights)));
    }
    if (shape.has_bias) {
      args.emplace(DNNL_ARG_BIAS, memory(entry->bias_md, engine, const_cast<float*>(bias)));
    }
    args.emplace(DNNL_ARG_DST, memory(entry->dst_md, engine, dst));
    if (shape.has_residual) {
      if (residual == nullptr) return internal_error("DnnlMatmul: residual missing");
      // The binary post-op's index: after the sum post-op when there is one.
      const int index = shape.accumulate ? 1 : 0;
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1,
                   memory(entry->dst_md, engine, const_cast<float*>(residual)));
    }
    if (entry->scratchpad_bytes > 0) {
      void* scratch = dnnl_thread_buffer(kScratchpad, entry->scratchpad_bytes);
      if (scratch == nullptr) {
        return Status(StatusCode::kOutOfMemory,
                      str_cat("matmul scratchpad of ", entry->scratchpad_bytes, " bytes"));
      }
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(entry->scratchpad_md, engine, scratch));
    }
    entry->primitive.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    return internal_error("oneDNN matmul failed: ", e.what());
  }
  return Status();
}

}  // namespace vitrt

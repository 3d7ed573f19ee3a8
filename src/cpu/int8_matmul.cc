// oneDNN int8 matmul (see int8_matmul.h).
#include "cpu/int8_matmul.h"

#include <unordered_map>

namespace vitrt {

using dnnl::memory;

bool cpu_has_vnni() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  auto has = [isa](dnnl_cpu_isa_t bits) { return (isa & bits) == static_cast<unsigned>(bits); };
  return has(dnnl_cpu_isa_avx512_core_vnni) || has(dnnl_cpu_isa_avx2_vnni);
}

Int8Matmul::Int8Matmul(const Tensor& w_q, std::vector<float> scales, bool has_bias,
                       bool has_residual, MatmulActivation act, bool src_unsigned, bool int32_out,
                       bool runtime_quantization)
    : w_q_(w_q),
      scales_(std::move(scales)),
      has_bias_(has_bias),
      has_residual_(has_residual),
      act_(act),
      src_type_(src_unsigned ? memory::data_type::u8 : memory::data_type::s8),
      int32_out_(int32_out),
      runtime_quantization_(runtime_quantization),
      k_(w_q.dim(0)),
      n_(w_q.dim(1)) {}

Status Int8Matmul::run(int64_t m, const void* src, const float* bias, const float* residual,
                       void* dst, const float* scales, int32_t src_zero_point) {
  if (runtime_quantization_ && scales == nullptr) {
    return internal_error("Int8Matmul: runtime quantization without scales");
  }
  if (m == 0) return Status();  // no rows: oneDNN faults on an empty primitive
  VITRT_ASSIGN_OR_RETURN(std::shared_ptr<const Entry> e, entry_for(m));
  try {
    dnnl::engine& engine = dnnl_cpu_engine();
    std::unordered_map<int, memory> args;
    args.emplace(DNNL_ARG_SRC, memory(e->src_md, engine, const_cast<void*>(src)));
    args.emplace(DNNL_ARG_WEIGHTS, e->weights);
    args.emplace(DNNL_ARG_DST, memory(e->dst_md, engine, dst));
    if (runtime_quantization_) {
      const memory::desc scales_md({n_}, memory::data_type::f32, memory::format_tag::a);
      const memory::desc zp_md({1}, memory::data_type::s32, memory::format_tag::a);
      args.emplace(DNNL_ARG_ATTR_OUTPUT_SCALES,
                   memory(scales_md, engine, const_cast<float*>(scales)));
      args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC,
                   memory(zp_md, engine, &src_zero_point));
    }
    if (has_bias_) {
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                   memory(e->bias_md, engine, const_cast<float*>(bias)));
    }
    if (has_residual_) {
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(has_bias_ ? 1 : 0) | DNNL_ARG_SRC_1,
                   memory(e->dst_md, engine, const_cast<float*>(residual)));
    }
    if (e->scratchpad_bytes > 0) {
      void* scratch = dnnl_thread_buffer(kScratchpad, e->scratchpad_bytes);
      if (scratch == nullptr) {
        return Status(StatusCode::kOutOfMemory,
                      str_cat("matmul scratchpad of ", e->scratchpad_bytes, " bytes"));
      }
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(e->scratchpad_md, engine, scratch));
    }
    dnnl::stream& stream = dnnl_thread_stream();
    e->primitive.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& err) {
    return internal_error("oneDNN int8 matmul failed: ", err.what());
  }
  return Status();
}

Result<std::shared_ptr<const Int8Matmul::Entry>> Int8Matmul::entry_for(int64_t m) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(m);
  if (it != cache_.end()) return it->second;
  try {
    auto e = std::make_shared<Entry>();
    dnnl::engine& engine = dnnl_cpu_engine();
    e->src_md = memory::desc({m, k_}, src_type_, memory::format_tag::ab);
    e->dst_md = memory::desc({m, n_}, int32_out_ ? memory::data_type::s32 : memory::data_type::f32,
                             memory::format_tag::ab);
    const memory::desc any_weights({k_, n_}, memory::data_type::s8, memory::format_tag::any);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    // Output scales multiply the exact int32 sums before any post-op (oneDNN 2.x). Runtime ones
    // (and the src zero point) come with each run; oneDNN then takes its gemm-based kernel,
    // measured as fast as the brgemm one at ViT-B/16's shapes.
    if (runtime_quantization_) {
      attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
      attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    } else if (!int32_out_) {
      attr.set_output_scales(1 << 1, scales_);
    }
    dnnl::post_ops ops;
    if (has_bias_) {
      e->bias_md = memory::desc({1, n_}, memory::data_type::f32, memory::format_tag::ab);
      ops.append_binary(dnnl::algorithm::binary_add, e->bias_md);
    }
    if (has_residual_) ops.append_binary(dnnl::algorithm::binary_add, e->dst_md);
    if (act_ != MatmulActivation::kNone) {
      const auto [algorithm, a, b] = dnnl_eltwise_of(act_);
      ops.append_eltwise(1.0f, algorithm, a, b);
    }
    if (ops.len() > 0) attr.set_post_ops(ops);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(e->src_md, any_weights, e->dst_md),
                                          attr, engine);
    e->scratchpad_md = pd.scratchpad_desc();
    e->scratchpad_bytes = e->scratchpad_md.get_size();
    e->primitive = dnnl::matmul(pd);
    for (const auto& [md, mem] : packed_) {
      if (md == pd.weights_desc()) e->weights = mem;
    }
    if (!e->weights) {
      const memory::desc user_md({k_, n_}, memory::data_type::s8, memory::format_tag::ab);
      memory user(user_md, engine, const_cast<void*>(w_q_.raw_data()));
      memory packed(pd.weights_desc(), engine);
      dnnl::stream& stream = dnnl_thread_stream();
      dnnl::reorder(user, packed).execute(stream, user, packed);
      stream.wait();
      packed_.emplace_back(pd.weights_desc(), packed);
      e->weights = packed;
    }
    cache_.emplace(m, e);
    return std::shared_ptr<const Entry>(e);
  } catch (const dnnl::error& err) {
    return unsupported("oneDNN cannot create an int8 matmul for M ", m, ", K ", k_, ", N ", n_,
                       ": ", err.what());
  }
}

}  // namespace vitrt

// DnnlConv: oneDNN convolution primitives on NHWC tensors, cached per shape, constant weights
// reordered once per layout.
#include "cpu/dnnl_conv.h"

#include <string>
#include <unordered_map>
#include <utility>

#include "cpu/dnnl_common.h"

namespace vitrt {

using dnnl::memory;

struct DnnlConv::Entry {
  dnnl::convolution_forward primitive;
  memory::desc src_md, dst_md, bias_md, scratchpad_md;
  memory weights;  // the constant weights in the primitive's layout
};

struct DnnlConv::Packed {
  std::vector<std::pair<memory::desc, memory>> layouts;
};

DnnlConv::DnnlConv(Tensor weights)
    : weights_(std::move(weights)), packed_(std::make_unique<Packed>()) {}
DnnlConv::~DnnlConv() = default;

Result<std::shared_ptr<const DnnlConv::Entry>> DnnlConv::entry_for(const ConvShape& s) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(s.key());
  if (it != cache_.end()) return it->second;
  auto failed = failed_.find(s.key());
  if (failed != failed_.end()) return failed->second;
  if (s.g < 1 || s.c % s.g != 0 || s.k % s.g != 0 || weights_.dtype() != DType::kFloat32 ||
      weights_.rank() != 4 || weights_.dim(0) != s.k || weights_.dim(1) != s.r ||
      weights_.dim(2) != s.s || weights_.dim(3) != s.c / s.g) {
    return internal_error("DnnlConv: weights ", weights_.describe(), " are not float32 [", s.k,
                          ", ", s.r, ", ", s.s, ", ", s.c, " / ", s.g, "]");
  }
  try {
    auto entry = std::make_shared<Entry>();
    const auto f32 = memory::data_type::f32;
    entry->src_md = memory::desc({s.n, s.c, s.h, s.w}, f32, memory::format_tag::nhwc);
    entry->dst_md = memory::desc({s.n, s.k, s.oh, s.ow}, f32, memory::format_tag::nhwc);
    // One group: [k, c, r, s] stored OHWI; g groups: [g, k / g, c / g, r, s] stored GOHWI (the
    // same bytes: each group's output channels are contiguous rows of W).
    const memory::desc user_weights_md =
        s.g == 1
            ? memory::desc({s.k, s.c, s.r, s.s}, f32, memory::format_tag::ohwi)
            : memory::desc({s.g, s.k / s.g, s.c / s.g, s.r, s.s}, f32, memory::format_tag::gohwi);
    const memory::desc any_weights_md =
        s.g == 1
            ? memory::desc({s.k, s.c, s.r, s.s}, f32, memory::format_tag::any)
            : memory::desc({s.g, s.k / s.g, s.c / s.g, s.r, s.s}, f32, memory::format_tag::any);
    if (s.has_bias) entry->bias_md = memory::desc({s.k}, f32, memory::format_tag::a);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (s.activation != MatmulActivation::kNone) {
      dnnl::post_ops ops;
      // swish(x) = x * sigmoid(alpha x); alpha 1 is SiLU. hardswish: see dnnl_eltwise_of.
      const auto [algorithm, a, b] = dnnl_eltwise_of(s.activation);
      ops.append_eltwise(1.0f, algorithm, a, b);
      attr.set_post_ops(ops);
    }
    // oneDNN counts dilation from 0 (1 = one gap between taps).
    const memory::dims strides = {s.sh, s.sw}, dilates = {s.dh - 1, s.dw - 1};
    const memory::dims pad_l = {s.pad_top, s.pad_left}, pad_r = {s.pad_bottom, s.pad_right};
    const auto kind = dnnl::prop_kind::forward_inference;
    const auto algo = dnnl::algorithm::convolution_direct;
    const dnnl::convolution_forward::desc desc =
        s.has_bias ? dnnl::convolution_forward::desc(kind, algo, entry->src_md, any_weights_md,
                                                     entry->bias_md, entry->dst_md, strides,
                                                     dilates, pad_l, pad_r)
                   : dnnl::convolution_forward::desc(kind, algo, entry->src_md, any_weights_md,
                                                     entry->dst_md, strides, dilates, pad_l, pad_r);
    const dnnl::convolution_forward::primitive_desc pd(desc, attr, dnnl_cpu_engine());
    // oneDNN's reference implementation (what is left when no JIT kernel takes the shape, e.g.
    // 3 input channels in NHWC on some ISAs) is far slower than im2col + GEMM: decline it.
    const std::string impl = pd.impl_info_str();
    if (impl.rfind("ref", 0) == 0) {
      const Status declined =
          unsupported("oneDNN has only its reference convolution (", impl, ") for this shape");
      failed_.emplace(s.key(), declined);
      return declined;
    }
    entry->scratchpad_md = pd.scratchpad_desc();
    entry->primitive = dnnl::convolution_forward(pd);
    const memory::desc weights_md = pd.weights_desc();
    for (const auto& [md, mem] : packed_->layouts) {
      if (md == weights_md) entry->weights = mem;
    }
    if (!entry->weights) {
      memory user(user_weights_md, dnnl_cpu_engine(), const_cast<void*>(weights_.raw_data()));
      memory packed(weights_md, dnnl_cpu_engine());
      dnnl::stream& stream = dnnl_thread_stream();
      dnnl::reorder(user, packed).execute(stream, user, packed);
      stream.wait();
      packed_->layouts.emplace_back(weights_md, packed);
      entry->weights = packed;
    }
    cache_.emplace(s.key(), entry);
    return std::shared_ptr<const Entry>(entry);
  } catch (const dnnl::error& e) {
    const Status declined =
        unsupported("oneDNN cannot create a convolution of [", s.n, ", ", s.h, ", ", s.w, ", ", s.c,
                    "] by a ", s.r, "x", s.s, " kernel into ", s.k, " channels: ", e.what());
    failed_.emplace(s.key(), declined);
    return declined;
  }
}

Status DnnlConv::run(const ConvShape& shape, const float* src, const float* bias, float* dst) {
  // oneDNN faults on zero-sized primitives: an empty output has nothing to write; an empty
  // input channel count is refused.
  if (shape.n == 0 || shape.k == 0 || shape.oh == 0 || shape.ow == 0) return Status();
  if (shape.c == 0 || shape.h == 0 || shape.w == 0) {
    return unsupported("a convolution over an empty input (C = ", shape.c, ", H = ", shape.h,
                       ", W = ", shape.w, ")");
  }
  VITRT_ASSIGN_OR_RETURN(std::shared_ptr<const Entry> entry, entry_for(shape));
  try {
    dnnl::engine& engine = dnnl_cpu_engine();
    dnnl::stream& stream = dnnl_thread_stream();
    std::unordered_map<int, memory> args;
    args.emplace(DNNL_ARG_SRC, memory(entry->src_md, engine, const_cast<float*>(src)));
    args.emplace(DNNL_ARG_WEIGHTS, entry->weights);
    if (shape.has_bias) {
      args.emplace(DNNL_ARG_BIAS, memory(entry->bias_md, engine, const_cast<float*>(bias)));
    }
    args.emplace(DNNL_ARG_DST, memory(entry->dst_md, engine, dst));
    const size_t scratch_bytes = entry->scratchpad_md.get_size();
    if (scratch_bytes > 0) {
      void* scratch = dnnl_thread_buffer(kScratchpad, scratch_bytes);
      if (scratch == nullptr) {
        return Status(StatusCode::kOutOfMemory,
                      str_cat("oneDNN convolution scratchpad: ", scratch_bytes, " bytes"));
      }
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(entry->scratchpad_md, engine, scratch));
    }
    entry->primitive.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    return internal_error("oneDNN convolution failed: ", e.what());
  }
  return Status();
}

}  // namespace vitrt

// vitrt.QuantLinear on CUDA: X is quantized per tensor (quantize.cu), multiplied by the
// quantized weight in cuBLASLt's int8 (IMMA) or FP8 E4M3 GEMM, and dequantized with the
// per-channel weight scale, the bias and the activation.
//
// Layout. cuBLASLt's int8 and FP8 kernels on Hopper take only the "TN" form: both operands
// K-major. Row-major Y[M,N] = Xq[M,K] W[K,N] is computed as the column-major
// Y^T (N x M) = op(A) B with A = W^T stored [N, K] row-major (K x N column-major, op T) and
// B = Xq [M, K] row-major (K x M column-major, op N). The op's W_q is [K, N], so the engine
// keeps a transposed copy (one per engine, shared by its contexts). K is padded to a multiple
// of 32 with zeros on both operands (the kernels need 16-byte leading dimensions; zeros add
// nothing to the sums), so any K runs.
//
// Two modes, the same as vitrt.Linear's tactics:
//   0 (FP8 only, N a multiple of 16): D in the activation type straight from cuBLASLt, the
//     scales applied by cuBLASLt (alpha for a per-tensor weight scale; a per-channel scale as
//     CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F, when this cuBLASLt offers it for the problem),
//     bias and ReLU / tanh GELU in its epilogue, erf and quick GELU in a pass after.
//   1 (int8 always; FP8 where mode 0 has no algorithm): D as int32 / fp32 accumulators in
//     scratch (N padded to 16, M to 16 and at least 32), then one kernel:
//     acc * input_scale * w_scale[n] + bias, activation. cuBLASLt's int8 GEMM has no epilogue
//     that writes fp16 / bf16, so int8 always pays this pass.
//   2 (FP8, erf GELU, fp16/bf16 builds that allow it): mode 0 with the GELU in cuBLASLt's
//     tanh-form epilogue, as vitrt.Linear's mode 2 (at most 4.7e-4 from erf).
//   4 (int8, fp16 plans, N a multiple of 8, no activation or erf GELU; CUTLASS built and an
//     sm_90 GPU: cuda/cutlass_int8.h): CUTLASS's int8 GEMM with the dequantization (input_scale
//     * w_scale[n]), bias (and the zero-point correction, folded into it), GELU or residual in
//     its epilogue, Y written directly: mode 1's int32 round trip made the int8 GEMMs of
//     ViT-B/16 1.3-2.1x slower at batch 256. Timed against mode 1 like the others; without
//     tactics it runs wherever it can.
//   5 (as 4 with erf GELU, in builds that allow the tanh form; chosen by timing only): mode 4
//     with GELU's tanh form on the hardware tanh in the epilogue. erff costs about twenty
//     instructions an element, which the epilogue does not hide behind the next tile's
//     products: ViT-B/16's fc1 at batch 256 took 0.40 ms with it, 0.29 with the tanh form.
//   6 (FP8 in builds that allow fast accumulation, N a multiple of 16, CUTLASS built and an sm_90
//     GPU; chosen by timing only: cuda/cutlass_fp8.h): CUTLASS's ping-pong FP8 GEMM, whose
//     epilogue runs while the other warp group's products do. Two forms: with output_scale, no
//     activation or a GELU (where the build allows the tanh form, computed on fp16 pairs), the
//     E4M3 codes; in fp16 plans, a residual and no activation, fp16 Y. cuBLASLt's fixed GELU
//     epilogue made ViT-B/16's fc1 at batch 256 take 245 us against 205 with the bias alone;
//     this one 221. Its proj (residual) took 83 us, this one 76.
// FP8 modes 0-3 are also timed with cuBLASLt's fast accumulation (the tensor cores' accumulator
// not promoted to fp32 every few products; `vitrt build --no-fp8-fast-accum` turns it off): at
// ViT-B/16's batch 256 on the H100 every GEMM took it, 7-19% faster each (fc1 0.306 -> 0.248
// ms), and the plan 12.9 -> 11.8 ms.
// A residual (input 4, activation none) is cuBLASLt's C with beta = 1 in modes 0 / 2 (C in D's
// 16-bit or fp32 type and layout, a buffer of its own), and is added by the dequantize kernel
// in mode 1 (int32 / fp32 accumulators cannot take a 16-bit C): no extra pass either way.
// X of dtype uint8 (fp8) holds E4M3 codes already (a LayerNorm or an fp8 QuantLinear wrote
// them, pass fuse_quant_producers), X of dtype int8 (int8, zero point 0) int8 codes (an int8
// QuantLinear's requantizing epilogue): the quantize pass is skipped, the GEMM reads X itself
// when its rows need no padding (K a multiple of 32, modes 0 / 2 / 3 / 4 / 5), else a padded
// copy (one copy kernel, which also zeroes mode 1's padding rows). Y is then in the plan's
// activation type.
// output_scale on an int8 layer (never with a residual): Y leaves as int8 codes
// clamp(round(y / output_scale), output_qmin, 127), written by mode 1's dequantize kernel or by
// modes 4 / 5 after a GELU (CUTLASS's epilogue computes the code; fc1 -> fc2 then moves 1 byte
// an element instead of fp16 out, fp16 in and a quantize pass).
// output_scale on an fp8 layer (never with a residual): Y leaves as E4M3 codes of y /
// output_scale, for an fp8 QuantLinear reading them (fc1 -> fc2). The modes then write:
//   0, 2  an FP8 D from cuBLASLt's epilogue (D scale = 1 / output_scale, a device constant),
//         16-bit plans only (cuBLASLt's FP8 D takes a 16-bit C and bias), and mode 0 only where
//         its epilogue runs the whole activation (none, ReLU, tanh GELU): an erf GELU runs as
//         mode 2 (tanh form, when the build allows it) or as mode 3.
//   1     the codes from the dequantize kernel.
//   3     mode 0's GEMM with D in the activation type into scratch, then one pass that applies
//         an erf / quick GELU and writes the codes: where cuBLASLt has no algorithm for the
//         FP8 D (the tactic search finds none), an erf GELU without the tanh form, fp32 plans.
//   C: cuBLASLt refuses D's buffer as C when C's layout (16-bit) differs from D's (E4M3), and
//   refuses a null C; with beta = 0 C is never read, so the A operand (the weights) stands in
//   for it, as PyTorch's scaled_gemm does with its first operand.
// The builder times the modes and cuBLASLt's candidate algorithms per problem (as Linear's
// tactics, stored in the same node attribute and timing cache); without tactics, mode 0 runs
// whenever cuBLASLt has an algorithm for it.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "cuda/cublaslt_matmul.h"
#include "cuda/cuda_kernel.h"
#include "cuda/cutlass_fp8.h"
#include "cuda/cutlass_int8.h"

namespace vitrt::cuda {
namespace {

int64_t round_up16(int64_t v) {
  return (v + 15) / 16 * 16;
}

const char* format_name(QuantFormat f) {
  return f == QuantFormat::kInt8 ? "int8" : "fp8";
}

// What the host prepares from the node's constants for the device, once per engine.
struct HostWeights {
  std::vector<uint8_t> wt;          // [n_pad, k_pad]: W_q transposed, zero padded
  std::vector<float> dequant;       // [n_pad]: input_scale * w_scale[n] (0 in the padding)
  std::vector<float> w_scale;       // [n_pad]: w_scale (0 in the padding), for OUTER_VEC
  std::vector<float> bias;          // [n_pad] or empty
  std::vector<int32_t> acc_offset;  // [n_pad] or empty: int8's zero-point correction
  std::vector<float> mode4_bias;    // [n_pad] or empty: bias + dequant * acc_offset (mode 4)
  float input_scale = 1.0f;         // the B scale of the OUTER_VEC form
  float d_scale = 1.0f;             // 1 / output_scale: cuBLASLt's D scale for an FP8 D
};

// Device copies of HostWeights, in one allocation, shared by the contexts of an engine.
struct DeviceWeights {
  void* block = nullptr;
  const void* wt = nullptr;
  const float* dequant = nullptr;
  const float* w_scale = nullptr;
  const float* bias = nullptr;
  const int32_t* acc_offset = nullptr;
  const float* mode4_bias = nullptr;
  const float* input_scale = nullptr;
  const float* d_scale = nullptr;
  DeviceWeights() = default;
  DeviceWeights(const DeviceWeights&) = delete;
  DeviceWeights& operator=(const DeviceWeights&) = delete;
  ~DeviceWeights() {
    if (block != nullptr) cudaFree(block);
  }
};

struct QuantParams {
  QuantFormat format = QuantFormat::kInt8;
  float input_scale = 1.0f;
  int zero_point = 0, qmin = -127, qmax = 127;
  // int8: the GEMM multiplies q - offset (q the clamped quantized value), which fits int8;
  // (offset - zero_point) times W's column sums is added back to the accumulators.
  int offset = 0;
  UnaryOp act = UnaryOp::kIdentity;
  std::string act_text;
  // > 0 writes Y as codes of y / output_scale: E4M3 (fp8), or int8 clamped to
  // [output_qmin, 127] (int8)
  float output_scale = 0.0f;
  int output_qmin = -127;
  int64_t k = 0, n = 0, k_pad = 0, n_pad = 0;
  bool has_bias = false;
  bool uniform_w_scale = false;  // every w_scale equal: a per-tensor scale
  float uniform_scale = 1.0f;    // then input_scale * w_scale, mode 0's alpha
};

// The node's constants (in the engine's graph, which outlives every context and kernel).
struct QuantConstants {
  const Node* node = nullptr;
  const Tensor* w = nullptr;
  const Tensor* w_scale = nullptr;
  const Tensor* bias = nullptr;
};

// One GEMM of a launch: the problem as cuBLASLt sees it (n, k padded).
struct QuantGemm {
  int64_t rows = 0;  // X's rows (M); m is the GEMM's, padded in mode 1
  int64_t m = 0, n = 0, k = 0;
  const void* xq = nullptr;  // [m, k] bytes
  void* d = nullptr;         // [m, ldd]
  int64_t ldd = 0;
  int mode = 0;
  // Mode 0 with per-channel w_scale: input_scale repeated m times when cuBLASLt wants the
  // outer-vector scale mode on both operands (else null: a scalar B scale).
  const float* row_scale = nullptr;
  // [rows, n] in the activation type, or null: C (beta = 1) in modes 0 / 2, the dequantize
  // kernel's addend in mode 1.
  const void* residual = nullptr;
  // Modes 0-3: cuBLASLt's fast accumulation (prepare sets it on FP8 GEMMs only).
  bool fast_accum = false;
};

// How mode 0 applies the scales, found by asking cuBLASLt's heuristic in this order.
enum class FusedForm {
  kNone,       // no algorithm: mode 1 only
  kAlpha,      // per-tensor w_scale: alpha = input_scale * w_scale
  kVecScalar,  // OUTER_VEC w_scale on A, scalar input_scale on B
  kVecVec,     // OUTER_VEC on both, B's vector input_scale repeated
};

const char* fused_form_name(FusedForm f) {
  switch (f) {
    case FusedForm::kAlpha:
      return "cuBLASLt epilogue, per-tensor scale as alpha";
    case FusedForm::kVecScalar:
      return "cuBLASLt epilogue, outer-vector A scale";
    case FusedForm::kVecVec:
      return "cuBLASLt epilogue, outer-vector A and B scales";
    case FusedForm::kNone:
      break;
  }
  return "none";
}

// Device memory freed with its owner.
struct DeviceBuffer {
  void* p = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (p != nullptr) cudaFree(p);
  }
};

HostWeights host_weights(const QuantParams& p, const QuantConstants& c) {
  HostWeights h;
  const int64_t k = p.k, n = p.n, kp = p.k_pad, np = p.n_pad;
  // W^T, zero padded, in 32 x 32 tiles so both sides stay in cache.
  h.wt.assign(static_cast<size_t>(np * kp), 0);
  const uint8_t* src = static_cast<const uint8_t*>(c.w->raw_data());
  constexpr int64_t kTile = 32;
  for (int64_t k0 = 0; k0 < k; k0 += kTile) {
    for (int64_t n0 = 0; n0 < n; n0 += kTile) {
      for (int64_t kk = k0; kk < std::min(k, k0 + kTile); ++kk) {
        for (int64_t nn = n0; nn < std::min(n, n0 + kTile); ++nn) {
          h.wt[static_cast<size_t>(nn * kp + kk)] = src[kk * n + nn];
        }
      }
    }
  }
  h.input_scale = p.input_scale;
  h.d_scale = p.output_scale > 0.0f ? 1.0f / p.output_scale : 1.0f;
  h.dequant.assign(static_cast<size_t>(np), 0.0f);
  h.w_scale.assign(static_cast<size_t>(np), 0.0f);
  const float* ws = c.w_scale->data<float>();
  for (int64_t j = 0; j < n; ++j) {
    h.w_scale[static_cast<size_t>(j)] = ws[j];
    h.dequant[static_cast<size_t>(j)] = p.input_scale * ws[j];
  }
  if (p.format == QuantFormat::kInt8 && p.offset != p.zero_point) {
    // The int32 accumulators hold sum (q - offset) w; the op wants sum (q - zp) w.
    const int8_t* wq = static_cast<const int8_t*>(c.w->raw_data());
    h.acc_offset.assign(static_cast<size_t>(np), 0);
    for (int64_t j = 0; j < n; ++j) {
      int64_t colsum = 0;
      for (int64_t kk = 0; kk < k; ++kk) colsum += wq[kk * n + j];
      h.acc_offset[static_cast<size_t>(j)] =
          static_cast<int32_t>((p.offset - p.zero_point) * colsum);
    }
  }
  if (c.bias != nullptr) {
    h.bias.assign(static_cast<size_t>(np), 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      h.bias[static_cast<size_t>(j)] = static_cast<float>(c.bias->element_as_double(j));
    }
  }
  if (p.format == QuantFormat::kInt8 && (!h.bias.empty() || !h.acc_offset.empty())) {
    // Mode 4's epilogue computes alpha[n] * acc + bias[n]: the zero-point correction
    // dequant[n] * acc_offset[n] joins the bias.
    h.mode4_bias.assign(static_cast<size_t>(np), 0.0f);
    for (size_t j = 0; j < h.mode4_bias.size(); ++j) {
      const float b = h.bias.empty() ? 0.0f : h.bias[j];
      const float o = h.acc_offset.empty() ? 0.0f : static_cast<float>(h.acc_offset[j]);
      h.mode4_bias[j] = h.dequant[j] * o + b;
    }
  }
  return h;
}

class QuantLinearKernel final : public CudaKernel {
 public:
  QuantLinearKernel(QuantParams p, QuantConstants c, NodeId node, std::vector<GemmTactic> tactics,
                    bool has_residual)
      : p_(std::move(p)),
        c_(c),
        node_(node),
        tactics_(std::move(tactics)),
        has_residual_(has_residual) {}

  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    if (x.shape.empty() || x.shape.back() != p_.k) {
      return invalid_argument("X ", shape_to_string(x.shape), " does not end in K = ", p_.k,
                              " (W_q is [", p_.k, ", ", p_.n, "])");
    }
    // X as E4M3 codes (uint8) or int8 codes: already quantized with input_scale.
    const bool codes_in = x.dtype == DType::kUInt8 || x.dtype == DType::kInt8;
    if (x.dtype == DType::kUInt8 && p_.format != QuantFormat::kFp8E4M3) {
      return invalid_argument("X of uint8 (E4M3 codes) needs format fp8");
    }
    if (x.dtype == DType::kInt8 && (p_.format != QuantFormat::kInt8 || p_.zero_point != 0 ||
                                    p_.offset != 0 || p_.qmax > 127)) {
      return invalid_argument(
          "X of int8 (codes) needs format int8 with input_zero_point 0 and input_qmax <= 127");
    }
    if (!codes_in && !dtype_is_float(x.dtype)) {
      return invalid_argument(
          "X must be a float tensor, (fp8) uint8 E4M3 codes or (int8) int8 codes, got ",
          dtype_name(x.dtype));
    }
    // The plan's activation type: the GEMM's output and the bias's type.
    const DType type = codes_in ? ctx.float_type : x.dtype;
    const int64_t m = x.numel() / std::max<int64_t>(p_.k, 1);
    // Mode 0's epilogue adds the plan's copy of the bias (in the activation type).
    const DeviceTensor* bias = in.size() > 3 ? in[3] : nullptr;
    const bool bias_usable = bias == nullptr || bias->dtype == type;
    const void* act_bias = bias != nullptr ? bias->data : nullptr;
    const DeviceTensor* residual = in.size() > 4 ? in[4] : nullptr;
    if (!ctx.launch) {
      out[0].dtype = codes_out() ? codes_type() : type;
      out[0].shape = x.shape;
      out[0].shape.back() = p_.n;
      if (residual != nullptr && (residual->dtype != type || residual->shape != out[0].shape)) {
        return invalid_argument("residual ", dtype_name(residual->dtype), " ",
                                shape_to_string(residual->shape), " must be ", dtype_name(type),
                                " ", shape_to_string(out[0].shape), " like Y");
      }
      VITRT_RETURN_IF_ERROR(upload());
      // Scratch: the quantized X (unless the GEMM reads X's codes), and the accumulators when
      // mode 1 may run.
      bool need_acc = ctx.tuner != nullptr;
      bool need_xq = true;
      if (m > 0) {
        VITRT_ASSIGN_OR_RETURN(FusedForm form, fused_form(ctx, type, m, bias_usable));
        if (form == FusedForm::kVecVec) VITRT_RETURN_IF_ERROR(make_row_scale(m));
        VITRT_ASSIGN_OR_RETURN(int mode, mode_for(ctx, type, m, bias_usable));
        // Mode 3 puts its D in the accumulators' scratch (fp32 [m_pad, n_pad] holds the
        // [m, n] D of any activation type); mode 4 writes Y itself.
        need_acc = need_acc || mode == 1 || mode == 3;
        need_xq = !reads_codes(codes_in, ctx, mode);
      }
      out.resize(need_acc ? 3 : 2);
      out[1].dtype = DType::kUInt8;
      out[1].shape = {need_xq ? gemm_rows(m) : 1, p_.k_pad};
      if (need_acc) {
        out[2].dtype = p_.format == QuantFormat::kInt8 ? DType::kInt32 : DType::kFloat32;
        out[2].shape = {gemm_rows(m), p_.n_pad};
      }
      return Status::ok_status();
    }
    if (m == 0 || p_.n == 0) return Status::ok_status();
    VITRT_ASSIGN_OR_RETURN(FusedForm form, fused_form(ctx, type, m, bias_usable));
    int run_mode = -1;  // the mode without tuner; the tuner may time mode 1 on any X
    if (ctx.tuner == nullptr) {
      VITRT_ASSIGN_OR_RETURN(run_mode, mode_for(ctx, type, m, bias_usable));
    }
    QuantGemm g;
    g.rows = m;
    g.k = p_.k_pad;
    g.xq = out[1].data;
    g.residual = residual != nullptr ? residual->data : nullptr;
    const void* codes_x = codes_in ? x.data : nullptr;
    if (reads_codes(codes_in, ctx, run_mode)) {
      g.xq = x.data;
    } else if (!codes_in) {
      VITRT_RETURN_IF_ERROR(quantize(x.dtype, x.data, m, out[1].data, ctx.stream));
    }
    // The tuner (run_mode -1) stages X for every mode; its race repeats each mode's own staging.
    VITRT_RETURN_IF_ERROR(stage_x(codes_x, m, out[1].data, run_mode, ctx.stream));
    auto setup = [&](int mode) {
      g.mode = mode;
      const bool fused = mode != 1;  // modes 0, 2 and 3: cuBLASLt applies scales and bias
      g.m = fused ? m : gemm_rows(m);
      g.n = fused ? p_.n : p_.n_pad;
      const bool scratch_d = mode == 1 || mode == 3;
      g.d = !scratch_d ? out[0].data : (out.size() > 2 ? out[2].data : nullptr);
      g.ldd = g.n;
      auto rs = row_scale_.find(m);
      g.row_scale = fused && form == FusedForm::kVecVec && rs != row_scale_.end()
                        ? static_cast<const float*>(rs->second.p)
                        : nullptr;
    };
    if (ctx.tuner != nullptr) {
      VITRT_ASSIGN_OR_RETURN(GemmTactic t, select(ctx, type, g, setup, out[0].data, act_bias, form,
                                                  codes_x, out[1].data));
      setup(t.mode);
      g.fast_accum = t.fast_accum;
      return launch(ctx, type, g, out[0].data, act_bias, &t.algo);
    }
    setup(run_mode);
    if (g.d == nullptr) {
      return internal_error("QuantLinear: mode ", run_mode, " without accumulator scratch");
    }
    const GemmTactic* t = nearest_tactic(m);
    const bool use_tactic = t != nullptr && t->mode == run_mode;
    if (use_tactic) g.fast_accum = t->fast_accum;
    return launch(ctx, type, g, out[0].data, act_bias, use_tactic ? &t->algo : nullptr);
  }

 private:
  bool codes_out() const { return p_.output_scale > 0.0f; }
  DType codes_type() const {
    return p_.format == QuantFormat::kInt8 ? DType::kInt8 : DType::kUInt8;
  }

  // cuBLASLt writes the codes itself: modes 0 and 2 of an fp8 output_scale layer.
  bool fp8_d(int mode) const {
    return codes_out() && p_.format == QuantFormat::kFp8E4M3 && (mode == 0 || mode == 2);
  }

  // The GEMM reads X's codes as they are: rows need no padding (K a multiple of 32, not mode
  // 1's extra rows); the tuner times mode 1 too, so it runs on the padded copy.
  bool reads_codes(bool codes_in, const LaunchContext& ctx, int mode) const {
    return codes_in && p_.k == p_.k_pad && ctx.tuner == nullptr && mode != 1;
  }

  // Whether mode `mode` (-1: any, the tuner's) runs on a padded copy of codes X, and whether it
  // needs the scratch's padding rows zeroed (mode 1's GEMM multiplies gemm_rows(m) rows).
  bool needs_copy(bool codes_in, int mode) const {
    return codes_in && (p_.k != p_.k_pad || mode == 1 || mode < 0);
  }
  bool needs_pad_rows(int64_t m, int mode) const {
    return (mode == 1 || mode < 0) && gemm_rows(m) > m;
  }

  // What mode `mode` needs in the scratch xq besides the quantize pass: codes_x (codes X, or
  // null) copied with K padding, and zeros in mode 1's padding rows (sums nobody reads). The
  // tactic race runs the same before each mode's GEMM, so the modes are timed with their
  // staging (one more graph node each, which counts at batch 1).
  Status stage_x(const void* codes_x, int64_t m, void* xq, int mode, cudaStream_t stream) const {
    if (needs_copy(codes_x != nullptr, mode)) {
      // The copy writes the padding rows too.
      const int64_t rows_out = needs_pad_rows(m, mode) ? gemm_rows(m) : m;
      return cuda_status(launch_copy_codes_padded(codes_x, m, p_.k, xq, rows_out, p_.k_pad, stream),
                         "QuantLinear: staging X's codes");
    }
    if (needs_pad_rows(m, mode)) {
      VITRT_CUDA_RETURN_IF_ERROR(
          cudaMemsetAsync(static_cast<char*>(xq) + m * p_.k_pad, 0,
                          static_cast<size_t>((gemm_rows(m) - m) * p_.k_pad), stream),
          "QuantLinear: padding rows");
    }
    return Status::ok_status();
  }

  // X (float) -> xq [m, k_pad] with quantize.cu's kernel.
  Status quantize(DType x_type, const void* x, int64_t m, void* xq, cudaStream_t stream) const {
    VITRT_ASSIGN_OR_RETURN(Elt elt, elt_of(x_type));
    QuantizeArgs qa;
    qa.format = p_.format;
    qa.rows = m;
    qa.k = p_.k;
    qa.k_pad = p_.k_pad;
    qa.scale = p_.input_scale;
    qa.zero_point = p_.zero_point;
    qa.qmin = p_.qmin;
    qa.qmax = p_.qmax;
    qa.offset = p_.offset;
    return cuda_status(launch_quantize_rows(elt, qa, x, xq, stream), "QuantLinear: quantizing X");
  }

  // Device weights, made on the first shape pass and shared with the engine's other contexts
  // (keyed by the node, whose address is stable while its graph and so these kernels live).
  Status upload() {
    if (dev_ != nullptr) return Status::ok_status();
    static std::mutex mu;
    static std::map<const Node*, std::weak_ptr<const DeviceWeights>> live;
    std::lock_guard<std::mutex> lock(mu);
    auto it = live.find(c_.node);
    if (it != live.end()) {
      dev_ = it->second.lock();
      if (dev_ != nullptr) return Status::ok_status();
    }
    HostWeights host = host_weights(p_, c_);
    auto d = std::make_shared<DeviceWeights>();
    size_t off = 0;
    auto place = [&](size_t bytes) {
      const size_t at = off;
      off += (bytes + 255) / 256 * 256;
      return at;
    };
    const size_t wt_at = place(host.wt.size());
    const size_t dq_at = place(host.dequant.size() * sizeof(float));
    const size_t ws_at = place(host.w_scale.size() * sizeof(float));
    const size_t bias_at = place(host.bias.size() * sizeof(float));
    const size_t off_at = place(host.acc_offset.size() * sizeof(int32_t));
    const size_t m4b_at = place(host.mode4_bias.size() * sizeof(float));
    const size_t is_at = place(sizeof(float));
    const size_t dscale_at = place(sizeof(float));
    VITRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&d->block, off), "QuantLinear: allocating weights");
    char* base = static_cast<char*>(d->block);
    auto copy = [&](size_t at, const void* src, size_t bytes) {
      return cuda_status(cudaMemcpy(base + at, src, bytes, cudaMemcpyHostToDevice),
                         "QuantLinear: uploading weights");
    };
    VITRT_RETURN_IF_ERROR(copy(wt_at, host.wt.data(), host.wt.size()));
    VITRT_RETURN_IF_ERROR(copy(dq_at, host.dequant.data(), host.dequant.size() * sizeof(float)));
    VITRT_RETURN_IF_ERROR(copy(ws_at, host.w_scale.data(), host.w_scale.size() * sizeof(float)));
    if (!host.bias.empty()) {
      VITRT_RETURN_IF_ERROR(copy(bias_at, host.bias.data(), host.bias.size() * sizeof(float)));
      d->bias = reinterpret_cast<const float*>(base + bias_at);
    }
    if (!host.acc_offset.empty()) {
      VITRT_RETURN_IF_ERROR(
          copy(off_at, host.acc_offset.data(), host.acc_offset.size() * sizeof(int32_t)));
      d->acc_offset = reinterpret_cast<const int32_t*>(base + off_at);
    }
    if (!host.mode4_bias.empty()) {
      VITRT_RETURN_IF_ERROR(
          copy(m4b_at, host.mode4_bias.data(), host.mode4_bias.size() * sizeof(float)));
      d->mode4_bias = reinterpret_cast<const float*>(base + m4b_at);
    }
    VITRT_RETURN_IF_ERROR(copy(is_at, &host.input_scale, sizeof(float)));
    VITRT_RETURN_IF_ERROR(copy(dscale_at, &host.d_scale, sizeof(float)));
    d->wt = base + wt_at;
    d->dequant = reinterpret_cast<const float*>(base + dq_at);
    d->w_scale = reinterpret_cast<const float*>(base + ws_at);
    d->input_scale = reinterpret_cast<const float*>(base + is_at);
    d->d_scale = reinterpret_cast<const float*>(base + dscale_at);
    for (auto e = live.begin(); e != live.end();) {
      e = e->second.expired() ? live.erase(e) : std::next(e);
    }
    live[c_.node] = d;
    dev_ = std::move(d);
    return Status::ok_status();
  }

  // Mode 1's GEMM rows: M padded to a multiple of 16 and at least 32, as cuBLASLt's int8
  // kernels have wanted more than 16 rows (the padding costs nothing next to the rest).
  static int64_t gemm_rows(int64_t m) { return std::max<int64_t>(32, round_up16(m)); }

  bool mode0_possible(bool bias_usable) const {
    return p_.format == QuantFormat::kFp8E4M3 && p_.n % 16 == 0 && bias_usable;
  }

  // How mode 0 runs m rows (kNone: it cannot). The same answer in the shape pass and the
  // launch (the scratch depends on it), so it is asked once per m.
  Result<FusedForm> fused_form(const LaunchContext& ctx, DType type, int64_t m, bool bias_usable) {
    if (!mode0_possible(bias_usable)) return FusedForm::kNone;
    auto it = fused_.find(m);
    if (it != fused_.end()) return it->second;
    const std::vector<FusedForm> forms =
        p_.uniform_w_scale ? std::vector<FusedForm>{FusedForm::kAlpha}
                           : std::vector<FusedForm>{FusedForm::kVecScalar, FusedForm::kVecVec};
    FusedForm found = FusedForm::kNone;
    for (FusedForm f : forms) {
      QuantGemm g;
      g.rows = m;
      g.m = m;
      g.n = p_.n;
      g.k = p_.k_pad;
      g.ldd = p_.n;
      // The 16-bit D (an output_scale layer's mode 3); the FP8 D is asked by fp8_d_found.
      g.mode = codes_out() ? 3 : 0;
      // The heuristic needs to know that a bias and a vector scale come, not where: any
      // aligned device pointer stands in for them.
      g.row_scale = f == FusedForm::kVecVec ? dev_->dequant : nullptr;
      LtObjects lt;
      if (!prepare(ctx, type, g, dev_->bias, lt).ok()) continue;
      Result<std::vector<cublasLtMatmulAlgo_t>> algos = heuristic_algos(ctx, lt, 1);
      if (algos.ok() && !algos->empty()) {
        found = f;
        break;
      }
    }
    fused_.emplace(m, found);
    return found;
  }

  // input_scale repeated m times (kVecVec's B scale), made in the shape pass and kept: captured
  // CUDA graphs hold its address.
  Status make_row_scale(int64_t m) {
    DeviceBuffer& b = row_scale_[m];
    if (b.p != nullptr) return Status::ok_status();
    const std::vector<float> v(static_cast<size_t>(m), p_.input_scale);
    VITRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&b.p, v.size() * sizeof(float)),
                               "QuantLinear: row scales");
    return cuda_status(cudaMemcpy(b.p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice),
                       "QuantLinear: row scales");
  }

  // Whether cuBLASLt has an algorithm writing mode `mode`'s FP8 D for m rows in `form` (asked
  // once per m and mode: the shape pass and the launch must agree).
  Result<bool> fp8_d_found(const LaunchContext& ctx, DType type, int64_t m, int mode,
                           FusedForm form) {
    auto it = fp8_d_found_.find({m, mode});
    if (it != fp8_d_found_.end()) return it->second;
    QuantGemm g;
    g.rows = m;
    g.m = m;
    g.n = p_.n;
    g.k = p_.k_pad;
    g.ldd = p_.n;
    g.mode = mode;
    g.row_scale = form == FusedForm::kVecVec ? dev_->dequant : nullptr;
    LtObjects lt;
    bool found = false;
    if (prepare(ctx, type, g, dev_->bias, lt).ok()) {
      Result<std::vector<cublasLtMatmulAlgo_t>> algos = heuristic_algos(ctx, lt, 1);
      found = algos.ok() && !algos->empty();
    }
    fp8_d_found_.emplace(std::make_pair(m, mode), found);
    return found;
  }

  // An output_scale layer's mode 0 (FP8 D): a 16-bit plan whose epilogue runs the activation.
  bool mode0_codes_possible(DType type) const {
    return (type == DType::kFloat16 || type == DType::kBFloat16) && !act_after_mode0();
  }

  // Mode 0 of an output_scale layer for m rows, else mode 3 (its staged form).
  Result<int> codes_mode0(const LaunchContext& ctx, DType type, int64_t m, FusedForm form) {
    if (!mode0_codes_possible(type)) return 3;
    VITRT_ASSIGN_OR_RETURN(bool found, fp8_d_found(ctx, type, m, 0, form));
    return found ? 0 : 3;
  }

  // The mode a launch without tuner runs for m rows: the stored tactic's, else mode 0 whenever
  // cuBLASLt has an algorithm for it (with output_scale: its FP8 D, else mode 3). A stored
  // mode this GPU's cuBLASLt cannot run falls back the same way.
  Result<int> mode_for(const LaunchContext& ctx, DType type, int64_t m, bool bias_usable) {
    if (mode4_possible(type)) {
      const GemmTactic* t = nearest_tactic(m);
      // The stored tactic's choice (mode 1 or 5 where timing chose it), else mode 4.
      if (t != nullptr && t->mode == 5 && p_.act == UnaryOp::kGelu) return 5;
      return t != nullptr && t->mode == 1 ? 1 : 4;
    }
    if (const GemmTactic* t = nearest_tactic(m);
        t != nullptr && t->mode == 6 && mode6_runnable(type)) {
      return 6;
    }
    VITRT_ASSIGN_OR_RETURN(FusedForm form, fused_form(ctx, type, m, bias_usable));
    if (form == FusedForm::kNone) return 1;
    if (const GemmTactic* t = nearest_tactic(m)) {
      if (t->mode == 2 && p_.act == UnaryOp::kGelu && type != DType::kFloat32) {
        if (!codes_out()) return 2;
        VITRT_ASSIGN_OR_RETURN(bool found, fp8_d_found(ctx, type, m, 2, form));
        return found ? 2 : 3;
      }
      if (t->mode == 3 && codes_out()) return 3;
      if (t->mode != 0) return 1;
    }
    if (codes_out()) return codes_mode0(ctx, type, m, form);
    return 0;
  }

  const GemmTactic* nearest_tactic(int64_t m) const {
    return nearest_by_ratio(tactics_, m, [](const GemmTactic& t) { return t.m; });
  }

  // Mode 4: CUTLASS's int8 GEMM with the epilogue of this layer (see the top of the file). int8
  // codes out: after a GELU (the requantizing kernels), n a multiple of 16.
  bool mode4_possible(DType type) const {
#if VITRT_HAVE_CUTLASS
    const bool epilogue =
        codes_out() ? p_.act == UnaryOp::kGelu && p_.n % 16 == 0
                    : p_.act == UnaryOp::kIdentity || (p_.act == UnaryOp::kGelu && !has_residual_);
    return p_.format == QuantFormat::kInt8 && type == DType::kFloat16 && p_.n % 8 == 0 &&
           epilogue && cutlass_int8_available();
#else
    (void)type;
    return false;
#endif
  }

  // Mode 5: mode 4 with the tanh-form GELU, timed where the build allows that form.
  bool mode5_possible(const LaunchContext& ctx, DType type) const {
    return mode4_possible(type) && p_.act == UnaryOp::kGelu && ctx.tuner != nullptr &&
           ctx.tuner->tanh_gelu;
  }

  // The operands every CUTLASS form takes: this layer's codes, weights, scales and rows.
  template <typename Code>
  void set_operands(CutlassGemmOperands<Code>& c, const QuantGemm& g, const float* bias,
                    void* y) const {
    c.x = static_cast<const Code*>(g.xq);
    c.ldx = p_.k_pad;
    c.w = static_cast<const Code*>(dev_->wt);
    c.alpha = dev_->dequant;
    c.bias = bias;
    c.residual = g.residual;
    c.y = y;
    c.m = g.rows;
    c.n = p_.n;
    c.k = p_.k_pad;
  }

  Status run_mode4(const LaunchContext& ctx, const QuantGemm& g, void* y) const {
    CutlassInt8Gemm c;
    set_operands(c, g, dev_->mode4_bias, y);
    if (p_.act == UnaryOp::kGelu) {
      c.act = g.mode == 5 ? CutlassAct::kGeluTanhFast : CutlassAct::kGeluErf;
    }
    c.code_scale = p_.output_scale;
    c.code_qmin = p_.output_qmin;
    return cuda_status(launch_cutlass_int8(c, ctx.workspace, ctx.workspace_bytes, ctx.stream),
                       "QuantLinear: CUTLASS int8 GEMM");
  }

  // Mode 6: CUTLASS's FP8 GEMM writing E4M3 codes, or an fp16 sum with the residual (see the top
  // of the file), where this GPU runs it: a launch runs a stored mode 6 whenever this holds.
  bool mode6_runnable(DType type) const {
#if VITRT_HAVE_CUTLASS
    const bool gelu = p_.act == UnaryOp::kGelu || p_.act == UnaryOp::kGeluTanh;
    const bool codes = codes_out() && !has_residual_ &&
                       (p_.act == UnaryOp::kIdentity ||
                        (gelu && cutlass_fp8_gelu_scale_ok(1.0f / p_.output_scale)));
    const bool residual =
        !codes_out() && has_residual_ && p_.act == UnaryOp::kIdentity && type == DType::kFloat16;
    return p_.format == QuantFormat::kFp8E4M3 && (codes || residual) && p_.n % 16 == 0 &&
           cutlass_fp8_available();
#else
    (void)type;
    return false;
#endif
  }

  // The tuner times mode 6 where it runs and the build allows what it changes: fast
  // accumulation, and for a GELU the tanh form computed in fp16.
  bool mode6_possible(const LaunchContext& ctx, DType type) const {
    return mode6_runnable(type) && fast_accum_possible(ctx) &&
           (p_.act == UnaryOp::kIdentity || ctx.tuner->tanh_gelu);
  }

  Status run_mode6(const LaunchContext& ctx, const QuantGemm& g, void* y) const {
#if VITRT_HAVE_CUTLASS
    CutlassFp8Gemm c;
    set_operands(c, g, dev_->bias, y);
    c.gelu = p_.act != UnaryOp::kIdentity;
    c.r = codes_out() ? 1.0f / p_.output_scale : 1.0f;
    return cuda_status(launch_cutlass_fp8(c, ctx.workspace, ctx.workspace_bytes, ctx.stream),
                       "QuantLinear: CUTLASS FP8 GEMM");
#else
    (void)ctx;
    (void)g;
    (void)y;
    return unsupported("QuantLinear: mode 6 needs vitrt built with CUTLASS");
#endif
  }

  // Whether the tuner times cuBLASLt's FP8 candidates with fast accumulation too.
  bool fast_accum_possible(const LaunchContext& ctx) const {
    return p_.format == QuantFormat::kFp8E4M3 && ctx.tuner != nullptr && ctx.tuner->fp8_fast_accum;
  }

  // Mode 0 runs ReLU and tanh GELU in cuBLASLt's epilogue, erf and quick GELU after.
  bool act_after_mode0() const {
    return activation_after_epilogue(p_.act);
  }

  // Mode 2 can be timed: an erf GELU, a fused form, a 16-bit build that allows the tanh form.
  bool mode2_possible(const LaunchContext& ctx, DType type, FusedForm form) const {
    return p_.act == UnaryOp::kGelu && form != FusedForm::kNone && type != DType::kFloat32 &&
           ctx.tuner != nullptr && ctx.tuner->tanh_gelu;
  }

  // Whether the tuner may time mode 0, 2 or 3 (those on cuBLASLt's scales and epilogue).
  bool mode_possible(const LaunchContext& ctx, DType type, FusedForm form, int mode) const {
    if (form == FusedForm::kNone) return false;
    switch (mode) {
      case 0:
        return !codes_out() || mode0_codes_possible(type);
      case 2:
        return mode2_possible(ctx, type, form);
      case 3:
        return codes_out();
      default:
        return false;
    }
  }

  // What mode `mode` runs, for the build log.
  std::string mode_text(int mode, FusedForm form) const {
    const bool int8 = p_.format == QuantFormat::kInt8;
    if (mode == 1) {
      if (!codes_out()) return "dequantize kernel";
      return int8 ? "dequantize kernel writing int8 codes" : "dequantize kernel writing E4M3";
    }
    const char* codes = codes_out() ? ", int8 codes out" : "";
    if (mode == 4) return str_cat("CUTLASS int8 GEMM, dequantized in its epilogue", codes);
    if (mode == 5) {
      return str_cat("CUTLASS int8 GEMM, dequantized in its epilogue, tanh-form GELU", codes);
    }
    if (mode == 6) {
      if (!codes_out()) return "CUTLASS FP8 GEMM, residual in its epilogue";
      return p_.act == UnaryOp::kIdentity
                 ? "CUTLASS FP8 GEMM, E4M3 codes out"
                 : "CUTLASS FP8 GEMM, tanh-form GELU on fp16 pairs in its epilogue, E4M3 codes out";
    }
    std::string text = fused_form_name(form);
    if (mode == 2) text += ", tanh-form GELU epilogue";
    if (fp8_d(mode)) text += ", E4M3 D";
    if (mode == 3) text += ", 16-bit D then an E4M3 pass";
    return text;
  }

  Status prepare(const LaunchContext& ctx, DType type, const QuantGemm& g, const void* bias,
                 LtObjects& lt) const {
    const bool int8 = p_.format == QuantFormat::kInt8;
    cudaDataType_t d_type = int8 ? CUDA_R_32I : CUDA_R_32F;
    if (g.mode != 1) {
      switch (type) {
        case DType::kFloat16:
          d_type = CUDA_R_16F;
          break;
        case DType::kBFloat16:
          d_type = CUDA_R_16BF;
          break;
        case DType::kFloat32:
          d_type = CUDA_R_32F;
          break;
        default:
          return unsupported("QuantLinear in ", dtype_name(type), " has no CUDA kernel");
      }
    }
    // An FP8 D: C (never read, beta = 0) and the bias keep the 16-bit activation type.
    const bool codes_d = fp8_d(g.mode);
    if (codes_d && d_type != CUDA_R_16F && d_type != CUDA_R_16BF) {
      return unsupported("QuantLinear: an FP8 D needs a 16-bit plan, got ", dtype_name(type));
    }
    const cudaDataType_t in_type = int8 ? CUDA_R_8I : CUDA_R_8F_E4M3;
    VITRT_BLAS(cublasLtMatmulDescCreate(&lt.op, int8 ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F,
                                        int8 ? CUDA_R_32I : CUDA_R_32F),
               "matmul desc");
    const cublasOperation_t op_a = CUBLAS_OP_T, op_b = CUBLAS_OP_N;
    VITRT_BLAS(
        cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)),
        "transa");
    VITRT_BLAS(
        cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)),
        "transb");
    if (g.fast_accum && !int8) {
      const int8_t on = 1;
      VITRT_BLAS(
          cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &on, sizeof(on)),
          "fast accumulation");
    }
    if (codes_d) {
      VITRT_BLAS(cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER,
                                                &dev_->d_scale, sizeof(dev_->d_scale)),
                 "D scale");
    }
    if (g.mode != 1) {
      if (!p_.uniform_w_scale) {
        // w_scale runs along cuBLASLt's m (the rows of op(A) = W^T): an outer-vector A scale.
        // input_scale is B's scale: a scalar, or the same value for each of its n columns.
        const int32_t vec = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
        VITRT_BLAS(cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &vec,
                                                  sizeof(vec)),
                   "A scale mode");
        VITRT_BLAS(cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER,
                                                  &dev_->w_scale, sizeof(dev_->w_scale)),
                   "A scale");
        if (g.row_scale != nullptr) {
          VITRT_BLAS(cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &vec,
                                                    sizeof(vec)),
                     "B scale mode");
        }
        const float* b_scale = g.row_scale != nullptr ? g.row_scale : dev_->input_scale;
        VITRT_BLAS(cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER,
                                                  &b_scale, sizeof(b_scale)),
                   "B scale");
      }
      const bool relu = p_.act == UnaryOp::kRelu;
      const bool gelu_tanh =
          p_.act == UnaryOp::kGeluTanh || (g.mode == 2 && p_.act == UnaryOp::kGelu);
      cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
      if (bias != nullptr) {
        epi = relu ? CUBLASLT_EPILOGUE_RELU_BIAS
                   : (gelu_tanh ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS);
        VITRT_BLAS(cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                  sizeof(bias)),
                   "bias pointer");
        // Said explicitly: cuBLASLt's default bias type for FP8 depends on the output type (bf16
        // for an fp32 D), and the plan's bias is in the activation type.
        const int32_t bias_type = d_type;
        VITRT_BLAS(cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                  &bias_type, sizeof(bias_type)),
                   "bias type");
      } else if (relu || gelu_tanh) {
        epi = relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_GELU;
      }
      if (epi != CUBLASLT_EPILOGUE_DEFAULT) {
        VITRT_BLAS(
            cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
            "epilogue");
      }
    }
    // Column-major view: A = W^T (k x n, op T), B = Xq (k x m), D = n x m.
    VITRT_RETURN_IF_ERROR(make_layout(&lt.layouts[0], in_type, g.k, g.n, g.k, 1, 0));
    VITRT_RETURN_IF_ERROR(make_layout(&lt.layouts[1], in_type, g.k, g.m, g.k, 1, 0));
    VITRT_RETURN_IF_ERROR(make_layout(&lt.layouts[2], d_type, g.n, g.m, g.ldd, 1, 0));
    if (codes_d) {
      VITRT_RETURN_IF_ERROR(make_layout(&lt.d_layout, CUDA_R_8F_E4M3, g.n, g.m, g.ldd, 1, 0));
    }
    return make_preference(ctx, lt);
  }

  Status run_gemm(const LaunchContext& ctx, const LtObjects& lt, const QuantGemm& g,
                  const cublasLtMatmulAlgo_t& algo) const {
    const float alpha_f = g.mode != 1 && p_.uniform_w_scale ? p_.uniform_scale : 1.0f;
    // Modes 0 / 2 add the residual as C (D's type and layout, its own buffer: never D's buffer
    // under another type, which cuBLASLt refuses); mode 1's accumulators leave it to post_pass.
    // Without one beta = 0 and C is never read: D's buffer, except under an FP8 D (C's 16-bit
    // layout is not D's): then the weights stand in (see the top of the file).
    const bool add_residual = g.mode != 1 && g.residual != nullptr;
    const void* c = add_residual ? g.residual : (lt.d_layout != nullptr ? dev_->wt : g.d);
    const float beta_f = add_residual ? 1.0f : 0.0f;
    const int32_t alpha_i = 1, beta_i = 0;
    const bool int8 = p_.format == QuantFormat::kInt8;
    const void* alpha = int8 ? static_cast<const void*>(&alpha_i) : &alpha_f;
    const void* beta = int8 ? static_cast<const void*>(&beta_i) : &beta_f;
    VITRT_BLAS(cublasLtMatmul(ctx.blas, lt.op, alpha, dev_->wt, lt.layouts[0], g.xq, lt.layouts[1],
                              beta, c, lt.layouts[2], g.d, lt.d(), &algo, ctx.workspace,
                              ctx.workspace_bytes, ctx.stream),
               "QuantLinear matmul");
    return Status::ok_status();
  }

  Status post_pass(const LaunchContext& ctx, DType type, const QuantGemm& g, void* y) const {
    VITRT_ASSIGN_OR_RETURN(Elt elt, elt_of(type));
    if (g.mode == 2) return Status::ok_status();  // the GELU ran in the epilogue
    if (g.mode == 3) {
      // ReLU and tanh GELU ran in the epilogue already.
      const UnaryOp act = act_after_mode0() ? p_.act : UnaryOp::kIdentity;
      return cuda_status(
          launch_act_quantize_fp8(elt, g.d, g.rows, p_.n, act, p_.output_scale, y, ctx.stream),
          "QuantLinear activation and E4M3 codes");
    }
    if (g.mode == 0) {
      if (codes_out() && act_after_mode0()) {
        return internal_error(
            "QuantLinear: mode 0 writes codes only with the activation in "
            "cuBLASLt's epilogue");
      }
      if (!act_after_mode0()) return Status::ok_status();
      return cuda_status(launch_bias_act(elt, y, nullptr, g.rows, p_.n, p_.act, ctx.stream),
                         "QuantLinear activation");
    }
    DequantArgs d;
    d.rows = g.rows;
    d.n = p_.n;
    d.acc_ld = g.ldd;
    d.acc_int32 = p_.format == QuantFormat::kInt8;
    d.acc_offset = dev_->acc_offset;
    d.scale = dev_->dequant;
    d.bias = dev_->bias;
    d.residual = g.residual;
    d.act = p_.act;
    d.code_scale = p_.output_scale;
    d.code_int8 = p_.format == QuantFormat::kInt8;
    d.code_qmin = p_.output_qmin;
    return cuda_status(launch_dequantize_bias_act(elt, d, g.d, y, ctx.stream),
                       "QuantLinear dequantize");
  }

  Status launch(const LaunchContext& ctx, DType type, const QuantGemm& g, void* y,
                const void* act_bias, const cublasLtMatmulAlgo_t* algo) const {
    if (g.mode == 4 || g.mode == 5) return run_mode4(ctx, g, y);
    if (g.mode == 6) return run_mode6(ctx, g, y);
    LtObjects lt;
    VITRT_RETURN_IF_ERROR(prepare(ctx, type, g, act_bias, lt));
    if (algo != nullptr && algo_fits(ctx, lt, *algo)) {
      VITRT_RETURN_IF_ERROR(run_gemm(ctx, lt, g, *algo));
      return post_pass(ctx, type, g, y);
    }
    if (algo != nullptr) {
      static std::atomic<bool> warned{false};
      if (!warned.exchange(true)) {
        std::fprintf(stderr,
                     "vitrt: warning: a QuantLinear GEMM algorithm stored in the plan is not "
                     "valid with this GPU or cuBLASLt; using cuBLASLt's heuristic (rebuild the "
                     "plan here to time algorithms again)\n");
      }
    }
    VITRT_ASSIGN_OR_RETURN(std::vector<cublasLtMatmulAlgo_t> algos, heuristic_algos(ctx, lt, 1));
    if (algos.empty()) {
      return unsupported("cuBLASLt has no ", format_name(p_.format), " algorithm for a ", g.m, "x",
                         g.k, " by ", g.k, "x", g.n, " GEMM (mode ", g.mode, ")");
    }
    VITRT_RETURN_IF_ERROR(run_gemm(ctx, lt, g, algos[0]));
    return post_pass(ctx, type, g, y);
  }

  // Times each candidate (mode x cuBLASLt's heuristic and enumerated algorithms, see
  // tactic_candidates) on this problem and returns the fastest; each distinct problem is timed once
  // per build, and not at all when the timing cache has it.
  template <typename Setup>
  Result<GemmTactic> select(const LaunchContext& ctx, DType type, QuantGemm& g, Setup&& setup,
                            void* y, const void* act_bias, FusedForm form, const void* codes_x,
                            void* xq) {
    TacticTuner& tu = *ctx.tuner;
    const bool bias = p_.has_bias;
    const std::string problem =
        str_cat(tu.device_key, "|quant-", format_name(p_.format), "|", dtype_name(type), "|m",
                g.rows, "n", p_.n, "k", p_.k, "|", p_.act_text, bias ? "+bias" : "",
                g.residual != nullptr ? "+residual" : "",
                p_.uniform_w_scale ? "|per-tensor" : "|per-channel",
                mode2_possible(ctx, type, form) ? "+tanh-ok" : "",
                codes_out() ? (p_.format == QuantFormat::kInt8 ? "|d-int8" : "|d-e4m3") : "",
                // Modes are timed with their staging of X, which differs for codes X.
                codes_x != nullptr ? "|x-codes" : "|x-float", "+staged",
                mode4_possible(type) ? "|cutlass" : "", mode5_possible(ctx, type) ? "+tanh" : "",
                mode6_possible(ctx, type) ? "|cutlass-fp8" : "",
                fast_accum_possible(ctx) ? "|fast-accum" : "", "|ws", ctx.workspace_bytes,
                kTacticSearchTag);
    const std::string shape_text =
        str_cat(format_name(p_.format), " ", g.rows, "x", p_.k, "x", p_.n, " ", p_.act_text,
                bias ? "+bias" : "", g.residual != nullptr ? "+residual" : "");
    auto memo = tu.by_problem.find(problem);
    if (memo != tu.by_problem.end()) return record_tactic(tu, node_, g.rows, memo->second);
    if (std::optional<GemmTactic> t = cached_tactic(tu, problem);
        t &&
        ((t->mode == 4 && mode4_possible(type)) || (t->mode == 5 && mode5_possible(ctx, type)) ||
         (t->mode == 6 && mode6_possible(ctx, type)))) {
      accept_cached_tactic(tu, problem, *t, shape_text);
      return record_tactic(tu, node_, g.rows, *t);
    }
    if (std::optional<GemmTactic> t = cached_tactic(tu, problem);
        t && (t->mode == 1 || mode_possible(ctx, type, form, t->mode)) &&
        (!t->fast_accum || fast_accum_possible(ctx))) {
      setup(t->mode);
      g.fast_accum = t->fast_accum;
      LtObjects check;
      if (prepare(ctx, type, g, act_bias, check).ok() && algo_fits(ctx, check, t->algo)) {
        accept_cached_tactic(tu, problem, *t, shape_text);
        return record_tactic(tu, node_, g.rows, *t);
      }
    }
    // Every mode's prepared problem (setup(mode) changes g) stays alive until the race's final
    // round re-runs them.
    struct Prepared {
      QuantGemm g;
      LtObjects lt;
      TacticCandidates cands;
    };
    std::vector<std::unique_ptr<Prepared>> prepared;
    std::vector<std::pair<const Prepared*, size_t>> entries;  // by race entry number
    TacticRace race;
    VITRT_RETURN_IF_ERROR(race.init(ctx.stream));
    std::string lines;
    CandidateCounts counts;
    int cutlass = 0;
    for (int variant = 0; variant < 8; ++variant) {
      // Modes 0-3, each without and (FP8, where the build allows it) with fast accumulation.
      const int mode = variant / 2;
      const bool fast = variant % 2 == 1;
      if (fast && !fast_accum_possible(ctx)) continue;
      if (mode != 1 && !mode_possible(ctx, type, form, mode)) continue;
      setup(mode);
      auto p = std::make_unique<Prepared>();
      p->g = g;
      p->g.fast_accum = fast;
      // A mode cuBLASLt rejects (an attribute it does not know) has no candidates.
      if (!prepare(ctx, type, p->g, act_bias, p->lt).ok()) continue;
      Result<TacticCandidates> cands = tactic_candidates(ctx, p->lt);
      if (!cands.ok()) continue;
      if (cands->algos.empty()) {
        lines += str_cat("\n  mode ", mode, fast ? " fast-accum" : "", ": no algorithm");
        continue;
      }
      p->cands = std::move(*cands);
      const Prepared& pr = *p;
      prepared.push_back(std::move(p));
      for (size_t i = 0; i < pr.cands.algos.size(); ++i) {
        float ms = 0.0f;
        const int e = race.enter(
            [this, &ctx, &pr, type, y, i, codes_x, xq]() -> Status {
              VITRT_RETURN_IF_ERROR(stage_x(codes_x, pr.g.rows, xq, pr.g.mode, ctx.stream));
              VITRT_RETURN_IF_ERROR(run_gemm(ctx, pr.lt, pr.g, pr.cands.algos[i]));
              return post_pass(ctx, type, pr.g, y);
            },
            &ms);
        if (e < 0) continue;
        entries.emplace_back(&pr, i);
        counts.add(pr.cands, i);
        if (tu.verbose) {
          lines += str_cat("\n  #", e, " mode ", mode, fast ? " fast-accum" : "", " (",
                           candidate_source(pr.cands, i), " ",
                           algo_config_text(algo_config(pr.cands.algos[i])), "): ", ms, " ms");
        }
      }
    }
    for (int mode : {4, 5, 6}) {
      if (mode == 4   ? !mode4_possible(type)
          : mode == 5 ? !mode5_possible(ctx, type)
                      : !mode6_possible(ctx, type)) {
        continue;
      }
      // One candidate: CUTLASS's kernel (the algorithm slot of its tactic stays unused).
      setup(mode);
      auto p = std::make_unique<Prepared>();
      p->g = g;
      p->cands.algos.push_back(cublasLtMatmulAlgo_t{});
      const Prepared& pr = *p;
      prepared.push_back(std::move(p));
      float ms = 0.0f;
      const int e = race.enter(
          [this, &ctx, &pr, y, codes_x, xq]() -> Status {
            VITRT_RETURN_IF_ERROR(stage_x(codes_x, pr.g.rows, xq, pr.g.mode, ctx.stream));
            return pr.g.mode == 6 ? run_mode6(ctx, pr.g, y) : run_mode4(ctx, pr.g, y);
          },
          &ms);
      if (e >= 0) {
        ++cutlass;
        entries.emplace_back(&pr, 0);
        if (tu.verbose) {
          lines +=
              str_cat("\n  #", e, " mode ", mode, " (", mode_text(mode, form), "): ", ms, " ms");
        }
      }
    }
    float best_ms = -1.0f;
    const int winner = race.finish(-1, &best_ms, nullptr, &lines);
    const int tried = static_cast<int>(entries.size());
    if (winner < 0) {
      return unsupported("cuBLASLt has no working algorithm for the ", shape_text, " GEMM");
    }
    GemmTactic best;
    best.mode = entries[winner].first->g.mode;
    best.fast_accum = entries[winner].first->g.fast_accum;
    best.algo = entries[winner].first->cands.algos[entries[winner].second];
    VITRT_RETURN_IF_ERROR(store_timed_tactic(tu, problem, best, best_ms));
    if (tu.log) {
      tu.log(str_cat("tactics: ", shape_text, ": ", tried, " candidates timed (", counts.text(),
                     cutlass > 0 ? ", CUTLASS's" : "", "), chose mode ", best.mode, " (",
                     mode_text(best.mode, form), best.fast_accum ? ", fast accumulation" : "", ") ",
                     best.mode <= 3 ? algo_config_text(algo_config(best.algo)) + " " : "", best_ms,
                     " ms", tu.verbose ? lines : ""));
    }
    return record_tactic(tu, node_, g.rows, best);
  }

 private:
  QuantParams p_;
  QuantConstants c_;
  NodeId node_;
  std::vector<GemmTactic> tactics_;
  bool has_residual_ = false;
  std::shared_ptr<const DeviceWeights> dev_;
  std::map<int64_t, FusedForm> fused_;
  std::map<std::pair<int64_t, int>, bool> fp8_d_found_;  // by rows and mode
  std::map<int64_t, DeviceBuffer> row_scale_;
};

Result<QuantParams> quant_params(const Attributes& at) {
  QuantParams p;
  VITRT_ASSIGN_OR_RETURN(std::string format, at.get_string("format", ""));
  if (format == "int8") {
    p.format = QuantFormat::kInt8;
  } else if (format == "fp8") {
    p.format = QuantFormat::kFp8E4M3;
  } else {
    return invalid_model("attribute 'format' is '", format, "', expected 'int8' or 'fp8'");
  }
  VITRT_ASSIGN_OR_RETURN(p.input_scale, at.get_float("input_scale", 0.0f));
  if (!(p.input_scale > 0.0f) || !std::isfinite(p.input_scale)) {
    return invalid_model("attribute 'input_scale' must be a positive finite float, got ",
                         p.input_scale);
  }
  VITRT_ASSIGN_OR_RETURN(int64_t zp, at.get_int("input_zero_point", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t qmin, at.get_int("input_qmin", -127));
  VITRT_ASSIGN_OR_RETURN(int64_t qmax, at.get_int("input_qmax", 127));
  if (p.format == QuantFormat::kInt8) {
    if (qmin > qmax || zp < qmin || zp > qmax) {
      return invalid_model("input_qmin/input_qmax/input_zero_point = ", qmin, "/", qmax, "/", zp,
                           " must satisfy qmin <= zero_point <= qmax");
    }
    // The GEMM runs on int8: shift by the zero point when the range allows (symmetric int8),
    // else by qmax - 127 (uint8 ranges such as [0, 255], with any zero point).
    int64_t offset = zp;
    if (qmin - offset < -128 || qmax - offset > 127) offset = qmax - 127;
    if (qmin - offset < -128) {
      return unsupported("int8 QuantLinear on CUDA needs input_qmax - input_qmin <= 255, got [",
                         qmin, ", ", qmax, "]");
    }
    p.zero_point = static_cast<int>(zp);
    p.qmin = static_cast<int>(qmin);
    p.qmax = static_cast<int>(qmax);
    p.offset = static_cast<int>(offset);
  }
  VITRT_ASSIGN_OR_RETURN(p.act, linear_activation(at));
  VITRT_ASSIGN_OR_RETURN(p.act_text, at.get_string("activation", "none"));
  if (at.has("output_scale")) {
    VITRT_ASSIGN_OR_RETURN(p.output_scale, at.get_float("output_scale", 0.0f));
    if (!(p.output_scale > 0.0f) || !std::isfinite(p.output_scale)) {
      return invalid_model("attribute 'output_scale' must be a positive finite float, got ",
                           p.output_scale);
    }
  }
  if (at.has("output_qmin")) {
    VITRT_ASSIGN_OR_RETURN(int64_t oq, at.get_int("output_qmin", -127));
    if (p.format != QuantFormat::kInt8 || p.output_scale == 0.0f || oq < -128 || oq > 0) {
      return invalid_model("attribute 'output_qmin' (", oq,
                           ") must lie in [-128, 0] on an int8 layer with output_scale");
    }
    p.output_qmin = static_cast<int>(oq);
  }
  return p;
}

Result<std::unique_ptr<CudaKernel>> make_quant_linear(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t dynamic, init.node.attrs.get_int("dynamic_input", 0));
  if (dynamic == 1) return make_dynamic_quant_linear(init);
  VITRT_ASSIGN_OR_RETURN(QuantParams p, quant_params(init.node.attrs));
  const Tensor* w = constant_input(init, 1);
  const Tensor* w_scale = constant_input(init, 2);
  const Tensor* bias = constant_input(init, 3);
  const DType w_type = p.format == QuantFormat::kInt8 ? DType::kInt8 : DType::kUInt8;
  if (w == nullptr || w->rank() != 2 || w->dtype() != w_type) {
    return unsupported("QuantLinear on CUDA needs W_q (input 1) as a constant 2-D ",
                       dtype_name(w_type), " tensor [K, N]",
                       w != nullptr ? str_cat(", got ", w->describe()) : std::string());
  }
  p.k = w->dim(0);
  p.n = w->dim(1);
  // K to a multiple of 32, the k of one Hopper int8 / FP8 tensor-core instruction (cuBLASLt
  // asks for 16; zeros cost nothing on the shapes that are not multiples of 32 already).
  p.k_pad = (p.k + 31) / 32 * 32;
  p.n_pad = round_up16(p.n);
  // int8 sums of up to 255 * 128 per term stay within int32 (the reference sums in int64).
  if (p.format == QuantFormat::kInt8 && p.k_pad * 255 * 128 >= (int64_t(1) << 31)) {
    return unsupported("int8 QuantLinear on CUDA supports K up to 65792 (int32 accumulators), got ",
                       p.k);
  }
  if (w_scale == nullptr || w_scale->numel() != p.n || w_scale->dtype() != DType::kFloat32) {
    return unsupported("QuantLinear on CUDA needs w_scale (input 2) as a constant float32 [", p.n,
                       "]", w_scale != nullptr ? str_cat(", got ", w_scale->describe()) : "");
  }
  if (init.node.has_input(3) && (bias == nullptr || bias->numel() != p.n)) {
    return unsupported("QuantLinear on CUDA needs the bias (input 3) as a constant of ", p.n,
                       " values");
  }
  const float* ws = w_scale->data<float>();
  p.uniform_w_scale = true;
  for (int64_t j = 0; j < p.n; ++j) {
    if (!(ws[j] > 0.0f) || !std::isfinite(ws[j])) {
      return invalid_model("w_scale[", j, "] is ", ws[j], ", expected a positive finite float");
    }
    p.uniform_w_scale = p.uniform_w_scale && ws[j] == ws[0];
  }
  p.uniform_scale = p.n > 0 ? p.input_scale * ws[0] : 1.0f;
  p.has_bias = bias != nullptr;
  std::vector<GemmTactic> tactics;
  if (const Attribute* a = init.node.attrs.find(kGemmTacticsAttr)) {
    // Modes 3 (16-bit D, then the E4M3 pass), 4 and 5 (CUTLASS int8) and 6 (CUTLASS FP8) are
    // QuantLinear's own.
    VITRT_ASSIGN_OR_RETURN(tactics, decode_gemm_tactics(a->ints, 6));
  }
  if (init.node.has_input(4) && p.act != UnaryOp::kIdentity) {
    return invalid_model("QuantLinear: a residual input (4) needs activation 'none', got '",
                         p.act_text, "'");
  }
  if (init.node.has_input(4) && p.output_scale > 0.0f) {
    return invalid_model(
        "QuantLinear: output_scale (codes out) does not go with a residual input (4)");
  }
  const NodeId id = static_cast<NodeId>(&init.node - init.graph.nodes.data());
  return std::unique_ptr<CudaKernel>(
      new QuantLinearKernel(std::move(p), QuantConstants{&init.node, w, w_scale, bias}, id,
                            std::move(tactics), init.node.has_input(4)));
}

}  // namespace

void register_cuda_quant_linear_kernels(CudaKernelRegistry& r) {
  r.add("vitrt", "QuantLinear", make_quant_linear);
}

}  // namespace vitrt::cuda

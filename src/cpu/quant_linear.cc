// vitrt.QuantLinear on the CPU. X may be float32, float16 or bfloat16 (converted to fp32 rows
// and the result rounded back to X's type, so a CUDA fp16 plan's layers can be checked
// against this kernel), or codes that skip the quantize step (Y then float32): uint8 E4M3 codes
// for fp8, int8 values for int8. With output_scale, Y leaves as codes of the fp32 result: fp8
// encodes them in the pass that adds the bias and applies the activation, int8 in a pass over
// the fp32 rows (encode_int8_rows).
//
// int8 runs on oneDNN where the CPU has VNNI (AVX512-VNNI, AVX-VNNI, AMX): X is quantized
// here into 8-bit rows, oneDNN multiplies them with the int8 weights (packed once at load)
// in exact int32 arithmetic, scales each column by input_scale * w_scale[n] and adds bias and
// activation (or the residual) as post-ops: the reference's steps in the same fp32 order. A full
// 8-bit range with a zero point (quantize_static's activations) goes as uint8 codes with the zero
// point and scales given to oneDNN each run, which subtracts it exactly. Without VNNI, oneDNN
// multiplies u8 x s8 pairs into saturating int16 sums, which would break exactness, so those CPUs
// (and other ranges) widen X's quantized values and W_q to int16 and take gemm_i16's exact int32
// sums (cpu/int_gemm.h), then the reference's epilogue; K beyond int32's reach runs the
// reference. fp8 runs quant_linear_fp8_rows: the reference's sums, blocked
// (src/cpu/quant_linear_fp8.cc).
//
// dynamic_input (ONNX Runtime's quantize_dynamic chains): each run takes DynamicQuantizeLinear's
// scale and zero point of the whole X, quantizes it to uint8, and oneDNN multiplies with that
// zero point and the columns' scales given at run time (exact int32 sums, then the same fp32
// steps); the reference takes them as input_scale and input_zero_point.
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/half.h"
#include "core/parallel.h"
#include "cpu/dnnl_common.h"
#include "cpu/dynamic_quantize.h"
#include "cpu/int8_matmul.h"
#include "cpu/int_gemm.h"
#include "cpu/linear.h"
#include "cpu/quant_linear.h"

namespace vitrt {
namespace {

using dnnl::memory;

// X's (or the residual's) elements as fp32 (borrowed when already fp32).
const float* float_rows(const Tensor& x, std::vector<float>& converted) {
  if (x.dtype() == DType::kFloat32) return x.data<float>();
  converted.resize(static_cast<size_t>(x.numel()));
  const uint16_t* bits = x.data<uint16_t>();
  const bool half = x.dtype() == DType::kFloat16;
  for (int64_t i = 0; i < x.numel(); ++i) {
    converted[i] = half ? half_to_float(bits[i]) : bf16_to_float(bits[i]);
  }
  return converted.data();
}

class QuantLinearKernel final : public CpuKernel {
 public:
  QuantLinearKernel(QuantLinearParams params, Tensor w_q, Tensor w_scale, Tensor bias,
                    bool has_residual)
      : p_(params),
        w_q_(std::move(w_q)),
        w_scale_(std::move(w_scale)),
        bias_(std::move(bias)),
        has_residual_(has_residual),
        k_(w_q_.dim(0)),
        n_(w_q_.dim(1)) {}

  // Sets up the oneDNN path when it computes exactly what the reference does (see the top of
  // the file), packing the weights for `example_m` rows now.
  Status prepare_fast_path(int64_t example_m) {
    if (p_.format != QuantFormat::kInt8) return Status();
    VITRT_RETURN_IF_ERROR(prepare_onednn(example_m));
    if (!fast_ && k_ * 255 * 128 < (int64_t{1} << 31)) {
      // Exact int32 sums of int16 operands (|xq - zp| <= 255, |w| <= 128) on any CPU.
      w16_.assign(w_q_.data<int8_t>(), w_q_.data<int8_t>() + k_ * n_);
    }
    return Status();
  }

  Status prepare_onednn(int64_t example_m) {
    if (!cpu_has_vnni()) return Status();
    // oneDNN sums in int32: |xq| <= 255 and |w| <= 128 must not overflow over K terms.
    if (k_ * 255 * 128 >= (int64_t{1} << 31)) return Status();
    // uint8 X with the run's zero point, which oneDNN subtracts exactly; scales per run.
    if (p_.dynamic_input) return prepare_runtime_quantized(example_m);
    const int32_t lo = p_.qmin - p_.zero_point;
    const int32_t hi = p_.qmax - p_.zero_point;
    const bool s8 = lo >= -128 && hi <= 127;
    const bool u8 = lo >= 0 && hi <= 255;
    if (!s8 && !u8) {
      // A full 8-bit range with a zero point (ONNX Runtime's quantize_static: uint8, or int8 with
      // its asymmetric activations): the dynamic layers' product on uint8 codes, given this
      // layer's constant scale and zero point each run. int8 codes shift by 128 (q - zp is
      // unchanged).
      const bool full_u8 = p_.qmin == 0 && p_.qmax == 255;
      const bool full_s8 = p_.qmin == -128 && p_.qmax == 127;
      if (!full_u8 && !full_s8) return Status();
      code_shift_ = full_s8 ? 128 : 0;
      uint8_zero_point_ = true;
      column_scales_.resize(static_cast<size_t>(n_));
      for (int64_t j = 0; j < n_; ++j) {
        column_scales_[j] = p_.input_scale * w_scale_.data<float>()[j];
      }
      return prepare_runtime_quantized(example_m);
    }
    std::vector<float> scales(static_cast<size_t>(n_));
    for (int64_t j = 0; j < n_; ++j) scales[j] = p_.input_scale * w_scale_.data<float>()[j];
    fast_ = std::make_unique<Int8Matmul>(w_q_, std::move(scales), bias_.defined(), has_residual_,
                                         p_.activation, !s8);
    src_unsigned_ = !s8;
    std::vector<float> zeros(static_cast<size_t>(example_m * k_), 0.0f);
    std::vector<float> out(static_cast<size_t>(example_m * n_), 0.0f);
    return run_fast(zeros.data(), example_m, has_residual_ ? out.data() : nullptr, out.data());
  }

  // oneDNN's product of uint8 codes whose zero point and column scales come with each run,
  // created and run once now on zeros (packing the weights for `example_m` rows).
  Status prepare_runtime_quantized(int64_t example_m) {
    fast_ = std::make_unique<Int8Matmul>(w_q_, std::vector<float>(), bias_.defined(), has_residual_,
                                         p_.activation, true, false, true);
    src_unsigned_ = true;
    std::vector<uint8_t> zeros(static_cast<size_t>(example_m * k_), 0);
    std::vector<float> ones(static_cast<size_t>(n_), 1.0f);
    std::vector<float> out(static_cast<size_t>(example_m * n_), 0.0f);
    return fast_->run(example_m, zeros.data(), bias_.defined() ? bias_.data<float>() : nullptr,
                      has_residual_ ? out.data() : nullptr, out.data(), ones.data(), 0);
  }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const DType dtype = x.dtype();
    const bool fp8_codes_in = dtype == DType::kUInt8;
    const bool int8_codes_in = dtype == DType::kInt8;
    const bool codes_in = fp8_codes_in || int8_codes_in;
    if (fp8_codes_in && p_.format != QuantFormat::kFp8) {
      return invalid_argument("X of uint8 (E4M3 codes) needs format fp8");
    }
    if (int8_codes_in && (p_.format != QuantFormat::kInt8 || p_.dynamic_input ||
                          p_.zero_point != 0 || p_.qmax > 127)) {
      return invalid_argument(
          "X of int8 (codes) needs format int8 with input_zero_point 0 and input_qmax <= 127");
    }
    if (!codes_in && dtype != DType::kFloat32 && dtype != DType::kFloat16 &&
        dtype != DType::kBFloat16) {
      return invalid_argument(
          "X must be float32, float16, bfloat16, (fp8) uint8 E4M3 codes or (int8) int8 codes, "
          "got ",
          dtype_name(dtype));
    }
    if (x.rank() < 1 || x.dim(x.rank() - 1) != k_) {
      return invalid_argument("X is ", x.describe(), "; its last dim must be K = ", k_);
    }
    std::vector<int64_t> out_shape = x.shape();
    out_shape.back() = n_;
    const bool codes_out = p_.output_scale > 0.0f;
    const bool int8_out = codes_out && p_.format == QuantFormat::kInt8;
    const DType y_dtype = codes_out ? (int8_out ? DType::kInt8 : DType::kUInt8)
                                    : (codes_in ? DType::kFloat32 : dtype);
    const Tensor* residual = has_residual_ && inputs.size() > 4 ? inputs[4] : nullptr;
    if (has_residual_ &&
        (residual == nullptr || residual->dtype() != y_dtype || residual->shape() != out_shape)) {
      return invalid_argument("residual must be ", dtype_name(y_dtype), " ",
                              shape_to_string(out_shape), " like Y, got ",
                              residual != nullptr ? residual->describe() : std::string("none"));
    }
    Tensor y = Tensor::empty(y_dtype, out_shape);
    const int64_t m = x.numel() / k_;
    if (m > 0) {
      // fp32 rows of a 16-bit or int8-codes Y, kept per thread across runs (a fresh buffer of
      // ViT-B/16's fc1 at batch 8, 19 MB, cost its page faults every run).
      thread_local std::vector<float> y_float;
      float* out = nullptr;
      // E4M3 codes come out of the fp8 rows' epilogue; int8 codes are encoded from fp32 rows.
      uint8_t* codes = codes_out && !int8_out ? y.data<uint8_t>() : nullptr;
      if (y_dtype == DType::kFloat32) {
        out = y.data<float>();
      } else if (codes == nullptr) {
        if (y_float.size() < static_cast<size_t>(m * n_)) {
          y_float.resize(static_cast<size_t>(m * n_));
        }
        out = y_float.data();
      }
      const float* bias = bias_.defined() ? bias_.data<float>() : nullptr;
      // The residual joins the bias in the GEMM's epilogue, in fp32 (a 16-bit one widened, as
      // X is): Y is rounded once, after the sum.
      std::vector<float> residual_converted;
      const float* res = residual != nullptr ? float_rows(*residual, residual_converted) : nullptr;
      if (int8_codes_in) {
        VITRT_RETURN_IF_ERROR(run_codes(x.data<int8_t>(), m, res, out));
      } else if (fp8_codes_in) {
        // The blocked GEMM, as float X takes below: codes in and codes quantized here give the
        // same sums.
        quant_linear_fp8_code_rows(p_, x.data<uint8_t>(), m, k_, n_, w_q_.data<uint8_t>(),
                                   w_scale_.data<float>(), bias, out, res, codes);
      } else if (codes != nullptr) {
        // fp8 writes its codes from the fp8 rows' epilogue (fp8 has no oneDNN path).
        std::vector<float> x_converted;
        quant_linear_fp8_rows(p_, float_rows(x, x_converted), m, k_, n_, w_q_.data<uint8_t>(),
                              w_scale_.data<float>(), bias, out, res, codes);
      } else {
        std::vector<float> x_converted;
        const float* rows = float_rows(x, x_converted);
        if (p_.dynamic_input) {
          VITRT_RETURN_IF_ERROR(run_dynamic(rows, m, res, out));
        } else if (fast_) {
          VITRT_RETURN_IF_ERROR(run_fast(rows, m, res, out));
        } else if (p_.format == QuantFormat::kFp8) {
          quant_linear_fp8_rows(p_, rows, m, k_, n_, w_q_.data<uint8_t>(), w_scale_.data<float>(),
                                bias, out, res);
        } else if (!w16_.empty()) {
          run_widened(p_, rows, m, res, out);
        } else {
          quant_linear_reference(p_, rows, m, k_, n_, w_q_.raw_data(), w_scale_.data<float>(), bias,
                                 out, res);
        }
      }
      if (int8_out) {
        encode_int8_rows(out, m * n_, p_.output_scale, p_.output_qmin, y.data<int8_t>());
      } else if (y_dtype == DType::kFloat16 || y_dtype == DType::kBFloat16) {
        uint16_t* bits = y.data<uint16_t>();
        for (int64_t i = 0; i < m * n_; ++i) {
          bits[i] = y_dtype == DType::kFloat16 ? float_to_half(out[i]) : float_to_bf16(out[i]);
        }
      }
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  // dynamic_input: DynamicQuantizeLinear's scale and zero point of the whole X, then the
  // static arithmetic with them (on oneDNN, zero point and scales given with the run).
  Status run_dynamic(const float* x, int64_t m, const float* residual, float* y) {
    Result<DynamicQuantization> q = dynamic_quantization_of(x, m * k_);
    if (!q.ok()) return q.status().with_context("QuantLinear with dynamic_input");
    QuantLinearParams p = p_;
    p.input_scale = q->scale;
    p.zero_point = q->zero_point;
    const float* bias = bias_.defined() ? bias_.data<float>() : nullptr;
    if (!fast_ && !w16_.empty()) {
      run_widened(p, x, m, residual, y);
      return Status();
    }
    if (!fast_) {
      quant_linear_reference(p, x, m, k_, n_, w_q_.raw_data(), w_scale_.data<float>(), bias, y,
                             residual);
      return Status();
    }
    auto* xq =
        static_cast<uint8_t*>(dnnl_thread_buffer(kQuantizedSrc, static_cast<size_t>(m * k_)));
    if (xq == nullptr) {
      return Status(StatusCode::kOutOfMemory, str_cat("8-bit copy of X: ", m * k_, " bytes"));
    }
    quantize_dynamic_uint8(x, m * k_, *q, xq);
    // The reference's s_n = fp32(input_scale * w_scale[n]).
    std::vector<float> scales(static_cast<size_t>(n_));
    for (int64_t j = 0; j < n_; ++j) scales[j] = q->scale * w_scale_.data<float>()[j];
    return fast_->run(m, xq, bias, residual, y, scales.data(), q->zero_point);
  }

  // X already quantized (int8 codes, zero point 0): the product of whichever exact path the
  // float X would take, without its quantize step.
  Status run_codes(const int8_t* xq, int64_t m, const float* residual, float* y) {
    const float* bias = bias_.defined() ? bias_.data<float>() : nullptr;
    if (fast_) return fast_->run(m, xq, bias, residual, y);
    if (!w16_.empty()) {
      std::vector<int16_t> x16(xq, xq + m * k_);
      std::vector<int32_t> acc(static_cast<size_t>(m * n_));
      gemm_i16(m, k_, n_, x16.data(), w16_.data(), acc.data());
      quant_linear_int8_finish(p_, acc.data(), m, n_, w_scale_.data<float>(), bias, residual, y);
      return Status();
    }
    quant_linear_reference_int8_codes(p_, xq, m, k_, n_, w_q_.data<int8_t>(),
                                      w_scale_.data<float>(), bias, y, residual);
    return Status();
  }

  // Without VNNI: X quantized as the reference does into int16 (xq - zero_point), the exact
  // int32 sums of gemm_i16, and the reference's epilogue.
  void run_widened(const QuantLinearParams& p, const float* x, int64_t m, const float* residual,
                   float* y) {
    std::vector<int16_t> x16(static_cast<size_t>(m * k_));
    parallel_for(m * k_, 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) x16[i] = static_cast<int16_t>(quantize_int8(x[i], p));
    });
    std::vector<int32_t> acc(static_cast<size_t>(m * n_));
    gemm_i16(m, k_, n_, x16.data(), w16_.data(), acc.data());
    quant_linear_int8_finish(p, acc.data(), m, n_, w_scale_.data<float>(),
                             bias_.defined() ? bias_.data<float>() : nullptr, residual, y);
  }

  // Quantizes the rows (quantize_int8, as the reference) into 8 bits, then the oneDNN product.
  Status run_fast(const float* x, int64_t m, const float* residual, float* y) {
    void* q = dnnl_thread_buffer(kQuantizedSrc, static_cast<size_t>(m * k_));
    if (q == nullptr) {
      return Status(StatusCode::kOutOfMemory, str_cat("8-bit copy of X: ", m * k_, " bytes"));
    }
    if (uint8_zero_point_) {
      // uint8 codes clamp(round(x / scale) + zp + shift, 0, 255); oneDNN subtracts zp + shift.
      const int32_t zp = p_.zero_point + code_shift_;
      quantize_per_tensor(x, m * k_, p_.input_scale, zp, static_cast<uint8_t*>(q));
      return fast_->run(m, q, bias_.defined() ? bias_.data<float>() : nullptr, residual, y,
                        column_scales_.data(), zp);
    }
    // One thread: the loop is vectorized and memory-bound (0.7-3 ms for ViT-B/16's largest
    // inputs at batch 8), and waking a second thread for it cost ~10 ms a layer on a busy
    // 2-core machine.
    if (src_unsigned_) {
      quantize_int8_rows(x, m * k_, p_, static_cast<uint8_t*>(q));
    } else {
      quantize_int8_rows(x, m * k_, p_, static_cast<int8_t*>(q));
    }
    return fast_->run(m, q, bias_.defined() ? bias_.data<float>() : nullptr, residual, y);
  }

  QuantLinearParams p_;
  Tensor w_q_, w_scale_, bias_;
  bool has_residual_;
  int64_t k_, n_;
  std::unique_ptr<Int8Matmul> fast_;
  std::vector<int16_t> w16_;  // W_q widened, for CPUs without VNNI
  // uint8 activations with a nonzero zero point: oneDNN takes it (and the scales) per run.
  bool uint8_zero_point_ = false;
  int32_t code_shift_ = 0;  // 128 for an int8 range, so its codes are uint8
  std::vector<float> column_scales_;
  bool src_unsigned_ = false;
};

Result<std::unique_ptr<CpuKernel>> make_quant_linear_kernel(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(QuantLinearParams params, parse_quant_linear_params(init.node.attrs));
  const DType w_dtype = params.format == QuantFormat::kInt8 ? DType::kInt8 : DType::kUInt8;
  const Tensor* w = init.constant_input(1);
  if (w == nullptr || w->dtype() != w_dtype || w->rank() != 2) {
    return invalid_argument("W_q must be a constant ", dtype_name(w_dtype), " [K, N] matrix");
  }
  const Tensor* w_scale = init.constant_input(2);
  if (w_scale == nullptr || w_scale->dtype() != DType::kFloat32 || w_scale->numel() != w->dim(1)) {
    return invalid_argument("w_scale must be a constant float32 [", w->dim(1), "]");
  }
  const Tensor* bias = init.constant_input(3);
  if (init.node.has_input(3) &&
      (bias == nullptr || bias->dtype() != DType::kFloat32 || bias->numel() != w->dim(1))) {
    return invalid_argument("bias must be a constant float32 [", w->dim(1), "]");
  }
  const bool has_residual = init.node.has_input(4);
  if (has_residual && params.activation != MatmulActivation::kNone) {
    return invalid_argument("a residual input needs activation 'none'");
  }
  if (has_residual && params.output_scale > 0.0f) {
    return invalid_argument("output_scale (codes out) does not go with a residual input");
  }
  auto kernel = std::make_unique<QuantLinearKernel>(
      params, *w, *w_scale, bias != nullptr ? *bias : Tensor(), has_residual);
  VITRT_RETURN_IF_ERROR(
      kernel->prepare_fast_path(example_rows(init.graph.values[init.node.inputs[0]])));
  return std::unique_ptr<CpuKernel>(std::move(kernel));
}

}  // namespace

void register_cpu_quant_linear_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "QuantLinear", make_quant_linear_kernel);
}

}  // namespace vitrt

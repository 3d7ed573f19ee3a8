// GEMM-based ops on CUDA through cuBLASLt: MatMul, Gemm, vitrt.Linear (bias and activation in
// the epilogue where cuBLASLt has it, the residual as C with beta = 1), Conv as patches + GEMM,
// vitrt.ChannelsLastConv (channels-last: the direct depthwise kernel, NHWC im2col + GEMM);
// and vitrt.Attention.
//
// Row-major C[M,N] = A[M,K] B[K,N] is computed as the column-major C^T = B^T A^T, so B is
// cuBLASLt's "A" operand and the bias (one value per column of C) runs along its rows.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "cuda/cublaslt_matmul.h"
#include "cuda/cuda_kernel.h"
#include "cuda/cudnn_attention.h"
#include "cuda/cudnn_conv.h"
#include "ir/ops/channels_last_conv.h"
#include "ir/ops/col2im.h"
#include "ir/ops/conv_attributes.h"
#include "ir/ops/op_attributes.h"
#include "runtime/timing_cache.h"

namespace vitrt::cuda {
namespace {

struct GemmCall {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const void* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  void* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  int64_t batch = 1;
  const void* bias = nullptr;       // [n], in the activation type
  bool relu = false;                // fused after the bias
  bool gelu_tanh = false;           // fused after the bias (cuBLASLt's GELU is the tanh form)
  float alpha = 1.0f, beta = 0.0f;  // beta != 0 accumulates into c (or adds c_in)
  // With beta != 0: the C matrix read, laid out as c (same type, same ld), when it is another
  // buffer than the output (Linear's residual); null: c itself.
  const void* c_in = nullptr;
  const cublasLtMatmulAlgo_t* algo = nullptr;  // a chosen algorithm, else the heuristic's first
};

Status prepare_gemm(const LaunchContext& ctx, DType type, const GemmCall& g, LtObjects& lt) {
  cudaDataType_t dt;
  switch (type) {
    case DType::kFloat32:
      dt = CUDA_R_32F;
      break;
    case DType::kFloat16:
      dt = CUDA_R_16F;
      break;
    case DType::kBFloat16:
      dt = CUDA_R_16BF;
      break;
    default:
      return unsupported("GEMM in ", dtype_name(type), " has no CUDA kernel");
  }
  // fp32 plans compute in true fp32 unless TF32 was asked for at build time.
  const cublasComputeType_t compute =
      (type == DType::kFloat32 && ctx.tf32) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  VITRT_BLAS(cublasLtMatmulDescCreate(&lt.op, compute, CUDA_R_32F), "matmul desc");
  const cublasOperation_t op_a = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  VITRT_BLAS(
      cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)),
      "transa");
  VITRT_BLAS(
      cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)),
      "transb");
  if (g.bias != nullptr || g.relu || g.gelu_tanh) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
    if (g.bias != nullptr) {
      epi = g.relu ? CUBLASLT_EPILOGUE_RELU_BIAS
                   : (g.gelu_tanh ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS);
      VITRT_BLAS(cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias,
                                                sizeof(g.bias)),
                 "bias pointer");
    } else {
      epi = g.relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_GELU;
    }
    VITRT_BLAS(
        cublasLtMatmulDescSetAttribute(lt.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
        "epilogue");
  }
  // Column-major view: "A" = B (n x k before op), "B" = A (k x m before op), D = n x m.
  VITRT_RETURN_IF_ERROR(make_layout(&lt.layouts[0], dt, g.trans_b ? g.k : g.n,
                                    g.trans_b ? g.n : g.k, g.ldb, g.batch, g.stride_b));
  VITRT_RETURN_IF_ERROR(make_layout(&lt.layouts[1], dt, g.trans_a ? g.m : g.k,
                                    g.trans_a ? g.k : g.m, g.lda, g.batch, g.stride_a));
  VITRT_RETURN_IF_ERROR(make_layout(&lt.layouts[2], dt, g.n, g.m, g.ldc, g.batch, g.stride_c));
  return make_preference(ctx, lt);
}

Status run_prepared(const LaunchContext& ctx, const LtObjects& lt, const GemmCall& g,
                    const cublasLtMatmulAlgo_t& algo) {
  const void* c = g.c_in != nullptr ? g.c_in : g.c;
  VITRT_BLAS(cublasLtMatmul(ctx.blas, lt.op, &g.alpha, g.b, lt.layouts[0], g.a, lt.layouts[1],
                            &g.beta, c, lt.layouts[2], g.c, lt.layouts[2], &algo, ctx.workspace,
                            ctx.workspace_bytes, ctx.stream),
             "matmul");
  return Status::ok_status();
}

Status gemm(const LaunchContext& ctx, DType type, const GemmCall& g) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return Status::ok_status();
  LtObjects lt;
  VITRT_RETURN_IF_ERROR(prepare_gemm(ctx, type, g, lt));
  if (g.algo != nullptr) {
    if (algo_fits(ctx, lt, *g.algo)) return run_prepared(ctx, lt, g, *g.algo);
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      std::fprintf(stderr,
                   "vitrt: warning: a GEMM algorithm stored in the plan (%lldx%lldx%lld) is not "
                   "valid with this GPU or cuBLASLt; using cuBLASLt's heuristic (rebuild the "
                   "plan here to time algorithms again)\n",
                   static_cast<long long>(g.m), static_cast<long long>(g.k),
                   static_cast<long long>(g.n));
    }
  }
  VITRT_ASSIGN_OR_RETURN(std::vector<cublasLtMatmulAlgo_t> algos, heuristic_algos(ctx, lt, 1));
  if (algos.empty()) {
    return unsupported("cuBLASLt has no algorithm for a ", g.m, "x", g.k, " by ", g.k, "x", g.n,
                       " GEMM in ", dtype_name(type));
  }
  return run_prepared(ctx, lt, g, algos[0]);
}

const char* byte_offset(const void* p, int64_t elements, DType t) {
  return static_cast<const char*>(p) + elements * static_cast<int64_t>(dtype_size(t));
}

// ---- MatMul ----------------------------------------------------------------------------------

class MatMulKernel final : public CudaKernel {
 public:
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& a = *in[0];
    const DeviceTensor& b = *in[1];
    if (a.shape.empty() || b.shape.empty()) return invalid_argument("MatMul of a scalar");
    if (a.dtype != b.dtype || !dtype_is_float(a.dtype)) {
      return unsupported("MatMul of ", dtype_name(a.dtype), " by ", dtype_name(b.dtype));
    }
    // 1-D operands are promoted to matrices and the added dim dropped from the result.
    std::vector<int64_t> as = a.shape, bs = b.shape;
    const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
    if (a_vec) as.insert(as.begin(), 1);
    if (b_vec) bs.push_back(1);
    const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
    if (bs[bs.size() - 2] != k) {
      return invalid_argument("MatMul shapes ", shape_to_string(a.shape), " and ",
                              shape_to_string(b.shape), " do not match");
    }
    const std::vector<int64_t> ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> batch, broadcast_shapes(ab, bb));
    if (!ctx.launch) {
      std::vector<int64_t> shape = batch;
      if (!a_vec) shape.push_back(m);
      if (!b_vec) shape.push_back(n);
      out[0].dtype = a.dtype;
      out[0].shape = shape;
      return Status::ok_status();
    }
    GemmCall g;
    g.m = m;
    g.n = n;
    g.k = k;
    g.a = a.data;
    g.lda = k;
    g.b = b.data;
    g.ldb = n;
    g.c = out[0].data;
    g.ldc = n;
    const int64_t nb = shape_numel(batch), na = shape_numel(ab), nbb = shape_numel(bb);
    if (nbb == 1) {
      // A weight matrix: all of A's rows in one GEMM.
      g.m = na * m;
      return gemm(ctx, a.dtype, g);
    }
    const bool a_full = ab.size() == batch.size() && na == nb;
    const bool b_full = bb.size() == batch.size() && nbb == nb;
    if ((a_full || na == 1) && (b_full || nbb == 1)) {
      g.batch = nb;
      g.stride_a = na == 1 ? 0 : m * k;
      g.stride_b = nbb == 1 ? 0 : k * n;
      g.stride_c = m * n;
      return gemm(ctx, a.dtype, g);
    }
    // Other broadcasts: one GEMM per output matrix.
    const StridedView va = broadcast_view(ab, batch), vb = broadcast_view(bb, batch);
    for (int64_t i = 0; i < nb; ++i) {
      int64_t rem = i, oa = 0, ob = 0;
      for (int d = static_cast<int>(batch.size()) - 1; d >= 0; --d) {
        const int64_t idx = rem % batch[d];
        rem /= batch[d];
        oa += idx * va.strides[d];
        ob += idx * vb.strides[d];
      }
      GemmCall gi = g;
      gi.a = byte_offset(a.data, oa * m * k, a.dtype);
      gi.b = byte_offset(b.data, ob * k * n, a.dtype);
      gi.c = const_cast<char*>(byte_offset(out[0].data, i * m * n, a.dtype));
      VITRT_RETURN_IF_ERROR(gemm(ctx, a.dtype, gi));
    }
    return Status::ok_status();
  }
};

// ---- Gemm ------------------------------------------------------------------------------------

class GemmKernel final : public CudaKernel {
 public:
  GemmKernel(bool ta, bool tb, float alpha, float beta)
      : ta_(ta), tb_(tb), alpha_(alpha), beta_(beta) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& a = *in[0];
    const DeviceTensor& b = *in[1];
    const DeviceTensor* c = in.size() > 2 ? in[2] : nullptr;
    if (a.shape.size() != 2 || b.shape.size() != 2) return invalid_argument("A and B must be 2-D");
    const int64_t m = ta_ ? a.shape[1] : a.shape[0], k = ta_ ? a.shape[0] : a.shape[1];
    const int64_t n = tb_ ? b.shape[0] : b.shape[1];
    if ((tb_ ? b.shape[1] : b.shape[0]) != k) return invalid_argument("A and B do not match");
    if (!ctx.launch) {
      out[0].dtype = a.dtype;
      out[0].shape = {m, n};
      if (c != nullptr) VITRT_RETURN_IF_ERROR(broadcast_shapes(c->shape, {m, n}).status());
      return Status::ok_status();
    }
    GemmCall g;
    g.trans_a = ta_;
    g.trans_b = tb_;
    g.m = m;
    g.n = n;
    g.k = k;
    g.a = a.data;
    g.lda = a.shape[1];
    g.b = b.data;
    g.ldb = b.shape[1];
    g.c = out[0].data;
    g.ldc = n;
    g.alpha = alpha_;
    const bool bias_vector =
        c != nullptr && c->numel() == n && (c->shape.size() == 1 || c->shape[0] == 1);
    if (c != nullptr && beta_ == 1.0f && bias_vector) {
      g.bias = c->data;
    } else if (c != nullptr && beta_ != 0.0f) {
      // C spread over the output, then accumulated into by the GEMM.
      VITRT_RETURN_IF_ERROR(
          cuda_status(launch_copy_strided(static_cast<int>(dtype_size(a.dtype)), c->data,
                                          broadcast_view(c->shape, {m, n}), out[0].data,
                                          contiguous_view({m, n}), ctx.stream),
                      "Gemm C"));
      g.beta = beta_;
    }
    return gemm(ctx, a.dtype, g);
  }

 private:
  bool ta_, tb_;
  float alpha_, beta_;
};

// ---- vitrt.Linear ----------------------------------------------------------------------------

const char* act_name(UnaryOp act) {
  switch (act) {
    case UnaryOp::kGelu:
      return "gelu";
    case UnaryOp::kGeluTanh:
      return "gelu_tanh";
    case UnaryOp::kQuickGelu:
      return "quick_gelu";
    case UnaryOp::kSilu:
      return "silu";
    case UnaryOp::kHardSwish:
      return "hard_swish";
    case UnaryOp::kRelu6:
      return "relu6";
    case UnaryOp::kRelu:
      return "relu";
    default:
      return "none";
  }
}

// Row-major X[m, k] W[k, n] = Y[m, n], all contiguous; the pointers are the caller's.
GemmCall linear_gemm(int64_t m, int64_t n, int64_t k) {
  GemmCall g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.lda = k;
  g.ldb = n;
  g.ldc = n;
  return g;
}

// Linear's mode 0: the bias, and the activations cuBLASLt has (ReLU, tanh GELU), in its
// epilogue; erf and quick GELU run in a pass after.
GemmCall with_epilogue(GemmCall g, const void* bias, UnaryOp act) {
  g.bias = bias;
  g.relu = act == UnaryOp::kRelu;
  g.gelu_tanh = act == UnaryOp::kGeluTanh;
  return g;
}

const char* mode_name(int mode) {
  return mode == 0 ? "epilogue" : (mode == 1 ? "bias+act kernel" : "tanh-form GELU epilogue");
}

// Linear's mode 7 (fp16 / bf16): vitrt's kernel for a few rows (cuda/gemv_linear.cu), which
// applies the LayerNorm prologue (inputs 4 and 5) itself; its variant is the first word of the
// tactic's algorithm field, which no cuBLASLt algorithm is read from in that mode.
constexpr int kGemvMode = 7;
// The build times mode 7 for up to this many rows (the kernel's one block row).
constexpr int64_t kGemvTimedRows = 8;
// A run takes a mode-7 tactic for up to this many rows: past them (a profile's larger batch
// using its small opt shape's choice), each 8 rows streaming W again would cost more than
// cuBLASLt, whose heuristic then picks.
constexpr int64_t kGemvRunRows = 32;

// Whether the build times mode 7: VITRT_TACTIC_GEMV=0 leaves it out (to measure what it brings;
// a timing cache written either way keeps its choices).
bool gemv_tactics_enabled() {
  const char* v = std::getenv("VITRT_TACTIC_GEMV");
  return v == nullptr || std::string(v) != "0";
}

// A run's LayerNorm prologue: the parameters, and the scratch rows that modes 0-2 normalize X
// into before their GEMM reads them (null when the chosen tactic is mode 7).
struct NormCall {
  const void* x = nullptr;
  const void* gamma = nullptr;
  const void* beta = nullptr;
  float epsilon = 1e-5f;
  void* scratch = nullptr;
};

class LinearKernel final : public CudaKernel {
 public:
  LinearKernel(UnaryOp act, NodeId node, std::vector<GemmTactic> tactics, float norm_epsilon,
               bool float32_output)
      : act_(act),
        node_(node),
        tactics_(std::move(tactics)),
        norm_epsilon_(norm_epsilon),
        float32_output_(float32_output) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& w = *in[1];
    const DeviceTensor* bias = in.size() > 2 ? in[2] : nullptr;
    const DeviceTensor* residual = in.size() > 3 ? in[3] : nullptr;
    const DeviceTensor* norm_scale = in.size() > 4 ? in[4] : nullptr;
    const DeviceTensor* norm_bias = in.size() > 5 ? in[5] : nullptr;
    if (x.shape.empty() || w.shape.size() != 2 || x.shape.back() != w.shape[0]) {
      return invalid_argument("X ", shape_to_string(x.shape), " and W ", shape_to_string(w.shape),
                              " do not match ([..., K] and [K, N])");
    }
    const int64_t k = w.shape[0], n = w.shape[1];
    const int64_t m = x.numel() / std::max<int64_t>(k, 1);
    if (!ctx.launch) {
      if (bias != nullptr && bias->numel() != n) return invalid_argument("bias must hold N values");
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      out[0].shape.back() = n;
      const bool gemv = ctx.tuner == nullptr && runs_gemv(nearest_tactic(m), x.dtype, m, n, k);
      // The plan's fp32 output straight from the few-rows kernel: no conversion pass after.
      if (float32_output_ && x.dtype != DType::kFloat32 && gemv) out[0].dtype = DType::kFloat32;
      if (residual != nullptr && (residual->dtype != x.dtype || residual->shape != out[0].shape)) {
        return invalid_argument("residual ", dtype_name(residual->dtype), " ",
                                shape_to_string(residual->shape), " must be ", dtype_name(x.dtype),
                                " ", shape_to_string(out[0].shape), " like the output");
      }
      if (norm_scale != nullptr) {
        if (norm_scale->numel() != k || (norm_bias != nullptr && norm_bias->numel() != k)) {
          return invalid_argument("norm_scale and norm_bias must hold K = ", k, " values");
        }
        // Scratch: the normalized rows, unless this size runs the few-rows kernel.
        if (!gemv) {
          out.resize(2);
          out[1].dtype = x.dtype;
          out[1].shape = {m, k};
        }
      }
      return Status::ok_status();
    }
    GemmCall g = linear_gemm(m, n, k);
    g.a = x.data;
    g.b = w.data;
    g.c = out[0].data;
    if (residual != nullptr) {
      // D = X.W + residual (+ bias): cuBLASLt reads the residual as C, laid out as D.
      g.c_in = residual->data;
      g.beta = 1.0f;
    }
    const void* bias_data = bias != nullptr ? bias->data : nullptr;
    if (g.m == 0 || n == 0) return Status::ok_status();
    NormCall norm_call;
    const NormCall* norm = nullptr;
    if (norm_scale != nullptr) {
      norm_call.x = x.data;
      norm_call.gamma = norm_scale->data;
      norm_call.beta = norm_bias != nullptr ? norm_bias->data : nullptr;
      norm_call.epsilon = norm_epsilon_;
      norm_call.scratch = out.size() > 1 ? out[1].data : nullptr;
      g.a = norm_call.scratch;  // modes 0-2 multiply the normalized rows
      norm = &norm_call;
    }
    if (ctx.tuner != nullptr) {
      VITRT_ASSIGN_OR_RETURN(GemmTactic t, select(ctx, x.dtype, g, bias_data, norm));
      return launch(ctx, x.dtype, g, bias_data, t.mode, &t.algo, norm);
    }
    const GemmTactic* t = nearest_tactic(g.m);
    const bool gemv = runs_gemv(t, x.dtype, g.m, n, k);
    if (out[0].dtype != x.dtype) {  // fp32 out of a 16-bit plan: the shape pass chose mode 7
      if (!gemv) return internal_error("Linear: an fp32 output without the few-rows kernel");
      return launch_gemv(ctx, x.dtype, g, bias_data, norm, variant_of(t->algo), true);
    }
    if (t == nullptr || (t->mode == kGemvMode && !gemv)) {
      return launch(ctx, x.dtype, g, bias_data, 0, nullptr, norm);
    }
    return launch(ctx, x.dtype, g, bias_data, t->mode, &t->algo, norm);
  }

 private:
  // Mode 1 (plain GEMM + one bias/activation kernel) computes the same function as mode 0 only
  // where mode 0 runs the activation in our own pass anyway (erf and quick GELU) or there is
  // none; cuBLASLt's ReLU and tanh-GELU epilogues have no separate twin worth timing.
  bool has_mode1(bool has_bias) const {
    return has_bias && (activation_after_epilogue(act_) || act_ == UnaryOp::kIdentity);
  }

  // The tactic timed at the m nearest (by ratio) to this run's: the runtime uses the opt
  // shape's choice across its profile, as the tuner cannot time every batch size.
  const GemmTactic* nearest_tactic(int64_t m) const {
    return nearest_by_ratio(tactics_, m, [](const GemmTactic& t) { return t.m; });
  }

  // Mode 2 replaces an erf GELU by cuBLASLt's tanh-form epilogue: only for fp16/bf16 builds
  // that allow it (the difference is below those types' rounding of the GELU output).
  bool has_mode2(const LaunchContext& ctx, DType type, bool has_bias) const {
    return act_ == UnaryOp::kGelu && has_bias && type != DType::kFloat32 && ctx.tuner != nullptr &&
           ctx.tuner->tanh_gelu;
  }

  GemmCall call_for_mode(const GemmCall& base, const void* bias, int mode) const {
    GemmCall g = base;
    if (mode == 0) {
      g = with_epilogue(base, bias, act_);
    } else if (mode == 2) {
      g.bias = bias;
      g.gelu_tanh = true;
    }
    return g;
  }

  Status post_pass(const LaunchContext& ctx, DType type, const GemmCall& g, const void* bias,
                   int mode) const {
    const bool own_act = activation_after_epilogue(act_);
    if (mode == 2) return Status::ok_status();
    if (mode == 0 && !own_act) return Status::ok_status();
    if (mode == 1 && bias == nullptr && !own_act) return Status::ok_status();
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(type));
    return cuda_status(launch_bias_act(t, g.c, mode == 1 ? bias : nullptr, g.m, g.n,
                                       own_act ? act_ : UnaryOp::kIdentity, ctx.stream),
                       "Linear bias/activation");
  }

  // Whether mode 7's `variant` runs this problem (fp16 / bf16, the shapes gemv_linear.cu takes).
  static bool gemv_possible(DType type, const GemmCall& g, int variant) {
    const Result<Elt> t = elt_of(type);
    return t.ok() && gemv_linear_supports(*t, variant, g.m, g.n, g.k);
  }

  static int variant_of(const cublasLtMatmulAlgo_t& algo) { return static_cast<int>(algo.data[0]); }

  // Whether a run of m rows takes its (nearest) tactic t as mode 7 (else cuBLASLt's heuristic
  // runs it).
  static bool runs_gemv(const GemmTactic* t, DType type, int64_t m, int64_t n, int64_t k) {
    const Result<Elt> e = elt_of(type);
    return t != nullptr && t->mode == kGemvMode && m <= kGemvRunRows && e.ok() &&
           gemv_linear_supports(*e, variant_of(t->algo), m, n, k);
  }

  Status launch_gemv(const LaunchContext& ctx, DType type, const GemmCall& g, const void* bias,
                     const NormCall* norm, int variant, bool y_float32 = false) const {
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(type));
    GemvLinearArgs a;
    a.x = g.a;
    if (norm != nullptr) {
      a.x = norm->x;  // g.a is the scratch that modes 0-2 normalize into
      a.gamma = norm->gamma;
      a.beta = norm->beta;
      a.epsilon = norm->epsilon;
    }
    a.w = g.b;
    a.bias = bias;
    a.residual = g.c_in;
    a.y = g.c;
    a.y_float32 = y_float32;
    a.m = g.m;
    a.n = g.n;
    a.k = g.k;
    a.act = act_;
    const std::string what =
        str_cat("Linear's few-rows kernel (", gemv_linear_variant_name(variant), ")");
    return cuda_status(launch_gemv_linear(t, variant, a, ctx.stream), what.c_str());
  }

  // Modes 0-2 with a prologue: the LayerNorm kernel writes the normalized rows to scratch.
  Status run_norm(const LaunchContext& ctx, DType type, const GemmCall& g,
                  const NormCall& norm) const {
    if (norm.scratch == nullptr) return internal_error("Linear: no scratch for its LayerNorm");
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(type));
    return cuda_status(launch_layer_norm(t, norm.x, nullptr, g.m, norm.gamma, norm.beta,
                                         norm.scratch, nullptr, g.m, g.k, norm.epsilon, ctx.stream),
                       "Linear's LayerNorm");
  }

  Status launch(const LaunchContext& ctx, DType type, const GemmCall& base, const void* bias,
                int mode, const cublasLtMatmulAlgo_t* algo, const NormCall* norm) const {
    if (mode == kGemvMode) {
      if (algo == nullptr) return internal_error("Linear: mode 7 without its variant");
      return launch_gemv(ctx, type, base, bias, norm, variant_of(*algo));
    }
    if (norm != nullptr) VITRT_RETURN_IF_ERROR(run_norm(ctx, type, base, *norm));
    GemmCall g = call_for_mode(base, bias, mode);
    g.algo = algo;
    VITRT_RETURN_IF_ERROR(gemm(ctx, type, g));
    return post_pass(ctx, type, g, bias, mode);
  }

  // Part of the timing-cache key and log: beta = 1 with a C matrix runs other kernels (or the
  // same ones with another cost) than beta = 0, so a tactic timed without C is not reused.
  static const char* residual_text(const GemmCall& g) {
    return g.c_in != nullptr ? "+residual" : "";
  }

  // Times each candidate (mode x cuBLASLt's heuristic and enumerated algorithms, see
  // tactic_candidates) on this problem and returns the fastest; each distinct problem is timed
  // once per build, and not at all when the timing cache has it.
  Result<GemmTactic> select(const LaunchContext& ctx, DType type, const GemmCall& base,
                            const void* bias, const NormCall* norm) {
    TacticTuner& tu = *ctx.tuner;
    std::vector<int> gemv_variants;  // mode 7's, for a few rows
    for (int v = 0;
         base.m <= kGemvTimedRows && gemv_tactics_enabled() && v < gemv_linear_variants(); ++v) {
      if (gemv_possible(type, base, v)) gemv_variants.push_back(v);
    }
    const char* norm_text = norm == nullptr ? "" : "+layernorm";
    const std::string problem =
        str_cat(tu.device_key, "|", dtype_name(type), ctx.tf32 ? "+tf32" : "", "|m", base.m, "n",
                base.n, "k", base.k, "|", act_name(act_), bias != nullptr ? "+bias" : "",
                residual_text(base), norm_text, gemv_variants.empty() ? "" : "+gemv",
                has_mode2(ctx, type, bias != nullptr) ? "+tanh-ok" : "", "|ws", ctx.workspace_bytes,
                kTacticSearchTag);
    const std::string shape_text =
        str_cat(base.m, "x", base.k, "x", base.n, " ", norm != nullptr ? "LayerNorm+" : "",
                act_name(act_), bias != nullptr ? "+bias" : "", residual_text(base));
    auto memo = tu.by_problem.find(problem);
    if (memo != tu.by_problem.end()) return record_tactic(tu, node_, base.m, memo->second);
    if (std::optional<GemmTactic> t = cached_tactic(tu, problem)) {
      bool usable = false;
      if (t->mode == kGemvMode) {
        usable = std::find(gemv_variants.begin(), gemv_variants.end(), variant_of(t->algo)) !=
                 gemv_variants.end();
      } else if (t->mode == 0 || (t->mode == 1 && has_mode1(bias != nullptr)) ||
                 (t->mode == 2 && has_mode2(ctx, type, bias != nullptr))) {
        LtObjects check;
        VITRT_RETURN_IF_ERROR(prepare_gemm(ctx, type, call_for_mode(base, bias, t->mode), check));
        usable = algo_fits(ctx, check, t->algo);
      }
      if (usable) {
        accept_cached_tactic(tu, problem, *t, shape_text);
        return record_tactic(tu, node_, base.m, *t);
      }
    }
    // Every mode's prepared problem stays alive until the race's final round re-runs them.
    struct Prepared {
      int mode = 0;
      GemmCall g;
      LtObjects lt;
      TacticCandidates cands;
    };
    std::vector<std::unique_ptr<Prepared>> prepared;
    std::vector<std::pair<const Prepared*, size_t>> entries;  // by race entry number
    TacticRace race;
    VITRT_RETURN_IF_ERROR(race.init(ctx.stream));
    std::string lines;
    CandidateCounts counts;
    int heuristic_first = -1;
    for (int mode = 0; mode < 3; ++mode) {
      if (mode == 1 && !has_mode1(bias != nullptr)) continue;
      if (mode == 2 && !has_mode2(ctx, type, bias != nullptr)) continue;
      auto p = std::make_unique<Prepared>();
      p->mode = mode;
      p->g = call_for_mode(base, bias, mode);
      VITRT_RETURN_IF_ERROR(prepare_gemm(ctx, type, p->g, p->lt));
      VITRT_ASSIGN_OR_RETURN(p->cands, tactic_candidates(ctx, p->lt));
      const Prepared& pr = *p;
      prepared.push_back(std::move(p));
      for (size_t i = 0; i < pr.cands.algos.size(); ++i) {
        float ms = 0.0f;
        const int e = race.enter(
            [this, &ctx, &pr, type, bias, i, norm]() -> Status {
              if (norm != nullptr) VITRT_RETURN_IF_ERROR(run_norm(ctx, type, pr.g, *norm));
              VITRT_RETURN_IF_ERROR(run_prepared(ctx, pr.lt, pr.g, pr.cands.algos[i]));
              return post_pass(ctx, type, pr.g, bias, pr.mode);
            },
            &ms);
        if (e < 0) continue;
        entries.emplace_back(&pr, i);
        counts.add(pr.cands, i);
        if (mode == 0 && i == 0) heuristic_first = e;
        if (tu.verbose) {
          lines += str_cat("\n  #", e, " ", mode_name(mode), " (", candidate_source(pr.cands, i),
                           " ", algo_config_text(algo_config(pr.cands.algos[i])), "): ", ms, " ms");
        }
      }
    }
    // Mode 7: the few-rows kernel, each variant (race entries after cuBLASLt's).
    std::vector<std::pair<int, int>> gemv_entries;  // race entry, variant
    for (int v : gemv_variants) {
      float ms = 0.0f;
      const int e =
          race.enter([this, &ctx, &base, type, bias, norm,
                      v]() -> Status { return launch_gemv(ctx, type, base, bias, norm, v); },
                     &ms);
      if (e < 0) continue;
      gemv_entries.emplace_back(e, v);
      if (tu.verbose) {
        lines += str_cat("\n  #", e, " few-rows kernel (", gemv_linear_variant_name(v), "): ", ms,
                         " ms");
      }
    }
    float best_ms = -1.0f, heuristic_ms = -1.0f;
    const int winner = race.finish(heuristic_first, &best_ms, &heuristic_ms, &lines);
    const int tried = static_cast<int>(entries.size() + gemv_entries.size());
    if (winner < 0) {
      return unsupported("cuBLASLt has no working algorithm for the ", shape_text, " GEMM");
    }
    GemmTactic best;
    std::string chosen;
    if (winner >= static_cast<int>(entries.size())) {
      const auto f =
          std::find_if(gemv_entries.begin(), gemv_entries.end(),
                       [&](const std::pair<int, int>& fe) { return fe.first == winner; });
      if (f == gemv_entries.end()) {
        return internal_error("Linear: race winner ", winner, " unknown");
      }
      best.mode = kGemvMode;
      best.algo.data[0] = static_cast<uint64_t>(f->second);
      chosen = str_cat("the few-rows kernel (", gemv_linear_variant_name(f->second), ")");
    } else {
      best.mode = entries[winner].first->mode;
      best.algo = entries[winner].first->cands.algos[entries[winner].second];
      chosen = str_cat(mode_name(best.mode), " ", algo_config_text(algo_config(best.algo)));
    }
    VITRT_RETURN_IF_ERROR(store_timed_tactic(tu, problem, best, best_ms));
    if (tu.log) {
      tu.log(str_cat("tactics: ", shape_text, ": ", tried, " candidates timed (", counts.text(),
                     gemv_entries.empty()
                         ? std::string()
                         : str_cat(", ", gemv_entries.size(), " few-rows variants"),
                     "), chose ", chosen, " ", best_ms, " ms (heuristic's first: ", heuristic_ms,
                     " ms)", tu.verbose ? lines : ""));
    }
    return record_tactic(tu, node_, base.m, best);
  }

  UnaryOp act_;
  NodeId node_;
  std::vector<GemmTactic> tactics_;
  float norm_epsilon_;
  // Output 0 is a graph output of fp32 that no node reads: a 16-bit plan may write it in fp32.
  bool float32_output_;
};

// ---- Conv (2-D) ---------------------------------------------------------------------------

// A 2-D convolution of one group is patches + GEMM: a patch embedding (stride = kernel, no
// padding or dilation) takes the patchify layout copy, any other (a hybrid ViT's stem, 1x1 and
// 3x3 bottleneck convolutions) im2col into the same [B, OH*OW, C*KH*KW] layout. Grouped and
// depthwise convolutions (MobileViT, PiT, XCiT, SegFormer: few channels per group, so little
// for a GEMM to do) run a direct kernel.
class ConvKernel final : public CudaKernel {
 public:
  ConvKernel(const Node& node, ConvAttributes attrs, bool patch)
      : node_(node), attrs_(std::move(attrs)), patch_(patch) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& w = *in[1];
    const DeviceTensor* bias = in.size() > 2 ? in[2] : nullptr;
    if (x.shape.size() != 4 || w.shape.size() != 4) return invalid_argument("Conv must be 2-D");
    const int64_t b = x.shape[0], c = x.shape[1], h = x.shape[2], wd = x.shape[3];
    const int64_t d = w.shape[0], kh = w.shape[2], kw = w.shape[3];
    const int64_t group = attrs_.group;
    if (group < 1 || c % group != 0 || d % group != 0 || w.shape[1] != c / group) {
      return invalid_argument("weight ", shape_to_string(w.shape), " does not match input ",
                              shape_to_string(x.shape), " in ", group, " group(s)");
    }
    VITRT_ASSIGN_OR_RETURN(ConvAttributes::Axis ay, attrs_.axis(node_, 0, h, kh));
    VITRT_ASSIGN_OR_RETURN(ConvAttributes::Axis ax, attrs_.axis(node_, 1, wd, kw));
    Im2colArgs a;
    a.b = b;
    a.c = c;
    a.h = h;
    a.w = wd;
    a.oh = ay.out;
    a.ow = ax.out;
    a.kh = kh;
    a.kw = kw;
    a.sh = attrs_.strides[0];
    a.sw = attrs_.strides[1];
    a.ph = ay.pad_begin;
    a.pw = ax.pad_begin;
    a.dh = attrs_.dilations[0];
    a.dw = attrs_.dilations[1];
    // The patchify copy needs whole patches; a patch convolution of an image with a remainder
    // (which it drops) takes im2col.
    const bool patchify = patch_ && h % kh == 0 && wd % kw == 0;
    const int64_t p = a.oh * a.ow, kk = c * kh * kw;
    if (group != 1) {
      if (!ctx.launch) {
        out[0].dtype = x.dtype;
        out[0].shape = {b, d, a.oh, a.ow};
        return Status::ok_status();
      }
      VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
      ConvDirectArgs cd;
      cd.geom = a;
      cd.d = d;
      cd.group = group;
      return cuda_status(
          launch_conv_direct(t, cd, x.data, w.data, bias != nullptr ? bias->data : nullptr,
                             out[0].data, ctx.stream),
          "grouped Conv");
    }
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = {b, d, a.oh, a.ow};
      out.resize(3);  // scratch: patches [B, P, K] and the GEMM result [B, P, D]
      out[1].dtype = out[2].dtype = x.dtype;
      out[1].shape = {b, p, kk};
      out[2].shape = {b, p, d};
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    VITRT_RETURN_IF_ERROR(cuda_status(
        patchify ? launch_patchify(t, t, x.data, out[1].data, b, c, h, wd, kh, kw, ctx.stream)
                 : launch_im2col(t, a, x.data, out[1].data, ctx.stream),
        patchify ? "patchify" : "im2col"));
    GemmCall g;
    g.trans_b = true;  // W is [D, K]
    g.m = b * p;
    g.n = d;
    g.k = kk;
    g.a = out[1].data;
    g.lda = kk;
    g.b = w.data;
    g.ldb = kk;
    g.c = out[2].data;
    g.ldc = d;
    VITRT_RETURN_IF_ERROR(gemm(ctx, x.dtype, g));
    return cuda_status(launch_patch_to_nchw(t, out[2].data, bias != nullptr ? bias->data : nullptr,
                                            out[0].data, b, p, d, ctx.stream),
                       "Conv output");
  }

 private:
  const Node& node_;
  ConvAttributes attrs_;
  bool patch_;
};

// ---- vitrt.ChannelsLastConv ------------------------------------------------------------------

// A 2-D convolution of an NHWC tensor (trunks kept channels-last by cancel_layout_transposes):
//  * depthwise: the direct kernel in its channels-last form (ReLU, when asked, a second pass);
//  * dense and grouped: cuDNN's convolution (cuda/cudnn_conv.h: an implicit GEMM, bias and ReLU
//    fused) where it is loaded and takes the problem, its plan built in the shape pass; else an
//    NHWC im2col of at most kMaxColumnBytes at a time, times W viewed as [D, KH * KW * C/group]
//    through cuBLASLt with bias and ReLU in the epilogue (a group's product writes its output
//    channels in place, ldc = D); a 1x1 convolution with unit strides and no padding multiplies
//    X itself. Where cuDNN takes the problem, the plan's tactic
//    (timed at build time) says which path runs. VITRT_NO_CUDNN_CONV=1 keeps vitrt's path (for
//    comparisons). A dense layer over fewer than 64 channels that are no multiple of 8 (an RGB
//    stem) gives cuDNN its input and weights padded with zero channels to the next multiple of 8;
//    in fp16 and bf16, groups of too few channels for cuDNN (ResNeXt's 4) merge into fewer, wider
//    groups with block-diagonal weights.
class ChannelsLastConvKernel final : public CudaKernel {
 public:
  ChannelsLastConvKernel(const Node& node, ChannelsLastConvAttributes attrs, NodeId id,
                         std::vector<ConvTactic> tactics)
      : node_(node), attrs_(std::move(attrs)), id_(id), tactics_(std::move(tactics)) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& w = *in[1];
    const DeviceTensor* bias = in.size() > 2 ? in[2] : nullptr;
    VITRT_ASSIGN_OR_RETURN(const ChannelsLastConvGeometry g,
                           channels_last_conv_geometry(node_, attrs_, x.shape, w.shape,
                                                       bias != nullptr ? &bias->shape : nullptr));
    const size_t elt = dtype_size(x.dtype);
    const int64_t k = g.kh * g.kw * g.in_per_group();
    const int64_t pixels = g.batch * g.out_h * g.out_w;
    // Grouped layers take im2col + GEMM per group on vitrt's path: a direct NHWC kernel (one
    // thread per output pixel and group) measured 5-15x slower on the H200 (ResNeXt-50's
    // 4-channel groups 4.9 ms a layer at batch 256, RegNetY's 24-channel groups 6.0 ms against
    // im2col's 0.59), its per-group weight reads scattered over a warp.
    const bool columns = !g.depthwise() && !g.pointwise() && pixels > 0;
    const int64_t chunk = std::clamp<int64_t>(kMaxColumnBytes / static_cast<int64_t>(k * elt), 1,
                                              std::max<int64_t>(pixels, 1));
    const std::optional<ConvProblem> cp = cudnn_problem(g, x.dtype, ctx, bias != nullptr);
    const bool padded = cp && cp->c != g.channels;
    const bool merged = cp && cp->group != g.group;
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = g.out_shape();
      // While tactics are timed both paths run; else cuDNN's plan (the engine the plan's tactic
      // names) is built here, outside any capture, and a problem cuDNN turns down (or whose
      // tactic is vitrt's path) takes the GEMM path.
      bool cudnn = cp && ctx.tuner != nullptr;
      if (cp && ctx.tuner == nullptr) {
        const ConvTactic t = chosen(g.batch);
        size_t ws = 0;
        cudnn = t.impl == kConvCudnn &&
                cudnn_conv_prepare(*cp, ctx.stream, ctx.workspace_bytes, nullptr, &ws,
                                   ConvEngineChoice{t.engine, t.ordinal})
                    .ok();
      }
      const bool need_columns = columns && (ctx.tuner != nullptr || !cudnn);
      const bool need_padding = cudnn && (padded || merged);
      if (need_columns || need_padding) {  // scratch: [1] im2col rows, [2] X and [3] W rewritten
        out.resize(4);
        for (size_t i = 1; i < 4; ++i) {
          out[i].dtype = x.dtype;
          out[i].shape = {0};
        }
        if (need_columns) out[1].shape = {chunk, k};
        if (need_padding) {
          if (padded) out[2].shape = {g.batch, g.height, g.width, cp->c};
          out[3].shape = {g.out_channels, g.kh, g.kw, cp->c / cp->group};
        }
      }
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    if (pixels == 0 || g.out_channels == 0) return Status::ok_status();
    // The activation: in the depthwise kernel's store; after cuDNN or the GEMM, a pass over the
    // output for those their epilogues lack (SiLU, HardSwish, ReLU6, GELU; ReLU is fused there).
    const UnaryOp act = conv_activation_op(g.activation);
    const auto activation_pass = [&](bool relu_fused) -> Status {
      if (act == UnaryOp::kIdentity || (relu_fused && act == UnaryOp::kRelu)) {
        return Status::ok_status();
      }
      return cuda_status(
          launch_unary(act, t, t, out[0].data, out[0].data, pixels * g.out_channels, ctx.stream),
          "ChannelsLastConv activation");
    };
    if (g.depthwise()) {
      ConvDirectArgs cd;
      cd.geom = im2col_geometry(g);
      cd.geom.c = g.channels;
      cd.d = g.out_channels;
      cd.group = g.channels;
      cd.channels_last = true;
      cd.act = act;  // in the kernel's store
      return cuda_status(
          launch_conv_direct(t, cd, x.data, w.data, bias != nullptr ? bias->data : nullptr,
                             out[0].data, ctx.stream),
          "ChannelsLastConv");
    }
    // cuDNN's operands: X and W, or their copies with zero channels added (a stem's), or W
    // block-diagonal over merged groups.
    ConvBuffers cb;
    cb.x = x.data;
    cb.w = w.data;
    cb.bias = bias != nullptr ? bias->data : nullptr;
    cb.y = out[0].data;
    if ((padded || merged) && out.size() == 4) {
      if (padded) cb.x = out[2].data;
      cb.w = out[3].data;
    }
    const auto pad = [&]() -> Status {
      if (!padded && !merged) return Status::ok_status();
      if (out.size() != 4) return internal_error("ChannelsLastConv: no scratch for the padding");
      if (merged) {
        MergeGroupsArgs ma;
        ma.k = g.out_channels;
        ma.taps = g.kh * g.kw;
        ma.cg = g.in_per_group();
        ma.dg = g.out_per_group();
        ma.m = g.group / cp->group;
        return cuda_status(launch_merge_groups(t, ma, w.data, out[3].data, ctx.stream),
                           "ChannelsLastConv group merging");
      }
      VITRT_RETURN_IF_ERROR(
          cuda_status(launch_pad(t, pad_channels(g.batch * g.height * g.width, g.channels, cp->c),
                                 x.data, out[2].data, ctx.stream),
                      "ChannelsLastConv channel padding"));
      return cuda_status(
          launch_pad(t, pad_channels(g.out_channels * g.kh * g.kw, g.channels, cp->c), w.data,
                     out[3].data, ctx.stream),
          "ChannelsLastConv weight padding");
    };
    const auto cudnn = [&]() -> Status {
      VITRT_RETURN_IF_ERROR(pad());
      return cudnn_conv_run(*cp, cb, ctx.workspace, ctx.workspace_bytes, ctx.stream);
    };
    const auto own = [&]() -> Status {
      const int64_t dg = g.out_per_group(), cg = g.in_per_group();
      for (int64_t p0 = 0; p0 < pixels; p0 += chunk) {
        const int64_t rows = std::min(chunk, pixels - p0);
        for (int64_t grp = 0; grp < g.group; ++grp) {
          const void* a = byte_offset(x.data, p0 * g.channels + grp * cg, x.dtype);
          int64_t lda = g.channels;
          if (columns) {
            if (out.size() < 2) return internal_error("ChannelsLastConv: no im2col scratch");
            Im2colNhwcArgs ia;
            ia.geom = im2col_geometry(g);
            ia.c_stride = g.channels;
            ia.c0 = grp * cg;
            ia.cg = cg;
            ia.p0 = p0;
            ia.rows = rows;
            VITRT_RETURN_IF_ERROR(
                cuda_status(launch_im2col_nhwc(t, ia, x.data, out[1].data, ctx.stream),
                            "ChannelsLastConv im2col"));
            a = out[1].data;
            lda = k;
          }
          GemmCall gc;
          gc.trans_b = true;  // W rows [D, K]
          gc.m = rows;
          gc.n = dg;
          gc.k = k;
          gc.a = a;
          gc.lda = lda;
          gc.b = byte_offset(w.data, grp * dg * k, x.dtype);
          gc.ldb = k;
          gc.c =
              const_cast<char*>(byte_offset(out[0].data, p0 * g.out_channels + grp * dg, x.dtype));
          gc.ldc = g.out_channels;
          gc.bias = bias != nullptr ? byte_offset(bias->data, grp * dg, x.dtype) : nullptr;
          gc.relu = g.activation == ConvActivation::kRelu;
          VITRT_RETURN_IF_ERROR(gemm(ctx, x.dtype, gc));
        }
      }
      return Status::ok_status();
    };
    if (ctx.tuner != nullptr && cp) {
      VITRT_ASSIGN_OR_RETURN(const int impl,
                             tune(*ctx.tuner, *cp, g.batch, cb, pad, own, cudnn, ctx));
      VITRT_RETURN_IF_ERROR(impl == kConvCudnn ? cudnn() : own());
    } else if (cp && chosen(g.batch).impl == kConvCudnn && cudnn_conv_prepared(*cp, ctx.stream)) {
      VITRT_RETURN_IF_ERROR(cudnn());
    } else {
      VITRT_RETURN_IF_ERROR(own());
    }
    return activation_pass(true);
  }

 private:
  // The tactic timed at the batch nearest (by ratio) to this one; without any (a plan built
  // without timing), cuDNN with the heuristic's first engine.
  ConvTactic chosen(int64_t batch) const {
    const ConvTactic* t =
        nearest_by_ratio(tactics_, batch, [](const ConvTactic& c) { return c.batch; });
    return t != nullptr ? *t : ConvTactic{batch, kConvCudnn, -1, 0};
  }

  // Everything the timing of `p` depends on, for the timing cache.
  static std::string cache_key(const TacticTuner& tu, const ConvProblem& p) {
    return str_cat(tu.device_key, "|cudnn ", cudnn_conv_version(), "|conv ",
                   p.type == Elt::kF16    ? "fp16"
                   : p.type == Elt::kBF16 ? "bf16"
                   : p.allow_tf32         ? "tf32"
                                          : "fp32",
                   " x ", p.n, ",", p.h, ",", p.w, ",", p.c, " w ", p.k, ",", p.r, ",", p.s, " g ",
                   p.group, " s ", p.stride_h, ",", p.stride_w, " d ", p.dil_h, ",", p.dil_w, " p ",
                   p.pad_top, ",", p.pad_left, ",", p.pad_bottom, ",", p.pad_right,
                   p.bias ? " bias" : "", p.relu ? " relu" : "");
  }

  // Build time: cuDNN's fastest engine (up to 8 timed by cudnn_conv_prepare) against vitrt's
  // im2col + cuBLASLt path, raced as CUDA-graph replays like the GEMM tactics; the faster is
  // recorded for this batch size and kept in the timing cache.
  template <typename Pad, typename Own, typename Cudnn>
  Result<int> tune(TacticTuner& tu, const ConvProblem& p, int64_t batch, const ConvBuffers& cb,
                   const Pad& pad, const Own& own, const Cudnn& cudnn, const LaunchContext& ctx) {
    const auto log = [&](const std::string& line) {
      if (tu.verbose && tu.log)
        tu.log(str_cat("tactics: conv '", node_.name, "' batch ", batch, ": ", line));
    };
    const std::string key = cache_key(tu, p);
    ConvTactic chosen_tactic{batch, kConvOwn, -1, 0};
    bool decided = false;
    if (auto memo = tu.conv_by_problem.find(key); memo != tu.conv_by_problem.end()) {
      // The same problem at another node of this build: its plan is cached on this stream.
      size_t ws = 0;
      if (memo->second.impl == kConvOwn ||
          cudnn_conv_prepare(p, ctx.stream, ctx.workspace_bytes, nullptr, &ws).ok()) {
        chosen_tactic = memo->second;
        chosen_tactic.batch = batch;
        decided = true;
      }
    }
    const std::string* hit = tu.cache != nullptr && !decided ? tu.cache->find(key) : nullptr;
    if (hit != nullptr) {
      int impl = -1;
      long long engine = -1, ordinal = -1;
      if (std::sscanf(hit->c_str(), "impl=%d engine=%lld.%lld", &impl, &engine, &ordinal) == 3 &&
          (impl == kConvOwn || impl == kConvCudnn) && engine >= -1 && ordinal >= 0) {
        size_t ws = 0;
        const ConvEngineChoice want{engine, ordinal};
        ConvEngineChoice got;
        if (impl == kConvOwn ||
            (cudnn_conv_prepare(p, ctx.stream, ctx.workspace_bytes, nullptr, &ws, want).ok() &&
             (got = cudnn_conv_choice(p, ctx.stream)).engine == engine && got.ordinal == ordinal)) {
          chosen_tactic.impl = impl;
          chosen_tactic.engine = engine;
          chosen_tactic.ordinal = ordinal;
          decided = true;
          ++tu.conv_from_cache;
          log("from the timing cache");
        }
      }
    }
    if (!decided) {
      VITRT_RETURN_IF_ERROR(pad());  // cuDNN's engines are timed on the padded operands
      size_t ws = 0;
      const Status prepared = cudnn_conv_prepare(p, ctx.stream, ctx.workspace_bytes, &cb, &ws);
      float best_ms = 0.0f, own_ms = -1.0f;
      if (!prepared.ok()) {
        log(str_cat(prepared.message(), ": vitrt's path"));
      } else {
        TacticRace race;
        VITRT_RETURN_IF_ERROR(race.init(ctx.stream));
        float first_own = 0.0f, first_cudnn = 0.0f;
        const int own_entry = race.enter(own, &first_own);
        const int cudnn_entry = race.enter(cudnn, &first_cudnn);
        std::string lines;
        const int best = race.finish(own_entry, &best_ms, &own_ms, &lines);
        if (best >= 0 && best == cudnn_entry) {
          const ConvEngineChoice c = cudnn_conv_choice(p, ctx.stream);
          chosen_tactic.impl = kConvCudnn;
          chosen_tactic.engine = c.engine;
          chosen_tactic.ordinal = c.ordinal;
        }
        log(str_cat("vitrt ", own_ms, " ms, cuDNN ",
                    chosen_tactic.impl == kConvCudnn ? best_ms : first_cudnn, " ms (",
                    cudnn_conv_plan_summary(p, ctx.stream), ") -> ",
                    chosen_tactic.impl == kConvCudnn ? "cuDNN" : "vitrt"));
      }
      ++tu.conv_timed;
      if (tu.cache != nullptr) {
        VITRT_RETURN_IF_ERROR(tu.cache->put(
            key, str_cat("impl=", chosen_tactic.impl, " engine=", chosen_tactic.engine, ".",
                         chosen_tactic.ordinal,
                         " ms=", chosen_tactic.impl == kConvCudnn ? best_ms : own_ms)));
      }
    }
    tu.conv_by_problem[key] = chosen_tactic;
    set_batch_entry(tu.conv_by_node[id_], chosen_tactic);
    return chosen_tactic.impl;
  }

  // At most this many bytes of im2col rows at a time (one GEMM up to there).
  static constexpr int64_t kMaxColumnBytes = int64_t{64} << 20;

  // cuDNN's view of a dense or grouped convolution, where cuDNN may take it.
  static std::optional<ConvProblem> cudnn_problem(const ChannelsLastConvGeometry& g, DType dtype,
                                                  const LaunchContext& ctx, bool bias) {
    static const bool disabled = [] {
      const char* v = std::getenv("VITRT_NO_CUDNN_CONV");
      return v != nullptr && std::string(v) == "1";
    }();
    if (disabled || g.depthwise() || g.batch * g.out_h * g.out_w == 0) return std::nullopt;
    Result<Elt> t = elt_of(dtype);
    if (!t.ok()) return std::nullopt;
    ConvProblem p;
    p.type = *t;
    p.allow_tf32 = ctx.tf32;
    p.n = g.batch;
    p.h = g.height;
    p.w = g.width;
    p.c = g.channels;
    p.k = g.out_channels;
    p.r = g.kh;
    p.s = g.kw;
    p.group = g.group;
    p.oh = g.out_h;
    p.ow = g.out_w;
    p.pad_top = g.ph;
    p.pad_left = g.pw;
    p.pad_bottom = g.ph_end;
    p.pad_right = g.pw_end;
    p.stride_h = g.sh;
    p.stride_w = g.sw;
    p.dil_h = g.dh;
    p.dil_w = g.dw;
    p.bias = bias;
    p.relu = g.activation == ConvActivation::kRelu;
    if (!cudnn_conv_unavailable().empty()) return std::nullopt;
    if (cudnn_conv_supports(p)) return p;
    // A dense layer over a few channels (an RGB stem) runs with its input channels padded with
    // zeros to 8 (16-byte vectors for the tensor-core engines): the same sums.
    if (g.group == 1 && g.channels % 8 != 0 && g.channels < 64) {
      p.c = (g.channels + 7) / 8 * 8;
      if (cudnn_conv_supports(p)) return p;
    }
    // Groups of fewer channels than a whole vector (ResNeXt's 4) merge m at a time, the weights
    // block-diagonal (launch_merge_groups): m times the multiply-adds of a layer that is bound
    // by memory, not arithmetic, and no copy of X.
    if (g.group > 1 && p.type != Elt::kF32) {
      const int64_t cg = g.in_per_group(), dg = g.out_per_group();
      for (int64_t m = 2; m <= 8; ++m) {
        if (g.group % m != 0 || cg * m % 8 != 0 || dg * m % 8 != 0) continue;
        p.group = g.group / m;
        if (cudnn_conv_supports(p)) return p;
        break;
      }
    }
    return std::nullopt;
  }

  // Rows of c values widened to cp with zeros after them (launch_pad of a [rows, c] matrix).
  static PadArgs pad_channels(int64_t rows, int64_t c, int64_t cp) {
    PadArgs a;
    a.rank = 2;
    a.in_dims[0] = a.out_dims[0] = rows;
    a.in_dims[1] = c;
    a.out_dims[1] = cp;
    return a;
  }

  static Im2colArgs im2col_geometry(const ChannelsLastConvGeometry& g) {
    Im2colArgs a;
    a.b = g.batch;
    a.c = g.channels;
    a.h = g.height;
    a.w = g.width;
    a.oh = g.out_h;
    a.ow = g.out_w;
    a.kh = g.kh;
    a.kw = g.kw;
    a.sh = g.sh;
    a.sw = g.sw;
    a.ph = g.ph;
    a.pw = g.pw;
    a.dh = g.dh;
    a.dw = g.dw;
    return a;
  }

  const Node& node_;
  ChannelsLastConvAttributes attrs_;
  NodeId id_;
  std::vector<ConvTactic> tactics_;
};

// ---- vitrt.Attention -------------------------------------------------------------------------

int64_t round_up_64(int64_t n) {
  return (n + 63) / 64 * 64;
}

// codes: vitrt.Attention's output_scale (and output_format), the output written as E4M3 or int8
// codes; int8 ones only the wgmma form writes itself, elsewhere a 16-bit output in scratch is
// encoded in one pass (as cuDNN's always is). in_scale > 0:
// its input_scale, q, k and v read as E4M3 codes (float_type: the plan's 16-bit type, which
// the kernel computes in); the wgmma form takes them as they are, elsewhere they are widened
// into a scratch tensor first.
class AttentionKernel final : public CudaKernel {
 public:
  AttentionKernel(int64_t heads, float scale, bool has_scale, bool causal, bool zero_masked_rows,
                  OutputCodes codes, float in_scale, DType float_type,
                  std::optional<FakeQuant> quant_scores, std::optional<FakeQuant> quant_probs,
                  std::array<std::optional<InputFakeQuant>, 3> input_quant, NodeId node,
                  std::string name, std::vector<AttentionTactic> tactics)
      : heads_(heads),
        scale_(scale),
        has_scale_(has_scale),
        causal_(causal),
        zero_masked_rows_(zero_masked_rows),
        out_scale_(codes.scale),
        out_int8_(codes.any() && codes.int8),
        out_qmin_(codes.qmin),
        in_scale_(in_scale),
        float_type_(float_type),
        quant_scores_(quant_scores),
        quant_probs_(quant_probs),
        input_quant_(input_quant),
        node_(node),
        name_(std::move(name)),
        tactics_(std::move(tactics)) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& q = *in[0];
    const bool packed = in.size() < 3 || in[1] == nullptr;
    const DeviceTensor* mask = in.size() > 3 ? in[3] : nullptr;
    if (q.shape.size() != 3) return invalid_argument("query must be [B, S, D]");
    const int64_t bsz = q.shape[0], sq = q.shape[1];
    int64_t dq = q.shape[2], sk = sq, dvt = 0;
    if (packed) {
      if (dq % 3 != 0) return invalid_argument("packed qkv width ", dq, " is not a multiple of 3");
      dq /= 3;
      dvt = dq;
    } else {
      const DeviceTensor& k = *in[1];
      const DeviceTensor& v = *in[2];
      if (k.shape.size() != 3 || v.shape.size() != 3 || k.shape[0] != bsz || v.shape[0] != bsz ||
          k.shape[1] != v.shape[1] || k.shape[2] != dq) {
        return invalid_argument("key/value shapes ", shape_to_string(k.shape), " and ",
                                shape_to_string(v.shape), " do not match query ",
                                shape_to_string(q.shape));
      }
      sk = k.shape[1];
      dvt = v.shape[2];
    }
    if (dq % heads_ != 0 || dvt % heads_ != 0) {
      return invalid_argument("width ", dq, " is not a multiple of num_heads ", heads_);
    }
    const int64_t dh = dq / heads_, dv = dvt / heads_;
    if (dh > 128 || dv > 128) return unsupported("head dim ", dh, " > 128 has no CUDA kernel");
    const std::vector<int64_t> full = {bsz, heads_, sq, sk};
    if (mask != nullptr) {
      if (mask->shape.size() < 2 || mask->shape.size() > 4) {
        return invalid_argument("mask must have rank 2 to 4");
      }
      VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> bs, broadcast_shapes(mask->shape, full));
      if (bs != full)
        return invalid_argument("mask ", shape_to_string(mask->shape), " does not broadcast to ",
                                shape_to_string(full));
    }
    const bool codes_in = in_scale_ > 0.0f;
    if (codes_in) {
      for (size_t i = 0; i < (packed ? 1 : 3); ++i) {
        if (in[i]->dtype != DType::kUInt8) {
          return invalid_argument("input ", i, " must be uint8 E4M3 codes (input_scale), got ",
                                  dtype_name(in[i]->dtype));
        }
      }
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(codes_in ? float_type_ : q.dtype));
    const DType act_type = codes_in ? float_type_ : q.dtype;
    AttentionArgs a;
    a.batch = bsz;
    a.heads = heads_;
    a.sq = sq;
    a.sk = sk;
    a.dh = dh;
    a.dv = dv;
    a.q_row_stride = packed ? 3 * dq : dq;
    a.k_row_stride = packed ? 3 * dq : dq;
    a.v_row_stride = packed ? 3 * dq : dvt;
    a.scale = has_scale_ ? scale_ : 1.0f / std::sqrt(static_cast<float>(dh));
    a.causal = causal_;
    a.zero_masked_rows = zero_masked_rows_;
    a.out_scale = out_scale_;
    a.out_int8 = out_int8_;
    a.out_qmin = out_qmin_;
    a.in_scale = in_scale_;
    a.quant_scores = quant_scores_.has_value();
    a.quant_probs = quant_probs_.has_value();
    if (quant_scores_) a.scores_quant = *quant_scores_;
    if (quant_probs_) a.probs_quant = *quant_probs_;
    // quant_q / quant_k / quant_v: the operand fake-quantized into a scratch tensor first
    // (contiguous rows), which the attention then reads.
    const int64_t rows[3] = {bsz * sq, bsz * sk, bsz * sk};
    const int64_t widths[3] = {dq, dq, dvt};
    const int64_t src_strides[3] = {a.q_row_stride, a.k_row_stride, a.v_row_stride};
    int64_t* strides[3] = {&a.q_row_stride, &a.k_row_stride, &a.v_row_stride};
    int64_t scratch_elems = 0;
    for (int i = 0; i < 3; ++i) {
      if (!input_quant_[i]) continue;
      *strides[i] = widths[i];
      scratch_elems += round_up_64(rows[i] * widths[i]);  // 128-byte aligned parts
    }
    // E4M3 codes the wgmma form cannot take (another GPU, head dims other than 64, more than
    // 256 keys) are widened to the 16-bit type first, into a scratch tensor of the same layout.
    // (The pointers are the arena's, 256-byte aligned, and packed q, k, v sit whole 16-byte
    // chunks apart where the form applies, so the shape pass can decide this without them.)
    const bool widen_codes = codes_in && !attention_takes_codes(t, a);
    const int64_t code_elems[3] = {q.numel(), packed ? 0 : in[1]->numel(),
                                   packed ? 0 : in[2]->numel()};
    int64_t widened_elems = 0;
    if (widen_codes) {
      a.in_scale = 0.0f;
      for (int64_t e : code_elems) widened_elems += round_up_64(e);
    }
    // int8 codes the wgmma form cannot write: a 16-bit output in scratch, then one pass.
    const bool encode_int8 = out_int8_ && !attention_takes_codes(t, a);
    const SdpaProblem sp = sdpa_problem(a, t);
    // cuDNN's operation has no mask or causal form. It writes no E4M3 codes either: with
    // output_scale, its 16-bit output goes to a scratch tensor and one pass encodes it (at
    // ViT-B/16 batch 256 that pair beat vitrt's kernel writing the codes itself).
    // cuDNN's operation has no mask input here, no causal form, and no promise for rows whose
    // every key is masked.
    // Nor fake quantization inside.
    const bool cudnn_form = mask == nullptr && !causal_ && !zero_masked_rows_ && !a.quant_scores &&
                            !a.quant_probs && !codes_in && cudnn_attention_supports(sp);
    if (!ctx.launch) {
      out[0].dtype = out_scale_ > 0.0f ? (out_int8_ ? DType::kInt8 : DType::kUInt8) : act_type;
      out[0].shape = {bsz, sq, heads_ * dv};
      const bool may_use_cudnn =
          cudnn_form && (ctx.tuner != nullptr || chosen(bsz) == kAttentionCudnn);
      if ((may_use_cudnn && out_scale_ > 0.0f) || encode_int8) {
        out.resize(2);  // scratch: cuDNN's (or a form's) 16-bit output before encoding
        out[1].dtype = q.dtype;
        out[1].shape = out[0].shape;
      }
      if (scratch_elems > 0) {  // scratch, last: the fake-quantized operands
        out.emplace_back();
        out.back().dtype = q.dtype;
        out.back().shape = {scratch_elems};
      }
      if (widened_elems > 0) {  // scratch: the widened codes
        out.emplace_back();
        out.back().dtype = act_type;
        out.back().shape = {widened_elems};
      }
      // cuDNN's plan is built here, outside any CUDA-graph capture (building may compile and
      // load kernels); a problem it cannot take runs vitrt's kernel.
      if (may_use_cudnn && ctx.tuner == nullptr && prepare_cudnn(sp, ctx).ok()) {
        cudnn_ready_.insert(bsz);
      }
      return Status::ok_status();
    }
    a.q = q.data;
    if (packed) {
      a.k = byte_offset(q.data, dq, q.dtype);
      a.v = byte_offset(q.data, 2 * dq, q.dtype);
    } else {
      a.k = in[1]->data;
      a.v = in[2]->data;
    }
    if (widen_codes) {
      // The packed input, or q, k and v, widened whole; the pointers keep their offsets.
      char* at = static_cast<char*>(out.back().data);
      const int64_t esize = static_cast<int64_t>(dtype_size(act_type));
      const DeviceTensor* srcs[3] = {&q, packed ? nullptr : in[1], packed ? nullptr : in[2]};
      const void* widened[3] = {};
      for (int i = 0; i < 3; ++i) {
        if (srcs[i] == nullptr) continue;
        VITRT_RETURN_IF_ERROR(
            cuda_status(launch_decode_e4m3(t, static_cast<const uint8_t*>(srcs[i]->data),
                                           code_elems[i], in_scale_, at, ctx.stream),
                        "Attention: widening E4M3 inputs"));
        widened[i] = at;
        at += round_up_64(code_elems[i]) * esize;
      }
      a.q = widened[0];
      if (packed) {
        a.k = byte_offset(widened[0], dq, act_type);
        a.v = byte_offset(widened[0], 2 * dq, act_type);
      } else {
        a.k = widened[1];
        a.v = widened[2];
      }
    }
    if (scratch_elems > 0) {
      const void* srcs[3] = {a.q, a.k, a.v};
      const void** dsts[3] = {&a.q, &a.k, &a.v};
      int64_t at = 0;
      for (int i = 0; i < 3; ++i) {
        if (!input_quant_[i]) continue;
        void* dst =
            static_cast<char*>(out.back().data) + at * static_cast<int64_t>(dtype_size(q.dtype));
        VITRT_RETURN_IF_ERROR(cuda_status(
            launch_fake_quant_rows(t, srcs[i], src_strides[i], dst, rows[i], widths[i],
                                   input_quant_[i]->quant, input_quant_[i]->prescale, ctx.stream),
            "Attention: fake-quantizing an input"));
        *dsts[i] = dst;
        at += round_up_64(rows[i] * widths[i]);
      }
    }
    if (mask != nullptr) {
      const StridedView mv = broadcast_view(mask->shape, full);
      a.mask = mask->data;
      for (int i = 0; i < 4; ++i) a.mask_strides[i] = mv.strides[i];
    }
    a.out = out[0].data;
    // The 16-bit output in out[1] encoded into out[0]: E4M3, or int8 as QuantLinear's quantize
    // step makes them.
    const auto encode = [&]() -> Status {
      if (!out_int8_) {
        return cuda_status(
            launch_act_quantize_fp8(t, out[1].data, bsz * sq, heads_ * dv, UnaryOp::kIdentity,
                                    out_scale_, a.out, ctx.stream),
            "Attention: encoding its output");
      }
      QuantizeArgs qa;
      qa.format = QuantFormat::kInt8;
      qa.rows = bsz * sq;
      qa.k = qa.k_pad = heads_ * dv;
      qa.scale = out_scale_;
      qa.qmin = out_qmin_;
      return cuda_status(launch_quantize_rows(t, qa, out[1].data, a.out, ctx.stream),
                         "Attention: encoding its output");
    };
    const auto own = [&]() -> Status {
      if (!encode_int8) return cuda_status(launch_attention(t, a, ctx.stream), "Attention");
      if (out.size() < 2) return internal_error("Attention: no scratch for its 16-bit output");
      AttentionArgs wide = a;
      wide.out_scale = 0.0f;
      wide.out_int8 = false;
      wide.out = out[1].data;
      VITRT_RETURN_IF_ERROR(cuda_status(launch_attention(t, wide, ctx.stream), "Attention"));
      return encode();
    };
    const auto cudnn = [&]() -> Status {
      if (out_scale_ <= 0.0f) return run_cudnn(sp, a, a.out, q.dtype, ctx);
      if (out.size() < 2) return internal_error("Attention: no scratch for cuDNN's output");
      VITRT_RETURN_IF_ERROR(run_cudnn(sp, a, out[1].data, q.dtype, ctx));
      return encode();
    };
    if (ctx.tuner != nullptr) {
      if (!cudnn_form) return own();
      VITRT_ASSIGN_OR_RETURN(int impl, tune(*ctx.tuner, sp, own, cudnn, ctx));
      return impl == kAttentionCudnn ? cudnn() : own();
    }
    if (cudnn_form && cudnn_ready_.count(bsz) != 0 && chosen(bsz) == kAttentionCudnn) {
      // Prepared in the shape pass; a failure here (none seen) falls back before launching.
      const Status ran = cudnn();
      if (ran.ok()) return ran;
    }
    return own();
  }

 private:
  // cuDNN's plans are built for one batch size each (about half a second a plan on the H200),
  // so a batch runs as power-of-two chunks (200 = 128 + 64 + 8): a server whose dynamic
  // batches take every size from 1 to 256 builds at most 9 plans per attention shape in its
  // lifetime, not 256. Samples are independent, so the chunks compute the same function.
  static std::vector<int64_t> cudnn_chunks(int64_t batch) {
    std::vector<int64_t> chunks;
    for (int64_t bit = int64_t{1} << 62; bit > 0; bit >>= 1) {
      if ((batch & bit) != 0) chunks.push_back(bit);
    }
    return chunks;
  }

  // Builds (or finds) cuDNN's plan for every chunk of sp's batch, outside any capture.
  static Status prepare_cudnn(const SdpaProblem& sp, const LaunchContext& ctx) {
    for (int64_t c : cudnn_chunks(sp.batch)) {
      SdpaProblem part = sp;
      part.batch = c;
      size_t ws = 0;
      VITRT_RETURN_IF_ERROR(cudnn_attention_prepare(part, ctx.stream, &ws));
      if (ws > ctx.workspace_bytes) {
        return unsupported("cuDNN attention needs ", ws, " bytes of workspace, the context has ",
                           ctx.workspace_bytes);
      }
    }
    return Status::ok_status();
  }

  // Runs the prepared chunks one after another on the stream, each on its samples' rows.
  static Status run_cudnn(const SdpaProblem& sp, const AttentionArgs& a, void* o, DType dt,
                          const LaunchContext& ctx) {
    int64_t first = 0;
    for (int64_t c : cudnn_chunks(sp.batch)) {
      SdpaProblem part = sp;
      part.batch = c;
      VITRT_RETURN_IF_ERROR(
          cudnn_attention_run(part, byte_offset(a.q, first * sp.q_strides[0], dt),
                              byte_offset(a.k, first * sp.k_strides[0], dt),
                              byte_offset(a.v, first * sp.v_strides[0], dt),
                              const_cast<char*>(byte_offset(o, first * sp.o_strides[0], dt)),
                              ctx.workspace, ctx.workspace_bytes, ctx.stream));
      first += c;
    }
    return Status::ok_status();
  }

  // cuDNN's view of the problem: Q [B, H, Sq, dh] inside rows of q_row_stride elements, heads
  // dh apart; the output [B, Sq, H, dv] as vitrt writes it.
  static SdpaProblem sdpa_problem(const AttentionArgs& a, Elt t) {
    SdpaProblem p;
    p.type = t;
    p.batch = a.batch;
    p.heads = a.heads;
    p.sq = a.sq;
    p.sk = a.sk;
    p.dh = a.dh;
    p.dv = a.dv;
    const auto strides = [](int64_t* s, int64_t rows, int64_t row_stride, int64_t head) {
      s[0] = rows * row_stride;
      s[1] = head;
      s[2] = row_stride;
      s[3] = 1;
    };
    strides(p.q_strides, a.sq, a.q_row_stride, a.dh);
    strides(p.k_strides, a.sk, a.k_row_stride, a.dh);
    strides(p.v_strides, a.sk, a.v_row_stride, a.dv);
    strides(p.o_strides, a.sq, a.heads * a.dv, a.dv);
    p.scale = a.scale;
    return p;
  }

  // The tactic timed at the batch nearest (by ratio) to this one; vitrt's kernel without any.
  int chosen(int64_t batch) const {
    const AttentionTactic* t =
        nearest_by_ratio(tactics_, batch, [](const AttentionTactic& a) { return a.batch; });
    return t != nullptr ? t->impl : kAttentionOwn;
  }

  // Build time: times vitrt's kernel against cuDNN's on this GPU (CUDA-graph replays, as
  // GEMM tactics are) and records the faster for this batch size.
  template <typename Own, typename Cudnn>
  Result<int> tune(TacticTuner& tu, const SdpaProblem& sp, const Own& own, const Cudnn& cudnn,
                   const LaunchContext& ctx) {
    const auto log = [&](const std::string& line) {
      if (tu.verbose && tu.log)
        tu.log(str_cat("tactics: attention '", name_, "' batch ", sp.batch, ": ", line));
    };
    int impl = kAttentionOwn;
    const Status prepared = prepare_cudnn(sp, ctx);
    if (!prepared.ok()) {
      log(str_cat(prepared.message(), ": vitrt's kernel"));
    } else {
      TacticRace race;
      VITRT_RETURN_IF_ERROR(race.init(ctx.stream));
      float own_ms = 0.0f, cudnn_ms = 0.0f, best_ms = 0.0f, ref_ms = 0.0f;
      const int own_entry = race.enter(own, &own_ms);
      const int cudnn_entry = race.enter(cudnn, &cudnn_ms);
      std::string lines;
      const int best = race.finish(own_entry, &best_ms, &ref_ms, &lines);
      impl = best >= 0 && best == cudnn_entry ? kAttentionCudnn : kAttentionOwn;
      ++tu.attention_timed;
      log(str_cat("vitrt ", ref_ms, " ms, cuDNN ", impl == kAttentionCudnn ? best_ms : cudnn_ms,
                  " ms -> ", impl == kAttentionCudnn ? "cuDNN" : "vitrt"));
    }
    set_batch_entry(tu.attention_by_node[node_], AttentionTactic{sp.batch, impl});
    return impl;
  }

  int64_t heads_;
  float scale_;
  bool has_scale_, causal_, zero_masked_rows_;
  float out_scale_;
  bool out_int8_;
  int32_t out_qmin_;
  float in_scale_;
  DType float_type_;
  std::optional<FakeQuant> quant_scores_, quant_probs_;
  std::array<std::optional<InputFakeQuant>, 3> input_quant_;
  NodeId node_;
  std::string name_;
  std::vector<AttentionTactic> tactics_;
  std::set<int64_t> cudnn_ready_;  // batch sizes whose shape pass prepared cuDNN's plan
};

Result<std::unique_ptr<CudaKernel>> make_matmul(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new MatMulKernel());
}

Result<std::unique_ptr<CudaKernel>> make_gemm(const CudaKernelInit& init) {
  const Attributes& at = init.node.attrs;
  VITRT_ASSIGN_OR_RETURN(int64_t ta, at.get_int("transA", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t tb, at.get_int("transB", 0));
  VITRT_ASSIGN_OR_RETURN(float alpha, at.get_float("alpha", 1.0f));
  VITRT_ASSIGN_OR_RETURN(float beta, at.get_float("beta", 1.0f));
  return std::unique_ptr<CudaKernel>(new GemmKernel(ta != 0, tb != 0, alpha, beta));
}

Result<std::unique_ptr<CudaKernel>> make_linear(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(UnaryOp op, linear_activation(init.node.attrs));
  // With a residual, cuBLASLt's epilogue applies the ReLU after adding C (the residual).
  if (init.node.has_input(3) && op != UnaryOp::kIdentity && op != UnaryOp::kRelu) {
    return invalid_model("a residual input (3) needs activation 'none' or 'relu'");
  }
  const bool norm = init.node.has_input(4);
  if (norm && init.node.has_input(3)) {
    return invalid_model("a LayerNorm prologue (input 4) takes no residual (input 3)");
  }
  VITRT_ASSIGN_OR_RETURN(float eps, init.node.attrs.get_float("norm_epsilon", 1e-5f));
  std::vector<GemmTactic> tactics;
  if (const Attribute* a = init.node.attrs.find(kGemmTacticsAttr)) {
    VITRT_ASSIGN_OR_RETURN(tactics, decode_gemm_tactics(a->ints, kGemvMode));
    for (const GemmTactic& t : tactics) {
      if (t.mode <= 2) continue;
      // Mode 7's variant: the algorithm field's first word (LinearKernel::variant_of).
      const uint64_t variant = t.algo.data[0];
      if (t.mode != kGemvMode || variant >= static_cast<uint64_t>(gemv_linear_variants())) {
        return invalid_model("attribute '", kGemmTacticsAttr, "': mode ", t.mode, " (variant ",
                             static_cast<int64_t>(variant), ") is no tactic of this Linear");
      }
    }
  }
  const NodeId id = static_cast<NodeId>(&init.node - init.graph.nodes.data());
  // Output 0 an fp32 graph output ...
  const ValueId y = init.node.outputs.empty() ? kNoValue : init.node.outputs[0];
  bool float32_output = y != kNoValue && init.graph.values[y].dtype == DType::kFloat32 &&
                        std::find(init.graph.outputs.begin(), init.graph.outputs.end(), y) !=
                            init.graph.outputs.end();
  // ... that no node reads: a scan of the graph for the few Linears writing a graph output only.
  for (size_t i = 0; float32_output && i < init.graph.nodes.size(); ++i) {
    const Node& n = init.graph.nodes[i];
    float32_output = n.dead || std::find(n.inputs.begin(), n.inputs.end(), y) == n.inputs.end();
  }
  return std::unique_ptr<CudaKernel>(
      new LinearKernel(op, id, std::move(tactics), eps, float32_output));
}

// ---- ConvTranspose (1-D and 2-D) -------------------------------------------------------------

// The upsampling layers of dense-prediction ViTs (DPT's reassemble stage: kernel = stride), and
// any other group, stride, dilation, padding, output_padding or output_shape: one direct kernel
// gathering, per output element, the taps that land on it. 1-D runs as 2-D with a height of 1.
class ConvTransposeKernel final : public CudaKernel {
 public:
  ConvTransposeKernel(const Node& node, ConvTransposeAttributes attrs)
      : node_(node), attrs_(std::move(attrs)) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& w = *in[1];
    const DeviceTensor* bias = in.size() > 2 ? in[2] : nullptr;
    const size_t spatial = attrs_.conv.strides.size();
    if (x.shape.size() != spatial + 2 || w.shape.size() != spatial + 2) {
      return invalid_argument("X ", shape_to_string(x.shape), " and W ", shape_to_string(w.shape),
                              " must have rank ", spatial + 2);
    }
    const int64_t group = attrs_.conv.group;
    const int64_t c = x.shape[1], d = w.shape[1] * group;
    if (w.shape[0] != c || c % group != 0) {
      return invalid_argument("X ", shape_to_string(x.shape), " and W ", shape_to_string(w.shape),
                              " do not match for group ", group, " (W is [C, M/group, kernel...])");
    }
    if (bias != nullptr && bias->numel() != d) {
      return invalid_argument("B must hold ", d, " values, got ", shape_to_string(bias->shape));
    }
    ConvDirectArgs a;
    a.d = d;
    a.group = group;
    Im2colArgs& g = a.geom;
    g.b = x.shape[0];
    g.c = c;
    // Axis 0 of a 1-D transposed convolution is a height of 1 with a kernel of 1.
    g.h = spatial == 2 ? x.shape[2] : 1;
    g.kh = spatial == 2 ? w.shape[2] : 1;
    g.w = x.shape.back();
    g.kw = w.shape.back();
    g.oh = 1;
    g.sh = g.dh = 1;
    g.ph = 0;
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t in_size = x.shape[2 + i], kernel = w.shape[2 + i];
      if (!attrs_.conv.kernel_shape.empty() && attrs_.conv.kernel_shape[i] != kernel) {
        return invalid_argument("attribute 'kernel_shape' ", attrs_.conv.kernel_shape[i],
                                " differs from W ", shape_to_string(w.shape));
      }
      VITRT_ASSIGN_OR_RETURN(ConvAttributes::Axis axis,
                             attrs_.axis(node_, static_cast<int>(i), in_size, kernel));
      const bool last = i + 1 == spatial;
      (last ? g.ow : g.oh) = axis.out;
      (last ? g.pw : g.ph) = axis.pad_begin;
      (last ? g.sw : g.sh) = attrs_.conv.strides[i];
      (last ? g.dw : g.dh) = attrs_.conv.dilations[i];
    }
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = {g.b, d};
      if (spatial == 2) out[0].shape.push_back(g.oh);
      out[0].shape.push_back(g.ow);
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(
        launch_conv_transpose(t, a, x.data, w.data, bias != nullptr ? bias->data : nullptr,
                              out[0].data, ctx.stream),
        "ConvTranspose");
  }

 private:
  const Node& node_;
  ConvTransposeAttributes attrs_;
};

Result<std::unique_ptr<CudaKernel>> make_conv_transpose(const CudaKernelInit& init) {
  const Value& wv = init.graph.values[init.node.inputs[1]];
  const Value& xv = init.graph.values[init.node.inputs[0]];
  const int rank = wv.has_shape ? static_cast<int>(wv.shape.size())
                                : (xv.has_shape ? static_cast<int>(xv.shape.size()) : 0);
  if (rank != 3 && rank != 4) {
    return unsupported("ConvTranspose on CUDA runs 1-D and 2-D transposed convolutions (X and W ",
                       "of rank 3 or 4), got rank ",
                       rank == 0 ? std::string("unknown") : std::to_string(rank));
  }
  VITRT_ASSIGN_OR_RETURN(ConvTransposeAttributes attrs,
                         ConvTransposeAttributes::parse(init.node, rank - 2));
  return std::unique_ptr<CudaKernel>(new ConvTransposeKernel(init.node, std::move(attrs)));
}

// Col2Im (torch.nn.Fold, VOLO's outlook attention): the image and block shapes are host values
// (constants), 1 to 3 spatial dims.
class Col2ImKernel final : public CudaKernel {
 public:
  explicit Col2ImKernel(const Node& node) : node_(node) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> image, host_ints(in[1], "image_shape"));
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> block, host_ints(in[2], "block_shape"));
    VITRT_ASSIGN_OR_RETURN(const Col2ImGeometry g,
                           col2im_geometry(node_, std::move(image), std::move(block)));
    if (g.spatial() > 3) {
      return unsupported("Col2Im on CUDA runs 1 to 3 spatial dims, got ", g.spatial());
    }
    if (x.shape.size() != 3 || x.shape[1] % g.kernel != 0 || x.shape[2] != g.length) {
      return invalid_argument("input ", shape_to_string(x.shape), " must be [N, C * ", g.kernel,
                              ", ", g.length, "] for image_shape ", shape_to_string(g.image),
                              " and block_shape ", shape_to_string(g.block));
    }
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = {x.shape[0], x.shape[1] / g.kernel};
      out[0].shape.insert(out[0].shape.end(), g.image.begin(), g.image.end());
      return Status::ok_status();
    }
    Col2ImArgs a;
    a.planes = x.shape[0] * (x.shape[1] / g.kernel);
    a.kernel = g.kernel;
    a.length = g.length;
    const int lead = 3 - g.spatial();  // fewer dims: leading 1s
    for (int d = 0; d < g.spatial(); ++d) {
      a.image[lead + d] = g.image[d];
      a.block[lead + d] = g.block[d];
      a.grid[lead + d] = g.grid[d];
      a.stride[lead + d] = g.strides[d];
      a.pad[lead + d] = g.pads[d];
      a.dil[lead + d] = g.dilations[d];
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_col2im(t, a, x.data, out[0].data, ctx.stream), "Col2Im");
  }

 private:
  const Node& node_;
};

Result<std::unique_ptr<CudaKernel>> make_col2im(const CudaKernelInit& init) {
  return std::unique_ptr<CudaKernel>(new Col2ImKernel(init.node));
}

Result<std::unique_ptr<CudaKernel>> make_conv(const CudaKernelInit& init) {
  const Tensor* w = nullptr;
  if (init.node.has_input(1) && init.graph.values[init.node.inputs[1]].is_constant()) {
    w = &init.graph.values[init.node.inputs[1]].constant;
  }
  if (w == nullptr || w->rank() != 4) {
    return unsupported("Conv on CUDA needs a constant 4-D weight (a 2-D convolution)");
  }
  VITRT_ASSIGN_OR_RETURN(ConvAttributes attrs, ConvAttributes::parse(init.node, 2));
  const std::vector<int64_t> kernel = {w->dim(2), w->dim(3)};
  const bool patch =
      attrs.group == 1 && attrs.strides == kernel &&
      (attrs.auto_pad == AutoPad::kNotSet || attrs.auto_pad == AutoPad::kValid) &&
      std::all_of(attrs.pads.begin(), attrs.pads.end(), [](int64_t p) { return p == 0; }) &&
      std::all_of(attrs.dilations.begin(), attrs.dilations.end(), [](int64_t d) { return d == 1; });
  return std::unique_ptr<CudaKernel>(new ConvKernel(init.node, std::move(attrs), patch));
}

Result<std::unique_ptr<CudaKernel>> make_channels_last_conv(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(ChannelsLastConvAttributes attrs, parse_channels_last_conv(init.node));
  std::vector<ConvTactic> tactics;
  if (const Attribute* a = init.node.attrs.find(kConvTacticsAttr)) {
    VITRT_ASSIGN_OR_RETURN(tactics, decode_conv_tactics(a->ints));
  }
  const NodeId id = static_cast<NodeId>(&init.node - init.graph.nodes.data());
  return std::unique_ptr<CudaKernel>(
      new ChannelsLastConvKernel(init.node, std::move(attrs), id, std::move(tactics)));
}

Result<std::unique_ptr<CudaKernel>> make_attention(const CudaKernelInit& init) {
  const Attributes& at = init.node.attrs;
  VITRT_ASSIGN_OR_RETURN(int64_t heads, at.require_int("num_heads"));
  if (heads < 1) return invalid_model("num_heads must be positive");
  VITRT_ASSIGN_OR_RETURN(float scale, at.get_float("scale", 0.0f));
  VITRT_ASSIGN_OR_RETURN(int64_t causal, at.get_int("causal", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t zero_rows, at.get_int("zero_masked_rows", 0));
  Result<OutputCodes> codes = OutputCodes::parse(at);
  if (!codes.ok()) return invalid_model("Attention: ", codes.status().message());
  VITRT_ASSIGN_OR_RETURN(std::optional<FakeQuant> quant_scores,
                         parse_fake_quant(at, "quant_scores"));
  VITRT_ASSIGN_OR_RETURN(std::optional<FakeQuant> quant_probs, parse_fake_quant(at, "quant_probs"));
  VITRT_ASSIGN_OR_RETURN(auto input_quant, parse_attention_input_quant(at));
  float in_scale = 0.0f;
  if (at.has("input_scale")) {
    VITRT_ASSIGN_OR_RETURN(in_scale, at.get_float("input_scale", 0.0f));
    if (!(in_scale > 0.0f) || !std::isfinite(in_scale)) {
      return invalid_model("Attention's input_scale must be a finite float > 0, got ", in_scale);
    }
    if (init.float_type != DType::kFloat16 && init.float_type != DType::kBFloat16) {
      return unsupported("Attention with E4M3 inputs (input_scale) runs in fp16 or bf16 plans, ",
                         "not ", dtype_name(init.float_type));
    }
    for (const char* name : kAttentionFakeQuantAttrs) {
      if (at.has(name)) {
        return invalid_model("Attention's input_scale does not combine with ", name);
      }
    }
  }
  std::vector<AttentionTactic> tactics;
  if (const Attribute* a = at.find(kAttentionTacticsAttr)) {
    VITRT_ASSIGN_OR_RETURN(tactics, decode_attention_tactics(a->ints));
  }
  const NodeId id = static_cast<NodeId>(&init.node - init.graph.nodes.data());
  return std::unique_ptr<CudaKernel>(new AttentionKernel(
      heads, scale, at.has("scale"), causal != 0, zero_rows != 0, *codes, in_scale, init.float_type,
      quant_scores, quant_probs, input_quant, id, init.node.name, std::move(tactics)));
}

}  // namespace

UnaryOp conv_activation_op(ConvActivation act) {
  switch (act) {
    case ConvActivation::kRelu:
      return UnaryOp::kRelu;
    case ConvActivation::kSilu:
      return UnaryOp::kSilu;
    case ConvActivation::kHardSwish:
      return UnaryOp::kHardSwish;
    case ConvActivation::kRelu6:
      return UnaryOp::kRelu6;
    case ConvActivation::kGelu:
      return UnaryOp::kGelu;
    case ConvActivation::kGeluTanh:
      return UnaryOp::kGeluTanh;
    case ConvActivation::kNone:
      break;
  }
  return UnaryOp::kIdentity;
}

Result<UnaryOp> linear_activation(const Attributes& attrs) {
  // Read through the Result, not a moved-out copy: GCC 12 sees a maybe-uninitialized string in
  // the copy once this is inlined beside the tactic decoding.
  const Result<std::string> parsed = attrs.get_string("activation", "none");
  if (!parsed.ok()) return parsed.status();
  const std::string& act = *parsed;
  if (act == "none") return UnaryOp::kIdentity;
  if (act == "gelu") return UnaryOp::kGelu;
  if (act == "gelu_tanh") return UnaryOp::kGeluTanh;
  if (act == "quick_gelu") return UnaryOp::kQuickGelu;
  if (act == "relu") return UnaryOp::kRelu;
  if (act == "silu") return UnaryOp::kSilu;
  if (act == "hard_swish") return UnaryOp::kHardSwish;
  if (act == "relu6") return UnaryOp::kRelu6;
  return invalid_model("unknown activation '", act, "'");
}

Result<TacticCandidates> linear_tactic_candidates(const LaunchContext& ctx, DType type, int64_t m,
                                                  int64_t n, int64_t k, const void* bias,
                                                  UnaryOp act) {
  LtObjects lt;
  VITRT_RETURN_IF_ERROR(
      prepare_gemm(ctx, type, with_epilogue(linear_gemm(m, n, k), bias, act), lt));
  return tactic_candidates(ctx, lt);
}

// Per tactic: m, mode, then the algorithm's 8 opaque 64-bit words.
constexpr size_t kTacticInts = 10;

std::vector<int64_t> encode_attention_tactics(const std::vector<AttentionTactic>& tactics) {
  std::vector<int64_t> ints;
  for (const AttentionTactic& t : tactics) {
    ints.push_back(t.batch);
    ints.push_back(t.impl);
  }
  return ints;
}

Result<std::vector<AttentionTactic>> decode_attention_tactics(const std::vector<int64_t>& ints) {
  if (ints.size() % 2 != 0) {
    return invalid_model(kAttentionTacticsAttr, " holds ", ints.size(),
                         " values; expected (batch, implementation) pairs");
  }
  std::vector<AttentionTactic> out;
  for (size_t i = 0; i < ints.size(); i += 2) {
    if (ints[i] < 1 || (ints[i + 1] != kAttentionOwn && ints[i + 1] != kAttentionCudnn)) {
      return invalid_model(kAttentionTacticsAttr, " entry ", i / 2, " (batch ", ints[i],
                           ", implementation ", ints[i + 1],
                           ") is invalid: expected batch >= 1 and implementation 0 or 1");
    }
    out.push_back({ints[i], static_cast<int>(ints[i + 1])});
  }
  return out;
}

std::vector<int64_t> encode_conv_tactics(const std::vector<ConvTactic>& tactics) {
  std::vector<int64_t> ints;
  for (const ConvTactic& t : tactics) {
    ints.push_back(t.batch);
    ints.push_back(t.impl);
    ints.push_back(t.engine);
    ints.push_back(t.ordinal);
  }
  return ints;
}

Result<std::vector<ConvTactic>> decode_conv_tactics(const std::vector<int64_t>& ints) {
  if (ints.size() % 4 != 0) {
    return invalid_model(kConvTacticsAttr, " holds ", ints.size(),
                         " values; expected (batch, implementation, engine, ordinal) entries");
  }
  std::vector<ConvTactic> out;
  for (size_t i = 0; i < ints.size(); i += 4) {
    if (ints[i] < 1 || (ints[i + 1] != kConvOwn && ints[i + 1] != kConvCudnn) || ints[i + 2] < -1 ||
        ints[i + 3] < 0) {
      return invalid_model(kConvTacticsAttr, " entry ", i / 4, " (batch ", ints[i],
                           ", implementation ", ints[i + 1], ", engine ", ints[i + 2], ", ordinal ",
                           ints[i + 3],
                           ") is invalid: expected batch >= 1, implementation 0 or 1, engine >= -1 "
                           "and ordinal >= 0");
    }
    out.push_back({ints[i], static_cast<int>(ints[i + 1]), ints[i + 2], ints[i + 3]});
  }
  return out;
}

std::vector<int64_t> encode_gemm_tactics(const std::vector<GemmTactic>& tactics) {
  std::vector<int64_t> ints;
  for (const GemmTactic& t : tactics) {
    ints.push_back(t.m);
    ints.push_back(t.encoded_mode());
    for (uint64_t w : t.algo.data) {
      int64_t v;
      std::memcpy(&v, &w, sizeof(v));
      ints.push_back(v);
    }
  }
  return ints;
}

Result<std::vector<GemmTactic>> decode_gemm_tactics(const std::vector<int64_t>& ints,
                                                    int max_mode) {
  if (ints.size() % kTacticInts != 0) {
    return invalid_model("attribute '", kGemmTacticsAttr, "' holds ", ints.size(),
                         " integers, not a multiple of ", kTacticInts);
  }
  std::vector<GemmTactic> tactics;
  for (size_t i = 0; i < ints.size(); i += kTacticInts) {
    GemmTactic t;
    t.m = ints[i];
    const int64_t encoded = ints[i + 1];
    if (!t.set_encoded_mode(encoded) || t.m < 1 || t.mode > max_mode) {
      return invalid_model("attribute '", kGemmTacticsAttr, "': tactic ", i / kTacticInts,
                           " has m ", t.m, " and mode ", encoded);
    }
    for (size_t w = 0; w < 8; ++w) std::memcpy(&t.algo.data[w], &ints[i + 2 + w], sizeof(int64_t));
    tactics.push_back(t);
  }
  return tactics;
}

void register_cuda_linear_kernels(CudaKernelRegistry& r) {
  r.add("", "MatMul", make_matmul);
  r.add("", "Gemm", make_gemm);
  r.add("", "Conv", make_conv);
  r.add("vitrt", "ChannelsLastConv", make_channels_last_conv);
  r.add("", "ConvTranspose", make_conv_transpose);
  r.add("", "Col2Im", make_col2im);
  r.add("vitrt", "Linear", make_linear);
  r.add("vitrt", "Attention", make_attention);
}

}  // namespace vitrt::cuda

// CPU kernels of the elementwise ops with one tensor input: math functions, activations
// (including the com.microsoft Gelu family that ONNX Runtime's optimizer writes), IsNaN/IsInf,
// Not and Clip.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>

#include "core/parallel.h"
#include "cpu/elementwise.h"
#include "cpu/exp_approx.h"

namespace vitrt::cpu {
namespace {

// Each op: its name, the dtypes it takes, the function on compute types, and optionally
// kBoolOutput, kGrain (default: transcendental) and create(node) to read attributes. An op
// with `__m256 vec(__m256) const` runs float32 tensors eight lanes at a time through it
// (cpu/exp_approx.h); other types, and the scalar function, stay the reference.

// A name usable as a template argument.
template <size_t N>
struct OpName {
  constexpr OpName(const char (&name)[N]) { std::copy_n(name, N, text); }  // NOLINT: implicit
  char text[N];
};

// A float-only op without attributes, given by a generic lambda on the compute type.
template <OpName Name, auto Fn>
struct FloatMathOp {
  static constexpr const char* kName = Name.text;
  static constexpr auto kTypes = kFloatTypes;
  template <typename C>
  C operator()(C x) const {
    return Fn(x);
  }
};

using SqrtOp = FloatMathOp<"Sqrt", [](auto x) { return std::sqrt(x); }>;
using ReciprocalOp = FloatMathOp<"Reciprocal", [](auto x) { return decltype(x)(1) / x; }>;
#if VITRT_HAVE_AVX2_MATH
// A FloatMathOp whose float32 form is the vector function VecFn.
template <OpName Name, auto Fn, auto VecFn>
struct VectorMathOp : FloatMathOp<Name, Fn> {
  __m256 vec(__m256 x) const { return VecFn(x); }
};
#define VITRT_VECTOR_MATH_OP(name, fn, vec_fn) VectorMathOp<name, fn, vec_fn>
#else
#define VITRT_VECTOR_MATH_OP(name, fn, vec_fn) FloatMathOp<name, fn>
#endif

using ExpOp = VITRT_VECTOR_MATH_OP(
    "Exp", [](auto x) { return std::exp(x); }, [](__m256 x) { return exp8(x); });
using LogOp = FloatMathOp<"Log", [](auto x) { return std::log(x); }>;
using ErfOp = VITRT_VECTOR_MATH_OP(
    "Erf", [](auto x) { return std::erf(x); }, [](__m256 x) { return erf8(x); });
using TanhOp = VITRT_VECTOR_MATH_OP(
    "Tanh", [](auto x) { return std::tanh(x); }, [](__m256 x) { return tanh8(x); });
using SinOp = FloatMathOp<"Sin", [](auto x) { return std::sin(x); }>;
using CosOp = FloatMathOp<"Cos", [](auto x) { return std::cos(x); }>;
using TanOp = FloatMathOp<"Tan", [](auto x) { return std::tan(x); }>;
using AsinOp = FloatMathOp<"Asin", [](auto x) { return std::asin(x); }>;
using AcosOp = FloatMathOp<"Acos", [](auto x) { return std::acos(x); }>;
using AtanOp = FloatMathOp<"Atan", [](auto x) { return std::atan(x); }>;
using SinhOp = FloatMathOp<"Sinh", [](auto x) { return std::sinh(x); }>;
using CoshOp = FloatMathOp<"Cosh", [](auto x) { return std::cosh(x); }>;
using AsinhOp = FloatMathOp<"Asinh", [](auto x) { return std::asinh(x); }>;
using AcoshOp = FloatMathOp<"Acosh", [](auto x) { return std::acosh(x); }>;
using AtanhOp = FloatMathOp<"Atanh", [](auto x) { return std::atanh(x); }>;
using FloorOp = FloatMathOp<"Floor", [](auto x) { return std::floor(x); }>;
using CeilOp = FloatMathOp<"Ceil", [](auto x) { return std::ceil(x); }>;
// nearbyint rounds half to even in the default rounding mode, as ONNX Round requires.
using RoundOp = FloatMathOp<"Round", [](auto x) { return std::nearbyint(x); }>;
using SoftsignOp =
    FloatMathOp<"Softsign", [](auto x) { return x / (decltype(x)(1) + std::fabs(x)); }>;
// x * HardSigmoid(x) with alpha = 1/6, beta = 0.5.
using HardSwishOp = FloatMathOp<"HardSwish", [](auto x) {
  using C = decltype(x);
  return x * std::min(C(1), std::max(C(0), x * C(1.0 / 6.0) + C(0.5)));
}>;

// Stable forms: exp() of a large positive argument overflows, so the branches use exp(-|x|).
template <typename C>
C sigmoid(C x) {
  if (x >= C(0)) return C(1) / (C(1) + std::exp(-x));
  const C e = std::exp(x);
  return e / (C(1) + e);
}

template <typename C>
C softplus(C x) {
  return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

template <typename C>
C gelu_erf(C x) {
  return C(0.5) * x * (C(1) + std::erf(x * C(std::numbers::sqrt2 / 2)));
}

template <typename C>
C gelu_tanh(C x) {
  const C k = C(0.7978845608028654);  // sqrt(2 / pi)
  return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
}

struct SigmoidOp {
  static constexpr const char* kName = "Sigmoid";
  static constexpr auto kTypes = kFloatTypes;
  template <typename C>
  C operator()(C x) const {
    return sigmoid(x);
  }
#if VITRT_HAVE_AVX2_MATH
  __m256 vec(__m256 x) const {
    return sigmoid8(x);
  }
#endif
};

struct SoftplusOp {
  static constexpr const char* kName = "Softplus";
  static constexpr auto kTypes = kFloatTypes;
  template <typename C>
  C operator()(C x) const {
    return softplus(x);
  }
};

struct MishOp {
  static constexpr const char* kName = "Mish";
  static constexpr auto kTypes = kFloatTypes;
  template <typename C>
  C operator()(C x) const {
    return x * std::tanh(softplus(x));
  }
};

struct NegOp {
  static constexpr const char* kName = "Neg";
  static constexpr auto kTypes = kSignedTypes;
  static constexpr int64_t kGrain = kArithmeticGrain;
  template <typename C>
  C operator()(C x) const {
    return wrapping_neg(x);
  }
};

struct AbsOp {
  static constexpr const char* kName = "Abs";
  static constexpr auto kTypes = kNumericTypes;
  static constexpr int64_t kGrain = kArithmeticGrain;
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_floating_point_v<C>) {
      return std::fabs(x);
    } else if constexpr (std::is_signed_v<C>) {
      return x < 0 ? wrapping_neg(x) : x;
    } else {
      return x;
    }
  }
};

struct SignOp {
  static constexpr const char* kName = "Sign";
  static constexpr auto kTypes = kNumericTypes;
  static constexpr int64_t kGrain = kArithmeticGrain;
  template <typename C>
  C operator()(C x) const {
    if (x > C(0)) return C(1);
    if constexpr (std::is_signed_v<C>) {
      if (x < C(0)) return C(-1);
    }
    return x;  // 0, or NaN which stays NaN
  }
};

// Relu keeps NaN (x < 0 is false for it), as NumPy's maximum(x, 0) does.
struct ReluOp {
  static constexpr const char* kName = "Relu";
  static constexpr auto kTypes = kSignedTypes;
  static constexpr int64_t kGrain = kArithmeticGrain;
  template <typename C>
  C operator()(C x) const {
    return x < C(0) ? C(0) : x;
  }
};

struct NotOp {
  static constexpr const char* kName = "Not";
  static constexpr auto kTypes = kBoolType;
  static constexpr int64_t kGrain = kArithmeticGrain;
  bool operator()(bool x) const { return !x; }
};

struct IsNaNOp {
  static constexpr const char* kName = "IsNaN";
  static constexpr auto kTypes = kFloatTypes;
  static constexpr bool kBoolOutput = true;
  template <typename C>
  bool operator()(C x) const {
    return std::isnan(x);
  }
};

struct IsInfOp {
  static constexpr const char* kName = "IsInf";
  static constexpr auto kTypes = kFloatTypes;
  static constexpr bool kBoolOutput = true;
  bool positive = true;
  bool negative = true;
  static Result<IsInfOp> create(const Node& node) {
    VITRT_ASSIGN_OR_RETURN(int64_t pos, node.attrs.get_int("detect_positive", 1));
    VITRT_ASSIGN_OR_RETURN(int64_t neg, node.attrs.get_int("detect_negative", 1));
    return IsInfOp{pos != 0, neg != 0};
  }
  template <typename C>
  bool operator()(C x) const {
    return std::isinf(x) && (x > 0 ? positive : negative);
  }
};

struct LeakyReluOp {
  static constexpr const char* kName = "LeakyRelu";
  static constexpr auto kTypes = kFloatTypes;
  static constexpr int64_t kGrain = kArithmeticGrain;
  float alpha = 0.01f;
  static Result<LeakyReluOp> create(const Node& node) {
    VITRT_ASSIGN_OR_RETURN(float alpha, node.attrs.get_float("alpha", 0.01f));
    return LeakyReluOp{alpha};
  }
  template <typename C>
  C operator()(C x) const {
    return x >= C(0) ? x : C(alpha) * x;
  }
};

struct EluOp {
  static constexpr const char* kName = "Elu";
  static constexpr auto kTypes = kFloatTypes;
  float alpha = 1.0f;
  static Result<EluOp> create(const Node& node) {
    VITRT_ASSIGN_OR_RETURN(float alpha, node.attrs.get_float("alpha", 1.0f));
    return EluOp{alpha};
  }
  template <typename C>
  C operator()(C x) const {
    return x >= C(0) ? x : C(alpha) * std::expm1(x);
  }
};

struct SeluOp {
  static constexpr const char* kName = "Selu";
  static constexpr auto kTypes = kFloatTypes;
  float alpha = 1.67326319217681884765625f;
  float gamma = 1.05070102214813232421875f;
  static Result<SeluOp> create(const Node& node) {
    SeluOp op;
    VITRT_ASSIGN_OR_RETURN(op.alpha, node.attrs.get_float("alpha", op.alpha));
    VITRT_ASSIGN_OR_RETURN(op.gamma, node.attrs.get_float("gamma", op.gamma));
    return op;
  }
  template <typename C>
  C operator()(C x) const {
    return C(gamma) * (x > C(0) ? x : C(alpha) * std::expm1(x));
  }
};

struct CeluOp {
  static constexpr const char* kName = "Celu";
  static constexpr auto kTypes = kFloatTypes;
  float alpha = 1.0f;
  static Result<CeluOp> create(const Node& node) {
    VITRT_ASSIGN_OR_RETURN(float alpha, node.attrs.get_float("alpha", 1.0f));
    if (alpha == 0.0f) return invalid_model("attribute 'alpha' must not be 0");
    return CeluOp{alpha};
  }
  template <typename C>
  C operator()(C x) const {
    return x > C(0) ? x : C(alpha) * std::expm1(x / C(alpha));
  }
};

struct HardSigmoidOp {
  static constexpr const char* kName = "HardSigmoid";
  static constexpr auto kTypes = kFloatTypes;
  static constexpr int64_t kGrain = kArithmeticGrain;
  float alpha = 0.2f;
  float beta = 0.5f;
  static Result<HardSigmoidOp> create(const Node& node) {
    HardSigmoidOp op;
    VITRT_ASSIGN_OR_RETURN(op.alpha, node.attrs.get_float("alpha", op.alpha));
    VITRT_ASSIGN_OR_RETURN(op.beta, node.attrs.get_float("beta", op.beta));
    return op;
  }
  template <typename C>
  C operator()(C x) const {
    return std::min(C(1), std::max(C(0), C(alpha) * x + C(beta)));
  }
};

struct ThresholdedReluOp {
  static constexpr const char* kName = "ThresholdedRelu";
  static constexpr auto kTypes = kFloatTypes;
  static constexpr int64_t kGrain = kArithmeticGrain;
  float alpha = 1.0f;
  static Result<ThresholdedReluOp> create(const Node& node) {
    VITRT_ASSIGN_OR_RETURN(float alpha, node.attrs.get_float("alpha", 1.0f));
    return ThresholdedReluOp{alpha};
  }
  template <typename C>
  C operator()(C x) const {
    return x > C(alpha) ? x : C(0);
  }
};

// Shrink takes integers too; thresholds compare in double for them so that lambd = 1.5 works.
struct ShrinkOp {
  static constexpr const char* kName = "Shrink";
  static constexpr auto kTypes = kNumericTypes;
  static constexpr int64_t kGrain = kArithmeticGrain;
  float bias = 0.0f;
  float lambd = 0.5f;
  static Result<ShrinkOp> create(const Node& node) {
    ShrinkOp op;
    VITRT_ASSIGN_OR_RETURN(op.bias, node.attrs.get_float("bias", op.bias));
    VITRT_ASSIGN_OR_RETURN(op.lambd, node.attrs.get_float("lambd", op.lambd));
    return op;
  }
  template <typename C>
  C operator()(C x) const {
    using F = std::conditional_t<std::is_floating_point_v<C>, C, double>;
    const F v = static_cast<F>(x);
    if (v < -F(lambd)) return convert_arith<C>(v + F(bias));
    if (v > F(lambd)) return convert_arith<C>(v - F(bias));
    return C(0);
  }
};

// Gelu (ai.onnx opset 20): approximate = "none" (erf) or "tanh".
struct GeluOp {
  static constexpr const char* kName = "Gelu";
  static constexpr auto kTypes = kFloatTypes;
  bool tanh_approximation = false;
  static Result<GeluOp> create(const Node& node) {
    const Attribute* approx = node.attrs.find("approximate");
    if (approx == nullptr || approx->s == "none") return GeluOp{false};
    if (approx->s == "tanh") return GeluOp{true};
    return invalid_model("attribute 'approximate' must be \"none\" or \"tanh\", got \"", approx->s,
                         "\"");
  }
  template <typename C>
  C operator()(C x) const {
    return tanh_approximation ? gelu_tanh(x) : gelu_erf(x);
  }
#if VITRT_HAVE_AVX2_MATH
  __m256 vec(__m256 x) const {
    return tanh_approximation ? gelu_tanh8(x) : gelu_erf8(x);
  }
#endif
};

// com.microsoft.Gelu is the erf form; FastGelu the tanh form (optionally adding a bias first,
// see BiasKernel); QuickGelu(alpha) is x * sigmoid(alpha * x).
struct MsGeluOp {
  static constexpr const char* kName = "Gelu";
  static constexpr auto kTypes = kFloatTypes;
  template <typename C>
  C operator()(C x) const {
    return gelu_erf(x);
  }
#if VITRT_HAVE_AVX2_MATH
  __m256 vec(__m256 x) const {
    return gelu_erf8(x);
  }
#endif
};

struct BiasGeluOp : MsGeluOp {
  static constexpr const char* kName = "BiasGelu";
};

struct FastGeluOp {
  static constexpr const char* kName = "FastGelu";
  static constexpr auto kTypes = kFloatTypes;
  template <typename C>
  C operator()(C x) const {
    return gelu_tanh(x);
  }
#if VITRT_HAVE_AVX2_MATH
  __m256 vec(__m256 x) const {
    return gelu_tanh8(x);
  }
#endif
};

struct QuickGeluOp {
  static constexpr const char* kName = "QuickGelu";
  static constexpr auto kTypes = kFloatTypes;
  float alpha = 1.702f;
  static Result<QuickGeluOp> create(const Node& node) {
    VITRT_ASSIGN_OR_RETURN(float alpha, node.attrs.get_float("alpha", 1.702f));
    return QuickGeluOp{alpha};
  }
  template <typename C>
  C operator()(C x) const {
    return x * sigmoid(C(alpha) * x);
  }
#if VITRT_HAVE_AVX2_MATH
  __m256 vec(__m256 x) const {
    return quick_gelu8(x, alpha);
  }
#endif
};

// ONNX Swish (opset 24): QuickGelu with alpha 1 by default (SiLU).
struct SwishOp : QuickGeluOp {
  static constexpr const char* kName = "Swish";
  static Result<SwishOp> create(const Node& node) {
    VITRT_ASSIGN_OR_RETURN(float alpha, node.attrs.get_float("alpha", 1.0f));
    SwishOp op;
    op.alpha = alpha;
    return op;
  }
};

template <typename Op>
Result<Op> create_op(const Node& node) {
  if constexpr (requires { Op::create(node); }) {
    return Op::create(node);
  } else {
    return Op{};
  }
}

template <typename Op>
constexpr bool kBoolOutput = requires {
  requires Op::kBoolOutput;
};

template <typename Op>
constexpr int64_t grain_of() {
  if constexpr (requires { Op::kGrain; }) {
    return Op::kGrain;
  } else {
    return kTranscendentalGrain;
  }
}

#if VITRT_HAVE_AVX2_MATH
// Vector functions cost about a nanosecond per element: chunks of 16K keep the threads' start-up
// small against the work.
constexpr int64_t kVectorMathGrain = 1 << 14;

template <typename Op>
Tensor vector_unary_map(const Tensor& in, const Op& op) {
  Tensor out = Tensor::empty(DType::kFloat32, in.shape());
  const float* x = in.data<float>();
  float* y = out.data<float>();
  parallel_for(in.numel(), kVectorMathGrain, [&](int64_t begin, int64_t end) {
    map8(x + begin, y + begin, end - begin, [&op](__m256 v) { return op.vec(v); });
  });
  return out;
}
#endif

// Applies op to input 0. With kBiasInput, an optional input 1 is first added to input 0 with
// broadcasting (com.microsoft FastGelu's bias; BiasGelu's required bias).
template <typename Op, bool kBiasInput = false>
class UnaryKernel final : public CpuKernel {
 public:
  explicit UnaryKernel(Op op) : op_(op) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    return dispatch(Op::kTypes, x.dtype(), Op::kName, [&]<typename T>(TypeTag<T>) -> Status {
      using TO = std::conditional_t<kBoolOutput<Op>, bool, T>;
      if constexpr (kBiasInput) {
        if (inputs.size() > 1 && inputs[1] != nullptr) {
          const Tensor& bias = *inputs[1];
          if (bias.dtype() != x.dtype()) {
            return invalid_argument(Op::kName, ": bias has dtype ", dtype_name(bias.dtype()),
                                    ", input has ", dtype_name(x.dtype()));
          }
          using C = compute_t<T>;
          const Op& op = op_;
          VITRT_ASSIGN_OR_RETURN(outputs[0], (binary_broadcast<T, T, T>(
                                                 x, bias, [&op](C a, C b) { return op(a + b); },
                                                 kTranscendentalGrain)));
          return Status();
        }
      }
#if VITRT_HAVE_AVX2_MATH
      if constexpr (std::is_same_v<T, float> && requires(const Op& op, __m256 v) { op.vec(v); }) {
        outputs[0] = vector_unary_map(x, op_);
        return Status();
      }
#endif
      outputs[0] = unary_map<T, TO>(x, op_, grain_of<Op>());
      return Status();
    });
  }

 private:
  Op op_;
};

template <typename Op, bool kBiasInput = false>
Result<std::unique_ptr<CpuKernel>> make_unary_kernel(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(Op op, create_op<Op>(init.node));
  return std::unique_ptr<CpuKernel>(std::make_unique<UnaryKernel<Op, kBiasInput>>(op));
}

// Clip: bounds from inputs 1 and 2 (opset >= 11, each optional and holding one element) or
// from the attributes min and max (earlier opsets). A min above max yields max everywhere.
class ClipKernel final : public CpuKernel {
 public:
  ClipKernel(bool bounds_from_inputs, float min_attr, float max_attr)
      : bounds_from_inputs_(bounds_from_inputs), min_attr_(min_attr), max_attr_(max_attr) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    return dispatch(kNumericTypes, x.dtype(), "Clip", [&]<typename T>(TypeTag<T>) -> Status {
      using C = compute_t<T>;
      C lo = std::numeric_limits<C>::lowest();
      C hi = std::numeric_limits<C>::max();
      if (bounds_from_inputs_) {
        for (int i = 1; i <= 2; ++i) {
          if (static_cast<int>(inputs.size()) <= i || inputs[i] == nullptr) continue;
          const Tensor& bound = *inputs[i];
          if (bound.dtype() != x.dtype() || bound.numel() != 1) {
            return invalid_argument("Clip: ", i == 1 ? "min" : "max", " must be a ",
                                    dtype_name(x.dtype()), " scalar, got ", bound.describe());
          }
          (i == 1 ? lo : hi) = load(bound.data<T>()[0]);
        }
      } else {
        lo = convert_arith<C>(min_attr_);
        hi = convert_arith<C>(max_attr_);
      }
      const auto f = [lo, hi](C v) {
        const C r = v < lo ? lo : v;
        return r > hi ? hi : r;
      };
      outputs[0] = unary_map<T, T>(x, f, kArithmeticGrain);
      return Status();
    });
  }

 private:
  bool bounds_from_inputs_;
  float min_attr_;
  float max_attr_;
};

Result<std::unique_ptr<CpuKernel>> make_clip_kernel(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(float lo, init.node.attrs.get_float("min", -FLT_MAX));
  VITRT_ASSIGN_OR_RETURN(float hi, init.node.attrs.get_float("max", FLT_MAX));
  return std::unique_ptr<CpuKernel>(std::make_unique<ClipKernel>(init.opset >= 11, lo, hi));
}

}  // namespace

void register_cpu_unary_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Neg", make_unary_kernel<NegOp>);
  registry.add("", "Abs", make_unary_kernel<AbsOp>);
  registry.add("", "Sign", make_unary_kernel<SignOp>);
  registry.add("", "Sqrt", make_unary_kernel<SqrtOp>);
  registry.add("", "Reciprocal", make_unary_kernel<ReciprocalOp>);
  registry.add("", "Exp", make_unary_kernel<ExpOp>);
  registry.add("", "Log", make_unary_kernel<LogOp>);
  registry.add("", "Erf", make_unary_kernel<ErfOp>);
  registry.add("", "Tanh", make_unary_kernel<TanhOp>);
  registry.add("", "Sigmoid", make_unary_kernel<SigmoidOp>);
  registry.add("", "Sin", make_unary_kernel<SinOp>);
  registry.add("", "Cos", make_unary_kernel<CosOp>);
  registry.add("", "Tan", make_unary_kernel<TanOp>);
  registry.add("", "Asin", make_unary_kernel<AsinOp>);
  registry.add("", "Acos", make_unary_kernel<AcosOp>);
  registry.add("", "Atan", make_unary_kernel<AtanOp>);
  registry.add("", "Sinh", make_unary_kernel<SinhOp>);
  registry.add("", "Cosh", make_unary_kernel<CoshOp>);
  registry.add("", "Asinh", make_unary_kernel<AsinhOp>);
  registry.add("", "Acosh", make_unary_kernel<AcoshOp>);
  registry.add("", "Atanh", make_unary_kernel<AtanhOp>);
  registry.add("", "Floor", make_unary_kernel<FloorOp>);
  registry.add("", "Ceil", make_unary_kernel<CeilOp>);
  registry.add("", "Round", make_unary_kernel<RoundOp>);
  registry.add("", "IsNaN", make_unary_kernel<IsNaNOp>);
  registry.add("", "IsInf", make_unary_kernel<IsInfOp>);
  registry.add("", "Not", make_unary_kernel<NotOp>);
  registry.add("", "Relu", make_unary_kernel<ReluOp>);
  registry.add("", "LeakyRelu", make_unary_kernel<LeakyReluOp>);
  registry.add("", "Elu", make_unary_kernel<EluOp>);
  registry.add("", "Selu", make_unary_kernel<SeluOp>);
  registry.add("", "Celu", make_unary_kernel<CeluOp>);
  registry.add("", "HardSigmoid", make_unary_kernel<HardSigmoidOp>);
  registry.add("", "HardSwish", make_unary_kernel<HardSwishOp>);
  registry.add("", "Softplus", make_unary_kernel<SoftplusOp>);
  registry.add("", "Softsign", make_unary_kernel<SoftsignOp>);
  registry.add("", "ThresholdedRelu", make_unary_kernel<ThresholdedReluOp>);
  registry.add("", "Mish", make_unary_kernel<MishOp>);
  registry.add("", "Swish", make_unary_kernel<SwishOp>);
  registry.add("", "Shrink", make_unary_kernel<ShrinkOp>);
  registry.add("", "Gelu", make_unary_kernel<GeluOp>);
  registry.add("", "Clip", make_clip_kernel);
  registry.add("com.microsoft", "Gelu", make_unary_kernel<MsGeluOp>);
  registry.add("com.microsoft", "FastGelu", make_unary_kernel<FastGeluOp, true>);
  registry.add("com.microsoft", "BiasGelu", make_unary_kernel<BiasGeluOp, true>);
  registry.add("com.microsoft", "QuickGelu", make_unary_kernel<QuickGeluOp>);
}

}  // namespace vitrt::cpu

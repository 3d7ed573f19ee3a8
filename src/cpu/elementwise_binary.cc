// CPU kernels of the broadcasting elementwise ops with two or more inputs: arithmetic (Add,
// Sub, Mul, Div, Mod, Pow, PRelu), variadic (Sum, Mean, Max, Min), comparisons, logical ops,
// BitShift and Where.
//
// Integer division and modulo by zero yield 0 and INT_MIN / -1 wraps: ONNX leaves both
// undefined, and a server must not trap on a bad input.
#include <cmath>
#include <memory>
#include <type_traits>

#include "cpu/elementwise.h"
#include "ir/ops/op_attributes.h"

namespace vitrt::cpu {
namespace {

// Each op: its name, the dtypes it takes, the function on compute types, and optionally
// kVariadic (any number of inputs), kBoolOutput and create(node) to read attributes.
struct AddOp {
  static constexpr const char* kName = "Add";
  static constexpr auto kTypes = kNumericTypes;
  template <typename C>
  C operator()(C a, C b) const {
    return wrapping(a, b, std::plus<>());
  }
};

struct SubOp {
  static constexpr const char* kName = "Sub";
  static constexpr auto kTypes = kNumericTypes;
  template <typename C>
  C operator()(C a, C b) const {
    return wrapping(a, b, std::minus<>());
  }
};

struct MulOp {
  static constexpr const char* kName = "Mul";
  static constexpr auto kTypes = kNumericTypes;
  template <typename C>
  C operator()(C a, C b) const {
    return wrapping(a, b, std::multiplies<>());
  }
};

struct DivOp {
  static constexpr const char* kName = "Div";
  static constexpr auto kTypes = kNumericTypes;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return wrapping_neg(a);
      }
    }
    return a / b;
  }
};

// Integer Mod follows the divisor's sign (Python's %) unless fmod=1, which follows the
// dividend's (C's fmod). Floating inputs require fmod=1 in ONNX; the schema rejects others.
struct ModOp {
  static constexpr const char* kName = "Mod";
  static constexpr auto kTypes = kNumericTypes;
  bool fmod = false;
  static Result<ModOp> create(const Node& node) {
    VITRT_ASSIGN_OR_RETURN(int64_t f, node.attrs.get_int("fmod", 0));
    if (f != 0 && f != 1) return invalid_model("attribute 'fmod' must be 0 or 1, got ", f);
    return ModOp{f == 1};
  }
  template <typename C>
  C operator()(C a, C b) const {
    C r;
    if constexpr (std::is_floating_point_v<C>) {
      r = std::fmod(a, b);
    } else {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return 0;
      }
      r = static_cast<C>(a % b);
    }
    if constexpr (std::is_signed_v<C>) {
      if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<C>(r + b);
    }
    return r;
  }
};

// NaN propagates through Max and Min, as in NumPy's maximum/minimum.
struct MaxOp {
  static constexpr const char* kName = "Max";
  static constexpr bool kVariadic = true;
  static constexpr auto kTypes = kNumericTypes;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      if (std::isnan(a)) return a;
    }
    return a >= b ? a : b;
  }
};

struct MinOp {
  static constexpr const char* kName = "Min";
  static constexpr bool kVariadic = true;
  static constexpr auto kTypes = kNumericTypes;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      if (std::isnan(a)) return a;
    }
    return a <= b ? a : b;
  }
};

struct SumOp : AddOp {
  static constexpr const char* kName = "Sum";
  static constexpr bool kVariadic = true;
  static constexpr auto kTypes = kFloatTypes;
};

struct MeanOp : AddOp {
  static constexpr const char* kName = "Mean";
  static constexpr bool kVariadic = true;
  static constexpr auto kTypes = kFloatTypes;
};

struct PReluOp {
  static constexpr const char* kName = "PRelu";
  static constexpr auto kTypes = kNumericTypes;
  template <typename C>
  C operator()(C x, C slope) const {
    return x < C(0) ? wrapping(x, slope, std::multiplies<>()) : x;
  }
};

struct BitShiftOp {
  static constexpr const char* kName = "BitShift";
  static constexpr auto kTypes = kUnsignedIntTypes;
  bool left = true;
  static Result<BitShiftOp> create(const Node& node) {
    VITRT_ASSIGN_OR_RETURN(bool left, parse_bit_shift_left(node.attrs));
    return BitShiftOp{left};
  }
  template <typename C>
  C operator()(C a, C b) const {
    if (b >= sizeof(C) * 8) return 0;  // a full-width shift is UB in C++
    return left ? static_cast<C>(a << b) : static_cast<C>(a >> b);
  }
};

template <typename Cmp>
struct CompareOp {
  static constexpr bool kBoolOutput = true;
  template <typename C>
  bool operator()(C a, C b) const {
    return Cmp{}(a, b);
  }
};
struct EqualOp : CompareOp<std::equal_to<>> {
  static constexpr const char* kName = "Equal";
  static constexpr auto kTypes = kAllTypes;
};
struct LessOp : CompareOp<std::less<>> {
  static constexpr const char* kName = "Less";
  static constexpr auto kTypes = kNumericTypes;
};
struct GreaterOp : CompareOp<std::greater<>> {
  static constexpr const char* kName = "Greater";
  static constexpr auto kTypes = kNumericTypes;
};
struct LessOrEqualOp : CompareOp<std::less_equal<>> {
  static constexpr const char* kName = "LessOrEqual";
  static constexpr auto kTypes = kNumericTypes;
};
struct GreaterOrEqualOp : CompareOp<std::greater_equal<>> {
  static constexpr const char* kName = "GreaterOrEqual";
  static constexpr auto kTypes = kNumericTypes;
};
struct AndOp : CompareOp<std::logical_and<>> {
  static constexpr const char* kName = "And";
  static constexpr auto kTypes = kBoolType;
};
struct OrOp : CompareOp<std::logical_or<>> {
  static constexpr const char* kName = "Or";
  static constexpr auto kTypes = kBoolType;
};
struct XorOp : CompareOp<std::not_equal_to<>> {
  static constexpr const char* kName = "Xor";
  static constexpr auto kTypes = kBoolType;
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
constexpr bool kVariadic = requires {
  requires Op::kVariadic;
};

// Folds op over its inputs left to right with broadcasting (one input: a copy); Mean then
// divides by the input count.
template <typename Op>
class FoldKernel final : public CpuKernel {
 public:
  explicit FoldKernel(Op op) : op_(op) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    if (!kVariadic<Op> && inputs.size() != 2) {
      return invalid_argument(Op::kName, " takes 2 inputs, got ", inputs.size());
    }
    const DType dtype = inputs[0]->dtype();
    for (size_t i = 1; i < inputs.size(); ++i) {
      if (inputs[i]->dtype() != dtype) {
        return invalid_argument(Op::kName, ": input ", i, " has dtype ",
                                dtype_name(inputs[i]->dtype()), ", input 0 has ",
                                dtype_name(dtype));
      }
    }
    return dispatch(Op::kTypes, dtype, Op::kName, [&]<typename T>(TypeTag<T>) -> Status {
      using C = compute_t<T>;
      using TO = std::conditional_t<kBoolOutput<Op>, bool, T>;
      const auto f = [this](C a, C b) { return op_(a, b); };
      Tensor acc = inputs.size() == 1 ? inputs[0]->clone() : Tensor();
      for (size_t i = 1; i < inputs.size(); ++i) {
        const Tensor& lhs = i == 1 ? *inputs[0] : acc;
        VITRT_ASSIGN_OR_RETURN(acc,
                               (binary_broadcast<T, T, TO>(lhs, *inputs[i], f, kArithmeticGrain)));
      }
      if constexpr (std::is_same_v<Op, MeanOp>) {
        const C scale = C(1) / static_cast<C>(inputs.size());
        acc = unary_map<T, T>(
            acc, [scale](C x) { return x * scale; }, kArithmeticGrain);
      }
      outputs[0] = std::move(acc);
      return Status();
    });
  }

 private:
  Op op_;
};

template <typename Op>
Result<std::unique_ptr<CpuKernel>> make_fold_kernel(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(Op op, create_op<Op>(init.node));
  return std::unique_ptr<CpuKernel>(std::make_unique<FoldKernel<Op>>(op));
}

// x^y for integer x and y, wrapping on overflow like repeated multiplication.
template <typename C, typename E>
C integer_pow(C x, E y) {
  if constexpr (std::is_signed_v<E>) {
    if (y < 0) {  // |x| >= 2 truncates to 0, as C's cast of pow()'s double result does
      if (x == 1) return 1;
      if constexpr (std::is_signed_v<C>) {
        if (x == -1) return (y % 2 == 0) ? 1 : -1;
      }
      return 0;
    }
  }
  uint64_t base = static_cast<uint64_t>(x);
  uint64_t result = 1;
  for (uint64_t e = static_cast<uint64_t>(y); e != 0; e >>= 1) {
    if (e & 1) result *= base;
    base *= base;
  }
  return static_cast<C>(result);
}

// Float bases compute in their own precision; integer bases with a float exponent in double.
template <typename CB, typename CE>
CB pow_element(CB b, CE e) {
  if constexpr (std::is_floating_point_v<CB>) {
    return std::pow(b, static_cast<CB>(e));
  } else if constexpr (std::is_integral_v<CE>) {
    return integer_pow(b, e);
  } else {
    return convert_arith<CB>(std::pow(static_cast<double>(b), static_cast<double>(e)));
  }
}

// Pow: the exponent may have another dtype than the base; the output has the base's.
Status run_pow(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  const Tensor& y = *inputs[1];
  // Fast paths for the squares and cubes that LayerNorm and tanh-Gelu decompositions compute.
  if (x.dtype() == DType::kFloat32 && y.numel() == 1 && y.rank() <= x.rank() &&
      dtype_is_storable(y.dtype()) && y.dtype() != DType::kBool) {
    const double e = y.element_as_double(0);
    if (e == 2.0) {
      outputs[0] = unary_map<float, float>(
          x, [](float v) { return v * v; }, kArithmeticGrain);
      return Status();
    }
    if (e == 3.0) {
      outputs[0] = unary_map<float, float>(
          x, [](float v) { return v * v * v; }, kArithmeticGrain);
      return Status();
    }
  }
  constexpr TypeList<float, double, Float16, BFloat16, int32_t, int64_t> kBaseTypes;
  return dispatch(kBaseTypes, x.dtype(), "Pow", [&]<typename TB>(TypeTag<TB>) -> Status {
    return dispatch(
        kNumericTypes, y.dtype(), "Pow exponent", [&]<typename TE>(TypeTag<TE>) -> Status {
          using CB = compute_t<TB>;
          using CE = compute_t<TE>;
          const auto f = [](CB b, CE e) { return pow_element(b, e); };
          VITRT_ASSIGN_OR_RETURN(outputs[0],
                                 (binary_broadcast<TB, TE, TB>(x, y, f, kTranscendentalGrain)));
          return Status();
        });
  });
}

// Where(cond, x, y): a select that only moves bits, so it dispatches on element size.
template <typename U>
Status where_typed(const Tensor& cond, const Tensor& x, const Tensor& y, Tensor& out) {
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> shape,
                         broadcast_static_shapes({cond.shape(), x.shape(), y.shape()}));
  out = Tensor::empty(x.dtype(), shape);
  const BroadcastPlan plan = make_broadcast_plan(shape, {cond.shape(), x.shape(), y.shape()});
  const bool* pc = cond.data<bool>();
  const U* px = x.data<U>();
  const U* py = y.data<U>();
  U* po = out.data<U>();
  const int64_t sc = plan.inner_advances[0], sx = plan.inner_advances[1],
                sy = plan.inner_advances[2];
  for_each_broadcast_row(plan, kArithmeticGrain, [&](int64_t o, const InputOffsets& in, int64_t n) {
    const bool* c = pc + in[0];
    const U* a = px + in[1];
    const U* b = py + in[2];
    U* r = po + o;
    if (sc && sx && sy) {
      for (int64_t i = 0; i < n; ++i) r[i] = c[i] ? a[i] : b[i];
    } else {
      for (int64_t i = 0; i < n; ++i) {
        r[i] = c[i * sc] ? a[i * sx] : b[i * sy];
      }
    }
  });
  return Status();
}

Status run_where(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) {
  const Tensor& cond = *inputs[0];
  const Tensor& x = *inputs[1];
  const Tensor& y = *inputs[2];
  if (cond.dtype() != DType::kBool) {
    return invalid_argument("Where: condition has dtype ", dtype_name(cond.dtype()),
                            ", expected bool");
  }
  if (x.dtype() != y.dtype()) {
    return invalid_argument("Where: X has dtype ", dtype_name(x.dtype()), " but Y has ",
                            dtype_name(y.dtype()));
  }
  switch (dtype_size(x.dtype())) {
    case 1:
      return where_typed<uint8_t>(cond, x, y, outputs[0]);
    case 2:
      return where_typed<uint16_t>(cond, x, y, outputs[0]);
    case 4:
      return where_typed<uint32_t>(cond, x, y, outputs[0]);
    case 8:
      return where_typed<uint64_t>(cond, x, y, outputs[0]);
    default:
      return unsupported("Where does not support dtype ", dtype_name(x.dtype()));
  }
}

template <auto Fn>
Result<std::unique_ptr<CpuKernel>> make_function_kernel(const KernelInit& init) {
  return std::unique_ptr<CpuKernel>(
      std::make_unique<FunctionKernel<decltype(Fn)>>(init.node, init.opset, Fn));
}

Status pow_entry(const Node&, int64_t, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  return run_pow(inputs, outputs);
}

Status where_entry(const Node&, int64_t, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  return run_where(inputs, outputs);
}

}  // namespace

void register_cpu_binary_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Add", make_fold_kernel<AddOp>);
  registry.add("", "Sub", make_fold_kernel<SubOp>);
  registry.add("", "Mul", make_fold_kernel<MulOp>);
  registry.add("", "Div", make_fold_kernel<DivOp>);
  registry.add("", "Mod", make_fold_kernel<ModOp>);
  registry.add("", "Max", make_fold_kernel<MaxOp>);
  registry.add("", "Min", make_fold_kernel<MinOp>);
  registry.add("", "Sum", make_fold_kernel<SumOp>);
  registry.add("", "Mean", make_fold_kernel<MeanOp>);
  registry.add("", "PRelu", make_fold_kernel<PReluOp>);
  registry.add("", "BitShift", make_fold_kernel<BitShiftOp>);
  registry.add("", "Equal", make_fold_kernel<EqualOp>);
  registry.add("", "Less", make_fold_kernel<LessOp>);
  registry.add("", "Greater", make_fold_kernel<GreaterOp>);
  registry.add("", "LessOrEqual", make_fold_kernel<LessOrEqualOp>);
  registry.add("", "GreaterOrEqual", make_fold_kernel<GreaterOrEqualOp>);
  registry.add("", "And", make_fold_kernel<AndOp>);
  registry.add("", "Or", make_fold_kernel<OrOp>);
  registry.add("", "Xor", make_fold_kernel<XorOp>);
  registry.add("", "Pow", make_function_kernel<pow_entry>);
  registry.add("", "Where", make_function_kernel<where_entry>);
}

}  // namespace vitrt::cpu

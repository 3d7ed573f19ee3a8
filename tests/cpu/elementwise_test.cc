// CPU kernels of the elementwise family against straightforward float64 references computed
// here: every op, odd and broadcast shapes, scalars, empty tensors, NaN/inf, several dtypes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "cpu/cpu_kernel.h"
#include "ir/op_schema.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::tensors_close;
using testing::Tolerance;

// ---- tensors from doubles --------------------------------------------------------------------

// Negative values wrap into unsigned types through int64 (a double out of an unsigned type's
// range has no defined conversion; clang's UBSan reports it).
void set_element(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DType::kFloat32:
      t.data<float>()[i] = static_cast<float>(v);
      break;
    case DType::kFloat64:
      t.data<double>()[i] = v;
      break;
    case DType::kFloat16:
      t.data<uint16_t>()[i] = float_to_half(static_cast<float>(v));
      break;
    case DType::kBFloat16:
      t.data<uint16_t>()[i] = float_to_bf16(static_cast<float>(v));
      break;
    case DType::kInt8:
      t.data<int8_t>()[i] = static_cast<int8_t>(v);
      break;
    case DType::kInt16:
      t.data<int16_t>()[i] = static_cast<int16_t>(v);
      break;
    case DType::kInt32:
      t.data<int32_t>()[i] = static_cast<int32_t>(v);
      break;
    case DType::kInt64:
      t.data<int64_t>()[i] = static_cast<int64_t>(v);
      break;
    case DType::kUInt8:
      t.data<uint8_t>()[i] = static_cast<uint8_t>(static_cast<int64_t>(v));
      break;
    case DType::kUInt16:
      t.data<uint16_t>()[i] = static_cast<uint16_t>(static_cast<int64_t>(v));
      break;
    case DType::kUInt32:
      t.data<uint32_t>()[i] = static_cast<uint32_t>(static_cast<int64_t>(v));
      break;
    case DType::kUInt64:
      t.data<uint64_t>()[i] = static_cast<uint64_t>(static_cast<int64_t>(v));
      break;
    case DType::kBool:
      t.data<uint8_t>()[i] = v != 0.0 ? 1 : 0;
      break;
    default:
      FAIL() << "unhandled dtype";
  }
}

Tensor make(DType dtype, std::vector<int64_t> shape, const std::vector<double>& values) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  EXPECT_EQ(t.numel(), static_cast<int64_t>(values.size()));
  for (int64_t i = 0; i < t.numel(); ++i) set_element(t, i, values[i]);
  return t;
}

// Random values in [lo, hi]; integers are rounded down, so integer tensors cover [lo, hi).
Tensor random(DType dtype, std::vector<int64_t> shape, uint64_t seed, double lo = -1.0,
              double hi = 1.0) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = dist(rng);
    set_element(t, i, dtype_is_float(dtype) ? v : std::floor(v));
  }
  return t;
}

// ---- running one node ------------------------------------------------------------------------

struct OpCall {
  std::string op;
  std::vector<Tensor> inputs;  // an undefined Tensor marks an omitted optional input
  Attributes attrs = {};
  std::string domain = {};
  int64_t opset = 18;
};

// Infers shapes for a one-node graph, runs the CPU kernel, and checks the output matches the
// inferred dtype and (static) shape.
Result<Tensor> run(const OpCall& call) {
  Graph g;
  g.opset_imports[""] = call.opset;
  if (!call.domain.empty()) g.opset_imports[call.domain] = 1;
  Node node;
  node.name = "n";
  node.op_type = call.op;
  node.domain = call.domain;
  node.attrs = call.attrs;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    if (!call.inputs[i].defined()) {
      node.inputs.push_back(kNoValue);
      continue;
    }
    Value v;
    v.name = str_cat("x", i);
    v.dtype = call.inputs[i].dtype();
    v.has_shape = true;
    v.shape = sym_shape_from_static(call.inputs[i].shape());
    const ValueId id = g.add_value(v);
    g.inputs.push_back(id);
    node.inputs.push_back(id);
  }
  Value out;
  out.name = "y";
  node.outputs.push_back(g.add_value(out));
  g.outputs.push_back(node.outputs[0]);
  g.add_node(node);
  VITRT_RETURN_IF_ERROR(infer_shapes(g));

  const CpuKernelFactory factory = CpuKernelRegistry::global().find(call.domain, call.op);
  if (factory == nullptr) return not_found("no CPU kernel for ", call.op);
  KernelInit init{g, g.nodes[0], call.opset};
  VITRT_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> kernel, factory(init));
  std::vector<const Tensor*> in;
  for (const Tensor& t : call.inputs) in.push_back(t.defined() ? &t : nullptr);
  std::vector<Tensor> outputs(1);
  VITRT_RETURN_IF_ERROR(kernel->run(in, outputs));

  const Value& inferred = g.values[g.nodes[0].outputs[0]];
  EXPECT_EQ(inferred.dtype, outputs[0].dtype()) << call.op;
  EXPECT_EQ(sym_shape_to_static(inferred.shape), outputs[0].shape()) << call.op;
  return outputs[0];
}

Tensor run_ok(const OpCall& call) {
  Result<Tensor> r = run(call);
  EXPECT_TRUE(r.ok()) << call.op << ": " << r.status().to_string();
  return r.ok() ? std::move(r).value() : Tensor();
}

// ---- references ------------------------------------------------------------------------------

Tensor ref_unary(const Tensor& x, DType out_dtype, const std::function<double(double)>& f) {
  Tensor out = Tensor::empty(out_dtype, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) set_element(out, i, f(x.element_as_double(i)));
  return out;
}

std::vector<int64_t> np_broadcast(std::vector<std::vector<int64_t>> shapes) {
  size_t rank = 0;
  for (auto& s : shapes) rank = std::max(rank, s.size());
  std::vector<int64_t> out(rank, 1);
  for (auto& s : shapes) {
    s.insert(s.begin(), rank - s.size(), 1);
    for (size_t d = 0; d < rank; ++d) {
      if (s[d] != 1) out[d] = s[d];
    }
  }
  return out;
}

// Flat index into `shape` (right-aligned against out) of the output element at `out_index`.
int64_t source_index(const std::vector<int64_t>& shape, const std::vector<int64_t>& out_shape,
                     int64_t out_index) {
  int64_t idx = 0, stride = 1;
  for (int d = static_cast<int>(out_shape.size()) - 1; d >= 0; --d) {
    const int64_t coord = out_index % out_shape[d];
    out_index /= out_shape[d];
    const int sd = d - static_cast<int>(out_shape.size() - shape.size());
    if (sd < 0) continue;
    if (shape[sd] != 1) idx += coord * stride;
    stride *= shape[sd];
  }
  return idx;
}

Tensor ref_nary(const std::vector<Tensor>& in, DType out_dtype,
                const std::function<double(const std::vector<double>&)>& f) {
  std::vector<std::vector<int64_t>> shapes;
  for (const Tensor& t : in) shapes.push_back(t.shape());
  const std::vector<int64_t> shape = np_broadcast(shapes);
  Tensor out = Tensor::empty(out_dtype, shape);
  std::vector<double> args(in.size());
  for (int64_t i = 0; i < out.numel(); ++i) {
    for (size_t k = 0; k < in.size(); ++k) {
      args[k] = in[k].element_as_double(source_index(in[k].shape(), shape, i));
    }
    set_element(out, i, f(args));
  }
  return out;
}

Tensor ref_binary(const Tensor& a, const Tensor& b, DType out_dtype,
                  const std::function<double(double, double)>& f) {
  return ref_nary({a, b}, out_dtype, [&](const std::vector<double>& v) { return f(v[0], v[1]); });
}

Tolerance tolerance_for(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return {1e-12, 1e-13};
    case DType::kFloat16:
      return {2e-3, 1e-3};
    case DType::kBFloat16:
      return {1.6e-2, 1e-2};
    default:
      return {2e-6, 1e-6};
  }
}

// ---- unary -----------------------------------------------------------------------------------

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}
double softplus(double x) {
  return std::log1p(std::exp(x));
}

struct UnaryCase {
  std::string op;
  std::function<double(double)> ref;
  double lo, hi;
  Attributes attrs = {};
  std::string domain = "";
};

Attributes float_attrs(std::vector<std::pair<std::string, float>> kv) {
  Attributes a;
  for (auto& [k, v] : kv) a.set_float(k, v);
  return a;
}

std::vector<UnaryCase> float_unary_cases() {
  const double kSqrt2 = std::numbers::sqrt2;
  return {
      {"Neg", [](double x) { return -x; }, -3, 3},
      {"Abs", [](double x) { return std::fabs(x); }, -3, 3},
      {"Sign", [](double x) { return double((x > 0) - (x < 0)); }, -3, 3},
      {"Sqrt", [](double x) { return std::sqrt(x); }, 0, 9},
      {"Reciprocal", [](double x) { return 1 / x; }, 0.5, 4},
      {"Exp", [](double x) { return std::exp(x); }, -5, 5},
      {"Log", [](double x) { return std::log(x); }, 0.01, 10},
      {"Erf", [](double x) { return std::erf(x); }, -3, 3},
      {"Tanh", [](double x) { return std::tanh(x); }, -4, 4},
      {"Sigmoid", sigmoid, -8, 8},
      {"Sin", [](double x) { return std::sin(x); }, -3, 3},
      {"Cos", [](double x) { return std::cos(x); }, -3, 3},
      {"Tan", [](double x) { return std::tan(x); }, -1.2, 1.2},
      {"Asin", [](double x) { return std::asin(x); }, -0.99, 0.99},
      {"Acos", [](double x) { return std::acos(x); }, -0.99, 0.99},
      {"Atan", [](double x) { return std::atan(x); }, -5, 5},
      {"Sinh", [](double x) { return std::sinh(x); }, -3, 3},
      {"Cosh", [](double x) { return std::cosh(x); }, -3, 3},
      {"Asinh", [](double x) { return std::asinh(x); }, -5, 5},
      {"Acosh", [](double x) { return std::acosh(x); }, 1.01, 6},
      {"Atanh", [](double x) { return std::atanh(x); }, -0.9, 0.9},
      {"Floor", [](double x) { return std::floor(x); }, -5, 5},
      {"Ceil", [](double x) { return std::ceil(x); }, -5, 5},
      {"Round", [](double x) { return std::nearbyint(x); }, -5, 5},
      {"Relu", [](double x) { return x < 0 ? 0 : x; }, -2, 2},
      {"LeakyRelu", [](double x) { return x >= 0 ? x : double(0.01f) * x; }, -2, 2},
      {"LeakyRelu", [](double x) { return x >= 0 ? x : double(0.3f) * x; }, -2, 2,
       float_attrs({{"alpha", 0.3f}})},
      {"Elu", [](double x) { return x >= 0 ? x : double(0.7f) * std::expm1(x); }, -3, 3,
       float_attrs({{"alpha", 0.7f}})},
      {"Selu",
       [](double x) {
         return double(1.05070102214813232421875f) *
                (x > 0 ? x : double(1.67326319217681884765625f) * std::expm1(x));
       },
       -3, 3},
      {"Celu", [](double x) { return x > 0 ? x : 2.0 * std::expm1(x / 2.0); }, -3, 3,
       float_attrs({{"alpha", 2.0f}})},
      {"HardSigmoid", [](double x) { return std::clamp(double(0.2f) * x + 0.5, 0.0, 1.0); }, -4, 4},
      {"HardSwish", [](double x) { return x * std::clamp(x / 6 + 0.5, 0.0, 1.0); }, -5, 5},
      {"Softplus", softplus, -10, 10},
      {"Softsign", [](double x) { return x / (1 + std::fabs(x)); }, -4, 4},
      {"ThresholdedRelu", [](double x) { return x > 0.5 ? x : 0; }, -2, 2,
       float_attrs({{"alpha", 0.5f}})},
      {"Mish", [](double x) { return x * std::tanh(softplus(x)); }, -5, 5},
      {"Shrink",
       [](double x) { return x < -0.5 ? x + double(0.2f) : (x > 0.5 ? x - double(0.2f) : 0.0); },
       -2, 2, float_attrs({{"bias", 0.2f}})},
      {"Gelu", [=](double x) { return 0.5 * x * (1 + std::erf(x / kSqrt2)); }, -4, 4},
      {"Gelu",
       [=](double x) { return 0.5 * x * (1 + std::erf(x / kSqrt2)); },
       -4,
       4,
       {},
       "com.microsoft"},
      {"FastGelu",
       [](double x) {
         return 0.5 * x *
                (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
       },
       -4,
       4,
       {},
       "com.microsoft"},
      {"QuickGelu",
       [](double x) { return x * sigmoid(double(1.702f) * x); },
       -4,
       4,
       {},
       "com.microsoft"},
      {"Swish", [](double x) { return x * sigmoid(double(0.6f) * x); }, -4, 4,
       float_attrs({{"alpha", 0.6f}})},
      {"Swish", [](double x) { return x * sigmoid(x); }, -4, 4},
      {"Clip", [](double x) { return std::clamp(x, -0.5, 0.25); }, -1, 1,
       float_attrs({{"min", -0.5f}, {"max", 0.25f}})},  // run at opset 6 below
  };
}

TEST(ElementwiseUnary, FloatOpsMatchFloat64Reference) {
  const std::vector<std::vector<int64_t>> shapes = {{3, 5, 7}, {}, {0, 4}, {1031}};
  for (const UnaryCase& c : float_unary_cases()) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16}) {
      for (const auto& shape : shapes) {
        SCOPED_TRACE(c.op + " " + dtype_name(dtype) + " " + shape_to_string(shape));
        const Tensor x = random(dtype, shape, 7, c.lo, c.hi);
        OpCall call{c.op, {x}, c.attrs, c.domain};
        if (c.op == "Clip") call.opset = 6;
        const Tensor y = run_ok(call);
        if (!y.defined()) continue;
        EXPECT_TRUE(tensors_close(y, ref_unary(x, dtype, c.ref), tolerance_for(dtype)));
      }
    }
  }
}

TEST(ElementwiseUnary, Gelu20TanhApproximation) {
  Attributes attrs;
  attrs.set_string("approximate", "tanh");
  const Tensor x = random(DType::kFloat32, {4, 33}, 3, -5, 5);
  const Tensor y = run_ok({"Gelu", {x}, attrs, "", 20});
  const Tensor ref = ref_unary(x, DType::kFloat32, [](double v) {
    return 0.5 * v * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (v + 0.044715 * v * v * v)));
  });
  EXPECT_TRUE(tensors_close(y, ref, {1e-5, 1e-6}));
  attrs.set_string("approximate", "sigmoid");
  EXPECT_FALSE(run({"Gelu", {x}, attrs, "", 20}).ok());
}

TEST(ElementwiseUnary, SpecialValues) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = make(DType::kFloat32, {8}, {nan, inf, -inf, 0.5, 1.5, 2.5, -0.5, -2.5});
  auto y = [&](const char* op) { return run_ok({op, {x}}); };
  EXPECT_TRUE(
      tensors_close(y("Round"), make(DType::kFloat32, {8}, {nan, inf, -inf, 0, 2, 2, -0.0, -2})));
  EXPECT_TRUE(
      tensors_close(y("Relu"), make(DType::kFloat32, {8}, {nan, inf, 0, 0.5, 1.5, 2.5, 0, 0})));
  EXPECT_TRUE(tensors_close(y("Sigmoid"), ref_unary(x, DType::kFloat32, sigmoid)));
  EXPECT_TRUE(
      tensors_close(y("Exp"), ref_unary(x, DType::kFloat32, [](double v) { return std::exp(v); })));
  EXPECT_TRUE(tensors_close(y("Softplus"), ref_unary(x, DType::kFloat32, [](double v) {
                              return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
                            })));
  EXPECT_TRUE(tensors_close(y("Sign"), make(DType::kFloat32, {8}, {nan, 1, -1, 1, 1, 1, -1, -1})));
  EXPECT_TRUE(tensors_close(y("IsNaN"), make(DType::kBool, {8}, {1, 0, 0, 0, 0, 0, 0, 0})));
  EXPECT_TRUE(tensors_close(y("IsInf"), make(DType::kBool, {8}, {0, 1, 1, 0, 0, 0, 0, 0})));
  Attributes pos_only;
  pos_only.set_int("detect_negative", 0);
  EXPECT_TRUE(tensors_close(run_ok({"IsInf", {x}, pos_only}),
                            make(DType::kBool, {8}, {0, 1, 0, 0, 0, 0, 0, 0})));
  const Tensor h = make(DType::kFloat16, {3}, {nan, -inf, 1});
  EXPECT_TRUE(tensors_close(run_ok({"IsNaN", {h}}), make(DType::kBool, {3}, {1, 0, 0})));
  EXPECT_TRUE(tensors_close(run_ok({"IsInf", {h}}), make(DType::kBool, {3}, {0, 1, 0})));
}

TEST(ElementwiseUnary, IntegerOps) {
  for (DType dtype : {DType::kInt8, DType::kInt16, DType::kInt32, DType::kInt64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = random(dtype, {5, 9}, 11, -50, 50);
    EXPECT_TRUE(
        tensors_close(run_ok({"Neg", {x}}), ref_unary(x, dtype, [](double v) { return -v; })));
    EXPECT_TRUE(tensors_close(run_ok({"Abs", {x}}),
                              ref_unary(x, dtype, [](double v) { return std::fabs(v); })));
    EXPECT_TRUE(tensors_close(run_ok({"Relu", {x}}),
                              ref_unary(x, dtype, [](double v) { return std::max(v, 0.0); })));
    EXPECT_TRUE(tensors_close(run_ok({"Sign", {x}}), ref_unary(x, dtype, [](double v) {
                                return double((v > 0) - (v < 0));
                              })));
    Attributes shrink;
    shrink.set_float("lambd", 10.5f);
    shrink.set_float("bias", 3.0f);
    EXPECT_TRUE(tensors_close(run_ok({"Shrink", {x}, shrink}), ref_unary(x, dtype, [](double v) {
                                return v < -10.5 ? v + 3 : (v > 10.5 ? v - 3 : 0);
                              })));
  }
  const Tensor u = random(DType::kUInt8, {13}, 5, 0, 255);
  EXPECT_TRUE(tensors_close(run_ok({"Abs", {u}}), u));
  // Abs of the most negative int8 wraps (as two's complement does), it does not trap.
  EXPECT_TRUE(tensors_close(run_ok({"Abs", {make(DType::kInt8, {2}, {-128, -7})}}),
                            make(DType::kInt8, {2}, {-128, 7})));
}

TEST(ElementwiseUnary, NotAndUnsupportedDtypes) {
  const Tensor b = make(DType::kBool, {2, 2}, {1, 0, 0, 1});
  EXPECT_TRUE(tensors_close(run_ok({"Not", {b}}), make(DType::kBool, {2, 2}, {0, 1, 1, 0})));
  const Result<Tensor> r = run({"Sqrt", {make(DType::kInt32, {2}, {1, 4})}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("int32"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("Sqrt"), std::string::npos) << r.status().message();
}

TEST(ElementwiseUnary, LargeTensorRunsInParallelChunks) {
  const Tensor x = random(DType::kFloat32, {257, 301}, 9, -3, 3);
  EXPECT_TRUE(tensors_close(run_ok({"Tanh", {x}}),
                            ref_unary(x, DType::kFloat32, [](double v) { return std::tanh(v); })));
}

// ---- Clip --------------------------------------------------------------------------------------

TEST(ElementwiseClip, OptionalBoundsAsInputs) {
  const Tensor x = make(DType::kFloat32, {6}, {-3, -1, 0, 1, 3, std::nan("")});
  const Tensor lo = make(DType::kFloat32, {}, {-1.5});
  const Tensor hi = make(DType::kFloat32, {}, {2});
  EXPECT_TRUE(tensors_close(run_ok({"Clip", {x, lo, hi}}),
                            make(DType::kFloat32, {6}, {-1.5, -1, 0, 1, 2, std::nan("")})));
  EXPECT_TRUE(tensors_close(run_ok({"Clip", {x, Tensor(), hi}}),
                            make(DType::kFloat32, {6}, {-3, -1, 0, 1, 2, std::nan("")})));
  EXPECT_TRUE(tensors_close(run_ok({"Clip", {x, lo}}),
                            make(DType::kFloat32, {6}, {-1.5, -1, 0, 1, 3, std::nan("")})));
  EXPECT_TRUE(tensors_close(run_ok({"Clip", {x}}), x));
  // min > max: everything becomes max.
  EXPECT_TRUE(
      tensors_close(run_ok({"Clip", {x, hi, lo}}),
                    make(DType::kFloat32, {6}, {-1.5, -1.5, -1.5, -1.5, -1.5, std::nan("")})));
  const Tensor xi = make(DType::kInt8, {5}, {-128, -5, 0, 5, 127});
  EXPECT_TRUE(tensors_close(
      run_ok({"Clip", {xi, make(DType::kInt8, {}, {-6}), make(DType::kInt8, {1}, {100})}}),
      make(DType::kInt8, {5}, {-6, -5, 0, 5, 100})));
  EXPECT_FALSE(run({"Clip", {x, make(DType::kFloat32, {2}, {0, 1})}}).ok());
}

// ---- binary ------------------------------------------------------------------------------------

const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> kShapePairs = {
    {{3, 1, 5}, {7, 1}}, {{2, 3, 4}, {4}}, {{4, 5}, {}},     {{}, {}},
    {{0, 3}, {3}},       {{1}, {2, 3}},    {{5, 6}, {5, 6}}, {{2, 1, 4, 1}, {3, 1, 5}},
    {{9, 13}, {9, 1}}};

struct BinaryCase {
  std::string op;
  std::function<double(double, double)> ref;
  std::vector<DType> dtypes;
  bool bool_out = false;
  double lo = -10, hi = 10;
};

TEST(ElementwiseBinary, ArithmeticAndComparisonsBroadcast) {
  const std::vector<DType> all = {DType::kFloat32,  DType::kFloat64, DType::kFloat16,
                                  DType::kBFloat16, DType::kInt32,   DType::kInt64,
                                  DType::kInt8,     DType::kUInt8,   DType::kUInt16};
  const std::vector<DType> floats = {DType::kFloat32, DType::kFloat64, DType::kFloat16};
  const std::vector<BinaryCase> cases = {
      {"Add", [](double a, double b) { return a + b; }, all},
      {"Sub", [](double a, double b) { return a - b; }, all},
      {"Mul", [](double a, double b) { return a * b; }, all},
      {"Div", [](double a, double b) { return a / b; }, floats, false, 0.5, 10},
      {"Max", [](double a, double b) { return std::max(a, b); }, all},
      {"Min", [](double a, double b) { return std::min(a, b); }, all},
      {"Sum", [](double a, double b) { return a + b; }, floats},
      {"Mean", [](double a, double b) { return (a + b) / 2; }, floats},
      {"Pow", [](double a, double b) { return std::pow(a, b); }, floats, false, 0.5, 3},
      {"Equal", [](double a, double b) { return double(a == b); }, all, true, -3, 3},
      {"Less", [](double a, double b) { return double(a < b); }, all, true, -3, 3},
      {"Greater", [](double a, double b) { return double(a > b); }, all, true, -3, 3},
      {"LessOrEqual", [](double a, double b) { return double(a <= b); }, all, true, -3, 3},
      {"GreaterOrEqual", [](double a, double b) { return double(a >= b); }, all, true, -3, 3},
  };
  for (const BinaryCase& c : cases) {
    for (DType dtype : c.dtypes) {
      for (const auto& [sa, sb] : kShapePairs) {
        SCOPED_TRACE(c.op + " " + dtype_name(dtype) + " " + shape_to_string(sa) + " " +
                     shape_to_string(sb));
        const double lo = dtype == DType::kUInt8 || dtype == DType::kUInt16 ? 0 : c.lo;
        const Tensor a = random(dtype, sa, 1, lo, c.hi);
        const Tensor b = random(dtype, sb, 2, lo, c.hi);
        for (const auto& [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
          const Tensor out = run_ok({c.op, {x, y}});
          if (!out.defined()) continue;
          // The reference rounds its double result into the dtype, so integer results wrap
          // like the kernel's (the ranges keep them in range).
          const Tensor ref = ref_binary(x, y, c.bool_out ? DType::kBool : dtype, c.ref);
          EXPECT_TRUE(tensors_close(out, ref, tolerance_for(dtype)));
        }
      }
    }
  }
}

// Sizes above the parallel grain, so that rows split across threads mid-row.
TEST(ElementwiseBinary, LargeBroadcastsSplitAcrossThreads) {
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> pairs = {
      {{130, 300}, {300}}, {{2, 300, 70}, {2, 1, 70}}, {{211, 173}, {211, 1}}, {{40000}, {}}};
  for (const auto& [sa, sb] : pairs) {
    SCOPED_TRACE(shape_to_string(sa) + " " + shape_to_string(sb));
    const Tensor a = random(DType::kFloat32, sa, 1);
    const Tensor b = random(DType::kFloat32, sb, 2);
    EXPECT_TRUE(tensors_close(run_ok({"Add", {a, b}}),
                              ref_binary(a, b, DType::kFloat32, std::plus<double>())));
    EXPECT_TRUE(tensors_close(run_ok({"Mul", {b, a}}),
                              ref_binary(b, a, DType::kFloat32, std::multiplies<double>())));
  }
}

TEST(ElementwiseBinary, IntegerDivisionAndModSigns) {
  for (DType dtype : {DType::kInt8, DType::kInt32, DType::kInt64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor a = make(dtype, {8}, {7, -7, 7, -7, 5, 0, 3, -128});
    const Tensor b = make(dtype, {8}, {2, 2, -2, -2, 0, 3, 0, -1});
    // Division truncates toward zero; by zero gives 0; INT_MIN / -1 wraps (int8: -128).
    const double wrap = dtype == DType::kInt8 ? -128 : 128;
    EXPECT_TRUE(
        tensors_close(run_ok({"Div", {a, b}}), make(dtype, {8}, {3, -3, -3, 3, 0, 0, 0, wrap})));
    // Mod follows the divisor's sign; fmod=1 follows the dividend's.
    EXPECT_TRUE(
        tensors_close(run_ok({"Mod", {a, b}}), make(dtype, {8}, {1, 1, -1, -1, 0, 0, 0, 0})));
    Attributes fmod;
    fmod.set_int("fmod", 1);
    EXPECT_TRUE(
        tensors_close(run_ok({"Mod", {a, b}, fmod}), make(dtype, {8}, {1, -1, 1, -1, 0, 0, 0, 0})));
  }
  const Tensor ua = make(DType::kUInt32, {3}, {7, 9, 4});
  const Tensor ub = make(DType::kUInt32, {1}, {4});
  EXPECT_TRUE(tensors_close(run_ok({"Mod", {ua, ub}}), make(DType::kUInt32, {3}, {3, 1, 0})));
  EXPECT_TRUE(tensors_close(run_ok({"Div", {ua, ub}}), make(DType::kUInt32, {3}, {1, 2, 1})));
}

TEST(ElementwiseBinary, FloatModRequiresFmodAndFollowsDividend) {
  Attributes fmod;
  fmod.set_int("fmod", 1);
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16}) {
    const Tensor a = random(dtype, {3, 7}, 4, -20, 20);
    const Tensor b = random(dtype, {7}, 5, 1, 6);
    EXPECT_TRUE(
        tensors_close(run_ok({"Mod", {a, b}, fmod}),
                      ref_binary(a, b, dtype, [](double x, double y) { return std::fmod(x, y); }),
                      tolerance_for(dtype)));
    EXPECT_FALSE(run({"Mod", {a, b}}).ok());
  }
}

TEST(ElementwiseBinary, PowMixedTypesAndFastPaths) {
  const Tensor x = random(DType::kFloat32, {3, 17}, 8, -3, 3);
  for (double e : {2.0, 3.0, 0.5, -1.0}) {
    SCOPED_TRACE(e);
    const Tensor xe = e == 0.5 ? random(DType::kFloat32, {3, 17}, 8, 0, 3) : x;
    for (DType edtype : {DType::kFloat32, DType::kInt64, DType::kFloat64}) {
      if (edtype == DType::kInt64 && e != std::floor(e)) continue;
      const Tensor y = make(edtype, {}, {e});
      EXPECT_TRUE(tensors_close(
          run_ok({"Pow", {xe, y}}),
          ref_unary(xe, DType::kFloat32, [e](double v) { return std::pow(v, e); }), {1e-5, 1e-6}));
    }
  }
  // Integer bases: integer exponents multiply exactly; float exponents truncate the result.
  const Tensor base = make(DType::kInt64, {5}, {2, -3, 5, 1, -1});
  EXPECT_TRUE(tensors_close(run_ok({"Pow", {base, make(DType::kInt32, {5}, {10, 3, 0, -2, -3})}}),
                            make(DType::kInt64, {5}, {1024, -27, 1, 1, -1})));
  EXPECT_TRUE(tensors_close(run_ok({"Pow", {base, make(DType::kFloat32, {}, {0.5})}}),
                            make(DType::kInt64, {5}, {1, 0, 2, 1, 0})));
  EXPECT_TRUE(tensors_close(
      run_ok({"Pow", {make(DType::kInt32, {3}, {1, 2, 3}), make(DType::kFloat32, {3}, {4, 5, 6})}}),
      make(DType::kInt32, {3}, {1, 32, 729})));
}

TEST(ElementwiseBinary, MaxMinPropagateNaN) {
  const double nan = std::nan("");
  const Tensor a = make(DType::kFloat32, {3}, {nan, 1, 2});
  const Tensor b = make(DType::kFloat32, {3}, {0, nan, 1});
  EXPECT_TRUE(tensors_close(run_ok({"Max", {a, b}}), make(DType::kFloat32, {3}, {nan, nan, 2})));
  EXPECT_TRUE(tensors_close(run_ok({"Min", {a, b}}), make(DType::kFloat32, {3}, {nan, nan, 1})));
}

TEST(ElementwiseBinary, VariadicOpsBroadcastAllInputs) {
  const Tensor a = random(DType::kFloat32, {3, 1, 5}, 1);
  const Tensor b = random(DType::kFloat32, {4, 1}, 2);
  const Tensor c = random(DType::kFloat32, {5}, 3);
  const Tensor d = random(DType::kFloat32, {}, 4);
  const std::vector<Tensor> in = {a, b, c, d};
  auto sum = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s;
  };
  EXPECT_TRUE(tensors_close(run_ok({"Sum", in}), ref_nary(in, DType::kFloat32, sum)));
  EXPECT_TRUE(tensors_close(
      run_ok({"Mean", in}),
      ref_nary(in, DType::kFloat32, [&](const std::vector<double>& v) { return sum(v) / 4; })));
  EXPECT_TRUE(tensors_close(run_ok({"Max", in}),
                            ref_nary(in, DType::kFloat32, [](const std::vector<double>& v) {
                              return *std::max_element(v.begin(), v.end());
                            })));
  const Tensor ia = random(DType::kInt64, {2, 3}, 5, -9, 9);
  const Tensor ib = random(DType::kInt64, {3}, 6, -9, 9);
  const Tensor ic = random(DType::kInt64, {2, 1}, 7, -9, 9);
  EXPECT_TRUE(tensors_close(run_ok({"Min", {ia, ib, ic}}),
                            ref_nary({ia, ib, ic}, DType::kInt64, [](const std::vector<double>& v) {
                              return *std::min_element(v.begin(), v.end());
                            })));
  // One input: a copy.
  EXPECT_TRUE(tensors_close(run_ok({"Sum", {a}}), a));
  EXPECT_TRUE(tensors_close(run_ok({"Max", {ia}}), ia));
}

TEST(ElementwiseBinary, PReluSlopeBroadcastsToX) {
  const Tensor x = random(DType::kFloat32, {2, 3, 4, 5}, 1, -2, 2);
  const Tensor slope = random(DType::kFloat32, {3, 1, 1}, 2, 0, 1);
  EXPECT_TRUE(tensors_close(
      run_ok({"PRelu", {x, slope}}),
      ref_binary(x, slope, DType::kFloat32, [](double v, double s) { return v < 0 ? v * s : v; })));
  const Tensor xi = random(DType::kInt32, {7}, 3, -9, 9);
  const Tensor si = make(DType::kInt32, {1}, {3});
  EXPECT_TRUE(tensors_close(
      run_ok({"PRelu", {xi, si}}),
      ref_binary(xi, si, DType::kInt32, [](double v, double s) { return v < 0 ? v * s : v; })));
  EXPECT_FALSE(run({"PRelu", {slope, x}}).ok());  // X must not be the one broadcast
}

TEST(ElementwiseBinary, LogicalAndBitShift) {
  const Tensor a = random(DType::kBool, {3, 4}, 1);
  const Tensor b = random(DType::kBool, {4}, 2);
  auto ref = [&](std::function<bool(bool, bool)> f) {
    return ref_binary(a, b, DType::kBool,
                      [f](double x, double y) { return double(f(x != 0, y != 0)); });
  };
  EXPECT_TRUE(tensors_close(run_ok({"And", {a, b}}), ref([](bool x, bool y) { return x && y; })));
  EXPECT_TRUE(tensors_close(run_ok({"Or", {a, b}}), ref([](bool x, bool y) { return x || y; })));
  EXPECT_TRUE(tensors_close(run_ok({"Xor", {a, b}}), ref([](bool x, bool y) { return x != y; })));
  EXPECT_TRUE(tensors_close(run_ok({"Equal", {a, b}}), ref([](bool x, bool y) { return x == y; })));

  Attributes left, right;
  left.set_string("direction", "LEFT");
  right.set_string("direction", "RIGHT");
  const Tensor v = make(DType::kUInt8, {4}, {16, 4, 1, 255});
  const Tensor s = make(DType::kUInt8, {4}, {1, 2, 9, 3});
  EXPECT_TRUE(tensors_close(run_ok({"BitShift", {v, s}, left}),
                            make(DType::kUInt8, {4}, {32, 16, 0, 248})));
  EXPECT_TRUE(
      tensors_close(run_ok({"BitShift", {v, s}, right}), make(DType::kUInt8, {4}, {8, 1, 0, 31})));
  EXPECT_FALSE(run({"BitShift", {v, s}}).ok());  // direction is required
}

TEST(ElementwiseBinary, ErrorsNameShapesAndDtypes) {
  const Result<Tensor> shapes =
      run({"Add", {random(DType::kFloat32, {3}, 1), random(DType::kFloat32, {4}, 2)}});
  ASSERT_FALSE(shapes.ok());
  EXPECT_NE(shapes.status().message().find("[3]"), std::string::npos) << shapes.status().message();
  EXPECT_NE(shapes.status().message().find("node 'n'"), std::string::npos);
  const Result<Tensor> dtypes =
      run({"Mul", {random(DType::kFloat32, {3}, 1), random(DType::kInt64, {3}, 2)}});
  ASSERT_FALSE(dtypes.ok());
  EXPECT_NE(dtypes.status().message().find("int64"), std::string::npos)
      << dtypes.status().message();
  EXPECT_FALSE(
      run({"And", {random(DType::kFloat32, {3}, 1), random(DType::kFloat32, {3}, 2)}}).ok());
}

// ---- Where -------------------------------------------------------------------------------------

TEST(ElementwiseWhere, BroadcastsThreeInputsForEveryElementSize) {
  const Tensor cond = random(DType::kBool, {3, 1, 5}, 1);
  for (DType dtype : {DType::kFloat32, DType::kInt64, DType::kFloat16, DType::kBool, DType::kUInt8,
                      DType::kFloat64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = random(dtype, {4, 1}, 2, -5, 5);
    const Tensor y = random(dtype, {4, 5}, 3, -5, 5);
    EXPECT_TRUE(tensors_close(run_ok({"Where", {cond, x, y}}),
                              ref_nary({cond, x, y}, dtype, [](const std::vector<double>& v) {
                                return v[0] != 0 ? v[1] : v[2];
                              })));
  }
  const Tensor big_cond = random(DType::kBool, {128, 300}, 4);
  const Tensor x = random(DType::kFloat32, {128, 300}, 5);
  const Tensor y = random(DType::kFloat32, {}, 6);
  EXPECT_TRUE(tensors_close(
      run_ok({"Where", {big_cond, x, y}}),
      ref_nary({big_cond, x, y}, DType::kFloat32,
               [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; })));
}

// ---- com.microsoft bias forms --------------------------------------------------------------

TEST(ElementwiseMicrosoft, FastGeluAndBiasGeluAddTheBiasFirst) {
  const Tensor x = random(DType::kFloat32, {2, 5, 24}, 1, -3, 3);
  const Tensor bias = random(DType::kFloat32, {24}, 2, -1, 1);
  const Tensor fast = run_ok({"FastGelu", {x, bias}, {}, "com.microsoft"});
  EXPECT_TRUE(tensors_close(
      fast, ref_binary(x, bias, DType::kFloat32, [](double v, double b) {
        const double z = v + b;
        return 0.5 * z *
               (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (z + 0.044715 * z * z * z)));
      })));
  const Tensor biased = run_ok({"BiasGelu", {x, bias}, {}, "com.microsoft"});
  EXPECT_TRUE(tensors_close(biased, ref_binary(x, bias, DType::kFloat32, [](double v, double b) {
                              const double z = v + b;
                              return 0.5 * z * (1 + std::erf(z / std::numbers::sqrt2));
                            })));
}

// ---- Cast --------------------------------------------------------------------------------------

TEST(ElementwiseCast, EveryPairOfDtypes) {
  const std::vector<DType> dtypes = {
      DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,
      DType::kInt16,   DType::kInt32,   DType::kInt64,   DType::kUInt8,    DType::kUInt16,
      DType::kUInt32,  DType::kUInt64,  DType::kBool};
  // Values every type holds exactly, with fractions for the float sources.
  const std::vector<double> ints = {0, 1, 7, 100, 126, 3, 64, 0};
  const std::vector<double> fracs = {0, 1.75, 7.5, 100.25, 126.5, 3.0, 64.75, 0.5};
  for (DType from : dtypes) {
    const bool is_float = dtype_is_float(from);
    const Tensor x = make(from, {2, 4},
                          from == DType::kBool ? std::vector<double>{0, 1, 1, 0, 1, 0, 0, 1}
                                               : (is_float ? fracs : ints));
    for (DType to : dtypes) {
      SCOPED_TRACE(std::string(dtype_name(from)) + " -> " + dtype_name(to));
      Attributes attrs;
      attrs.set_int("to", static_cast<int64_t>(to));
      const Tensor y = run_ok({"Cast", {x}, attrs});
      // Reference: truncate toward zero into integers, != 0 into bool, round into floats.
      const Tensor ref = ref_unary(x, to, [&](double v) {
        if (to == DType::kBool) return double(v != 0);
        return dtype_is_float(to) ? v : std::trunc(v);
      });
      EXPECT_TRUE(tensors_close(y, ref, {0, 0}));
      const Tensor like = run_ok({"CastLike", {x, make(to, {1}, {0})}});
      EXPECT_TRUE(tensors_close(like, ref, {0, 0}));
    }
  }
}

TEST(ElementwiseCast, NegativeRoundingSaturationAndNaN) {
  const double nan = std::nan("");
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor x = make(DType::kFloat32, {7}, {-2.7, 2.7, 1e10, -1e10, nan, inf, -0.5});
  Attributes to_i32;
  to_i32.set_int("to", static_cast<int64_t>(DType::kInt32));
  EXPECT_TRUE(tensors_close(
      run_ok({"Cast", {x}, to_i32}),
      make(DType::kInt32, {7}, {-2, 2, 2147483647.0, -2147483648.0, 0, 2147483647.0, 0})));
  Attributes to_u8;
  to_u8.set_int("to", static_cast<int64_t>(DType::kUInt8));
  EXPECT_TRUE(tensors_close(run_ok({"Cast", {x}, to_u8}),
                            make(DType::kUInt8, {7}, {0, 2, 255, 0, 0, 255, 0})));
  Attributes to_bool;
  to_bool.set_int("to", static_cast<int64_t>(DType::kBool));
  EXPECT_TRUE(tensors_close(run_ok({"Cast", {x}, to_bool}),
                            make(DType::kBool, {7}, {1, 1, 1, 1, 1, 1, 1})));
  // float32 -> float16 rounds to nearest even and overflows to inf.
  Attributes to_f16;
  to_f16.set_int("to", static_cast<int64_t>(DType::kFloat16));
  const Tensor h =
      run_ok({"Cast", {make(DType::kFloat32, {3}, {1.0 + 1.0 / 2048, 70000, -1e-8})}, to_f16});
  EXPECT_TRUE(tensors_close(h, make(DType::kFloat16, {3}, {1.0, inf, -0.0}), {0, 0}));
  // Int64 -> int32 wraps modulo 2^32, as two's complement truncation does.
  const Tensor big = make(DType::kInt64, {2}, {4294967297.0, -1});
  EXPECT_TRUE(tensors_close(run_ok({"Cast", {big}, to_i32}), make(DType::kInt32, {2}, {1, -1})));
  // Empty tensors cast to empty tensors.
  EXPECT_EQ(run_ok({"Cast", {Tensor::empty(DType::kFloat32, {0, 3})}, to_i32}).shape(),
            (std::vector<int64_t>{0, 3}));
}

TEST(ElementwiseCast, StringIsUnsupported) {
  Attributes to_string;
  to_string.set_int("to", static_cast<int64_t>(DType::kString));
  const Result<Tensor> r = run({"Cast", {make(DType::kFloat32, {1}, {1})}, to_string});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("string"), std::string::npos);
}

}  // namespace
}  // namespace vitrt

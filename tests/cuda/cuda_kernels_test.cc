// Every CUDA kernel against the CPU kernel (the reference) on random inputs of odd shapes, in
// fp32 (to 1e-5 of the output's scale) and fp16/bf16 (cosine and bounded max error). The fused
// vitrt ops Attention, AddLayerNorm and Patchify are checked against float64 loops instead
// (tests/testing/attention_op.h for Attention), independent of their CPU kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>

#include "core/float8.h"
#include "core/half.h"
#include "cuda/cuda_kernel.h"
#include "cuda/cudnn_attention.h"
#include "cuda_test_util.h"
#include "testing/attention_op.h"

namespace vitrt::testing {
namespace {

struct Case {
  TestGraph g{17};
  std::vector<Tensor> inputs;
};

Tensor ints(std::vector<int64_t> values, std::vector<int64_t> shape) {
  return *Tensor::from_int64(values).reshaped(std::move(shape));
}

Tensor rnd(std::vector<int64_t> shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return random_tensor(DType::kFloat32, std::move(shape), seed, lo, hi);
}

Attributes attrs(std::function<void(Attributes&)> f) {
  Attributes a;
  f(a);
  return a;
}

// Distinct multiples of 1/16 in a scrambled order: exact in fp16 and bf16, so orderings (TopK's
// indices) cannot change with the plan's precision. The count must be coprime to 7.
Tensor distinct(std::vector<int64_t> shape) {
  const int64_t n = shape_numel(shape);
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * 7) % n - n / 2) / 16.0f;
  return *Tensor::from_float(v).reshaped(std::move(shape));
}

using Builder = std::function<void(Case&)>;

void binary(Case& c, const std::string& op, std::vector<int64_t> a, std::vector<int64_t> b,
            double lo = -1.0) {
  SymShape sa(a.begin(), a.end()), sb(b.begin(), b.end());
  ValueId x = c.g.input("a", DType::kFloat32, sa);
  ValueId y = c.g.input("b", DType::kFloat32, sb);
  c.g.output(c.g.op(op, {x, y}));
  c.inputs = {rnd(a, 1, lo), rnd(b, 2, op == "Div" ? 0.5 : lo, op == "Div" ? 2.0 : 1.0)};
}

void unary(Case& c, const std::string& op, std::vector<int64_t> s, double lo = -2.0,
           Attributes at = {}) {
  ValueId x = c.g.input("x", DType::kFloat32, SymShape(s.begin(), s.end()));
  c.g.output(c.g.op(op, {x}, at));
  c.inputs = {rnd(s, 3, lo, 2.0)};
}

void matmul(Case& c, std::vector<int64_t> a, std::vector<int64_t> b, bool const_b) {
  ValueId x = c.g.input("a", DType::kFloat32, SymShape(a.begin(), a.end()));
  ValueId y = const_b ? c.g.constant("w", rnd(b, 5))
                      : c.g.input("b", DType::kFloat32, SymShape(b.begin(), b.end()));
  c.g.output(c.g.op("MatMul", {x, y}));
  c.inputs = {rnd(a, 4)};
  if (!const_b) c.inputs.push_back(rnd(b, 5));
}

void conv(Case& c, std::vector<int64_t> x_shape, std::vector<int64_t> w_shape,
          std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dilations,
          bool with_bias = true, int64_t group = 1) {
  ValueId x = c.g.input("x", DType::kFloat32, SymShape(x_shape.begin(), x_shape.end()));
  std::vector<ValueId> in = {x, c.g.constant("w", rnd(w_shape, 50))};
  if (with_bias) in.push_back(c.g.constant("b", rnd({w_shape[0]}, 51)));
  c.g.output(c.g.op("Conv", in, attrs([&](Attributes& a) {
                      a.set_ints("strides", strides);
                      a.set_ints("pads", pads);
                      a.set_ints("dilations", dilations);
                      if (group != 1) a.set_int("group", group);
                    })));
  c.inputs = {rnd(x_shape, 52, -2, 2)};
}

// ConvTranspose of x by a constant w [C, M/group, kernel...] (+ bias); `more` sets the rest.
void conv_transpose(Case& c, std::vector<int64_t> x_shape, std::vector<int64_t> w_shape,
                    int64_t group, bool with_bias, std::function<void(Attributes&)> more) {
  ValueId x = c.g.input("x", DType::kFloat32, SymShape(x_shape.begin(), x_shape.end()));
  std::vector<ValueId> in = {x, c.g.constant("w", rnd(w_shape, 60))};
  if (with_bias) in.push_back(c.g.constant("b", rnd({w_shape[1] * group}, 61)));
  c.g.output(c.g.op("ConvTranspose", in, attrs([&](Attributes& a) {
                      if (group != 1) a.set_int("group", group);
                      more(a);
                    })));
  c.inputs = {rnd(x_shape, 62, -2, 2)};
}

// Col2Im of x [N, C * prod(block), L] into `image` (constant image and block shapes).
void col2im_case(Case& c, std::vector<int64_t> x_shape, std::vector<int64_t> image,
                 std::vector<int64_t> block, std::function<void(Attributes&)> more) {
  ValueId x = c.g.input("x", DType::kFloat32, SymShape(x_shape.begin(), x_shape.end()));
  auto ints = [](const std::vector<int64_t>& v) {
    Tensor t = Tensor::empty(DType::kInt64, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
    return t;
  };
  c.g.output(c.g.op(
      "Col2Im",
      {x, c.g.constant("image_shape", ints(image)), c.g.constant("block_shape", ints(block))},
      attrs(std::move(more))));
  c.inputs = {rnd(x_shape, 63, -2, 2)};
}

// Resize of x by `scales` (float) or, when empty, to `sizes`; roi omitted.
void resize_case(Case& c, std::vector<int64_t> x_shape, std::vector<float> scales,
                 std::vector<int64_t> sizes, const std::string& mode, const std::string& coord,
                 std::function<void(Attributes&)> more = nullptr) {
  ValueId x = c.g.input("x", DType::kFloat32, SymShape(x_shape.begin(), x_shape.end()));
  std::vector<ValueId> in = {x, kNoValue};
  if (scales.empty()) {
    in.push_back(kNoValue);
    in.push_back(c.g.constant("sizes", Tensor::from_int64(sizes)));
  } else {
    in.push_back(c.g.constant("scales", Tensor::from_float(scales)));
  }
  c.g.output(c.g.op("Resize", in, attrs([&](Attributes& a) {
                      a.set_string("mode", mode);
                      a.set_string("coordinate_transformation_mode", coord);
                      if (more) more(a);
                    })));
  c.inputs = {rnd(x_shape, 60, -2, 2)};
}

// GridSample of x at a random grid [n, ho, wo, 2] reaching past [-1, 1] by `reach`.
void grid_sample_case(Case& c, std::vector<int64_t> x_shape, int64_t ho, int64_t wo,
                      const std::string& mode, const std::string& padding, int64_t align,
                      double reach = 1.4) {
  ValueId x = c.g.input("x", DType::kFloat32, SymShape(x_shape.begin(), x_shape.end()));
  ValueId grid = c.g.input("grid", DType::kFloat32, {Dim(x_shape[0]), Dim(ho), Dim(wo), Dim(2)});
  c.g.output(c.g.op("GridSample", {x, grid}, attrs([&](Attributes& a) {
                      a.set_string("mode", mode);
                      a.set_string("padding_mode", padding);
                      a.set_int("align_corners", align);
                    })));
  // Values on the bf16 grid: a reduced-precision plan stores the grid in its float type (see
  // README: GridSample), so inputs it would round would measure that rounding, not the kernel.
  c.inputs = {bf16_random(x_shape, 63, -2.0f, 2.0f),
              bf16_random({x_shape[0], ho, wo, 2}, 64, static_cast<float>(-reach),
                          static_cast<float>(reach))};
}

// "x0", "x1", ...: built by appending (GCC 12 warns on `"x" + std::to_string(i)`, -Wrestrict).
std::string indexed_name(const char* prefix, size_t i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

// GroupNormalization of x with `params` scale / bias values (channels or groups).
void group_norm(Case& c, std::vector<int64_t> x_shape, int64_t groups, int64_t params) {
  c.g.graph().opset_imports[""] = params == x_shape[1] ? 21 : 18;
  ValueId x = c.g.input("x", DType::kFloat32, SymShape(x_shape.begin(), x_shape.end()));
  c.g.output(c.g.op("GroupNormalization",
                    {x, c.g.constant("scale", rnd({params}, 96, 0.5, 1.5)),
                     c.g.constant("bias", rnd({params}, 97))},
                    attrs([&](Attributes& a) {
                      a.set_int("num_groups", groups);
                      a.set_float("epsilon", 1e-5f);
                    })));
  c.inputs = {rnd(x_shape, 98, -3, 5)};
}

// An n-ary op (Max, Min, Sum, Mean) of float inputs of the given shapes.
void nary(Case& c, const std::string& op, std::vector<std::vector<int64_t>> shapes) {
  std::vector<ValueId> in;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const std::vector<int64_t>& s = shapes[i];
    in.push_back(c.g.input(indexed_name("x", i), DType::kFloat32, SymShape(s.begin(), s.end())));
    c.inputs.push_back(rnd(s, 100 + i));
  }
  c.g.output(c.g.op(op, in));
}

// A scatter op on float data (an input) with constant indices and updates as an input;
// `reduction` empty: the attribute left out.
void scatter(Case& c, const std::string& op, std::vector<int64_t> data, Tensor indices,
             std::vector<int64_t> updates, int64_t axis, const std::string& reduction) {
  ValueId d = c.g.input("data", DType::kFloat32, SymShape(data.begin(), data.end()));
  ValueId u = c.g.input("updates", DType::kFloat32, SymShape(updates.begin(), updates.end()));
  c.g.output(
      c.g.op(op, {d, c.g.constant("indices", std::move(indices)), u}, attrs([&](Attributes& a) {
               if (op != "ScatterND") a.set_int("axis", axis);
               if (!reduction.empty()) a.set_string("reduction", reduction);
             })));
  c.inputs = {rnd(data, 110, -2, 2), rnd(updates, 111, -2, 2)};
}

Tensor u32(std::vector<uint32_t> v, std::vector<int64_t> shape) {
  Tensor t = Tensor::empty(DType::kUInt32, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i) t.data<uint32_t>()[i] = v[i];
  return t;
}

Tensor bools(std::vector<uint8_t> v) {
  Tensor t = Tensor::empty(DType::kBool, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.data<uint8_t>()[i] = v[i];
  return t;
}

Tensor u8_scalar(uint8_t v) {
  Tensor t = Tensor::empty(DType::kUInt8, {});
  t.data<uint8_t>()[0] = v;
  return t;
}

// 8-bit integers (int8 or uint8) uniform in [lo, hi].
Tensor bytes8(DType dtype, std::vector<int64_t> shape, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  Tensor t = Tensor::empty(dtype, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int v = u(rng);
    if (dtype == DType::kInt8) {
      t.data<int8_t>()[i] = static_cast<int8_t>(v);
    } else {
      t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    }
  }
  return t;
}

Tensor i8_scalar(int8_t v) {
  Tensor t = Tensor::empty(DType::kInt8, {});
  t.data<int8_t>()[0] = v;
  return t;
}

// x dequantized from DynamicQuantizeLinear's outputs, in float: MatMulInteger with an identity
// matrix gives q - zp exactly as int32 (the CUDA backend computes no uint8 Cast), times scale.
ValueId dequantized(Case& c, ValueId q, ValueId scale, ValueId zp, int64_t k) {
  Tensor eye = Tensor::zeros(DType::kInt8, {k, k});
  for (int64_t i = 0; i < k; ++i) eye.data<int8_t>()[i * k + i] = 1;
  ValueId centred = c.g.op("MatMulInteger", {q, c.g.constant("eye", eye), zp});
  return c.g.op(
      "Mul", {c.g.op("Cast", {centred}, attrs([](Attributes& a) { a.set_int("to", 1); })), scale});
}

const std::map<std::string, Builder>& cases() {
  static const std::map<std::string, Builder> all = {
      // ONNX's integer ops (ONNX Runtime's quantize_dynamic and QOperator formats). Integer
      // outputs compare exactly in every precision; scales are powers of two, exact in fp16.
      // 8-bit casts: a model that takes uint8 pixels and scales them itself, and the way back
      // (saturating, NaN to 0), and between the two 8-bit types (wrapping).
      {"CastUint8ImageToFloat",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kUInt8, {2, 3, 5, 7});
         ValueId f = c.g.op("Cast", {x}, attrs([](Attributes& a) { a.set_int("to", 1); }));
         c.g.output(c.g.op("Div", {f, c.g.constant("k", Tensor::from_float({255.0f}, true))}));
         c.inputs = {bytes8(DType::kUInt8, {2, 3, 5, 7}, 318, 0, 255)};
       }},
      {"CastFloatToUint8AndInt8Saturates",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {4, 33});
         c.g.output(c.g.op("Cast", {x}, attrs([](Attributes& a) { a.set_int("to", 2); })));
         c.g.output(c.g.op("Cast", {x}, attrs([](Attributes& a) { a.set_int("to", 3); })));
         c.inputs = {bf16_random({4, 33}, 319, -400.0f, 400.0f)};
       }},
      {"CastInt8ToUint8Wraps",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kInt8, {3, 11});
         c.g.output(c.g.op("Cast", {x}, attrs([](Attributes& a) { a.set_int("to", 2); })));
         c.inputs = {bytes8(DType::kInt8, {3, 11}, 320, -128, 127)};
       }},
      {"DynamicQuantizeLinearRoundTrip",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 5, 24});
         std::vector<ValueId> q = c.g.op_multi("DynamicQuantizeLinear", {x}, 3);
         c.g.output(dequantized(c, q[0], q[1], q[2], 24));
         c.inputs = {bf16_random({2, 5, 24}, 301, -1.5f, 3.0f)};
       }},
      {"DynamicQuantizeMatMulInteger",
       [](Case& c) {
         // quantize_dynamic's chain: small weights keep the int32 sums below fp16's maximum.
         ValueId x = c.g.input("x", DType::kFloat32, {2, 5, 24});
         std::vector<ValueId> q = c.g.op_multi("DynamicQuantizeLinear", {x}, 3);
         ValueId w = c.g.constant("w", bytes8(DType::kInt8, {24, 16}, 302, -8, 8));
         ValueId mm = c.g.op("MatMulInteger", {q[0], w, q[2], c.g.constant("wzp", i8_scalar(0))});
         ValueId f = c.g.op("Cast", {mm}, attrs([](Attributes& a) { a.set_int("to", 1); }));
         c.g.output(c.g.op("Mul", {c.g.op("Mul", {f, q[1]}),
                                   c.g.constant("ws", Tensor::from_float({0.0625f}, true))}));
         c.inputs = {bf16_random({2, 5, 24}, 303, -2.0f, 2.0f)};
       }},
      {"MatMulIntegerBroadcastZeroPoints",
       [](Case& c) {
         ValueId a = c.g.input("a", DType::kUInt8, {2, 3, 4, 7});
         ValueId b = c.g.input("b", DType::kInt8, {3, 7, 5});
         c.g.output(c.g.op("MatMulInteger",
                           {a, b, c.g.constant("azp", u8_scalar(131)),
                            c.g.constant("bzp", bytes8(DType::kInt8, {5}, 304, -4, 4))}));
         c.inputs = {bytes8(DType::kUInt8, {2, 3, 4, 7}, 305, 0, 255),
                     bytes8(DType::kInt8, {3, 7, 5}, 306, -127, 127)};
       }},
      {"MatMulIntegerVectorTimesMatrix",
       [](Case& c) {
         ValueId a = c.g.input("a", DType::kInt8, {19});
         c.g.output(c.g.op("MatMulInteger",
                           {a, c.g.constant("b", bytes8(DType::kUInt8, {19, 6}, 307, 0, 255)),
                            c.g.constant("azp", i8_scalar(-3)),
                            c.g.constant("bzp", u8_scalar(128))}));
         c.inputs = {bytes8(DType::kInt8, {19}, 308, -128, 127)};
       }},
      {"ConvIntegerPaddedStridedDilated",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kUInt8, {2, 3, 9, 11});
         c.g.output(c.g.op("ConvInteger",
                           {x, c.g.constant("w", bytes8(DType::kInt8, {4, 3, 3, 3}, 309, -127, 127)),
                            c.g.constant("xzp", u8_scalar(117)),
                            c.g.constant("wzp", bytes8(DType::kInt8, {4}, 310, -2, 2))},
                           attrs([](Attributes& a) {
                             a.set_ints("pads", {1, 1, 1, 1});
                             a.set_ints("strides", {2, 1});
                             a.set_ints("dilations", {1, 2});
                           })));
         c.inputs = {bytes8(DType::kUInt8, {2, 3, 9, 11}, 311, 0, 255)};
       }},
      {"ConvIntegerGrouped1dSameUpper",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kInt8, {1, 4, 13});
         c.g.output(c.g.op("ConvInteger",
                           {x, c.g.constant("w", bytes8(DType::kInt8, {6, 2, 3}, 312, -127, 127))},
                           attrs([](Attributes& a) {
                             a.set_int("group", 2);
                             a.set_string("auto_pad", "SAME_UPPER");
                           })));
         c.inputs = {bytes8(DType::kInt8, {1, 4, 13}, 313, -128, 127)};
       }},
      {"QLinearMatMulPerColumnScale",
       [](Case& c) {
         ValueId a = c.g.input("a", DType::kUInt8, {3, 4, 6});
         c.g.output(c.g.op(
             "QLinearMatMul",
             {a, c.g.constant("as", Tensor::from_float({0.5f}, true)),
              c.g.constant("azp", u8_scalar(3)),
              c.g.constant("b", bytes8(DType::kInt8, {6, 5}, 314, -127, 127)),
              c.g.constant("bs", Tensor::from_float({0.25f, 0.125f, 0.5f, 1.0f, 0.0625f})),
              c.g.constant("bzp", Tensor::zeros(DType::kInt8, {5})),
              c.g.constant("ys", Tensor::from_float({16.0f}, true)),
              c.g.constant("yzp", u8_scalar(100))}));
         c.inputs = {bytes8(DType::kUInt8, {3, 4, 6}, 315, 0, 255)};
       }},
      {"QLinearConvPerChannelBias",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kUInt8, {1, 2, 6, 6});
         Tensor bias = Tensor::empty(DType::kInt32, {4});
         const int32_t b[] = {-300, 0, 1234, 77};
         for (int i = 0; i < 4; ++i) bias.data<int32_t>()[i] = b[i];
         c.g.output(c.g.op(
             "QLinearConv",
             {x, c.g.constant("xs", Tensor::from_float({0.25f}, true)),
              c.g.constant("xzp", u8_scalar(10)),
              c.g.constant("w", bytes8(DType::kInt8, {4, 2, 3, 3}, 316, -127, 127)),
              c.g.constant("ws", Tensor::from_float({0.5f, 0.25f, 1.0f, 0.125f})),
              c.g.constant("wzp", Tensor::zeros(DType::kInt8, {4})),
              c.g.constant("ys", Tensor::from_float({8.0f}, true)),
              c.g.constant("yzp", i8_scalar(-5)), c.g.constant("bias", bias)},
             attrs([](Attributes& a) { a.set_ints("pads", {1, 1, 1, 1}); })));
         c.inputs = {bytes8(DType::kUInt8, {1, 2, 6, 6}, 317, 0, 255)};
       }},
      {"AddBroadcast",
       [](Case& c) {
         binary(c, "Add", {3, 5, 7}, {5, 1});
       }},
      // A per-channel operand of an NCHW tensor (layer scale, BatchNorm left unfolded): the
      // channel access, with a batch, without one, and as the first operand.
      {"MulChannelNchw",
       [](Case& c) {
         binary(c, "Mul", {2, 6, 5, 7}, {6, 1, 1});
       }},
      {"MulChannelOneImage",
       [](Case& c) {
         binary(c, "Mul", {1, 6, 5, 7}, {6, 1, 1});
       }},
      {"SubChannelFirst",
       [](Case& c) {
         binary(c, "Sub", {4, 1, 1}, {3, 4, 3, 5});
       }},
      // Same-shape operands in whole 16-byte vectors (the residual adds of CNN stages).
      {"AddSameVectors",
       [](Case& c) {
         binary(c, "Add", {4, 3, 64}, {4, 3, 64});
       }},
      {"SubBroadcast",
       [](Case& c) {
         binary(c, "Sub", {2, 1, 9}, {4, 9});
       }},
      // A squeeze-and-excitation scale [n, 1, 1, c] over an NHWC image, either side, and a row
      // over a matrix: the 16-byte batch-row kernel (c a whole number of vectors).
      {"MulBatchRowNhwc",
       [](Case& c) {
         binary(c, "Mul", {3, 5, 7, 24}, {3, 1, 1, 24});
       }},
      {"SubBatchRowFirst",
       [](Case& c) {
         binary(c, "Sub", {2, 1, 1, 16}, {2, 4, 3, 16});
       }},
      {"AddRowVectors",
       [](Case& c) {
         binary(c, "Add", {9, 40}, {40});
       }},
      {"MulBatchRowOddChannels",
       [](Case& c) {
         binary(c, "Mul", {2, 3, 4, 12}, {2, 1, 1, 12});
       }},
      {"MulSame",
       [](Case& c) {
         binary(c, "Mul", {13, 17}, {13, 17});
       }},
      {"DivRow",
       [](Case& c) {
         binary(c, "Div", {6, 11}, {11});
       }},
      {"PowSquare",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {5, 9});
         c.g.output(c.g.op("Pow", {x, c.g.constant("two", Tensor::from_float({2.0f}, true))}));
         c.inputs = {rnd({5, 9}, 6, -3, 3)};
       }},
      {"Sqrt",
       [](Case& c) {
         unary(c, "Sqrt", {7, 33}, 0.1);
       }},
      {"Erf",
       [](Case& c) {
         unary(c, "Erf", {7, 33});
       }},
      {"Tanh",
       [](Case& c) {
         unary(c, "Tanh", {7, 33});
       }},
      {"Sigmoid",
       [](Case& c) {
         unary(c, "Sigmoid", {7, 33});
       }},
      {"SoftmaxLast",
       [](Case& c) {
         unary(c, "Softmax", {3, 4, 77}, -2.0, attrs([](Attributes& a) { a.set_int("axis", -1); }));
       }},
      {"SoftmaxMiddle",
       [](Case& c) {
         unary(c, "Softmax", {2, 5, 7}, -2.0, attrs([](Attributes& a) { a.set_int("axis", 1); }));
       }},
      {"ReduceMeanLast",
       [](Case& c) {
         unary(c, "ReduceMean", {4, 9, 31}, -2.0,
               attrs([](Attributes& a) { a.set_ints("axes", {-1}); }));
       }},
      {"LayerNorm",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 5, 37});
         ValueId gm = c.g.constant("gamma", rnd({37}, 7, 0.5, 1.5));
         ValueId bt = c.g.constant("beta", rnd({37}, 8));
         c.g.output(c.g.op("LayerNormalization", {x, gm, bt},
                           attrs([](Attributes& a) { a.set_float("epsilon", 1e-5f); })));
         c.inputs = {rnd({3, 5, 37}, 9, -3, 5)};
       }},
      // RMSNormalization: odd columns (the block-per-row kernel), then 64 columns (the warp
      // kernel), then two normalized axes; offset inputs so that a mean taken off would show.
      {"RMSNormOddColumns",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 5, 37});
         ValueId gm = c.g.constant("scale", rnd({37}, 7, 0.5, 1.5));
         c.g.output(c.g.op("RMSNormalization", {x, gm},
                           attrs([](Attributes& a) { a.set_float("epsilon", 1e-5f); })));
         c.inputs = {rnd({3, 5, 37}, 9, -1, 3)};
       }},
      {"RMSNormWarpRows",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 9, 64});
         ValueId gm = c.g.constant("scale", rnd({64}, 17, 0.5, 1.5));
         c.g.output(c.g.op("RMSNormalization", {x, gm}));
         c.inputs = {rnd({2, 9, 64}, 19, -1, 3)};
       }},
      {"RMSNormTwoAxes",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 3, 4, 8});
         ValueId gm = c.g.constant("scale", rnd({4, 8}, 27, 0.5, 1.5));
         c.g.output(c.g.op("RMSNormalization", {x, gm}, attrs([](Attributes& a) {
                             a.set_int("axis", 2);
                             a.set_float("epsilon", 1e-3f);
                           })));
         c.inputs = {rnd({2, 3, 4, 8}, 29, -1, 3)};
       }},
      {"Swish",
       [](Case& c) {
         unary(c, "Swish", {4, 33}, -2.0, attrs([](Attributes& a) { a.set_float("alpha", 0.7f); }));
       }},
      {"MatMulWeight",
       [](Case& c) {
         matmul(c, {2, 7, 33}, {33, 19}, true);
       }},
      {"MatMulBatched",
       [](Case& c) {
         matmul(c, {2, 3, 7, 16}, {2, 3, 16, 9}, false);
       }},
      {"MatMulBroadcast",
       [](Case& c) {
         matmul(c, {3, 1, 5, 8}, {4, 8, 6}, false);
       }},
      {"GemmTransBBias",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {7, 13});
         ValueId w = c.g.constant("w", rnd({11, 13}, 10));
         ValueId b = c.g.constant("b", rnd({11}, 11));
         c.g.output(
             c.g.op("Gemm", {x, w, b}, attrs([](Attributes& a) { a.set_int("transB", 1); })));
         c.inputs = {rnd({7, 13}, 12)};
       }},
      {"Transpose",
       [](Case& c) {
         unary(c, "Transpose", {2, 3, 5, 7}, -2.0, attrs([](Attributes& a) {
                 a.set_ints("perm", {0, 2, 1, 3});
               }));
       }},
      {"Concat",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 3, 5});
         ValueId y = c.g.input("y", DType::kFloat32, {2, 4, 5});
         c.g.output(c.g.op("Concat", {x, y}, attrs([](Attributes& a) { a.set_int("axis", 1); })));
         c.inputs = {rnd({2, 3, 5}, 13), rnd({2, 4, 5}, 14)};
       }},
      // Inner rows of whole 16-byte vectors: the copies move wide elements (widen_copy).
      {"ConcatClsToken",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 1, 16});
         ValueId y = c.g.input("y", DType::kFloat32, {3, 6, 16});
         c.g.output(c.g.op("Concat", {x, y}, attrs([](Attributes& a) { a.set_int("axis", 1); })));
         c.inputs = {rnd({3, 1, 16}, 33), rnd({3, 6, 16}, 34)};
       }},
      {"TransposeWideRows",
       [](Case& c) {
         unary(c, "Transpose", {2, 3, 5, 8}, -2.0, attrs([](Attributes& a) {
                 a.set_ints("perm", {0, 2, 1, 3});
               }));
       }},
      // NCHW <-> NHWC and [B, S, C] <-> [B, C, S]: the tiled batched transpose, with partial
      // tiles on both axes; a 2-D one; 2-byte rows widened to 16 bytes do not take it.
      {"TransposeNchwToNhwc",
       [](Case& c) {
         unary(c, "Transpose", {2, 40, 9, 11}, -2.0, attrs([](Attributes& a) {
                 a.set_ints("perm", {0, 2, 3, 1});
               }));
       }},
      {"TransposeNhwcToNchw",
       [](Case& c) {
         unary(c, "Transpose", {3, 7, 13, 70}, -2.0, attrs([](Attributes& a) {
                 a.set_ints("perm", {0, 3, 1, 2});
               }));
       }},
      {"Transpose2d",
       [](Case& c) {
         unary(c, "Transpose", {65, 33}, -2.0, attrs([](Attributes& a) {
                 a.set_ints("perm", {1, 0});
               }));
       }},
      {"SliceNegativeStep",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {5, 9, 7});
         ValueId y = c.g.op("Slice", {x, c.g.constant("s", Tensor::from_int64({1, -1})),
                                      c.g.constant("e", Tensor::from_int64({4, -10})),
                                      c.g.constant("a", Tensor::from_int64({0, 1})),
                                      c.g.constant("st", Tensor::from_int64({1, -2}))});
         c.g.output(y);
         c.inputs = {rnd({5, 9, 7}, 15)};
       }},
      {"GatherRows",
       [](Case& c) {
         ValueId table = c.g.constant("table", rnd({11, 6}, 16));
         ValueId idx = c.g.input("idx", DType::kInt64, {3, 4});
         c.g.output(c.g.op("Gather", {table, idx}));
         c.inputs = {ints({0, 10, 3, -1, 5, 5, 2, 9, 7, 1, 4, 8}, {3, 4})};
       }},
      {"GatherToken",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 7, 5});
         ValueId i = c.g.constant("i", Tensor::from_int64({0}, true));
         c.g.output(c.g.op("Gather", {x, i}, attrs([](Attributes& a) { a.set_int("axis", 1); })));
         c.inputs = {rnd({3, 7, 5}, 17)};
       }},
      // Batch 1, rows 0.. of the data: the Gather is a view of it (no copy). As a graph output
      // straight from the input, and from a computed value read again after other values were
      // allocated (the view keeps its root alive to its last reader).
      {"GatherTokenViewOfInput",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {1, 7, 5});
         ValueId i = c.g.constant("i", Tensor::from_int64({0}, true));
         c.g.output(c.g.op("Gather", {x, i}, attrs([](Attributes& a) { a.set_int("axis", 1); })));
         c.inputs = {rnd({1, 7, 5}, 18)};
       }},
      {"GatherLeadingRowsView",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {1, 7, 5});
         const Attributes axis1 = attrs([](Attributes& a) { a.set_int("axis", 1); });
         ValueId t = c.g.op("Neg", {x});
         // -7 is row 0: rows 0 and 1, a view of t.
         ValueId g = c.g.op("Gather", {t, c.g.constant("i", ints({-7, 1}, {2}))}, axis1);
         ValueId u = c.g.op("Exp", {x});
         ValueId h = c.g.op("Gather", {u, c.g.constant("j", ints({1, 0}, {2}))}, axis1);  // a copy
         c.g.output(c.g.op("Add", {g, h}));
         c.inputs = {rnd({1, 7, 5}, 19)};
       }},
      // Slices that are the data's first elements (views) and one that is not (a copy).
      {"SliceLeadingViews",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {1, 7, 5});
         int n = 0;
         const auto slice = [&](ValueId v, int64_t start, int64_t end, int64_t axis) {
           const std::string k = std::to_string(n++);
           return c.g.op("Slice", {v, c.g.constant("s" + k, ints({start}, {1})),
                                   c.g.constant("e" + k, ints({end}, {1})),
                                   c.g.constant("a" + k, ints({axis}, {1}))});
         };
         ValueId t = c.g.op("Neg", {x});
         ValueId tokens = slice(t, 0, 2, 1);      // rows 0, 1 of the one image: a view
         ValueId all = slice(t, 0, 100, 0);       // the whole tensor: a view
         ValueId u = c.g.op("Exp", {x});
         ValueId later = slice(u, 1, 3, 1);       // rows 1, 2: a copy
         c.g.output(c.g.op("Add", {tokens, later}));
         c.g.output(c.g.op("Neg", {all}));
         c.inputs = {rnd({1, 7, 5}, 20)};
       }},
      {"Expand",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 1, 5});
         c.g.output(c.g.op("Expand", {x, c.g.constant("s", Tensor::from_int64({2, 3, 4, 5}))}));
         c.inputs = {rnd({3, 1, 5}, 18)};
       }},
      {"WhereCompare",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {4, 6});
         ValueId y = c.g.input("y", DType::kFloat32, {4, 1});
         ValueId cond = c.g.op("Less", {x, y});
         c.g.output(
             c.g.op("Where", {cond, x, c.g.constant("z", Tensor::from_float({-7.0f}, true))}));
         c.inputs = {rnd({4, 6}, 19), rnd({4, 1}, 20)};
       }},
      {"CastRoundTrip",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {5, 7});
         ValueId i = c.g.op("Cast", {x}, attrs([](Attributes& a) { a.set_int("to", 7); }));
         c.g.output(c.g.op("Cast", {i}, attrs([](Attributes& a) { a.set_int("to", 1); })));
         c.inputs = {rnd({5, 7}, 21, -20, 20)};
       }},
      {"ConvPatch",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 3, 16, 24});
         ValueId w = c.g.constant("w", rnd({8, 3, 4, 4}, 22));
         ValueId b = c.g.constant("b", rnd({8}, 23));
         c.g.output(c.g.op("Conv", {x, w, b}, attrs([](Attributes& a) {
                             a.set_ints("strides", {4, 4});
                             a.set_ints("kernel_shape", {4, 4});
                           })));
         c.inputs = {rnd({2, 3, 16, 24}, 24)};
       }},
      {"Split",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {4, 10});
         auto outs = c.g.op_multi("Split", {x, c.g.constant("s", Tensor::from_int64({3, 7}))}, 2,
                                  attrs([](Attributes& a) { a.set_int("axis", 1); }));
         c.g.output(outs[0]);
         c.g.output(outs[1]);
         c.inputs = {rnd({4, 10}, 25)};
       }},
      {"Tile",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 3});
         c.g.output(c.g.op("Tile", {x, c.g.constant("r", Tensor::from_int64({2, 3}))}));
         c.inputs = {rnd({2, 3}, 26)};
       }},
      {"GatherND",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 5, 4});
         ValueId i = c.g.constant("i", ints({0, 1, 2, 4, 1, -1}, {3, 2}));
         c.g.output(c.g.op("GatherND", {x, i}));
         c.inputs = {rnd({3, 5, 4}, 27)};
       }},
      {"ArgMaxTokens",
       [](Case& c) {
         ValueId ids = c.g.input("ids", DType::kInt64, {2, 6});
         c.g.output(c.g.op("ArgMax", {ids}, attrs([](Attributes& a) {
                             a.set_int("axis", -1);
                             a.set_int("keepdims", 0);
                           })));
         c.inputs = {ints({4, 9, 49407, 3, 2, 0, 7, 49407, 1, 1, 1, 1}, {2, 6})};
       }},
      // Pad, MaxPool, GlobalAveragePool and InstanceNormalization: the stems of hybrid ViTs
      // (timm ResNetV2 / HF BiT: "same" padding, GroupNorm as InstanceNormalization, MaxPool)
      // and Swin's window padding.
      {"PadConstantValue",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 3, 5, 7});
         c.g.output(
             c.g.op("Pad", {x, c.g.constant("p", Tensor::from_int64({0, 0, 1, 2, 0, 0, 3, 0})),
                            c.g.constant("v", Tensor::from_float({-1.5f}, true))}));
         c.inputs = {rnd({2, 3, 5, 7}, 40)};
       }},
      {"PadReflectAxesAndCrop",
       [](Case& c) {
         // Reflect on the last two axes (axes input), cropping one row at the end of axis 2.
         ValueId x = c.g.input("x", DType::kFloat32, {2, 4, 6, 5});
         c.g.output(c.g.op("Pad",
                           {x, c.g.constant("p", Tensor::from_int64({2, 3, -1, 4})), kNoValue,
                            c.g.constant("axes", Tensor::from_int64({-2, -1}))},
                           attrs([](Attributes& a) { a.set_string("mode", "reflect"); })));
         c.inputs = {rnd({2, 4, 6, 5}, 41)};
       }},
      {"PadEdge",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 9, 11});
         c.g.output(c.g.op("Pad", {x, c.g.constant("p", Tensor::from_int64({0, 2, 1, 0, 3, 4}))},
                           attrs([](Attributes& a) { a.set_string("mode", "edge"); })));
         c.inputs = {rnd({3, 9, 11}, 42)};
       }},
      {"PadWrap",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 5, 3});
         c.g.output(c.g.op("Pad", {x, c.g.constant("p", Tensor::from_int64({0, 4, 2, 0, 1, 5}))},
                           attrs([](Attributes& a) { a.set_string("mode", "wrap"); })));
         c.inputs = {rnd({2, 5, 3}, 43)};
       }},
      {"MaxPool3x3Stride2",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 5, 13, 10});
         c.g.output(c.g.op("MaxPool", {x}, attrs([](Attributes& a) {
                             a.set_ints("kernel_shape", {3, 3});
                             a.set_ints("strides", {2, 2});
                             a.set_ints("pads", {1, 0, 1, 1});
                           })));
         c.inputs = {rnd({2, 5, 13, 10}, 44, -3, 3)};
       }},
      {"MaxPoolCeilDilated",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {1, 3, 11, 9});
         c.g.output(c.g.op("MaxPool", {x}, attrs([](Attributes& a) {
                             a.set_ints("kernel_shape", {2, 3});
                             a.set_ints("strides", {3, 2});
                             a.set_ints("dilations", {2, 1});
                             a.set_int("ceil_mode", 1);
                           })));
         c.inputs = {rnd({1, 3, 11, 9}, 45, -3, 3)};
       }},
      {"MaxPool1dSameUpper",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 4, 17});
         c.g.output(c.g.op("MaxPool", {x}, attrs([](Attributes& a) {
                             a.set_ints("kernel_shape", {4});
                             a.set_ints("strides", {3});
                             a.set_string("auto_pad", "SAME_UPPER");
                           })));
         c.inputs = {rnd({3, 4, 17}, 46, -3, 3)};
       }},
      {"GlobalAveragePool",
       [](Case& c) {
         unary(c, "GlobalAveragePool", {3, 6, 7, 9});
       }},
      {"InstanceNorm",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 6, 5, 7});
         ValueId sc = c.g.constant("scale", rnd({6}, 47, 0.5, 1.5));
         ValueId bi = c.g.constant("bias", rnd({6}, 48));
         c.g.output(c.g.op("InstanceNormalization", {x, sc, bi},
                           attrs([](Attributes& a) { a.set_float("epsilon", 1e-3f); })));
         c.inputs = {rnd({2, 6, 5, 7}, 49, -3, 5)};
       }},
      // 2-D convolutions of one group (im2col + GEMM): a hybrid ViT's stem and bottlenecks.
      {"ConvStem7x7Stride2",
       [](Case& c) {
         conv(c, {2, 3, 19, 16}, {8, 3, 7, 7}, {2, 2}, {3, 2, 3, 3}, {1, 1});
       }},
      {"Conv3x3Dilated",
       [](Case& c) {
         conv(c, {1, 5, 11, 13}, {6, 5, 3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2});
       }},
      {"Conv1x1Stride2NoBias",
       [](Case& c) {
         conv(c, {2, 7, 9, 10}, {4, 7, 1, 1}, {2, 2}, {0, 0, 0, 0}, {1, 1}, false);
       }},
      {"ConvPatchWithRemainder",
       [](Case& c) {
         conv(c, {2, 3, 13, 10}, {5, 3, 4, 4}, {4, 4}, {0, 0, 0, 0}, {1, 1});
       }},
      {"ConvSameUpper",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {1, 4, 10, 7});
         ValueId w = c.g.constant("w", rnd({3, 4, 3, 2}, 54));
         c.g.output(c.g.op("Conv", {x, w}, attrs([](Attributes& a) {
                             a.set_ints("strides", {2, 3});
                             a.set_string("auto_pad", "SAME_UPPER");
                           })));
         c.inputs = {rnd({1, 4, 10, 7}, 55)};
       }},
      // timm dynamic_img_size / HF interpolate_pos_encoding: bicubic position embedding.
      {"ResizeBicubicPosEmbed",
       [](Case& c) {
         resize_case(c, {1, 37, 7, 7}, {}, {1, 37, 10, 9}, "cubic", "pytorch_half_pixel");
       }},
      // Deformable attention (RT-DETR, Deformable DETR, Mask2Former) and the other modes.
      {"GridSampleBilinearZerosDeformable",
       [](Case& c) { grid_sample_case(c, {2, 8, 5, 7}, 6, 4, "bilinear", "zeros", 0); }},
      {"GridSampleBilinearBorderAligned",
       [](Case& c) { grid_sample_case(c, {1, 3, 6, 9}, 5, 3, "bilinear", "border", 1, 2.5); }},
      {"GridSampleBilinearReflection",
       [](Case& c) { grid_sample_case(c, {1, 3, 6, 9}, 5, 3, "bilinear", "reflection", 0, 3.0); }},
      {"GridSampleNearestReflectionAligned",
       [](Case& c) { grid_sample_case(c, {2, 2, 7, 4}, 3, 5, "nearest", "reflection", 1, 3.0); }},
      {"ResizeBilinearScales",
       [](Case& c) {
         resize_case(c, {2, 3, 5, 6}, {1.0f, 1.0f, 1.5f, 0.7f}, {}, "linear", "half_pixel");
       }},
      {"ResizeLinearAlignCornersMiddleAxis",
       [](Case& c) {
         resize_case(c, {3, 10, 4}, {}, {3, 7, 4}, "linear", "align_corners");
       }},
      {"ResizeNearestAsymmetricFloor",
       [](Case& c) {
         resize_case(c, {2, 3, 5, 7}, {1.0f, 1.0f, 2.0f, 2.0f}, {}, "nearest", "asymmetric",
                     [](Attributes& a) { a.set_string("nearest_mode", "floor"); });
       }},
      {"ResizeNearestRoundPreferCeilDown",
       [](Case& c) {
         resize_case(c, {1, 2, 9, 11}, {}, {1, 2, 4, 6}, "nearest", "half_pixel",
                     [](Attributes& a) { a.set_string("nearest_mode", "round_prefer_ceil"); });
       }},
      {"ResizeCubicAntialiasDown",
       [](Case& c) {
         resize_case(c, {1, 2, 13, 11}, {}, {1, 2, 5, 4}, "cubic", "half_pixel",
                     [](Attributes& a) { a.set_int("antialias", 1); });
       }},
      {"ResizeCubicExcludeOutside",
       [](Case& c) {
         resize_case(c, {2, 1, 6, 5}, {1.0f, 1.0f, 1.7f, 2.3f}, {}, "cubic", "asymmetric",
                     [](Attributes& a) {
                       a.set_int("exclude_outside", 1);
                       a.set_float("cubic_coeff_a", -0.5f);
                     });
       }},
      {"HardSwish",
       [](Case& c) {
         unary(c, "HardSwish", {3, 7, 13}, -5.0);
       }},
      // Whole 16-byte vectors in every type: the vectorized activation kernel.
      {"HardSwishVectors",
       [](Case& c) {
         unary(c, "HardSwish", {4, 96}, -5.0);
       }},
      {"ReluVectors",
       [](Case& c) {
         unary(c, "Relu", {6, 64});
       }},
      {"MsGeluVectors",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 5, 96});
         c.g.output(c.g.op("Gelu", {x}, {}, "com.microsoft"));
         c.inputs = {rnd({3, 5, 96}, 85, -4.0, 4.0)};
       }},
      {"HardSigmoidAttrs",
       [](Case& c) {
         unary(c, "HardSigmoid", {7, 33}, -5.0, attrs([](Attributes& a) {
                 a.set_float("alpha", 0.3f);
                 a.set_float("beta", 0.4f);
               }));
       }},
      {"ClipInputs",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {5, 19});
         c.g.output(c.g.op("Clip", {x, c.g.constant("lo", Tensor::from_float({-0.5f}, true)),
                                    c.g.constant("hi", Tensor::from_float({0.75f}, true))}));
         c.inputs = {rnd({5, 19}, 61, -2, 2)};
       }},
      {"ClipMaxOnly",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 11});
         c.g.output(
             c.g.op("Clip", {x, kNoValue, c.g.constant("hi", Tensor::from_float({6.0f}, true))}));
         c.inputs = {rnd({3, 11}, 62, -9, 9)};
       }},
      {"LeakyRelu",
       [](Case& c) {
         unary(c, "LeakyRelu", {7, 33}, -2.0,
               attrs([](Attributes& a) { a.set_float("alpha", 0.1f); }));
       }},
      {"Elu",
       [](Case& c) {
         unary(c, "Elu", {7, 33});
       }},
      {"Softplus",
       [](Case& c) {
         unary(c, "Softplus", {7, 33});
       }},
      {"Mish",
       [](Case& c) {
         unary(c, "Mish", {7, 33});
       }},
      {"Sign",
       [](Case& c) {
         unary(c, "Sign", {7, 33});
       }},
      {"Atan",
       [](Case& c) {
         unary(c, "Atan", {7, 33});
       }},
      // MobileViT / PiT / XCiT / SegFormer: depthwise and grouped convolutions.
      {"ConvDepthwise3x3",
       [](Case& c) {
         conv(c, {2, 6, 9, 11}, {6, 1, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, 6);
       }},
      {"ConvDepthwiseStride2Multiplier",
       [](Case& c) {
         conv(c, {1, 3, 10, 7}, {6, 1, 3, 3}, {2, 2}, {1, 0, 1, 1}, {1, 1}, false, 3);
       }},
      // The tiled depthwise kernel: ConvNeXt's 7x7 over several tiles of a plane, the last
      // stage's small planes packed several to a block, 3x3 / 5x5 with stride 2, dilation,
      // a non-square kernel, a large kernel (runtime size), 1x1, a channel multiplier, and a
      // plane of 1 x 1.
      {"ConvDepthwise7x7MultiTile",
       [](Case& c) {
         conv(c, {2, 5, 70, 45}, {5, 1, 7, 7}, {1, 1}, {3, 3, 3, 3}, {1, 1}, true, 5);
       }},
      {"ConvDepthwise7x7SmallPlanes",
       [](Case& c) {
         conv(c, {3, 20, 7, 7}, {20, 1, 7, 7}, {1, 1}, {3, 3, 3, 3}, {1, 1}, true, 20);
       }},
      {"ConvDepthwise5x5Stride2",
       [](Case& c) {
         conv(c, {2, 6, 31, 29}, {6, 1, 5, 5}, {2, 2}, {2, 2, 2, 2}, {1, 1}, true, 6);
       }},
      {"ConvDepthwise3x3Stride2Asym",
       [](Case& c) {
         conv(c, {1, 4, 16, 16}, {4, 1, 3, 3}, {2, 1}, {0, 1, 1, 0}, {1, 1}, false, 4);
       }},
      {"ConvDepthwiseDilated",
       [](Case& c) {
         conv(c, {2, 3, 20, 23}, {3, 1, 3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}, true, 3);
       }},
      {"ConvDepthwiseNonSquare",
       [](Case& c) {
         conv(c, {1, 4, 12, 19}, {4, 1, 3, 5}, {1, 1}, {1, 2, 1, 2}, {1, 1}, true, 4);
       }},
      {"ConvDepthwiseLargeKernel",
       [](Case& c) {
         conv(c, {1, 2, 40, 40}, {2, 1, 13, 13}, {1, 1}, {6, 6, 6, 6}, {1, 1}, true, 2);
       }},
      {"ConvDepthwise1x1Multiplier",
       [](Case& c) {
         conv(c, {2, 3, 5, 6}, {9, 1, 1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, 3);
       }},
      {"ConvDepthwiseOnePixel",
       [](Case& c) {
         conv(c, {2, 8, 1, 1}, {8, 1, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, 8);
       }},
      {"ConvGrouped5x5Dilated",
       [](Case& c) {
         conv(c, {2, 8, 13, 12}, {4, 4, 5, 5}, {1, 2}, {2, 2, 3, 1}, {2, 1}, true, 2);
       }},
      // DPT-style upsampling and the other ConvTranspose forms (groups, dilation, pads,
      // output_padding, output_shape incl. one larger than the full result, SAME_UPPER, 1-D).
      {"ConvTransposeUpsampleK4S4",
       [](Case& c) {
         conv_transpose(c, {2, 6, 5, 7}, {6, 4, 4, 4}, 1, true,
                        [](Attributes& a) { a.set_ints("strides", {4, 4}); });
       }},
      {"ConvTransposeGroupedDilatedPadded",
       [](Case& c) {
         conv_transpose(c, {2, 4, 5, 6}, {4, 3, 3, 2}, 2, true, [](Attributes& a) {
           a.set_ints("strides", {2, 3});
           a.set_ints("dilations", {2, 1});
           a.set_ints("pads", {1, 0, 2, 1});
           a.set_ints("output_padding", {1, 2});
         });
       }},
      {"ConvTransposeDepthwiseOutputShape",
       [](Case& c) {
         conv_transpose(c, {1, 5, 4, 5}, {5, 1, 3, 3}, 5, false, [](Attributes& a) {
           a.set_ints("strides", {2, 2});
           a.set_ints("output_shape", {9, 12});
         });
       }},
      {"ConvTransposeOutputShapeBeyondFull",
       [](Case& c) {
         conv_transpose(c, {1, 2, 3, 3}, {2, 2, 3, 3}, 1, true, [](Attributes& a) {
           a.set_ints("strides", {3, 2});
           a.set_ints("output_shape", {10, 8});
         });
       }},
      {"ConvTranspose1dSameUpper",
       [](Case& c) {
         conv_transpose(c, {2, 3, 7}, {3, 2, 4}, 1, true, [](Attributes& a) {
           a.set_ints("strides", {2});
           a.set_string("auto_pad", "SAME_UPPER");
         });
       }},
      // Col2Im (torch.nn.Fold): VOLO's 3x3 stride 2 pad 1, dilated asymmetric 2-D, 1-D, 3-D.
      {"Col2ImVolo",
       [](Case& c) {
         col2im_case(c, {2, 54, 16}, {8, 8}, {3, 3}, [](Attributes& a) {
           a.set_ints("strides", {2, 2});
           a.set_ints("pads", {1, 1, 1, 1});
         });
       }},
      {"Col2ImDilatedAsymmetric",
       [](Case& c) {
         col2im_case(c, {1, 18, 35}, {7, 9}, {2, 3}, [](Attributes& a) {
           a.set_ints("strides", {1, 2});
           a.set_ints("pads", {0, 1, 2, 1});
           a.set_ints("dilations", {2, 1});
         });
       }},
      {"Col2Im1d",
       [](Case& c) {
         col2im_case(c, {2, 20, 4}, {11}, {4}, [](Attributes& a) {
           a.set_ints("strides", {3});
           a.set_ints("pads", {2, 1});
         });
       }},
      {"Col2Im3d",
       [](Case& c) {
         col2im_case(c, {1, 16, 36}, {4, 5, 3}, {2, 2, 2}, [](Attributes& a) {
           a.set_ints("strides", {1, 2, 1});
           a.set_ints("pads", {1, 0, 0, 0, 1, 1});
         });
       }},
      {"ReduceL2Last",
       [](Case& c) {
         unary(c, "ReduceL2", {4, 9, 31}, -2.0,
               attrs([](Attributes& a) { a.set_ints("axes", {-1}); }));
       }},
      {"ReduceSumAxesInputMiddle",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 5, 7, 2});
         c.g.output(c.g.op("ReduceSum", {x, c.g.constant("axes", Tensor::from_int64({1, 2}))},
                           attrs([](Attributes& a) { a.set_int("keepdims", 0); })));
         c.inputs = {rnd({3, 5, 7, 2}, 63)};
       }},
      // Long columns (a squeeze-and-excitation mean over an NHWC image): the column-tiled kernel,
      // with a partial tile of columns.
      {"ReduceMeanNhwcSpatial",
       [](Case& c) {
         unary(c, "ReduceMean", {3, 9, 11, 40}, -2.0,
               attrs([](Attributes& a) { a.set_ints("axes", {1, 2}); }));
       }},
      {"ReduceMaxLongColumns",
       [](Case& c) {
         unary(c, "ReduceMax", {2, 70, 33}, -2.0,
               attrs([](Attributes& a) { a.set_ints("axes", {1}); }));
       }},
      {"ReduceL2LongColumns",
       [](Case& c) {
         unary(c, "ReduceL2", {2, 130, 5}, -2.0,
               attrs([](Attributes& a) {
                 a.set_ints("axes", {1});
                 a.set_int("keepdims", 0);
               }));
       }},
      // Axes that are not one run (upernet's dynamo export) and integer reductions (mask
      // counts in Mask2Former): launch_reduce_strided.
      {"ReduceMeanNonAdjacentAxes",
       [](Case& c) {
         unary(c, "ReduceMean", {2, 5, 6, 3}, -2.0,
               attrs([](Attributes& a) { a.set_ints("axes", {1, 3}); }));
       }},
      {"ReduceLogSumExpNonAdjacentAxes",
       [](Case& c) {
         unary(c, "ReduceLogSumExp", {3, 4, 5}, -2.0, attrs([](Attributes& a) {
                 a.set_ints("axes", {0, 2});
                 a.set_int("keepdims", 0);
               }));
       }},
      {"ReduceL2NonAdjacentAxes",
       [](Case& c) {
         unary(c, "ReduceL2", {4, 3, 2, 5}, -2.0,
               attrs([](Attributes& a) { a.set_ints("axes", {0, 2, 3}); }));
       }},
      {"ReduceSumInt64NonAdjacentAxes",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kInt64, {3, 4, 5, 2});
         c.g.output(c.g.op("ReduceSum", {x, c.g.constant("axes", Tensor::from_int64({1, 3}))},
                           attrs([](Attributes& a) { a.set_int("keepdims", 0); })));
         std::vector<int64_t> v(120);
         for (int i = 0; i < 120; ++i) v[i] = (i * 37) % 23 - 11;
         c.inputs = {ints(v, {3, 4, 5, 2})};
       }},
      {"ReduceMeanInt64Truncates",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kInt64, {2, 3, 4});
         c.g.output(c.g.op("ReduceMean", {x}, attrs([](Attributes& a) { a.set_ints("axes", {1}); })));
         c.inputs = {ints({5, -7, 2, 9, 1, -1, 0, 4, -3, 8, 6, -5, 7, 7, -2, 3, 1, 0, 2, -9, 4, 4, 5, 6},
                          {2, 3, 4})};
       }},
      {"ReduceMaxProdInt32",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kInt64, {3, 2, 4});
         ValueId x32 = c.g.op("Cast", {x}, attrs([](Attributes& a) { a.set_int("to", 6); }));
         c.g.output(c.g.op("ReduceMax", {x32}, attrs([](Attributes& a) { a.set_ints("axes", {0, 2}); })));
         c.g.output(c.g.op("ReduceProd", {x32}, attrs([](Attributes& a) { a.set_ints("axes", {2}); })));
         std::vector<int64_t> v(24);
         for (int i = 0; i < 24; ++i) v[i] = (i * 11) % 7 - 3;
         c.inputs = {ints(v, {3, 2, 4})};
       }},
      {"ReduceMaxMiddle",
       [](Case& c) {
         unary(c, "ReduceMax", {3, 17, 5}, -2.0,
               attrs([](Attributes& a) { a.set_ints("axes", {1}); }));
       }},
      {"ReduceMinLast",
       [](Case& c) {
         unary(c, "ReduceMin", {6, 301}, -2.0,
               attrs([](Attributes& a) { a.set_ints("axes", {1}); }));
       }},
      {"ReduceProdLast",
       [](Case& c) {
         unary(c, "ReduceProd", {5, 6}, 0.5, attrs([](Attributes& a) { a.set_ints("axes", {1}); }));
       }},
      {"ReduceLogSumExpAll",
       [](Case& c) {
         unary(c, "ReduceLogSumExp", {3, 7, 9});
       }},
      {"ReduceL1SumSquareLogSum",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {4, 11, 3});
         Attributes ax = attrs([](Attributes& a) { a.set_ints("axes", {1}); });
         c.g.output(c.g.op("ReduceL1", {x}, ax));
         c.g.output(c.g.op("ReduceSumSquare", {x}, ax));
         c.g.output(c.g.op("ReduceLogSum", {c.g.op("ReduceL1", {x}, ax)}, ax));
         c.inputs = {rnd({4, 11, 3}, 64)};
       }},
      // LeViT / hybrid stems: BatchNormalization in inference form.
      {"BatchNorm",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 5, 7, 3});
         ValueId sc = c.g.constant("scale", rnd({5}, 65, 0.5, 1.5));
         ValueId b = c.g.constant("B", rnd({5}, 66));
         ValueId mean = c.g.constant("mean", rnd({5}, 67));
         ValueId var = c.g.constant("var", rnd({5}, 68, 0.2, 2.0));
         c.g.output(c.g.op("BatchNormalization", {x, sc, b, mean, var},
                           attrs([](Attributes& a) { a.set_float("epsilon", 1e-3f); })));
         c.inputs = {rnd({2, 5, 7, 3}, 69, -3, 3)};
       }},
      {"BatchNorm1d",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {6, 9});
         ValueId sc = c.g.constant("scale", rnd({9}, 70, 0.5, 1.5));
         ValueId b = c.g.constant("B", rnd({9}, 71));
         ValueId mean = c.g.constant("mean", rnd({9}, 72));
         ValueId var = c.g.constant("var", rnd({9}, 73, 0.2, 2.0));
         c.g.output(c.g.op("BatchNormalization", {x, sc, b, mean, var}));
         c.inputs = {rnd({6, 9}, 74, -3, 3)};
       }},
      {"GatherElementsAxis1",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 5, 4});
         std::vector<int64_t> idx;
         for (int i = 0; i < 3 * 7 * 4; ++i) idx.push_back((i * 7 + 3) % 10 - 5);  // some < 0
         ValueId ix = c.g.constant("idx", ints(idx, {3, 7, 4}));
         c.g.output(
             c.g.op("GatherElements", {x, ix}, attrs([](Attributes& a) { a.set_int("axis", 1); })));
         c.inputs = {rnd({3, 5, 4}, 75)};
       }},
      {"TopKLastLargest",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {4, 37});
         std::vector<ValueId> outs =
             c.g.op_multi("TopK", {x, c.g.constant("k", ints({5}, {1}))}, 2);
         c.g.output(outs[0]);
         c.g.output(outs[1]);
         c.inputs = {distinct({4, 37})};
       }},
      {"TopKMiddleSmallest",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 9, 3});
         std::vector<ValueId> outs = c.g.op_multi("TopK", {x, c.g.constant("k", ints({4}, {1}))}, 2,
                                                  attrs([](Attributes& a) {
                                                    a.set_int("axis", 1);
                                                    a.set_int("largest", 0);
                                                  }));
         c.g.output(outs[0]);
         c.g.output(outs[1]);
         c.inputs = {distinct({2, 9, 3})};
       }},
      {"MaxBroadcast",
       [](Case& c) {
         binary(c, "Max", {3, 5, 7}, {5, 1});
       }},
      {"MinRow",
       [](Case& c) {
         binary(c, "Min", {6, 11}, {11});
       }},
      {"SumSame",
       [](Case& c) {
         binary(c, "Sum", {13, 17}, {13, 17});
       }},
      {"PReluChannel",
       [](Case& c) {
         binary(c, "PRelu", {2, 4, 5, 3}, {4, 1, 1});
       }},
      {"DropoutInference",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 7});
         c.g.output(c.g.op("Relu", {c.g.op("Dropout", {x})}));
         c.inputs = {rnd({3, 7}, 78)};
       }},
      {"GlobalMaxPool",
       [](Case& c) {
         unary(c, "GlobalMaxPool", {2, 5, 7, 9});
       }},
      {"IsInfNegativeOnly",
       [](Case& c) {
         const float inf = std::numeric_limits<float>::infinity();
         ValueId x = c.g.input("x", DType::kFloat32, {2, 5});
         c.g.output(
             c.g.op("IsInf", {x}, attrs([](Attributes& a) { a.set_int("detect_positive", 0); })));
         c.inputs = {*Tensor::from_float({1.0f, inf, -inf, 0.0f, -2.0f, -inf, inf, 3.0f,
                                          std::numeric_limits<float>::quiet_NaN(), -1.0f})
                          .reshaped({2, 5})};
       }},
      {"MsQuickGeluAlpha",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {7, 33});
         c.g.output(c.g.op("QuickGelu", {x},
                           attrs([](Attributes& a) { a.set_float("alpha", 1.5f); }),
                           "com.microsoft"));
         c.inputs = {rnd({7, 33}, 79, -3, 3)};
       }},
      {"MsFastGeluBias",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 5, 24});
         c.g.output(
             c.g.op("FastGelu", {x, c.g.constant("bias", rnd({24}, 80))}, {}, "com.microsoft"));
         c.inputs = {rnd({2, 5, 24}, 81, -3, 3)};
       }},
      {"MsBiasGelu",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 20});
         c.g.output(
             c.g.op("BiasGelu", {x, c.g.constant("bias", rnd({20}, 82))}, {}, "com.microsoft"));
         c.inputs = {rnd({3, 20}, 83, -3, 3)};
       }},
      {"MsGelu",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 20});
         c.g.output(c.g.op("Gelu", {x}, {}, "com.microsoft"));
         c.inputs = {rnd({3, 20}, 84, -3, 3)};
       }},
      // PoolFormer's token mixer: 3x3, stride 1, padding excluded from the average.
      {"AveragePool3x3Pad",
       [](Case& c) {
         unary(c, "AveragePool", {2, 3, 7, 9}, -2.0, attrs([](Attributes& a) {
                 a.set_ints("kernel_shape", {3, 3});
                 a.set_ints("pads", {1, 1, 1, 1});
               }));
       }},
      {"AveragePoolCeilIncludePad",
       [](Case& c) {
         unary(c, "AveragePool", {1, 2, 9, 8}, -2.0, attrs([](Attributes& a) {
                 a.set_ints("kernel_shape", {3, 2});
                 a.set_ints("strides", {2, 2});
                 a.set_ints("pads", {1, 0, 1, 1});
                 a.set_int("ceil_mode", 1);
                 a.set_int("count_include_pad", 1);
               }));
       }},
      {"AveragePool1d",
       [](Case& c) {
         unary(c, "AveragePool", {2, 4, 11}, -2.0, attrs([](Attributes& a) {
                 a.set_ints("kernel_shape", {4});
                 a.set_ints("strides", {3});
               }));
       }},
      {"LogSoftmaxLast",
       [](Case& c) {
         unary(c, "LogSoftmax", {3, 4, 77}, -2.0,
               attrs([](Attributes& a) { a.set_int("axis", -1); }));
       }},
      {"LogSoftmaxLongRow",
       [](Case& c) {
         unary(c, "LogSoftmax", {2, 3001}, -2.0,
               attrs([](Attributes& a) { a.set_int("axis", 1); }));
       }},
      {"LogSoftmaxMiddle",
       [](Case& c) {
         unary(c, "LogSoftmax", {2, 5, 7}, -2.0,
               attrs([](Attributes& a) { a.set_int("axis", 1); }));
       }},
      {"ArgMinMiddle",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 9, 3});
         c.g.output(c.g.op("ArgMin", {x}, attrs([](Attributes& a) {
                             a.set_int("axis", 1);
                             a.set_int("keepdims", 0);
                           })));
         c.inputs = {distinct({2, 9, 3})};
       }},
      {"Shrink",
       [](Case& c) {
         unary(c, "Shrink", {7, 33}, -2.0, attrs([](Attributes& a) {
                 a.set_float("bias", 0.25f);
                 a.set_float("lambd", 0.75f);
               }));
       }},
      {"CastLikeToInt",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {4, 9});
         ValueId like = c.g.constant("like", Tensor::from_int64({0}));
         ValueId i = c.g.op("CastLike", {x, like});
         // Back to float through CastLike too: truncation toward zero then a float result.
         c.g.output(c.g.op("CastLike", {i, c.g.constant("f", Tensor::from_float({0.0f}))}));
         c.inputs = {distinct({4, 9})};  // exact in fp16/bf16: truncation agrees
       }},
      {"DepthToSpaceDcr",
       [](Case& c) {
         unary(c, "DepthToSpace", {2, 12, 3, 5}, -2.0,
               attrs([](Attributes& a) { a.set_int("blocksize", 2); }));
       }},
      {"DepthToSpaceCrd",
       [](Case& c) {
         unary(c, "DepthToSpace", {1, 18, 2, 3}, -2.0, attrs([](Attributes& a) {
                 a.set_int("blocksize", 3);
                 a.set_string("mode", "CRD");
               }));
       }},
      {"SpaceToDepth",
       [](Case& c) {
         unary(c, "SpaceToDepth", {2, 3, 6, 4}, -2.0,
               attrs([](Attributes& a) { a.set_int("blocksize", 2); }));
       }},
      {"CumSumMiddleExclusiveReverse",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 11, 4});
         c.g.output(c.g.op("CumSum", {x, c.g.constant("axis", Tensor::from_int64({1}, true))},
                           attrs([](Attributes& a) {
                             a.set_int("exclusive", 1);
                             a.set_int("reverse", 1);
                           })));
         c.inputs = {rnd({3, 11, 4}, 86)};
       }},
      // HF text models: position ids from the attention mask (int64 on the GPU).
      {"CumSumInt64PositionIds",
       [](Case& c) {
         ValueId m = c.g.input("mask", DType::kFloat32, {2, 9});
         ValueId mi = c.g.op("Cast", {m}, attrs([](Attributes& a) { a.set_int("to", 7); }));
         ValueId ids = c.g.op("CumSum", {mi, c.g.constant("axis", Tensor::from_int64({-1}, true))});
         c.g.output(c.g.op("Mul", {ids, mi}));
         Tensor mask = Tensor::zeros(DType::kFloat32, {2, 9});
         for (int i = 0; i < 18; ++i) mask.data<float>()[i] = (i % 9) < 6 + i / 9 ? 1.0f : 0.0f;
         c.inputs = {mask};
       }},
      {"ShapeDrivenReshape",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, 4});
         ValueId shape = c.g.op("Shape", {x});
         ValueId b = c.g.op("Gather", {shape, c.g.constant("zero", Tensor::from_int64({0}))});
         ValueId target = c.g.op("Concat", {b, c.g.constant("rest", Tensor::from_int64({-1}))},
                                 attrs([](Attributes& a) { a.set_int("axis", 0); }));
         ValueId y = c.g.op("Reshape", {x, target});
         c.g.output(c.g.op("Sigmoid", {y}));
         c.inputs = {rnd({3, 6, 4}, 28)};
       }},
      // GroupNormalization: dynamo exports of BiT / ResNetV2 hybrids (opset 21: scale and bias
      // per channel; opset 18: per group), and a single group of a long row.
      {"GroupNormPerChannel",
       [](Case& c) {
         group_norm(c, {2, 6, 5, 7}, 3, 6);
       }},
      {"GroupNormPerGroup",
       [](Case& c) {
         group_norm(c, {3, 8, 9}, 4, 4);
       }},
      {"GroupNormPerGroupLargePlanes",
       [](Case& c) {
         group_norm(c, {2, 6, 16, 20}, 2, 2);
       }},
      // Few long rows: split over several blocks per row (partial sums in scratch); chunks
      // straddle channel boundaries.
      {"GroupNormSplitRowsPerGroup",
       [](Case& c) {
         group_norm(c, {2, 8, 30, 40}, 2, 2);
       }},
      {"InstanceNormSplitRows",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {1, 3, 70, 90});
         c.g.output(c.g.op("InstanceNormalization",
                           {x, c.g.constant("scale", rnd({3}, 122, 0.5, 1.5)),
                            c.g.constant("bias", rnd({3}, 123))}));
         c.inputs = {rnd({1, 3, 70, 90}, 124, 2, 6)};
       }},
      // A BiT / ResNetV2 block as the dynamo exporter writes it at opset 21: a convolution,
      // GroupNormalization with per-channel scale and bias, ReLU.
      {"ConvGroupNormReluOpset21",
       [](Case& c) {
         c.g.graph().opset_imports[""] = 21;
         ValueId x = c.g.input("x", DType::kFloat32, {1, 8, 15, 17});
         ValueId y = c.g.op("Conv", {x, c.g.constant("w", rnd({32, 8, 3, 3}, 125)), kNoValue},
                            attrs([](Attributes& a) {
                              a.set_ints("kernel_shape", {3, 3});
                              a.set_ints("pads", {1, 1, 1, 1});
                            }));
         ValueId gn = c.g.op("GroupNormalization",
                             {y, c.g.constant("scale", rnd({32}, 126, 0.5, 1.5)),
                              c.g.constant("bias", rnd({32}, 127))},
                             attrs([](Attributes& a) {
                               a.set_int("num_groups", 8);
                               a.set_float("epsilon", 1e-5f);
                             }));
         c.g.output(c.g.op("Relu", {gn}));
         c.inputs = {rnd({1, 8, 15, 17}, 128)};
       }},
      {"GroupNormOneGroupLongRow",
       [](Case& c) {
         group_norm(c, {1, 4, 33, 40}, 1, 4);
       }},
      {"MaxThreeBroadcast",
       [](Case& c) {
         nary(c, "Max", {{3, 1, 7}, {5, 1}, {7}});
       }},
      {"MinFour",
       [](Case& c) {
         nary(c, "Min", {{4, 9}, {4, 9}, {1, 9}, {4, 1}});
       }},
      {"SumThree",
       [](Case& c) {
         nary(c, "Sum", {{2, 3, 5}, {3, 5}, {2, 1, 5}});
       }},
      {"SumTenInputs",
       [](Case& c) {
         nary(c, "Sum", std::vector<std::vector<int64_t>>(10, std::vector<int64_t>{3, 11}));
       }},
      {"MaxOneInput",
       [](Case& c) {
         nary(c, "Max", {{5, 6}});
       }},
      {"MeanTwo",
       [](Case& c) {
         nary(c, "Mean", {{6, 7}, {7}});
       }},
      {"MeanNineBroadcast",
       [](Case& c) {
         std::vector<std::vector<int64_t>> shapes(9, std::vector<int64_t>{2, 5});
         shapes[4] = {5};
         nary(c, "Mean", shapes);
       }},
      {"MaxThreeInt64",
       [](Case& c) {
         std::vector<ValueId> in;
         for (int i = 0; i < 3; ++i) {
           in.push_back(c.g.input(indexed_name("i", i), DType::kInt64, {2, 4}));
           std::vector<int64_t> v(8);
           for (int j = 0; j < 8; ++j) v[j] = (j * (i + 3)) % 7 - 3;
           c.inputs.push_back(ints(v, {2, 4}));
         }
         c.g.output(c.g.op("Max", in));
       }},
      {"LpNormL2Last",
       [](Case& c) {
         unary(c, "LpNormalization", {3, 4, 37}, -2.0, attrs([](Attributes& a) {
                 a.set_int("axis", -1);
                 a.set_int("p", 2);
               }));
       }},
      {"LpNormL1Middle",
       [](Case& c) {
         unary(c, "LpNormalization", {2, 5, 7}, -2.0, attrs([](Attributes& a) {
                 a.set_int("axis", 1);
                 a.set_int("p", 1);
               }));
       }},
      {"MvnDefaultAxes",
       [](Case& c) {
         unary(c, "MeanVarianceNormalization", {2, 3, 5, 7}, -2.0);
       }},
      {"MvnLastAxes",
       [](Case& c) {
         unary(c, "MeanVarianceNormalization", {3, 4, 5, 6}, -2.0,
               attrs([](Attributes& a) { a.set_ints("axes", {-2, -1}); }));
       }},
      {"TriluUpperK",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 5, 7});
         c.g.output(c.g.op("Trilu", {x, c.g.constant("k", Tensor::from_int64({1}, true))}));
         c.inputs = {rnd({2, 5, 7}, 90)};
       }},
      // A causal mask built on the GPU from an integer tensor.
      {"TriluLowerInt64",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kInt64, {3, 6, 4});
         c.g.output(c.g.op("Trilu", {x, c.g.constant("k", Tensor::from_int64({-1}, true))},
                           attrs([](Attributes& a) { a.set_int("upper", 0); })));
         std::vector<int64_t> v(72);
         for (int i = 0; i < 72; ++i) v[i] = i - 30;
         c.inputs = {ints(v, {3, 6, 4})};
       }},
      {"EyeLikeFloat",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {5, 7});
         ValueId e = c.g.op("EyeLike", {x}, attrs([](Attributes& a) { a.set_int("k", 2); }));
         c.g.output(c.g.op("Add", {x, e}));
         c.inputs = {rnd({5, 7}, 91)};
       }},
      {"EyeLikeInt64",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {6, 4});
         c.g.output(c.g.op("EyeLike", {c.g.op("Relu", {x})}, attrs([](Attributes& a) {
                             a.set_int("k", -1);
                             a.set_int("dtype", 7);
                           })));
         c.inputs = {rnd({6, 4}, 92)};
       }},
      {"OneHotLast",
       [](Case& c) {
         ValueId i = c.g.input("i", DType::kInt64, {2, 5});
         c.g.output(c.g.op("OneHot", {i, c.g.constant("depth", Tensor::from_int64({6}, true)),
                                      c.g.constant("values", Tensor::from_float({-1.0f, 3.0f}))}));
         c.inputs = {ints({0, 5, -1, 6, 2, 3, -6, -7, 1, 4}, {2, 5})};
       }},
      {"OneHotMiddleFloatIndices",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 4});
         ValueId v = c.g.input("values", DType::kFloat32, {2});
         c.g.output(c.g.op("OneHot", {x, c.g.constant("depth", Tensor::from_int64({5}, true)), v},
                           attrs([](Attributes& a) { a.set_int("axis", 1); })));
         c.inputs = {*Tensor::from_float({0.0f, 1.5f, 4.0f, -1.0f, 2.0f, 3.0f, 7.0f, -2.5f, 0.5f,
                                          1.0f, 2.0f, 3.0f})
                          .reshaped({3, 4}),
                     Tensor::from_float({0.25f, -2.0f})};
       }},
      {"ScatterElementsAddDuplicates",
       [](Case& c) {
         scatter(c, "ScatterElements", {4, 6}, ints({0, 3, 3, 1, 0, 2, 3, 3, 1, 1, 2, 0}, {2, 6}),
                 {2, 6}, 0, "add");
       }},
      {"ScatterElementsNoneAxis1",
       [](Case& c) {
         scatter(c, "ScatterElements", {3, 7, 2},
                 ints({6, 0, 1, 2, 5, -1, 3, 4, 0, 2, 1, 3, 6, 5, -7, 1, 4, 2}, {3, 3, 2}),
                 {3, 3, 2}, 1, "none");
       }},
      {"ScatterElementsMaxMin",
       [](Case& c) {
         ValueId d = c.g.input("data", DType::kFloat32, {5, 4});
         ValueId i = c.g.constant("i", ints({4, 0, 4, 1, 4, 0, 2, 1}, {2, 4}));
         ValueId u = c.g.input("u", DType::kFloat32, {2, 4});
         ValueId mx = c.g.op("ScatterElements", {d, i, u},
                             attrs([](Attributes& a) { a.set_string("reduction", "max"); }));
         c.g.output(c.g.op("ScatterElements", {mx, i, u},
                           attrs([](Attributes& a) { a.set_string("reduction", "min"); })));
         c.inputs = {rnd({5, 4}, 93), rnd({2, 4}, 94)};
       }},
      {"ScatterOpset10",
       [](Case& c) {
         c.g.graph().opset_imports[""] = 10;
         scatter(c, "Scatter", {3, 5}, ints({4, 0, 2, 1, 3, 0}, {2, 3}), {2, 3}, 1, "");
       }},
      {"ScatterNDSlicesAdd",
       [](Case& c) {
         scatter(c, "ScatterND", {4, 5, 3}, ints({1, 3, 1, -4}, {4, 1}), {4, 5, 3}, 0, "add");
       }},
      {"ScatterNDElementsMul",
       [](Case& c) {
         scatter(c, "ScatterND", {3, 4}, ints({0, 1, 2, 3, 0, 1, 1, 2}, {4, 2}), {4}, 0, "mul");
       }},
      {"ScatterNDNone",
       [](Case& c) {
         scatter(c, "ScatterND", {2, 3, 4, 2}, ints({1, 2, 0, 0, 1, 1}, {3, 2}), {3, 4, 2}, 0,
                 "none");
       }},
      {"BitShiftBroadcast",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kUInt32, {3, 5});
         ValueId y = c.g.input("y", DType::kUInt32, {5});
         ValueId l = c.g.op("BitShift", {x, y},
                            attrs([](Attributes& a) { a.set_string("direction", "LEFT"); }));
         c.g.output(c.g.op("BitShift", {l, c.g.constant("two", u32({2}, {1}))},
                           attrs([](Attributes& a) { a.set_string("direction", "RIGHT"); })));
         c.inputs = {u32({1, 7, 0xffffffffu, 12345, 3, 8, 9, 10, 11, 12, 0x80000000u, 5, 6, 2, 1},
                         {3, 5}),
                     u32({0, 3, 31, 32, 40}, {5})};
       }},
      {"CompressConstantConditionAxis1",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 7, 2});
         c.g.output(c.g.op("Compress", {x, c.g.constant("cond", bools({1, 0, 1, 1, 0, 1}))},
                           attrs([](Attributes& a) { a.set_int("axis", 1); })));
         c.inputs = {rnd({3, 7, 2}, 120)};
       }},
      {"CompressFlattened",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 5});
         c.g.output(c.g.op(
             "Compress", {c.g.op("Neg", {x}), c.g.constant("cond", bools({0, 0, 1, 1, 1, 0, 0, 1, 0, 1}))}));
         c.inputs = {rnd({2, 5}, 121)};
       }},
      {"QuantizeLinearUint8",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 3, 5});
         c.g.output(c.g.op("QuantizeLinear", {x, c.g.constant("s", Tensor::from_float({0.05f}, true)),
                                              c.g.constant("zp", u8_scalar(128))}));
         c.inputs = {distinct({2, 3, 5})};
       }},
      {"QuantizeLinearPerAxisInt8",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2, 4, 5});
         Tensor zp = Tensor::empty(DType::kInt8, {4});
         const int8_t zps[] = {0, -3, 5, 127};
         for (int i = 0; i < 4; ++i) zp.data<int8_t>()[i] = zps[i];
         c.g.output(c.g.op(
             "QuantizeLinear",
             {x, c.g.constant("s", Tensor::from_float({0.01f, 0.1f, 0.03f, 0.02f})),
              c.g.constant("zp", zp)},
             attrs([](Attributes& a) { a.set_int("axis", 1); })));
         c.inputs = {distinct({2, 4, 5})};
       }},
      {"QuantizeDequantizeChain",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 4, 7});
         ValueId s = c.g.constant("s", Tensor::from_float({0.02f}, true));
         ValueId zp = c.g.constant("zp", u8_scalar(120));
         ValueId q = c.g.op("QuantizeLinear", {x, s, zp});
         c.g.output(c.g.op("Relu", {c.g.op("DequantizeLinear", {q, s, zp})}));
         c.inputs = {rnd({3, 4, 7}, 95, -2, 2)};
       }},
      // vitrt.FakeQuant: 84 elements (10 whole 16-byte vectors in fp16, 4 left over) and 2003
      // (grid stride, 3 left over in fp32), uint8 and int8 ranges.
      {"FakeQuantUint8",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 4, 7});
         c.g.output(c.g.op("FakeQuant", {x}, attrs([](Attributes& a) {
                             a.set_floats("quant", {0.02f, 120.0f, 0.0f, 255.0f});
                           }),
                           "vitrt"));
         c.inputs = {rnd({3, 4, 7}, 96, -3, 3)};
       }},
      {"FakeQuantInt8",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2003});
         c.g.output(c.g.op("FakeQuant", {x}, attrs([](Attributes& a) {
                             a.set_floats("quant", {0.0625f, -5.0f, -128.0f, 127.0f});
                           }),
                           "vitrt"));
         c.inputs = {rnd({2003}, 97, -9, 9)};
       }},
      // With a bias and the pair after it: 24 columns (whole vectors), 7 (one by one).
      {"FakeQuantBiasOut",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 5, 24});
         c.g.output(c.g.op("FakeQuant", {x, c.g.constant("b", rnd({24}, 98))},
                           attrs([](Attributes& a) {
                             a.set_floats("quant", {0.03f, 0.0f, -128.0f, 127.0f});
                             a.set_floats("quant_out", {0.05f, 128.0f, 0.0f, 255.0f});
                           }),
                           "vitrt"));
         c.inputs = {rnd({3, 5, 24}, 99, -3, 3)};
       }},
      // FP8 kinds (ModelOpt's and ONNX Runtime's FP8 Q/DQ): E4M3 past its +-448 saturation,
      // E5M2 with the bias. Inputs exact in bf16, so that fp16/bf16
      // plans quantize the same values (an FP8 step is 1/8 of the value: a 16-bit rounding of
      // x would move some across a step boundary).
      {"FakeQuantE4M3",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {2003});
         c.g.output(c.g.op("FakeQuant", {x}, attrs([](Attributes& a) {
                             a.set_floats("quant", {0.01f, 0.0f, -448.0f, 448.0f, 1.0f});
                           }),
                           "vitrt"));
         c.inputs = {bf16_random({2003}, 102, -6, 6)};
       }},
      {"FakeQuantE5M2Bias",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {3, 5, 24});
         c.g.output(c.g.op("FakeQuant", {x, c.g.constant("b", rnd({24}, 103))},
                           attrs([](Attributes& a) {
                             a.set_floats("quant", {0.001f, 0.0f, -57344.0f, 57344.0f, 2.0f});
                           }),
                           "vitrt"));
         c.inputs = {bf16_random({3, 5, 24}, 104, -3, 3)};
       }},
      {"FakeQuantBiasOddColumns",
       [](Case& c) {
         ValueId x = c.g.input("x", DType::kFloat32, {4, 7});
         c.g.output(c.g.op("FakeQuant", {x, c.g.constant("b", rnd({7}, 100))},
                           attrs([](Attributes& a) {
                             a.set_floats("quant", {0.02f, 10.0f, 0.0f, 255.0f});
                           }),
                           "vitrt"));
         c.inputs = {rnd({4, 7}, 101, -2, 2)};
       }},
      {"DequantizeLinearPerAxisInt8",
       [](Case& c) {
         ValueId q = c.g.input("q", DType::kInt8, {3, 2, 5});
         c.g.output(c.g.op("DequantizeLinear",
                           {q, c.g.constant("s", Tensor::from_float({0.5f, 0.125f})),
                            c.g.constant("zp", Tensor::zeros(DType::kInt8, {2}))},
                           attrs([](Attributes& a) { a.set_int("axis", -2); })));
         Tensor t = Tensor::empty(DType::kInt8, {3, 2, 5});
         for (int i = 0; i < 30; ++i) t.data<int8_t>()[i] = static_cast<int8_t>(i * 37 % 256 - 128);
         c.inputs = {t};
       }},
  };
  return all;
}

// Cases whose MatMulInteger sums are cast to float (quantize_dynamic's chain).
bool casts_int32_sums(const std::string& name) {
  return name == "DynamicQuantizeLinearRoundTrip" || name == "DynamicQuantizeMatMulInteger";
}

void add_linear(Case& c, const std::string& act) {
  ValueId x = c.g.input("x", DType::kFloat32, {2, 5, 24});
  ValueId w = c.g.constant("w", rnd({24, 40}, 30));
  ValueId b = c.g.constant("b", rnd({40}, 31));
  c.g.output(c.g.op("Linear", {x, w, b},
                    attrs([&](Attributes& a) { a.set_string("activation", act); }), "vitrt"));
  c.inputs = {rnd({2, 5, 24}, 32, -2, 2)};
}

using Param = std::tuple<std::string, std::string>;  // case, precision

class CudaKernel : public ::testing::TestWithParam<Param> {};

void check_case(Case& c, const std::string& precision) {
  ASSERT_TRUE(c.g.infer().ok()) << c.g.infer().to_string();
  Result<std::vector<Tensor>> expected = run_graph(c.g.graph(), c.inputs);
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  for (bool graphs : {false, true}) {
    SCOPED_TRACE(graphs ? "CUDA graph" : "eager");
    Result<std::vector<Tensor>> actual = run_graph_cuda(c.g.graph(), c.inputs, precision, graphs);
    ASSERT_TRUE(actual.ok()) << actual.status().to_string();
    ASSERT_EQ(actual->size(), expected->size());
    for (size_t i = 0; i < actual->size(); ++i) {
      EXPECT_TRUE(outputs_agree((*actual)[i], (*expected)[i], precision)) << "output " << i;
    }
  }
}

TEST_P(CudaKernel, MatchesCpu) {
  VITRT_REQUIRE_GPU();
  const auto& [name, precision] = GetParam();
  Case c;
  const std::string linear = "Linear_";
  if (name.rfind(linear, 0) == 0) {
    add_linear(c, name.substr(linear.size()));
  } else {
    cases().at(name)(c);
  }
  check_case(c, precision);
}

std::vector<Param> all_params() {
  std::vector<Param> p;
  std::vector<std::string> names;
  for (const auto& [name, b] : cases()) names.push_back(name);
  for (const char* act :
       {"none", "gelu", "gelu_tanh", "quick_gelu", "relu", "silu", "hard_swish", "relu6"}) {
    names.push_back(std::string("Linear_") + act);
  }
  for (const std::string& n : names) {
    for (const char* prec : {"fp32", "fp16", "bf16"}) {
      // fp16 plans refuse a cast of int32 sums to float (see the test below).
      if (casts_int32_sums(n) && std::string(prec) == "fp16") continue;
      p.emplace_back(n, prec);
    }
  }
  return p;
}

INSTANTIATE_TEST_SUITE_P(cuda, CudaKernel, ::testing::ValuesIn(all_params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

// Without a GPU: every case's graph infers, runs on the CPU (the reference side) and has a CUDA
// kernel for each node, so the GPU run above fails only on the GPU's numbers.
TEST(CudaKernelCases, CpuReferenceRunsAndCudaKernelsExist) {
  for (const auto& [name, build] : cases()) {
    SCOPED_TRACE(name);
    Case c;
    build(c);
    ASSERT_TRUE(c.g.infer().ok()) << c.g.infer().to_string();
    Result<std::vector<Tensor>> expected = run_graph(c.g.graph(), c.inputs);
    ASSERT_TRUE(expected.ok()) << expected.status().to_string();
    for (const char* precision : {"fp32", "fp16"}) {
      cuda::CudaEngineOptions o;
      o.precision = precision;
      Status s = cuda::check_cuda_graph(c.g.graph(), o);
      if (casts_int32_sums(name) && std::string(precision) == "fp16") {
        // int32 sums of real models pass fp16's 65504: an fp16 plan refuses them, by name.
        EXPECT_FALSE(s.ok());
        EXPECT_NE(s.message().find("--precision fp32 or bf16"), std::string::npos) << s.message();
        continue;
      }
      EXPECT_TRUE(s.ok()) << s.to_string();
    }
  }
}

// ---- fused ops against float64 loops ---------------------------------------------------------

// The fused ops' schemas are written by other work in parallel; the CUDA engine needs only
// the graph outputs' dtypes (shapes come from the kernels), so these tests set them.
void mark_float_outputs(TestGraph& g) {
  for (ValueId id : g.graph().outputs) g.graph().values[id].dtype = DType::kFloat32;
}

// mask: 0 none, 2 a [Sq, Sk] mask, 4 a [B, H, Sq, Sk] one, 1 a [B, 1, Sq, Sk] one (one per
// batch row, shared by the heads) and 3 a [1, H, Sq, Sk] one (one per head): the two forms
// fuse_attention writes for attention fused in its head layout (SAM's relative-position bias
// over [B*H, S, S] scores folded to one head; a learned bias per head). amp: range of q and k,
// so larger values give peaked softmax rows (the online max and rescaling matter).
struct AttnCase {
  int64_t b, sq, sk, heads, dh, dv;
  bool causal;
  int mask;
  bool packed;
  double amp;
};

class CudaAttention : public ::testing::TestWithParam<std::tuple<int, std::string>> {};

// fp16/bf16 cases with head dims in whole 8-element chunks run the tensor-core kernel (dims
// padded to 32/64/80/128 inside it), the others the scalar one. The tensor-core kernel uses
// 1-warp blocks for small grids and multi-warp blocks from 2 per multiprocessor on (132
// multiprocessors on an H100/H200): the last five cases are large enough for the latter.
const AttnCase kAttnCases[] = {
    {2, 50, 50, 3, 64, 64, false, 0, false, 1},
    {1, 197, 197, 2, 64, 64, false, 0, true, 1},
    {2, 77, 77, 2, 64, 64, true, 0, false, 1},
    {2, 37, 53, 3, 32, 32, false, 2, false, 1},
    {1, 257, 257, 1, 80, 80, false, 0, true, 1},
    {2, 20, 33, 2, 128, 128, true, 2, false, 1},
    {1, 70, 300, 2, 64, 64, true, 4, false, 3},
    {2, 65, 129, 2, 40, 24, false, 4, false, 3},
    {1, 600, 600, 1, 64, 64, false, 0, true, 4},
    {3, 1, 45, 2, 8, 8, false, 0, false, 2},
    {1, 64, 129, 2, 96, 96, true, 0, false, 2},
    {2, 30, 30, 2, 36, 36, true, 2, false, 1},
    {8, 130, 130, 12, 64, 64, false, 0, true, 3},
    {8, 150, 200, 12, 32, 32, true, 2, false, 3},
    // Large grids at the towers' shapes, where the multi-warp forms run (VITRT_ATTENTION picks
    // one form for every case): ViT's 197 tokens, CLIP text's causal 77, CLIP vision's 50 with
    // a per-batch-and-head mask.
    {12, 197, 197, 12, 64, 64, false, 0, true, 1},
    {32, 77, 77, 8, 64, 64, true, 0, false, 2},
    {24, 50, 50, 12, 64, 64, false, 4, false, 2},
    // Head-layout fusions: SAM-like one head over B*H = 12 rows with a per-row bias (16 tokens
    // of a 4x4 window), and EfficientViT-like per-head biases at 49 tokens.
    {12, 16, 16, 1, 16, 16, false, 1, false, 2},
    {3, 49, 49, 4, 16, 16, false, 3, false, 2},
    // The class token's query row(s) alone against every key (select_rows_early), batch 256
    // and 2 with a per-batch-and-head bias picked to the query rows.
    {256, 1, 197, 12, 64, 64, false, 0, false, 2},
    {2, 2, 197, 3, 64, 64, false, 4, false, 2},
};
constexpr int kAttnCaseCount = sizeof(kAttnCases) / sizeof(kAttnCases[0]);

TEST_P(CudaAttention, MatchesFloat64) {
  VITRT_REQUIRE_GPU();
  const auto& [index, precision] = GetParam();
  const AttnCase ac = kAttnCases[index];
  const int64_t d = ac.heads * ac.dh, dvt = ac.heads * ac.dv;
  TestGraph g(17);
  const AttentionOp op{.heads = ac.heads, .causal = ac.causal};
  std::vector<Tensor> inputs;
  const std::vector<int64_t> mask_shape =
      ac.mask == 4   ? std::vector<int64_t>{ac.b, ac.heads, ac.sq, ac.sk}
      : ac.mask == 1 ? std::vector<int64_t>{ac.b, 1, ac.sq, ac.sk}
      : ac.mask == 3 ? std::vector<int64_t>{1, ac.heads, ac.sq, ac.sk}
                     : std::vector<int64_t>{ac.sq, ac.sk};
  Tensor mask = rnd(mask_shape, 40, -3, 0);
  Tensor expected;
  if (ac.packed) {
    ValueId qkv = g.input("qkv", DType::kFloat32, {ac.b, ac.sq, 3 * d});
    g.output(add_attention(g, op, qkv, kNoValue, kNoValue));
    inputs = {rnd({ac.b, ac.sq, 3 * d}, 41, -ac.amp, ac.amp)};
    const auto [q, k, v] = unpack_qkv(inputs[0]);
    expected = attention_reference(op, q, k, v, nullptr);
  } else {
    ValueId q = g.input("q", DType::kFloat32, {ac.b, ac.sq, d});
    ValueId k = g.input("k", DType::kFloat32, {ac.b, ac.sk, d});
    ValueId v = g.input("v", DType::kFloat32, {ac.b, ac.sk, dvt});
    g.output(add_attention(g, op, q, k, v, ac.mask != 0 ? g.constant("mask", mask) : kNoValue));
    inputs = {rnd({ac.b, ac.sq, d}, 42, -ac.amp, ac.amp),
              rnd({ac.b, ac.sk, d}, 43, -ac.amp, ac.amp), rnd({ac.b, ac.sk, dvt}, 44)};
    expected = attention_reference(op, inputs[0], inputs[1], inputs[2], ac.mask ? &mask : nullptr);
  }
  mark_float_outputs(g);
  Result<std::vector<Tensor>> actual = run_graph_cuda(g.graph(), inputs, precision);
  ASSERT_TRUE(actual.ok()) << actual.status().to_string();
  EXPECT_TRUE(outputs_agree((*actual)[0], expected, precision));
}

INSTANTIATE_TEST_SUITE_P(cuda, CudaAttention,
                         ::testing::Combine(::testing::Range(0, kAttnCaseCount),
                                            ::testing::Values("fp32", "fp16", "bf16")));

// cuDNN's fused attention (the tactic the build may choose instead of vitrt's kernel) on
// vitrt's layout: q/k/v strided views of one packed [B, S, 3*H*Dh] fp16/bf16 tensor, output
// [B, S, H*Dh], against the float64 reference. Where cuDNN 9.13+ cannot be loaded the test is
// skipped and says why (the plan then runs vitrt's kernel).
TEST(CudaAttentionCudnn, PackedLayoutMatchesFloat64) {
  VITRT_REQUIRE_GPU();
  const std::string why = cuda::cudnn_attention_unavailable();
  if (!why.empty()) GTEST_SKIP() << "cuDNN attention unavailable: " << why;
  struct Shape {
    int64_t b, s, heads, dh;
  };
  for (const Shape sh : {Shape{2, 197, 12, 64}, Shape{3, 50, 4, 64}, Shape{1, 257, 2, 32},
                         Shape{2, 77, 3, 128}, Shape{1, 1, 2, 64}}) {
    for (const cuda::Elt type : {cuda::Elt::kF16, cuda::Elt::kBF16}) {
      SCOPED_TRACE(::testing::Message()
                   << "B " << sh.b << " S " << sh.s << " H " << sh.heads << " Dh " << sh.dh
                   << (type == cuda::Elt::kF16 ? " fp16" : " bf16"));
      const int64_t d = sh.heads * sh.dh, row = 3 * d;
      const Tensor qkv = rnd({sh.b, sh.s, row}, 91, -2, 2);
      const auto [q, k, v] = unpack_qkv(qkv);
      const AttentionOp op{.heads = sh.heads};
      const Tensor expected = attention_reference(op, q, k, v, nullptr);
      // The packed input in the 16-bit type, and the reference computed from those values.
      std::vector<uint16_t> host(static_cast<size_t>(qkv.numel()));
      Tensor rounded = Tensor::empty(DType::kFloat32, qkv.shape());
      for (size_t i = 0; i < host.size(); ++i) {
        const float x = qkv.data<float>()[i];
        host[i] = type == cuda::Elt::kF16 ? float_to_half(x) : float_to_bf16(x);
        rounded.data<float>()[i] =
            type == cuda::Elt::kF16 ? half_to_float(host[i]) : bf16_to_float(host[i]);
      }
      const auto [rq, rk, rv] = unpack_qkv(rounded);
      const Tensor reference = attention_reference(op, rq, rk, rv, nullptr);
      cuda::SdpaProblem p;
      p.type = type;
      p.batch = sh.b;
      p.heads = sh.heads;
      p.sq = p.sk = sh.s;
      p.dh = p.dv = sh.dh;
      p.scale = 1.0f / std::sqrt(static_cast<float>(sh.dh));
      for (int64_t* st : {p.q_strides, p.k_strides, p.v_strides}) {
        st[0] = sh.s * row;
        st[1] = sh.dh;
        st[2] = row;
        st[3] = 1;
      }
      p.o_strides[0] = sh.s * d;
      p.o_strides[1] = sh.dh;
      p.o_strides[2] = d;
      p.o_strides[3] = 1;
      ASSERT_TRUE(cuda::cudnn_attention_supports(p));
      cudaStream_t stream = nullptr;
      ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
      size_t ws_bytes = 0;
      const Status prepared = cuda::cudnn_attention_prepare(p, stream, &ws_bytes);
      ASSERT_TRUE(prepared.ok()) << prepared.to_string();
      uint16_t *dqkv = nullptr, *dout = nullptr;
      void* ws = nullptr;
      const size_t out_elems = static_cast<size_t>(sh.b * sh.s * d);
      ASSERT_EQ(cudaMalloc(&dqkv, host.size() * 2), cudaSuccess);
      ASSERT_EQ(cudaMalloc(&dout, out_elems * 2), cudaSuccess);
      ASSERT_EQ(cudaMalloc(&ws, std::max<size_t>(ws_bytes, 16)), cudaSuccess);
      ASSERT_EQ(cudaMemcpy(dqkv, host.data(), host.size() * 2, cudaMemcpyHostToDevice),
                cudaSuccess);
      const Status ran = cuda::cudnn_attention_run(p, dqkv, dqkv + d, dqkv + 2 * d, dout, ws,
                                                   std::max<size_t>(ws_bytes, 16), stream);
      ASSERT_TRUE(ran.ok()) << ran.to_string();
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      std::vector<uint16_t> back(out_elems);
      ASSERT_EQ(cudaMemcpy(back.data(), dout, out_elems * 2, cudaMemcpyDeviceToHost), cudaSuccess);
      Tensor actual = Tensor::empty(DType::kFloat32, expected.shape());
      for (size_t i = 0; i < out_elems; ++i) {
        actual.data<float>()[i] =
            type == cuda::Elt::kF16 ? half_to_float(back[i]) : bf16_to_float(back[i]);
      }
      // Against the reference on the rounded inputs: only cuDNN's own rounding remains (output
      // rounded to 16 bits, P rounded for the second product).
      EXPECT_TRUE(outputs_agree(actual, reference, type == cuda::Elt::kF16 ? "fp16" : "bf16"));
      EXPECT_TRUE(outputs_agree(actual, expected, type == cuda::Elt::kF16 ? "fp16" : "bf16"));
      cudaFree(dqkv);
      cudaFree(dout);
      cudaFree(ws);
      cudaStreamDestroy(stream);
    }
  }
}

// A row whose keys are all -inf gives NaN, as PyTorch's SDPA does, or 0 with zero_masked_rows
// (the NaN guard fuse_attention absorbed); the other rows are finite and the same either way.
// 20 tokens: one key tile; 150 at batch 1: three, split over the warps of a small grid's blocks;
// 197 at batch 8: the 4-warp tensor-core kernel.
TEST(CudaAttentionMasked, FullyMaskedRowIsNaNOrZero) {
  VITRT_REQUIRE_GPU();
  const int64_t heads = 1, dh = 64;
  for (const auto& [b, s] : {std::pair<int64_t, int64_t>{1, 20}, {1, 150}, {8, 197}})
    for (const std::string precision : {"fp32", "fp16", "bf16"}) {
      std::vector<Tensor> results;
      for (const bool zero : {false, true}) {
        TestGraph g(17);
        Tensor mask = Tensor::zeros(DType::kFloat32, {s, s});
        for (int64_t j = 0; j < s; ++j)
          mask.data<float>()[3 * s + j] = -std::numeric_limits<float>::infinity();
        ValueId q = g.input("q", DType::kFloat32, {b, s, dh});
        ValueId k = g.input("k", DType::kFloat32, {b, s, dh});
        ValueId v = g.input("v", DType::kFloat32, {b, s, dh});
        g.output(add_attention(g, {.heads = heads, .zero_masked_rows = zero}, q, k, v,
                               g.constant("mask", mask)));
        mark_float_outputs(g);
        Result<std::vector<Tensor>> actual = run_graph_cuda(
            g.graph(), {rnd({b, s, dh}, 1), rnd({b, s, dh}, 2), rnd({b, s, dh}, 3)}, precision);
        ASSERT_TRUE(actual.ok()) << actual.status().to_string();
        const Tensor& o = (*actual)[0];
        for (int64_t n = 0; n < b; ++n) {
          for (int64_t i = 0; i < s; ++i) {
            for (int64_t e = 0; e < dh; ++e) {
              const double x = o.element_as_double((n * s + i) * dh + e);
              if (i != 3) {
                EXPECT_FALSE(std::isnan(x));
              } else if (zero) {
                EXPECT_EQ(x, 0.0) << precision << " tokens " << s << " col " << e;
              } else {
                EXPECT_TRUE(std::isnan(x)) << precision << " tokens " << s << " col " << e;
              }
            }
          }
        }
        results.push_back(o);
      }
      for (int64_t i = 0; i < results[0].numel(); ++i) {
        if ((i / dh) % s == 3) continue;
        ASSERT_EQ(results[0].element_as_double(i), results[1].element_as_double(i));
      }
    }
}

// A quantized model's fake quantization inside attention (quant_scores on q k^T, quant_probs on
// the probabilities) against the float64 reference
// with the same steps. fp32: a value within rounding of a step boundary may land on the other
// step (each such flip moves an output by about 1/255 of |v| <= 1), so at most 1% of the
// elements may be off by more than 1e-4, and none by 2.5/255. fp16/bf16 from q, k, v rounded to
// 16 bits, by cosine and max error.
class CudaAttentionFakeQuant : public ::testing::TestWithParam<bool> {};

// Integer steps (false), or FP8 (true: E4M3 probabilities, E5M2 scores, as FP8 Q/DQ models
// give them; a flip to the neighbouring FP8 value moves an output by up to 1/8 of a probability).
TEST_P(CudaAttentionFakeQuant, MatchesFloat64Reference) {
  VITRT_REQUIRE_GPU();
  const bool fp8 = GetParam();
  const std::vector<float> scores = fp8 ? std::vector<float>{0.01f, 0.0f, -57344.0f, 57344.0f, 2.0f}
                                        : std::vector<float>{0.25f, 0.0f, -128.0f, 127.0f};
  const std::vector<float> probs =
      fp8 ? std::vector<float>{1.0f / 448.0f, 0.0f, -448.0f, 448.0f, 1.0f}
          : std::vector<float>{1.0f / 255.0f, 0.0f, 0.0f, 255.0f};
  struct Shape {
    int64_t b, s, heads, dh;
  };
  // fp16/bf16 take the tensor-core whole form (1 warp a block at batch 1, 8 at batch 24), fp32
  // and the 700 keys that do not fit in shared memory the scalar kernel.
  for (const Shape& sh : {Shape{2, 17, 2, 16}, Shape{1, 197, 12, 64}, Shape{3, 50, 4, 32},
                          Shape{24, 197, 4, 64}, Shape{1, 700, 2, 64}})
    for (const std::string precision : {"fp32", "fp16", "bf16"}) {
      SCOPED_TRACE(::testing::Message() << precision << " B=" << sh.b << " S=" << sh.s);
      const int64_t d = sh.heads * sh.dh;
      const testing::AttentionOp op{
          .heads = sh.heads, .quant_scores = scores, .quant_probs = probs};
      TestGraph g(17);
      ValueId q = g.input("q", DType::kFloat32, {sh.b, sh.s, d});
      ValueId k = g.input("k", DType::kFloat32, {sh.b, sh.s, d});
      ValueId v = g.input("v", DType::kFloat32, {sh.b, sh.s, d});
      g.output(add_attention(g, op, q, k, v));
      mark_float_outputs(g);
      // Exact in fp16 and bf16: the plan and the reference start from the same q, k and v, so
      // that a raw score lands on the same 0.25 step unless fp32 and float64 accumulation put
      // it on either side of a boundary.
      const std::vector<Tensor> in = {bf16_random({sh.b, sh.s, d}, 1, -1.0f, 1.0f),
                                      bf16_random({sh.b, sh.s, d}, 2, -1.0f, 1.0f),
                                      bf16_random({sh.b, sh.s, d}, 3, -1.0f, 1.0f)};
      Result<std::vector<Tensor>> actual = run_graph_cuda(g.graph(), in, precision);
      ASSERT_TRUE(actual.ok()) << actual.status().to_string();
      const Tensor want = testing::attention_reference(op, in[0], in[1], in[2], nullptr);
      const Tensor& got = (*actual)[0];
      if (precision != "fp32") {
        // The probabilities (multiples of 1/255) and v enter the product in 16 bits, the
        // output leaves in 16 bits.
        EXPECT_TRUE(outputs_agree(got, want, precision, 0.0, 0.9999, 0.05));
        continue;
      }
      int64_t off = 0;
      double worst = 0.0;
      for (int64_t i = 0; i < want.numel(); ++i) {
        const double e = std::fabs(got.element_as_double(i) - want.data<float>()[i]);
        off += e > 1e-4;
        worst = std::max(worst, e);
      }
      EXPECT_LE(off, want.numel() / 100);
      EXPECT_LT(worst, fp8 ? 0.1 : 2.5 / 255);
    }
}

INSTANTIATE_TEST_SUITE_P(IntegerAndFp8, CudaAttentionFakeQuant, ::testing::Bool());

// FP8 fake quantization on the GPU (the hardware conversion on sm_89 and later) gives the CPU's
// values bit for bit in an fp32 plan: ties between neighbouring values (to even), the subnormal
// steps and their ties, both saturation ends, infinities, signed zeros, values too small for
// the format, NaN (NaN on both).
TEST(CudaFakeQuantFp8, SameBitsAsTheCpu) {
  VITRT_REQUIRE_GPU();
  for (const int kind : {1, 2}) {
    SCOPED_TRACE(kind == 1 ? "E4M3" : "E5M2");
    const float s = 0.05f, max = kind == 1 ? 448.0f : 57344.0f;
    const float step0 = kind == 1 ? 0x1p-9f : 0x1p-16f;  // the smallest subnormal
    std::vector<float> v;
    for (int i = 0; i < 64; ++i) v.push_back((1.0f + (static_cast<float>(i) + 0.5f) / 16.0f) * s);
    for (int i = 0; i < 16; ++i) v.push_back((static_cast<float>(i) + 0.5f) * step0 * s);
    for (int i = 0; i < 16; ++i) v.push_back(-(static_cast<float>(i) + 0.25f) * step0 * s);
    for (float e : {max * s, max * s * 1.03f, -max * s * 1.2f, 1e30f, -1e30f, 1e-40f, -1e-40f, 0.0f,
                    -0.0f, step0 * s * 0.49f, -step0 * s * 0.51f}) {
      v.push_back(e);
    }
    v.push_back(std::numeric_limits<float>::infinity());
    v.push_back(-std::numeric_limits<float>::infinity());
    v.push_back(std::numeric_limits<float>::quiet_NaN());
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-30.0f, 30.0f);
    while (v.size() < 1000)
      v.push_back(u(rng) * std::ldexp(1.0f, static_cast<int>(v.size() % 20) - 10));
    TestGraph g(19);
    ValueId x = g.input("x", DType::kFloat32, {static_cast<int64_t>(v.size())});
    Attributes a;
    a.set_floats("quant", {s, 0.0f, -max, max, static_cast<float>(kind)});
    g.output(g.op("FakeQuant", {x}, a, "vitrt"));
    const std::vector<Tensor> in = {Tensor::from_float(v)};
    Result<std::vector<Tensor>> want = testing::run_graph(g.graph(), in);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), in, "fp32");
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    int differ = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const float w = (*want)[0].data<float>()[i], r = (*got)[0].data<float>()[i];
      const bool same = std::isnan(w) ? std::isnan(r) : std::memcmp(&w, &r, sizeof(float)) == 0;
      if (!same && ++differ <= 5) ADD_FAILURE() << "x " << v[i] << ": cpu " << w << ", gpu " << r;
    }
    EXPECT_EQ(differ, 0);
  }
}

// The operands' fake quantization (quant_q / quant_k / quant_v, prescale_q / prescale_k: the
// pairs ModelOpt and ONNX Runtime put on the attention MatMuls' inputs), read from separate q,
// k, v and from one packed qkv, with the probabilities' too (vitrt's kernel) and without (vitrt's
// kernel or cuDNN, as the tactics choose), against the float64 reference. Inputs exact in 16 bits;
// a value whose x * prescale / scale lies within rounding of a step boundary may take the other
// step, so some outputs may be off by a step's effect.
TEST(CudaAttentionFakeQuantInputs, MatchFloat64Reference) {
  VITRT_REQUIRE_GPU();
  for (const bool fp8 : {false, true})
    for (const bool probs : {true, false})
      for (const bool packed : {false, true})
        for (const std::string precision : {"fp32", "fp16", "bf16"}) {
          SCOPED_TRACE(::testing::Message() << (fp8 ? "fp8 " : "int8 ") << (packed ? "packed " : "")
                                            << (probs ? "" : "inputs only ") << precision);
          const int64_t b = 3, s = 50, heads = 4, dh = 32, d = heads * dh;
          testing::AttentionOp op = testing::fake_quantized_inputs_op(heads, fp8);
          if (!probs) op.quant_probs.clear();
          TestGraph g(17);
          std::vector<Tensor> in;
          Tensor q, k, v;
          if (packed) {
            ValueId qkv = g.input("qkv", DType::kFloat32, {b, s, 3 * d});
            g.output(add_attention(g, op, qkv, kNoValue, kNoValue));
            const Tensor all = bf16_random({b, s, 3 * d}, 21, -2.0f, 2.0f);
            q = Tensor::empty(DType::kFloat32, {b, s, d});
            k = Tensor::empty(DType::kFloat32, {b, s, d});
            v = Tensor::empty(DType::kFloat32, {b, s, d});
            for (int64_t r = 0; r < b * s; ++r) {
              for (int64_t c = 0; c < d; ++c) {
                q.data<float>()[r * d + c] = all.data<float>()[r * 3 * d + c];
                k.data<float>()[r * d + c] = all.data<float>()[r * 3 * d + d + c];
                v.data<float>()[r * d + c] = all.data<float>()[r * 3 * d + 2 * d + c];
              }
            }
            in = {all};
          } else {
            ValueId qi = g.input("q", DType::kFloat32, {b, s, d});
            ValueId ki = g.input("k", DType::kFloat32, {b, s, d});
            ValueId vi = g.input("v", DType::kFloat32, {b, s, d});
            g.output(add_attention(g, op, qi, ki, vi));
            q = bf16_random({b, s, d}, 22, -2.0f, 2.0f);
            k = bf16_random({b, s, d}, 23, -2.0f, 2.0f);
            v = bf16_random({b, s, d}, 24, -2.0f, 2.0f);
            in = {q, k, v};
          }
          mark_float_outputs(g);
          Result<std::vector<Tensor>> actual = run_graph_cuda(g.graph(), in, precision);
          ASSERT_TRUE(actual.ok()) << actual.status().to_string();
          const Tensor want = testing::attention_reference(op, q, k, v, nullptr);
          const Tensor& got = (*actual)[0];
          // fp32 too by cosine and largest error: the GPU's exp (and its fp32 rounding of
          // x * prescale / scale) moves some probabilities and operands to the neighbouring step,
          // each such flip changing a whole output row of its head.
          EXPECT_TRUE(outputs_agree(got, want, precision == "fp32" ? "bf16" : precision, 0.0,
                                    precision == "fp32" ? 0.9999 : 0.999,
                                    precision == "fp32" ? 0.05 : 0.1));
        }
}

// Widths: 45 takes the block-per-row kernel; 768 and 1000 the warp-per-row one (1000: the last
// vectors of a row are spread over part of the warp); 2056 is too wide for registers in fp16.
class CudaFusedNorm : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(CudaFusedNorm, AddLayerNormMatchesFloat64) {
  VITRT_REQUIRE_GPU();
  const auto& [precision, width] = GetParam();
  const int64_t b = 3, s = 7, cdim = width;
  TestGraph g(17);
  ValueId a = g.input("a", DType::kFloat32, {b, s, cdim});
  ValueId r = g.input("r", DType::kFloat32, {s, cdim});  // broadcast over the batch
  Tensor gamma = rnd({cdim}, 50, 0.5, 1.5), beta = rnd({cdim}, 51);
  Attributes at;
  at.set_float("epsilon", 1e-6f);
  auto outs = g.op_multi("AddLayerNorm", {a, r, g.constant("g", gamma), g.constant("b", beta)}, 2,
                         at, "vitrt");
  g.output(outs[0]);
  g.output(outs[1]);
  mark_float_outputs(g);
  std::vector<Tensor> inputs = {rnd({b, s, cdim}, 52, -4, 4), rnd({s, cdim}, 53)};
  Tensor y = Tensor::zeros(DType::kFloat32, {b, s, cdim});
  Tensor sum = Tensor::zeros(DType::kFloat32, {b, s, cdim});
  for (int64_t row = 0; row < b * s; ++row) {
    std::vector<double> v(cdim);
    double mean = 0, var = 0;
    for (int64_t j = 0; j < cdim; ++j) {
      v[j] = double(inputs[0].data<float>()[row * cdim + j]) +
             inputs[1].data<float>()[(row % s) * cdim + j];
      sum.data<float>()[row * cdim + j] = static_cast<float>(v[j]);
      mean += v[j] / cdim;
    }
    for (double x : v) var += (x - mean) * (x - mean) / cdim;
    for (int64_t j = 0; j < cdim; ++j) {
      y.data<float>()[row * cdim + j] = static_cast<float>(
          (v[j] - mean) / std::sqrt(var + 1e-6) * gamma.data<float>()[j] + beta.data<float>()[j]);
    }
  }
  Result<std::vector<Tensor>> actual = run_graph_cuda(g.graph(), inputs, precision);
  ASSERT_TRUE(actual.ok()) << actual.status().to_string();
  EXPECT_TRUE(outputs_agree((*actual)[0], y, precision));
  EXPECT_TRUE(outputs_agree((*actual)[1], sum, precision));
}

// With a quantized model's fake quantization (quant_a int8, quant_b and quant_sum FP8 E4M3, then
// the other way round), against the CPU kernel. fp32 computes the same fake-quantized addends
// and sum bit for bit (true division by the scale), so only the statistics' summation order
// differs. fp16/bf16 store each step in 16 bits as the separate nodes would and multiply by the
// inverse scales: a value within that rounding of a quantization step's boundary lands on the
// other step, so the bound is by cosine and largest error.
TEST_P(CudaFusedNorm, FakeQuantizedAddLayerNormMatchesTheCpu) {
  VITRT_REQUIRE_GPU();
  const auto& [precision, width] = GetParam();
  const int64_t b = 3, s = 7, cdim = width;
  for (const bool int8_first : {true, false}) {
    SCOPED_TRACE(int8_first ? "int8 a" : "int8 sum");
    TestGraph g(17);
    ValueId a = g.input("a", DType::kFloat32, {b, s, cdim});
    ValueId r = g.input("r", DType::kFloat32, {b, s, cdim});
    Attributes at;
    at.set_float("epsilon", 1e-6f);
    const std::vector<float> int8 = {0.04f, 0.0f, -128.0f, 127.0f};
    const std::vector<float> fp8 = {0.01f, 0.0f, -448.0f, 448.0f, 1.0f};
    at.set_floats("quant_a", int8_first ? int8 : fp8);
    at.set_floats("quant_b", fp8);
    at.set_floats("quant_sum", int8_first ? fp8 : std::vector<float>{0.05f, 3.0f, -128.0f, 127.0f});
    auto outs = g.op_multi(
        "AddLayerNorm",
        {a, r, g.constant("g", rnd({cdim}, 50, 0.5, 1.5)), g.constant("b", rnd({cdim}, 51))}, 2, at,
        "vitrt");
    g.output(outs[0]);
    g.output(outs[1]);
    mark_float_outputs(g);
    const std::vector<Tensor> inputs = {bf16_random({b, s, cdim}, 52, -4.0f, 4.0f),
                                        bf16_random({b, s, cdim}, 53, -2.0f, 2.0f)};
    Result<std::vector<Tensor>> want = testing::run_graph(g.graph(), inputs);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), inputs, precision);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_TRUE(outputs_agree((*got)[0], (*want)[0], precision, 1e-5, 0.999, 0.2));
    EXPECT_TRUE(outputs_agree((*got)[1], (*want)[1], precision, 1e-6, 0.9999, 0.02));
  }
}

INSTANTIATE_TEST_SUITE_P(cuda, CudaFusedNorm,
                         ::testing::Combine(::testing::Values("fp32", "fp16", "bf16"),
                                            ::testing::Values(45, 256, 512, 768, 1000, 1280,
                                                              2056)));

// Many rows (12,040, as ViT-B/16's batch 256 has 50,432) through the warp-per-row LayerNorm:
// AddLayerNorm with a broadcast addend and its sum output, and LayerNormalization without one,
// against float64; then AddLayerNorm writing E4M3 codes (output_scale) against the CPU kernel,
// with that addend and with a constant zero one, and int8 codes with a zero one.
// A fp32 plan differs from it by the statistics' summation order and by its product with
// 1 / scale where the CPU divides (codes at most one step apart, and rarely); 16-bit plans round
// x, gamma and beta first, so their decoded values are held to a step plus that rounding.
TEST(CudaLayerNormManyRows, MatchFloat64AndTheCpu) {
  VITRT_REQUIRE_GPU();
  const int64_t b = 40, s = 301;
  for (const int64_t cdim : {256, 768, 1000}) {
    for (const char* precision : {"fp32", "fp16", "bf16"}) {
      SCOPED_TRACE(::testing::Message() << precision << " width " << cdim);
      const Tensor gamma = rnd({cdim}, 60, 0.5, 1.5), beta = rnd({cdim}, 61);
      const Tensor x = rnd({b, s, cdim}, 62, -4, 4), r = rnd({s, cdim}, 63);
      for (const bool add : {true, false}) {
        TestGraph g(17);
        ValueId a = g.input("a", DType::kFloat32, {b, s, cdim});
        std::vector<Tensor> inputs = {x};
        Attributes at;
        at.set_float("epsilon", 1e-6f);
        if (add) {
          ValueId ri = g.input("r", DType::kFloat32, {s, cdim});
          inputs.push_back(r);
          auto outs =
              g.op_multi("AddLayerNorm", {a, ri, g.constant("g", gamma), g.constant("b", beta)}, 2,
                         at, "vitrt");
          g.output(outs[0]);
          g.output(outs[1]);
        } else {
          at.set_int("axis", -1);
          g.output(
              g.op("LayerNormalization", {a, g.constant("g", gamma), g.constant("b", beta)}, at));
        }
        mark_float_outputs(g);
        Tensor y = Tensor::zeros(DType::kFloat32, {b, s, cdim});
        Tensor sum = Tensor::zeros(DType::kFloat32, {b, s, cdim});
        std::vector<double> v(static_cast<size_t>(cdim));
        for (int64_t row = 0; row < b * s; ++row) {
          double mean = 0, var = 0;
          for (int64_t j = 0; j < cdim; ++j) {
            v[j] = double(x.data<float>()[row * cdim + j]) +
                   (add ? r.data<float>()[(row % s) * cdim + j] : 0.0f);
            sum.data<float>()[row * cdim + j] = static_cast<float>(v[j]);
            mean += v[j] / cdim;
          }
          for (double e : v) var += (e - mean) * (e - mean) / cdim;
          for (int64_t j = 0; j < cdim; ++j) {
            y.data<float>()[row * cdim + j] =
                static_cast<float>((v[j] - mean) / std::sqrt(var + 1e-6) * gamma.data<float>()[j] +
                                   beta.data<float>()[j]);
          }
        }
        Result<std::vector<Tensor>> actual = run_graph_cuda(g.graph(), inputs, precision);
        ASSERT_TRUE(actual.ok()) << actual.status().to_string();
        EXPECT_TRUE(outputs_agree((*actual)[0], y, precision)) << (add ? "AddLayerNorm" : "LN");
        if (add) {
          EXPECT_TRUE(outputs_agree((*actual)[1], sum, precision)) << "sum";
        }
      }
      // E4M3 codes out: with the broadcast addend, and with a constant zero one (the form
      // fuse_quant_producers gives a LayerNorm writing codes, which the kernel runs without b).
      for (const bool zero_addend : {false, true}) {
        SCOPED_TRACE(zero_addend ? "E4M3, zero addend" : "E4M3, broadcast addend");
        TestGraph g(17);
        ValueId a = g.input("a", DType::kFloat32, {b, s, cdim});
        std::vector<Tensor> in = {x};
        ValueId ri = zero_addend ? g.constant("z", Tensor::zeros(DType::kFloat32, {cdim}))
                                 : g.input("r", DType::kFloat32, {s, cdim});
        if (!zero_addend) in.push_back(r);
        Attributes at;
        at.set_float("epsilon", 1e-6f);
        at.set_float("output_scale", 0.02f);
        g.output(g.op("AddLayerNorm", {a, ri, g.constant("g", gamma), g.constant("b", beta)}, at,
                      "vitrt"));
        Result<std::vector<Tensor>> want = testing::run_graph(g.graph(), in);
        ASSERT_TRUE(want.ok()) << want.status().to_string();
        Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), in, precision);
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        ASSERT_EQ((*got)[0].dtype(), DType::kUInt8);
        ASSERT_EQ((*got)[0].numel(), (*want)[0].numel());
        const bool fp32 = std::string(precision) == "fp32";
        const double rounding = std::string(precision) == "bf16" ? 0.03 : 0.005;
        int64_t differ = 0, far = 0;
        for (int64_t i = 0; i < (*want)[0].numel(); ++i) {
          const uint8_t cg = (*got)[0].data<uint8_t>()[i], cw = (*want)[0].data<uint8_t>()[i];
          if (cg == cw) continue;
          ++differ;
          if (fp32) {
            // Neighbouring codes of one sign differ by one in their low 7 bits.
            if ((cg & 0x80) != (cw & 0x80) || std::abs((cg & 0x7f) - (cw & 0x7f)) > 1) ++far;
          } else {
            const double vg = 0.02 * e4m3_to_float(cg), vw = 0.02 * e4m3_to_float(cw);
            if (!(std::fabs(vg - vw) <= 0.13 * std::fabs(vw) + rounding)) ++far;
          }
        }
        EXPECT_EQ(far, 0);
        EXPECT_LE(differ, fp32 ? (*want)[0].numel() / 10000 : (*want)[0].numel() / 5);
      }
      // int8 codes out with a constant zero addend (an int8 plan's LayerNorm before qkv and
      // fc1), qmin -128, by v times 1 / scale: codes within one step of the CPU's, as many off
      // as for E4M3.
      {
        SCOPED_TRACE("int8 codes, zero addend");
        TestGraph g(17);
        ValueId a = g.input("a", DType::kFloat32, {b, s, cdim});
        Attributes at;
        at.set_float("epsilon", 1e-6f);
        at.set_float("output_scale", 5.0f / 127);
        at.set_string("output_format", "int8");
        at.set_int("output_qmin", -128);
        g.output(g.op("AddLayerNorm",
                      {a, g.constant("z", Tensor::zeros(DType::kFloat32, {cdim})),
                       g.constant("g", gamma), g.constant("b", beta)},
                      at, "vitrt"));
        Result<std::vector<Tensor>> want = testing::run_graph(g.graph(), {x});
        ASSERT_TRUE(want.ok()) << want.status().to_string();
        Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), {x}, precision);
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        ASSERT_EQ((*got)[0].dtype(), DType::kInt8);
        ASSERT_EQ((*got)[0].numel(), (*want)[0].numel());
        const bool fp32 = std::string(precision) == "fp32";
        int64_t differ = 0, far = 0;
        for (int64_t i = 0; i < (*want)[0].numel(); ++i) {
          const int cg = (*got)[0].data<int8_t>()[i], cw = (*want)[0].data<int8_t>()[i];
          if (cg == cw) continue;
          ++differ;
          if (std::abs(cg - cw) > 1) ++far;
        }
        EXPECT_EQ(far, 0);
        EXPECT_LE(differ, fp32 ? (*want)[0].numel() / 10000 : (*want)[0].numel() / 5);
      }
    }
  }
}

// precision, patch height, patch width, image height, image width (not always a multiple of
// the patch), prefix rows (fold_prefix_tokens' zero rows before each image's patches): 4x5
// patches take the element-wise path; 8x8 (fp16/bf16) and 4x4 (fp32) rows are whole 16-byte
// pieces (patchify_pieces_kernel); 12-wide fp16 patches of the fp32 input are whole 16-byte
// input vectors but no whole output pieces (the rows kernel's vector form); an image smaller
// than one patch leaves only the prefix rows (the generic kernel).
// Each case runs twice: on the graph's input itself (fp16 / bf16 plans hand Patchify the fp32
// input, converted as it is cut) and on a Neg of it (the plan's own type in and out).
using PatchParam = std::tuple<std::string, int64_t, int64_t, int64_t, int64_t, int64_t>;
class CudaPatchify : public ::testing::TestWithParam<PatchParam> {};

TEST_P(CudaPatchify, PatchifyMatchesLayout) {
  VITRT_REQUIRE_GPU();
  const auto [precision, ph, pw, h, w, prefix] = GetParam();
  const int64_t gw = w / pw, p = (h / ph) * gw, k = 3 * ph * pw, rows = prefix + p;
  for (bool negated : {false, true}) {
    SCOPED_TRACE(negated ? "Patchify(Neg(x))" : "Patchify(x)");
    TestGraph g(17);
    ValueId x = g.input("x", DType::kFloat32, {2, 3, h, w});
    if (negated) x = g.op("Neg", {x});
    Attributes at;
    at.set_ints("patch", {ph, pw});
    if (prefix > 0) at.set_int("prefix_rows", prefix);
    g.output(g.op("Patchify", {x}, at, "vitrt"));
    mark_float_outputs(g);
    Tensor in = rnd({2, 3, h, w}, 60);
    Tensor expected = Tensor::zeros(DType::kFloat32, {2, rows, k});
    for (int64_t bi = 0; bi < 2; ++bi) {
      for (int64_t pi = 0; pi < p; ++pi) {
        for (int64_t f = 0; f < k; ++f) {
          const int64_t ch = f / (ph * pw), i = (f / pw) % ph, j = f % pw;
          const int64_t y = (pi / gw) * ph + i, xx = (pi % gw) * pw + j;
          const float v = in.data<float>()[((bi * 3 + ch) * h + y) * w + xx];
          expected.data<float>()[(bi * rows + prefix + pi) * k + f] = negated ? -v : v;
        }
      }
    }
    Result<std::vector<Tensor>> actual = run_graph_cuda(g.graph(), {in}, precision);
    ASSERT_TRUE(actual.ok()) << actual.status().to_string();
    ASSERT_EQ((*actual)[0].shape(), expected.shape());
    EXPECT_TRUE(outputs_agree((*actual)[0], expected, precision));
    // The prefix rows exactly zero.
    const Tensor& got = (*actual)[0];
    for (int64_t bi = 0; bi < 2; ++bi) {
      for (int64_t e = 0; e < prefix * k; ++e) {
        ASSERT_EQ(got.data<float>()[bi * rows * k + e], 0.0f) << "image " << bi << " element " << e;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    cuda, CudaPatchify,
    ::testing::Values(PatchParam{"fp32", 4, 5, 12, 20, 0}, PatchParam{"fp16", 4, 5, 12, 20, 0},
                      PatchParam{"bf16", 4, 5, 12, 20, 0}, PatchParam{"fp32", 4, 4, 12, 20, 0},
                      PatchParam{"fp16", 8, 8, 16, 40, 0}, PatchParam{"bf16", 8, 8, 24, 16, 0},
                      PatchParam{"fp16", 16, 16, 32, 48, 0},
                      // Sizes that are no multiple of the patch: the rest is cut, as Conv does.
                      PatchParam{"fp32", 4, 5, 14, 23, 0}, PatchParam{"fp16", 16, 16, 35, 40, 0},
                      // Prefix rows (class and distillation tokens) on both kernels' paths.
                      PatchParam{"fp32", 4, 5, 12, 20, 1}, PatchParam{"fp16", 8, 8, 16, 40, 2},
                      PatchParam{"bf16", 16, 16, 35, 40, 1}, PatchParam{"fp16", 4, 4, 3, 9, 2},
                      PatchParam{"fp16", 4, 12, 8, 24, 1}));

TEST(CudaEngine, UnsupportedOpNamesNode) {
  TestGraph g(17);
  ValueId x = g.input("x", DType::kFloat32, {2, 3});
  ValueId y = g.input("y", DType::kFloat32, {2, 3});
  // Mod with fmod=1 has no CUDA kernel.
  Attributes at;
  at.set_int("fmod", 1);
  g.output(g.op("Mod", {x, y}, at, "", "float_mod"));
  ASSERT_TRUE(g.infer().ok());
  Status s = cuda::check_cuda_graph(g.graph(), cuda::CudaEngineOptions{});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.to_string().find("float_mod"), std::string::npos) << s.to_string();
}

// An index out of range that only the GPU sees (token ids from the input, indices computed on
// the device) fails the run with the node's name, as the CPU kernel refuses it, instead of
// reading zeros; the next run with valid indices works (the flag is cleared). Constant
// indices out of range are refused when the shapes are planned. With and without CUDA graphs.
TEST(CudaEngine, IndexOutOfRangeFailsTheRunNamingTheNode) {
  VITRT_REQUIRE_GPU();
  for (bool graphs : {true, false}) {
    SCOPED_TRACE(graphs ? "CUDA graphs" : "eager");
    TestGraph g(17);
    ValueId ids = g.input("input_ids", DType::kInt64, {2, 3});
    ValueId table = g.constant("embedding", random_tensor(DType::kFloat32, {10, 8}, 7, -1.0, 1.0));
    ValueId e = g.op("Gather", {table, ids}, {}, "", "token_embedding");
    // A ScatterElements whose indices come from the device too (a Cast of the ids).
    ValueId idx = g.op("Cast", {ids}, attrs([](Attributes& a) { a.set_int("to", 7); }));
    ValueId upd = g.constant("upd", random_tensor(DType::kFloat32, {2, 3}, 8, -1.0, 1.0));
    ValueId base = g.constant("base", random_tensor(DType::kFloat32, {2, 10}, 9, -1.0, 1.0));
    g.output(e);
    g.output(g.op("ScatterElements", {base, idx, upd},
                  attrs([](Attributes& a) { a.set_int("axis", 1); }), "", "scatter_ids"));
    ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
    cuda::CudaEngineOptions o;
    o.precision = "fp32";
    o.cuda_graphs = graphs;
    Result<std::shared_ptr<Engine>> engine = cuda::create_cuda_engine(g.graph(), o);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
    auto ids_tensor = [](std::vector<int64_t> v) {
      Tensor t = Tensor::empty(DType::kInt64, {2, 3});
      for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
      return t;
    };
    const Tensor good = ids_tensor({0, 9, -1, 3, 4, -10});
    Result<std::vector<Tensor>> expected = run_graph(g.graph(), {good});
    ASSERT_TRUE(expected.ok()) << expected.status().to_string();
    auto run = [&](const Tensor& t) { return ctx->run({{"input_ids", t}}); };
    Result<std::vector<NamedTensor>> ok = run(good);
    ASSERT_TRUE(ok.ok()) << ok.status().to_string();
    EXPECT_TRUE(outputs_agree((*ok)[0].tensor, (*expected)[0], "fp32"));
    EXPECT_TRUE(outputs_agree((*ok)[1].tensor, (*expected)[1], "fp32"));
    // 10 is one past the table (and past the scatter's axis): both kernels see it; one of the
    // two nodes is named.
    Result<std::vector<NamedTensor>> bad = run(ids_tensor({0, 1, 2, 10, 4, 5}));
    ASSERT_FALSE(bad.ok());
    const std::string m = bad.status().to_string();
    EXPECT_TRUE(m.find("token_embedding") != std::string::npos ||
                m.find("scatter_ids") != std::string::npos)
        << m;
    EXPECT_NE(m.find("out of range"), std::string::npos) << m;
    // -11 wraps to -1 only within [-10, 9]: out of range too.
    EXPECT_FALSE(run(ids_tensor({-11, 1, 2, 3, 4, 5})).ok());
    Result<std::vector<NamedTensor>> again = run(good);
    ASSERT_TRUE(again.ok()) << again.status().to_string();
    EXPECT_TRUE(outputs_agree((*again)[0].tensor, (*expected)[0], "fp32"));
  }
  {
    // Constant indices: checked on the host when the shapes are planned.
    TestGraph g(17);
    ValueId x = g.input("x", DType::kFloat32, {4, 3});
    g.output(g.op("Gather", {x, g.constant("idx", Tensor::from_int64({1, 4}))}, {}, "",
                  "constant_gather"));
    ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
    Result<std::vector<Tensor>> r =
        run_graph_cuda(g.graph(), {random_tensor(DType::kFloat32, {4, 3}, 3, -1.0, 1.0)}, "fp32");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().to_string().find("constant_gather"), std::string::npos)
        << r.status().to_string();
    EXPECT_NE(r.status().to_string().find("out of range"), std::string::npos)
        << r.status().to_string();
  }
}

// A kernel whose output shape no memory holds (an Expand to 2^62 elements, one past int64) is an
// error naming the node, found when the shapes are planned, never an overflowed arena size.
TEST(CudaEngine, OutputTooLargeIsAnError) {
  VITRT_REQUIRE_GPU();
  const int64_t big = std::numeric_limits<int64_t>::max();
  for (const std::vector<int64_t>& target :
       {std::vector<int64_t>{4, big}, std::vector<int64_t>{1 << 30, 1 << 30, 1 << 30}}) {
    TestGraph g(17);
    ValueId x = g.input("x", DType::kFloat32, {1, 1});
    g.output(g.op("Expand", {x, g.constant("target", Tensor::from_int64(target))}, {}, "",
                  "huge_expand"));
    ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
    Result<std::vector<Tensor>> r =
        run_graph_cuda(g.graph(), {random_tensor(DType::kFloat32, {1, 1}, 3, -1.0, 1.0)}, "fp32");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().to_string().find("huge_expand"), std::string::npos)
        << r.status().to_string();
    EXPECT_NE(r.status().to_string().find("2^46 bytes"), std::string::npos)
        << r.status().to_string();
  }
}

// Ops whose output shape depends on values computed on the GPU are refused with a message that
// names the node and the input and says what to do; on values known on the host they run there.
TEST(CudaEngine, DataDependentShapeRefusalSaysWhy) {
  {
    TestGraph g(17);
    ValueId x = g.input("x", DType::kFloat32, {2, 3});
    g.output(g.op("NonZero", {g.op("Relu", {x}, {}, "", "relu")}, {}, "", "data_dependent"));
    ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
    Status s = cuda::check_cuda_graph(g.graph(), cuda::CudaEngineOptions{});
    ASSERT_FALSE(s.ok());
    const std::string m = s.to_string();
    EXPECT_NE(m.find("data_dependent"), std::string::npos) << m;
    EXPECT_NE(m.find("output shape depends on the values"), std::string::npos) << m;
    EXPECT_NE(m.find("computable at build time"), std::string::npos) << m;
  }
  {
    // NonZero of a constant runs on the host: the graph is accepted.
    TestGraph g(17);
    ValueId x = g.input("x", DType::kFloat32, {2, 3});
    ValueId nz = g.op("NonZero", {g.constant("c", Tensor::from_float({0.0f, 1.0f, 2.0f}))});
    ValueId n =
        g.op("Cast", {g.op("ReduceSum", {nz})}, attrs([](Attributes& a) { a.set_int("to", 1); }));
    g.output(g.op("Add", {x, n}));
    ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
    Status s = cuda::check_cuda_graph(g.graph(), cuda::CudaEngineOptions{});
    EXPECT_TRUE(s.ok()) << s.to_string();
  }
  {
    // Compress's condition is only known when shapes are planned: its kernel refuses one that
    // the GPU computes (no host copy), naming the condition (the engine adds the node).
    TestGraph g(17);
    ValueId x = g.input("x", DType::kFloat32, {4});
    ValueId cond =
        g.op("Greater", {x, g.constant("z", Tensor::from_float({0.0f}, true))}, {}, "", "positive");
    g.output(g.op("Compress", {x, cond}));
    ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
    const Node& node = g.graph().nodes.back();
    cuda::CudaKernelFactory f = cuda::CudaKernelRegistry::global().find("", "Compress");
    ASSERT_NE(f, nullptr);
    Result<std::unique_ptr<cuda::CudaKernel>> k =
        f(cuda::CudaKernelInit{g.graph(), node, 17, DType::kFloat32});
    ASSERT_TRUE(k.ok()) << k.status().to_string();
    cuda::DeviceTensor data{DType::kFloat32, {4}};
    cuda::DeviceTensor condition{DType::kBool, {4}};
    std::vector<cuda::DeviceTensor> out(1);
    Status s = (*k)->run({&data, &condition}, out, cuda::LaunchContext{});
    ASSERT_FALSE(s.ok());
    const std::string m = s.to_string();
    EXPECT_NE(m.find(g.graph().values[node.inputs[1]].name), std::string::npos) << m;
    EXPECT_NE(m.find("computable at build time"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace vitrt::testing

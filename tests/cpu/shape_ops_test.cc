// CPU kernels of the shape-op family against plain index-arithmetic references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <tuple>

#include "core/half.h"
#include "cpu/data_movement_reference.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::CpuOpCall;
using testing::random_bytes;
using testing::ravel;
using testing::run_cpu_op;
using testing::run_cpu_op1;
using testing::same_bytes;
using testing::unravel;

Tensor ints(const std::vector<int64_t>& v) {
  return Tensor::from_int64(v);
}
Tensor scalar_int(int64_t v) {
  return Tensor::from_int64({v}, /*as_scalar=*/true);
}

Attributes attrs_int(const std::string& name, int64_t v) {
  Attributes a;
  a.set_int(name, v);
  return a;
}
Attributes attrs_ints(const std::string& name, std::vector<int64_t> v) {
  Attributes a;
  a.set_ints(name, std::move(v));
  return a;
}

// ---- views: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout ----------------------

TEST(ReshapeKernel, ResolvesZeroAndMinusOneWithoutCopying) {
  const Tensor x = random_bytes(DType::kFloat32, {2, 3, 20}, 1);
  auto out = run_cpu_op1({"Reshape", {x, ints({0, -1, 4})}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->shape(), (std::vector<int64_t>{2, 15, 4}));
  EXPECT_EQ(out->raw_data(), x.raw_data());  // shares storage
}

TEST(ReshapeKernel, AllowZeroMakesZeroALiteralSize) {
  const Tensor x = Tensor::empty(DType::kInt8, {0, 7});
  auto out = run_cpu_op1({"Reshape", {x, ints({7, 0})}, attrs_int("allowzero", 1)});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->shape(), (std::vector<int64_t>{7, 0}));
}

TEST(ReshapeKernel, RejectsTwoInferredDimsAndSizeMismatch) {
  const Tensor x = random_bytes(DType::kFloat32, {4, 6}, 2);
  auto two = run_cpu_op1({"Reshape", {x, ints({-1, -1})}});
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.status().message().find("-1"), std::string::npos) << two.status().message();
  auto mismatch = run_cpu_op1({"Reshape", {x, ints({5, 5})}});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("24"), std::string::npos);
  auto indivisible = run_cpu_op1({"Reshape", {x, ints({-1, 5})}});
  EXPECT_FALSE(indivisible.ok());
}

TEST(FlattenKernel, AxesIncludingNegativeAndZero) {
  const Tensor x = random_bytes(DType::kUInt8, {2, 3, 5, 7}, 3);
  const std::vector<std::pair<int64_t, std::vector<int64_t>>> cases = {
      {0, {1, 210}}, {1, {2, 105}}, {-1, {30, 7}}, {4, {210, 1}}, {-3, {2, 105}}};
  for (const auto& [axis, shape] : cases) {
    auto out = run_cpu_op1({"Flatten", {x}, attrs_int("axis", axis)});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    EXPECT_EQ(out->shape(), shape) << "axis " << axis;
    EXPECT_EQ(out->raw_data(), x.raw_data());
  }
}

TEST(SqueezeKernel, AxesFromInputAttributeOrAllOnes) {
  const Tensor x = random_bytes(DType::kInt64, {1, 3, 1, 5, 1}, 4);
  auto from_input = run_cpu_op1({"Squeeze", {x, ints({-1, 0})}});
  ASSERT_TRUE(from_input.ok()) << from_input.status().to_string();
  EXPECT_EQ(from_input->shape(), (std::vector<int64_t>{3, 1, 5}));
  EXPECT_EQ(from_input->raw_data(), x.raw_data());
  auto from_attr = run_cpu_op1({"Squeeze", {x}, attrs_ints("axes", {2}), 1, 11});
  ASSERT_TRUE(from_attr.ok()) << from_attr.status().to_string();
  EXPECT_EQ(from_attr->shape(), (std::vector<int64_t>{1, 3, 5, 1}));
  auto all = run_cpu_op1({"Squeeze", {x}});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->shape(), (std::vector<int64_t>{3, 5}));
  EXPECT_FALSE(run_cpu_op1({"Squeeze", {x, ints({1})}}).ok());  // size 3, not 1
}

TEST(UnsqueezeKernel, NegativeAxesCountInTheOutputRank) {
  const Tensor x = random_bytes(DType::kFloat16, {3, 5}, 5);
  auto out = run_cpu_op1({"Unsqueeze", {x, ints({-1, 0})}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->shape(), (std::vector<int64_t>{1, 3, 5, 1}));
  EXPECT_EQ(out->raw_data(), x.raw_data());
  auto attr = run_cpu_op1({"Unsqueeze", {x}, attrs_ints("axes", {1, 3}), 1, 11});
  ASSERT_TRUE(attr.ok()) << attr.status().to_string();
  EXPECT_EQ(attr->shape(), (std::vector<int64_t>{3, 1, 5, 1}));
  auto scalar = run_cpu_op1({"Unsqueeze", {scalar_int(7), ints({0})}});
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->shape(), (std::vector<int64_t>{1}));
}

TEST(IdentityAndDropout, ShareStorageAndMaskIsAllTrue) {
  const Tensor x = random_bytes(DType::kBFloat16, {3, 7}, 6);
  auto id = run_cpu_op1({"Identity", {x}});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->raw_data(), x.raw_data());
  auto dropout = run_cpu_op({"Dropout", {x, Tensor::from_float({0.5f}, true)}, {}, 2});
  ASSERT_TRUE(dropout.ok()) << dropout.status().to_string();
  EXPECT_EQ((*dropout)[0].raw_data(), x.raw_data());
  const Tensor& mask = (*dropout)[1];
  ASSERT_EQ(mask.dtype(), DType::kBool);
  ASSERT_EQ(mask.shape(), x.shape());
  for (int64_t i = 0; i < mask.numel(); ++i) ASSERT_EQ(mask.data<uint8_t>()[i], 1);
}

TEST(DropoutKernel, ConstantTrainingModeIsRefused) {
  Tensor training = Tensor::empty(DType::kBool, {});
  training.data<uint8_t>()[0] = 1;
  const Tensor x = random_bytes(DType::kFloat32, {2, 2}, 7);
  auto out = run_cpu_op1({"Dropout", {x, std::nullopt, training}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("training_mode"), std::string::npos);
  // Bound at run time, a true value could not be honoured: refused when the kernel is made.
  Tensor runtime_training = Tensor::zeros(DType::kBool, {});
  testing::NodeRun run =
      testing::run_single_node("Dropout",
                               {testing::runtime_input(x), testing::omitted_input(),
                                testing::runtime_input(runtime_training)},
                               {});
  ASSERT_FALSE(run.status.ok());
  EXPECT_EQ(run.status.code(), StatusCode::kUnsupported);
}

// ---- Transpose ------------------------------------------------------------------------

Tensor reference_transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  std::vector<int64_t> out_shape;
  for (int64_t p : perm) out_shape.push_back(x.dim(static_cast<int>(p)));
  Tensor out = Tensor::empty(x.dtype(), out_shape);
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    const std::vector<int64_t> o = unravel(flat, out_shape);
    std::vector<int64_t> i(x.rank());
    for (size_t d = 0; d < perm.size(); ++d) i[perm[d]] = o[d];
    testing::copy_element(x, ravel(i, x.shape()), out, flat);
  }
  return out;
}

TEST(TransposeKernel, EveryPermutationOfAnOddRank4Shape) {
  const Tensor x = random_bytes(DType::kFloat32, {3, 5, 7, 2}, 8);
  std::vector<int64_t> perm = {0, 1, 2, 3};
  do {
    auto out = run_cpu_op1({"Transpose", {x}, attrs_ints("perm", perm)});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    EXPECT_TRUE(same_bytes(*out, reference_transpose(x, perm))) << shape_to_string(perm);
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(TransposeKernel, VitPermutationsOnLargerShapesAndEveryElementSize) {
  // Large enough for the tiled and parallel paths; dims not multiples of the tile.
  const std::vector<std::vector<int64_t>> perms = {
      {0, 2, 1, 3}, {0, 2, 3, 1}, {0, 1, 3, 2}, {0, 3, 1, 2}, {3, 2, 1, 0}};
  for (DType dtype : {DType::kUInt8, DType::kFloat16, DType::kFloat32, DType::kInt64}) {
    const Tensor x = random_bytes(dtype, {2, 37, 5, 67}, 9);
    for (const auto& perm : perms) {
      auto out = run_cpu_op1({"Transpose", {x}, attrs_ints("perm", perm)});
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      EXPECT_TRUE(same_bytes(*out, reference_transpose(x, perm)))
          << dtype_name(dtype) << " perm " << shape_to_string(perm);
    }
  }
}

TEST(TransposeKernel, DefaultReversesAxesAndEmptyWorks) {
  const Tensor x = random_bytes(DType::kInt32, {4, 1, 9}, 10);
  auto out = run_cpu_op1({"Transpose", {x}});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(same_bytes(*out, reference_transpose(x, {2, 1, 0})));
  auto empty = run_cpu_op1({"Transpose", {Tensor::empty(DType::kFloat32, {3, 0, 2})}});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->shape(), (std::vector<int64_t>{2, 0, 3}));
  EXPECT_FALSE(run_cpu_op1({"Transpose", {x}, attrs_ints("perm", {0, 0, 1})}).ok());
}

// ---- Concat, Split --------------------------------------------------------------------

TEST(ConcatKernel, NegativeAxisOddShapesAndAnEmptyInput) {
  const Tensor a = random_bytes(DType::kFloat16, {2, 3, 5}, 11);
  const Tensor b = random_bytes(DType::kFloat16, {2, 1, 5}, 12);
  const Tensor c = Tensor::empty(DType::kFloat16, {2, 0, 5});
  const Tensor d = random_bytes(DType::kFloat16, {2, 4, 5}, 13);
  auto out = run_cpu_op1({"Concat", {a, b, c, d}, attrs_int("axis", -2)});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  Tensor expected = Tensor::empty(DType::kFloat16, {2, 8, 5});
  for (int64_t flat = 0; flat < expected.numel(); ++flat) {
    std::vector<int64_t> o = unravel(flat, expected.shape());
    const Tensor* src = o[1] < 3 ? &a : o[1] < 4 ? &b : &d;
    o[1] -= o[1] < 3 ? 0 : o[1] < 4 ? 3 : 4;
    testing::copy_element(*src, ravel(o, src->shape()), expected, flat);
  }
  EXPECT_TRUE(same_bytes(*out, expected));
  EXPECT_FALSE(
      run_cpu_op1(
          {"Concat", {a, random_bytes(DType::kFloat16, {2, 3, 4}, 1)}, attrs_int("axis", 1)})
          .ok());
}

// Reference: output i holds positions [offset_i, offset_i + size_i) of the axis.
void expect_split(const Tensor& x, int axis, const std::vector<int64_t>& sizes,
                  const std::vector<Tensor>& outs) {
  ASSERT_EQ(outs.size(), sizes.size());
  int64_t offset = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    std::vector<int64_t> shape = x.shape();
    shape[axis] = sizes[k];
    Tensor expected = Tensor::empty(x.dtype(), shape);
    for (int64_t flat = 0; flat < expected.numel(); ++flat) {
      std::vector<int64_t> i = unravel(flat, shape);
      i[axis] += offset;
      testing::copy_element(x, ravel(i, x.shape()), expected, flat);
    }
    EXPECT_TRUE(same_bytes(outs[k], expected)) << "output " << k;
    offset += sizes[k];
  }
}

TEST(SplitKernel, SizesFromInputAttributeAndEvenOrUnevenChunks) {
  const Tensor x = random_bytes(DType::kInt64, {3, 11, 2}, 14);
  auto input = run_cpu_op({"Split", {x, ints({4, 0, 7})}, attrs_int("axis", 1), 3});
  ASSERT_TRUE(input.ok()) << input.status().to_string();
  expect_split(x, 1, {4, 0, 7}, *input);
  auto attr = run_cpu_op({"Split",
                          {x},
                          [] {
                            Attributes a;
                            a.set_int("axis", -2);
                            a.set_ints("split", {5, 6});
                            return a;
                          }(),
                          2,
                          11});
  ASSERT_TRUE(attr.ok()) << attr.status().to_string();
  expect_split(x, 1, {5, 6}, *attr);
  Attributes uneven;
  uneven.set_int("axis", 1);
  uneven.set_int("num_outputs", 4);
  auto chunks = run_cpu_op({"Split", {x}, uneven, 4, 18});
  ASSERT_TRUE(chunks.ok()) << chunks.status().to_string();
  expect_split(x, 1, {3, 3, 3, 2}, *chunks);
  auto even = run_cpu_op({"Split", {x}, {}, 3});
  ASSERT_TRUE(even.ok()) << even.status().to_string();
  expect_split(x, 0, {1, 1, 1}, *even);
  EXPECT_FALSE(run_cpu_op({"Split", {x, ints({4, 4})}, attrs_int("axis", 1), 2}).ok());
}

// ---- Expand, Tile ---------------------------------------------------------------------

// Reference broadcast: output index i reads input index i with broadcast dims set to 0.
Tensor reference_expand(const Tensor& x, const std::vector<int64_t>& out_shape) {
  Tensor out = Tensor::empty(x.dtype(), out_shape);
  const size_t lead = out_shape.size() - x.shape().size();
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    const std::vector<int64_t> o = unravel(flat, out_shape);
    std::vector<int64_t> i(x.rank());
    for (int d = 0; d < x.rank(); ++d) i[d] = x.dim(d) == 1 ? 0 : o[d + lead];
    testing::copy_element(x, ravel(i, x.shape()), out, flat);
  }
  return out;
}

TEST(ExpandKernel, BroadcastsBothWays) {
  const Tensor x = random_bytes(DType::kFloat32, {3, 1, 5}, 15);
  auto up = run_cpu_op1({"Expand", {x, ints({2, 1, 4, 1})}});
  ASSERT_TRUE(up.ok()) << up.status().to_string();
  EXPECT_TRUE(same_bytes(*up, reference_expand(x, {2, 3, 4, 5})));
  auto smaller = run_cpu_op1({"Expand", {x, ints({4, 1})}});  // target rank below input's
  ASSERT_TRUE(smaller.ok()) << smaller.status().to_string();
  EXPECT_TRUE(same_bytes(*smaller, reference_expand(x, {3, 4, 5})));
  const Tensor s = random_bytes(DType::kUInt8, {}, 16);
  auto from_scalar = run_cpu_op1({"Expand", {s, ints({2, 3})}});
  ASSERT_TRUE(from_scalar.ok());
  EXPECT_TRUE(same_bytes(*from_scalar, reference_expand(s, {2, 3})));
  auto to_empty =
      run_cpu_op1({"Expand", {random_bytes(DType::kFloat32, {1, 5}, 2), ints({3, 0, 5})}});
  ASSERT_TRUE(to_empty.ok()) << to_empty.status().to_string();
  EXPECT_EQ(to_empty->shape(), (std::vector<int64_t>{3, 0, 5}));
  EXPECT_FALSE(run_cpu_op1({"Expand", {x, ints({4, 1, 1})}}).ok());  // 3 vs 4
}

TEST(TileKernel, RepeatsEachAxis) {
  const Tensor x = random_bytes(DType::kInt16, {2, 3, 1}, 17);
  auto out = run_cpu_op1({"Tile", {x, ints({3, 1, 4})}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  Tensor expected = Tensor::empty(DType::kInt16, {6, 3, 4});
  for (int64_t flat = 0; flat < expected.numel(); ++flat) {
    std::vector<int64_t> o = unravel(flat, expected.shape());
    for (int d = 0; d < 3; ++d) o[d] %= x.dim(d);
    testing::copy_element(x, ravel(o, x.shape()), expected, flat);
  }
  EXPECT_TRUE(same_bytes(*out, expected));
  auto zero = run_cpu_op1({"Tile", {x, ints({1, 0, 1})}});
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->shape(), (std::vector<int64_t>{2, 0, 1}));
}

// ---- Shape, Size, ConstantOfShape, Range, EyeLike, Trilu ------------------------------

TEST(ShapeKernel, StartAndEndClampAndCountFromTheEnd) {
  const Tensor x = Tensor::empty(DType::kFloat32, {2, 3, 5, 7});
  auto all = run_cpu_op1({"Shape", {x}});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->to_int64_vector(), (std::vector<int64_t>{2, 3, 5, 7}));
  Attributes a;
  a.set_int("start", -3);
  a.set_int("end", -1);
  auto mid = run_cpu_op1({"Shape", {x}, a});
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(mid->to_int64_vector(), (std::vector<int64_t>{3, 5}));
  a.set_int("start", 10);
  auto none = run_cpu_op1({"Shape", {x}, a});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->numel(), 0);
  auto size = run_cpu_op1({"Size", {x}});
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(size->rank(), 0);
  EXPECT_EQ(size->to_int64_vector(), (std::vector<int64_t>{210}));
}

TEST(ConstantOfShapeKernel, DefaultFloatZeroAndTypedValue) {
  auto zeros = run_cpu_op1({"ConstantOfShape", {ints({2, 3})}});
  ASSERT_TRUE(zeros.ok()) << zeros.status().to_string();
  ASSERT_EQ(zeros->dtype(), DType::kFloat32);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(zeros->data<float>()[i], 0.0f);
  Attributes a;
  Tensor v = Tensor::empty(DType::kInt32, {1});
  v.data<int32_t>()[0] = -7;
  a.set_tensor("value", v);
  auto sevens = run_cpu_op1({"ConstantOfShape", {ints({4, 1, 3})}, a});
  ASSERT_TRUE(sevens.ok()) << sevens.status().to_string();
  ASSERT_EQ(sevens->shape(), (std::vector<int64_t>{4, 1, 3}));
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(sevens->data<int32_t>()[i], -7);
  auto empty = run_cpu_op1({"ConstantOfShape", {ints({3, 0})}, a});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->numel(), 0);
}

TEST(RangeKernel, IntegerAndFloatIncludingNegativeAndEmpty) {
  auto r = run_cpu_op1({"Range", {scalar_int(10), scalar_int(-3), scalar_int(-4)}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->to_int64_vector(), (std::vector<int64_t>{10, 6, 2, -2}));
  auto empty = run_cpu_op1({"Range", {scalar_int(3), scalar_int(3), scalar_int(1)}});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->numel(), 0);
  auto f = run_cpu_op1({"Range",
                        {Tensor::from_float({0.5f}, true), Tensor::from_float({2.0f}, true),
                         Tensor::from_float({0.4f}, true)}});
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  ASSERT_EQ(f->numel(), 4);  // ceil(1.5 / 0.4)
  for (int64_t i = 0; i < 4; ++i) EXPECT_NEAR(f->data<float>()[i], 0.5 + 0.4 * i, 1e-6);
  EXPECT_FALSE(run_cpu_op1({"Range", {scalar_int(0), scalar_int(3), scalar_int(0)}}).ok());
}

// Bounds a malformed model can hold: a count past 2^31 elements, a span past int64, NaN. Each
// is an error naming the values, not an allocation failure or undefined behaviour.
TEST(RangeKernel, RefusesCountsNoTensorHolds) {
  const int64_t big = std::numeric_limits<int64_t>::max();
  for (const auto& [start, limit, delta] :
       {std::tuple{int64_t{0}, big, int64_t{1}}, std::tuple{-big, big, int64_t{1}},
        std::tuple{big, -big, int64_t{-3}}}) {
    auto r = run_cpu_op1({"Range", {scalar_int(start), scalar_int(limit), scalar_int(delta)}});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("more than the 2^31 a Range may produce"),
              std::string::npos)
        << r.status().to_string();
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto f = run_cpu_op1({"Range",
                        {Tensor::from_float({0.0f}, true), Tensor::from_float({nan}, true),
                         Tensor::from_float({1.0f}, true)}});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("give no element count"), std::string::npos);
  auto inf = run_cpu_op1({"Range",
                          {Tensor::from_float({0.0f}, true),
                           Tensor::from_float({std::numeric_limits<float>::infinity()}, true),
                           Tensor::from_float({1.0f}, true)}});
  EXPECT_FALSE(inf.ok());
}

// An Expand (or any kernel) whose output no memory holds reports it instead of throwing.
TEST(ExpandKernel, OutputTooLargeIsAnError) {
  const int64_t big = std::numeric_limits<int64_t>::max();
  auto r = run_cpu_op1({"Expand", {random_bytes(DType::kInt64, {4, 1}, 1), ints({4, big})}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("would take more than 2^46 bytes"), std::string::npos)
      << r.status().to_string();
  auto overflow = run_cpu_op1(
      {"Expand", {random_bytes(DType::kFloat32, {1, 1, 1}, 1), ints({1 << 30, 1 << 30, 1 << 30})}});
  ASSERT_FALSE(overflow.ok());
  EXPECT_THROW(Tensor::empty(DType::kFloat32, {3, -1}), TensorTooLarge);
}

TEST(EyeLikeKernel, OffsetDiagonalAndDtype) {
  const Tensor x = Tensor::zeros(DType::kFloat32, {3, 5});
  Attributes a;
  a.set_int("k", 2);
  a.set_int("dtype", static_cast<int64_t>(DType::kInt64));
  auto out = run_cpu_op1({"EyeLike", {x}, a});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->dtype(), DType::kInt64);
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(out->data<int64_t>()[i * 5 + j], j == i + 2 ? 1 : 0);
  }
}

TEST(TriluKernel, UpperAndLowerWithK) {
  const Tensor x = testing::random_tensor(DType::kFloat32, {2, 4, 6}, 18);
  for (int64_t upper : {0, 1}) {
    for (int64_t k : {-2, 0, 3}) {
      auto out = run_cpu_op1({"Trilu", {x, scalar_int(k)}, attrs_int("upper", upper)});
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      for (int64_t flat = 0; flat < x.numel(); ++flat) {
        const std::vector<int64_t> i = unravel(flat, x.shape());
        const bool keep = upper ? i[2] - i[1] >= k : i[2] - i[1] <= k;
        ASSERT_EQ(out->data<float>()[flat], keep ? x.data<float>()[flat] : 0.0f)
            << "upper " << upper << " k " << k << " at " << flat;
      }
    }
  }
}

// ---- Pad, DepthToSpace, SpaceToDepth --------------------------------------------------

// numpy.pad semantics, written per mode for one coordinate.
int64_t reference_pad_source(const std::string& mode, int64_t c, int64_t dim) {
  if (c >= 0 && c < dim) return c;
  if (mode == "constant") return -1;
  if (mode == "edge") return c < 0 ? 0 : dim - 1;
  if (mode == "wrap") {
    while (c < 0) c += dim;
    return c % dim;
  }
  // reflect: bounce off the edges (edge element not repeated) until inside.
  while (c < 0 || c >= dim) c = c < 0 ? -c : 2 * (dim - 1) - c;
  return c;
}

TEST(PadKernel, AllModesWithAxesAndNegativePads) {
  const Tensor x = testing::random_tensor(DType::kFloat32, {3, 4, 5}, 19);
  struct Case {
    std::string mode;
    std::vector<int64_t> pads;
    std::vector<int64_t> axes;  // empty: all
  };
  const std::vector<Case> cases = {{"constant", {1, 0, 2, 0, 3, 1}, {}},
                                   {"constant", {-1, 2, 1, -2}, {0, -1}},
                                   {"reflect", {2, 3, 1, 4}, {1, 2}},
                                   {"edge", {0, 2, 1, 3, 0, 2}, {}},
                                   {"wrap", {4, 1, 2, 6}, {-1, 1}}};
  const float fill = 2.5f;
  for (const Case& c : cases) {
    Attributes a;
    a.set_string("mode", c.mode);
    std::optional<Tensor> axes;
    if (!c.axes.empty()) axes = ints(c.axes);
    auto out = run_cpu_op1({"Pad", {x, ints(c.pads), Tensor::from_float({fill}, true), axes}, a});
    ASSERT_TRUE(out.ok()) << c.mode << ": " << out.status().to_string();
    std::vector<int64_t> axes_list = c.axes;
    if (axes_list.empty()) axes_list = {0, 1, 2};
    std::vector<int64_t> before(3, 0), after(3, 0);
    for (size_t i = 0; i < axes_list.size(); ++i) {
      const int64_t ax = axes_list[i] < 0 ? axes_list[i] + 3 : axes_list[i];
      before[ax] = c.pads[i];
      after[ax] = c.pads[i + axes_list.size()];
    }
    std::vector<int64_t> shape(3);
    for (int d = 0; d < 3; ++d) shape[d] = x.dim(d) + before[d] + after[d];
    ASSERT_EQ(out->shape(), shape) << c.mode;
    Tensor expected = Tensor::empty(DType::kFloat32, shape);
    for (int64_t flat = 0; flat < expected.numel(); ++flat) {
      const std::vector<int64_t> o = unravel(flat, shape);
      std::vector<int64_t> i(3);
      bool pad = false;
      for (int d = 0; d < 3; ++d) {
        i[d] = reference_pad_source(c.mode, o[d] - before[d], x.dim(d));
        pad = pad || i[d] < 0;
      }
      expected.data<float>()[flat] = pad ? fill : x.data<float>()[ravel(i, x.shape())];
    }
    EXPECT_TRUE(testing::tensors_close(*out, expected, {0, 0})) << c.mode;
  }
}

TEST(PadKernel, Opset2AttributesAndIntegerFill) {
  const Tensor x = random_bytes(DType::kInt32, {2, 3}, 20);
  Attributes a;
  a.set_ints("pads", {0, 1, 1, 0});
  a.set_float("value", -4.0f);
  auto out = run_cpu_op1({"Pad", {x}, a, 1, 2});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->shape(), (std::vector<int64_t>{3, 4}));
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t col = 0; col < 4; ++col) {
      const int32_t expected = (r < 2 && col >= 1) ? x.data<int32_t>()[r * 3 + col - 1] : -4;
      EXPECT_EQ(out->data<int32_t>()[r * 4 + col], expected);
    }
  }
}

TEST(DepthToSpaceKernel, BothModesAgainstTheFormulaAndRoundTrip) {
  const int64_t n = 2, c = 8, h = 3, w = 5, b = 2;
  const Tensor x = random_bytes(DType::kFloat32, {n, c, h, w}, 21);
  for (const std::string mode : {"DCR", "CRD"}) {
    Attributes a;
    a.set_int("blocksize", b);
    a.set_string("mode", mode);
    auto out = run_cpu_op1({"DepthToSpace", {x}, a});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    Tensor expected = Tensor::empty(DType::kFloat32, {n, c / 4, h * b, w * b});
    for (int64_t flat = 0; flat < expected.numel(); ++flat) {
      const std::vector<int64_t> o = unravel(flat, expected.shape());
      const int64_t by = o[2] % b, bx = o[3] % b;
      const int64_t ic =
          mode == "DCR" ? (by * b + bx) * (c / 4) + o[1] : o[1] * b * b + by * b + bx;
      testing::copy_element(x, ravel({o[0], ic, o[2] / b, o[3] / b}, x.shape()), expected, flat);
    }
    EXPECT_TRUE(same_bytes(*out, expected)) << mode;
  }
  Attributes a;
  a.set_int("blocksize", b);
  auto s2d = run_cpu_op1({"SpaceToDepth", {x}, a});  // 3x5 is not a multiple of 2
  EXPECT_FALSE(s2d.ok());
  auto d2s = run_cpu_op1({"DepthToSpace", {x}, a});
  ASSERT_TRUE(d2s.ok());
  auto back = run_cpu_op1({"SpaceToDepth", {*d2s}, a});
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_TRUE(same_bytes(*back, x));
}

}  // namespace
}  // namespace vitrt

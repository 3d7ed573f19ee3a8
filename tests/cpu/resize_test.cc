// Resize / Upsample CPU kernels against the ONNX reference implementation's outputs (committed
// under tests/data/resize/, made by generate.py there) and small hand-computed cases.
#include <cstdio>
#include <fstream>
#include <iterator>

#include "cpu/single_node.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::constant_input;
using testing::omitted_input;
using testing::random_tensor;
using testing::run_single_node;
using testing::runtime_input;
using testing::tensor_of;
using testing::tensors_close;
using testing::to_doubles;

Tensor read_f32(const std::string& name, std::vector<int64_t> shape) {
  const std::string path = std::string(VITRT_SOURCE_DIR) + "/tests/data/resize/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto t = Tensor::copy_from(DType::kFloat32, std::move(shape), bytes.data(), bytes.size());
  EXPECT_TRUE(t.ok()) << path << ": " << t.status().to_string();
  return t.ok() ? *t : Tensor();
}

struct DataCase {
  const char* name;
  std::vector<int64_t> in_shape, out_shape;
  Attributes attrs;
  std::vector<float> roi, scales;
  std::vector<int64_t> sizes;
};

Attributes attrs_of(std::initializer_list<std::pair<const char*, std::string>> strings,
                    std::initializer_list<std::pair<const char*, double>> numbers = {},
                    std::vector<int64_t> axes = {}) {
  Attributes a;
  for (const auto& [k, v] : strings) a.set_string(k, v);
  for (const auto& [k, v] : numbers) {
    if (std::string(k) == "cubic_coeff_a" || std::string(k) == "extrapolation_value") {
      a.set_float(k, static_cast<float>(v));
    } else {
      a.set_int(k, static_cast<int64_t>(v));
    }
  }
  if (!axes.empty()) a.set_ints("axes", axes);
  return a;
}

// Must match CASES in tests/data/resize/generate.py.
std::vector<DataCase> data_cases() {
  return {
      {"posembed_cubic",
       {1, 24, 14, 14},
       {1, 24, 16, 16},
       attrs_of({{"mode", "cubic"}, {"coordinate_transformation_mode", "half_pixel"}}),
       {},
       {},
       {1, 24, 16, 16}},
      {"cubic_align_corners_up",
       {1, 2, 5, 7},
       {1, 2, 8, 10},
       attrs_of({{"mode", "cubic"}, {"coordinate_transformation_mode", "align_corners"}}),
       {},
       {1, 1, 1.8f, 1.5f},
       {}},
      {"cubic_exclude_symmetric",
       {2, 3, 9, 7},
       {2, 3, 5, 11},
       attrs_of({{"mode", "cubic"}, {"coordinate_transformation_mode", "half_pixel_symmetric"}},
                {{"cubic_coeff_a", -0.5}, {"exclude_outside", 1}}),
       {},
       {},
       {2, 3, 5, 11}},
      {"cubic_antialias_down",
       {1, 3, 17, 23},
       {1, 3, 8, 8},
       attrs_of({{"mode", "cubic"}}, {{"antialias", 1}}),
       {},
       {1, 1, 0.5f, 0.35f},
       {}},
      {"linear_antialias_down",
       {2, 3, 20, 15},
       {2, 3, 7, 6},
       attrs_of({{"mode", "linear"}}, {{"antialias", 1}}),
       {},
       {},
       {2, 3, 7, 6}},
      {"linear_pytorch_half_pixel",
       {1, 2, 6, 5},
       {1, 2, 1, 9},
       attrs_of({{"mode", "linear"}, {"coordinate_transformation_mode", "pytorch_half_pixel"}}),
       {},
       {},
       {1, 2, 1, 9}},
      {"linear_asymmetric_3d",
       {3, 7, 5},
       {3, 4, 11},
       attrs_of({{"mode", "linear"}, {"coordinate_transformation_mode", "asymmetric"}}),
       {},
       {1, 0.7f, 2.2f},
       {}},
      {"linear_tf_crop",
       {1, 1, 6, 8},
       {1, 1, 5, 7},
       attrs_of({{"mode", "linear"}, {"coordinate_transformation_mode", "tf_crop_and_resize"}},
                {{"extrapolation_value", -3.0}}),
       {0, 0, -0.2f, 0.1f, 1, 1, 0.9f, 1.3f},
       {},
       {1, 1, 5, 7}},
      {"nearest_round_prefer_floor",
       {1, 2, 5, 6},
       {1, 2, 8, 3},
       attrs_of({{"mode", "nearest"}}),
       {},
       {1, 1, 1.7f, 0.6f},
       {}},
      {"nearest_round_prefer_ceil_asym",
       {1, 2, 5, 6},
       {1, 2, 12, 3},
       attrs_of({{"mode", "nearest"},
                 {"nearest_mode", "round_prefer_ceil"},
                 {"coordinate_transformation_mode", "asymmetric"}}),
       {},
       {1, 1, 2.5f, 0.5f},
       {}},
      {"nearest_floor_align",
       {1, 2, 5, 6},
       {1, 2, 8, 4},
       attrs_of({{"mode", "nearest"},
                 {"nearest_mode", "floor"},
                 {"coordinate_transformation_mode", "align_corners"}}),
       {},
       {},
       {1, 2, 8, 4}},
      {"nearest_ceil_half_pixel",
       {1, 2, 5, 6},
       {1, 2, 3, 13},
       attrs_of({{"mode", "nearest"}, {"nearest_mode", "ceil"}}),
       {},
       {},
       {1, 2, 3, 13}},
      {"cubic_axes_not_larger",
       {1, 3, 10, 8},
       {1, 3, 7, 6},
       attrs_of({{"mode", "cubic"}, {"keep_aspect_ratio_policy", "not_larger"}}, {}, {2, 3}),
       {},
       {},
       {7, 9}},
  };
}

std::vector<testing::NodeInput> resize_inputs(Tensor x, const std::vector<float>& roi,
                                              const std::vector<float>& scales,
                                              const std::vector<int64_t>& sizes) {
  std::vector<testing::NodeInput> in = {runtime_input(std::move(x))};
  in.push_back(roi.empty() ? omitted_input() : constant_input(Tensor::from_float(roi)));
  in.push_back(scales.empty() ? omitted_input() : constant_input(Tensor::from_float(scales)));
  if (!sizes.empty()) in.push_back(constant_input(Tensor::from_int64(sizes)));
  return in;
}

TEST(ResizeKernel, MatchesOnnxReferenceData) {
  for (const DataCase& c : data_cases()) {
    const Tensor x = read_f32(std::string(c.name) + ".in.bin", c.in_shape);
    const Tensor expected = read_f32(std::string(c.name) + ".out.bin", c.out_shape);
    auto run =
        run_single_node("Resize", resize_inputs(x, c.roi, c.scales, c.sizes), c.attrs, 1, 19);
    ASSERT_TRUE(run.status.ok()) << c.name << ": " << run.status.to_string();
    EXPECT_TRUE(tensors_close(run.outputs[0], expected, {1e-5, 2e-6})) << c.name;
  }
}

// The ViT position-embedding case in float64, float16 and bfloat16 against the float32 data.
TEST(ResizeKernel, PosEmbedBicubicOtherDtypes) {
  const Tensor x = read_f32("posembed_cubic.in.bin", {1, 24, 14, 14});
  const Tensor expected = read_f32("posembed_cubic.out.bin", {1, 24, 16, 16});
  const Attributes attrs =
      attrs_of({{"mode", "cubic"}, {"coordinate_transformation_mode", "half_pixel"}});
  for (DType dtype : {DType::kFloat64, DType::kFloat16, DType::kBFloat16}) {
    const Tensor xt = tensor_of(dtype, x.shape(), to_doubles(x));
    auto run = run_single_node("Resize", resize_inputs(xt, {}, {}, {1, 24, 16, 16}), attrs, 1, 13);
    ASSERT_TRUE(run.status.ok()) << run.status.to_string();
    const double tol = dtype == DType::kFloat64 ? 1e-6 : (dtype == DType::kFloat16 ? 4e-3 : 3e-2);
    EXPECT_TRUE(tensors_close(run.outputs[0],
                              tensor_of(dtype, expected.shape(), to_doubles(expected)), {tol, tol}))
        << dtype_name(dtype);
  }
}

// Bilinear half_pixel 2x upsampling of one row, by hand: output j samples (j + 0.5) / 2 - 0.5.
TEST(ResizeKernel, LinearHalfPixelByHand) {
  const Tensor x = tensor_of(DType::kFloat32, {1, 3}, {0, 4, 8});
  auto run = run_single_node("Resize", resize_inputs(x, {}, {1, 2}, {}),
                             attrs_of({{"mode", "linear"}}), 1, 13);
  ASSERT_TRUE(run.status.ok()) << run.status.to_string();
  // Coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25, 1.75, 2.25 (clamped to 2).
  EXPECT_TRUE(
      tensors_close(run.outputs[0], tensor_of(DType::kFloat32, {1, 6}, {0, 1, 3, 5, 7, 8})));
}

TEST(ResizeKernel, IntegerNearestAndLinearRounding) {
  const Tensor x = tensor_of(DType::kUInt8, {1, 1, 2, 2}, {0, 255, 10, 21});
  auto nearest = run_single_node("Resize", resize_inputs(x, {}, {1, 1, 2, 2}, {}),
                                 attrs_of({{"mode", "nearest"}}), 1, 13);
  ASSERT_TRUE(nearest.status.ok()) << nearest.status.to_string();
  EXPECT_TRUE(tensors_close(nearest.outputs[0], tensor_of(DType::kUInt8, {1, 1, 4, 4},
                                                          {0, 0, 255, 255, 0, 0, 255, 255, 10, 10,
                                                           21, 21, 10, 10, 21, 21})));
  auto linear = run_single_node(
      "Resize", resize_inputs(x, {}, {}, {1, 1, 1, 3}),
      attrs_of({{"mode", "linear"}, {"coordinate_transformation_mode", "align_corners"}}), 1, 13);
  ASSERT_TRUE(linear.status.ok()) << linear.status.to_string();
  // Row 0 (height 2 -> 1 at align_corners samples y = 0): 0, 127.5 -> 128 (half to even), 255.
  EXPECT_TRUE(
      tensors_close(linear.outputs[0], tensor_of(DType::kUInt8, {1, 1, 1, 3}, {0, 128, 255})));
}

TEST(ResizeKernel, LegacyUpsampleAndResize10AreAsymmetricFloor) {
  const Tensor x = tensor_of(DType::kFloat32, {1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor expected =
      tensor_of(DType::kFloat32, {1, 1, 4, 6},
                {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  auto upsample9 = run_single_node(
      "Upsample", {runtime_input(x), constant_input(Tensor::from_float({1, 1, 2, 3}))},
      attrs_of({{"mode", "nearest"}}), 1, 9);
  ASSERT_TRUE(upsample9.status.ok()) << upsample9.status.to_string();
  EXPECT_TRUE(tensors_close(upsample9.outputs[0], expected));
  Attributes attr_scales = attrs_of({{"mode", "nearest"}});
  attr_scales.set_floats("scales", {1, 1, 2, 3});
  auto upsample7 = run_single_node("Upsample", {runtime_input(x)}, attr_scales, 1, 7);
  ASSERT_TRUE(upsample7.status.ok()) << upsample7.status.to_string();
  EXPECT_TRUE(tensors_close(upsample7.outputs[0], expected));
  auto resize10 = run_single_node(
      "Resize", {runtime_input(x), constant_input(Tensor::from_float({1, 1, 2, 3}))},
      attrs_of({{"mode", "nearest"}}), 1, 10);
  ASSERT_TRUE(resize10.status.ok()) << resize10.status.to_string();
  EXPECT_TRUE(tensors_close(resize10.outputs[0], expected));
}

TEST(ResizeKernel, RuntimeSizesAndErrors) {
  const Tensor x = random_tensor(DType::kFloat32, {1, 2, 4, 4}, 3);
  // Identity sizes give a copy of the input.
  auto same = run_single_node("Resize",
                              {runtime_input(x), omitted_input(), omitted_input(),
                               runtime_input(Tensor::from_int64({1, 2, 4, 4}))},
                              attrs_of({{"mode", "cubic"}}), 1, 13);
  ASSERT_TRUE(same.status.ok()) << same.status.to_string();
  EXPECT_TRUE(tensors_close(same.outputs[0], x));

  auto bad_mode = run_single_node("Resize", resize_inputs(x, {}, {1, 1, 2, 2}, {}),
                                  attrs_of({{"mode", "area"}}), 1, 13);
  ASSERT_FALSE(bad_mode.status.ok());
  EXPECT_NE(bad_mode.status.message().find("attribute 'mode' value 'area'"), std::string::npos)
      << bad_mode.status.message();
  auto bad_count = run_single_node("Resize", resize_inputs(x, {}, {2, 2}, {}),
                                   attrs_of({{"mode", "linear"}}), 1, 13);
  ASSERT_FALSE(bad_count.status.ok());
  EXPECT_NE(bad_count.status.message().find("scales"), std::string::npos)
      << bad_count.status.message();
}

}  // namespace
}  // namespace vitrt

// The HF preprocessing steps and the multi-threaded batch loader.
#include "vision/image_preprocess.h"

#include <cmath>
#include <cstring>

#include "core/parallel.h"
#include "vision/color_convert.h"

namespace vitrt::vision {
namespace {

// Python's floor division for the crop offset (negative when the image is smaller).
int floor_div2(int v) {
  return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

// Where a crop window of `crop` starts in a side of `size` (negative: padding before it).
int crop_offset(int size, int crop, bool torchvision) {
  if (!torchvision) return floor_div2(size - crop);
  // torchvision pads (crop - size) // 2 before, then crops the rest at int(round(d / 2.0)):
  // d is 0 or 1 after padding, and Python's round(0.5) is 0.
  if (crop > size) return -((crop - size) / 2);
  return static_cast<int>(std::nearbyint((size - crop) / 2.0));  // half to even
}

Result<std::vector<Image>> load_and_preprocess(const std::vector<std::string>& paths,
                                               const PreprocessorConfig& config,
                                               const DecodeOptions& options) {
  if (paths.empty()) return invalid_argument("no images given");
  std::vector<Image> images(paths.size());
  std::vector<Status> errors(paths.size());
  parallel_for(static_cast<int64_t>(paths.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      auto upright = load_upright_image(paths[i], options);
      if (!upright.ok()) {
        errors[i] = upright.status();
        continue;
      }
      auto processed = preprocess_to_uint8(*upright, config);
      if (!processed.ok()) {
        errors[i] = processed.status().with_context(paths[i]);
        continue;
      }
      images[i] = std::move(processed).value();
    }
  });
  for (const Status& s : errors) {
    if (!s.ok()) return s;
  }
  for (size_t i = 1; i < images.size(); ++i) {
    if (images[i].width != images[0].width || images[i].height != images[0].height) {
      return invalid_argument(paths[i], ": preprocessed to ", images[i].height, "x",
                              images[i].width, " but ", paths[0], " to ", images[0].height, "x",
                              images[0].width,
                              "; a batch needs one size (enable do_center_crop or give an "
                              "exact size)");
    }
  }
  return images;
}

}  // namespace

std::pair<int, int> resize_output_size(int height, int width, const PreprocessorConfig& config) {
  if (config.keep_ratio_height > 0) {
    // timm's / open_clip's ResizeKeepRatio.get_params: round(x / ratio), Python's round.
    const double ratio_h = static_cast<double>(height) / config.keep_ratio_height;
    const double ratio_w = static_cast<double>(width) / config.keep_ratio_width;
    const double ratio =
        config.keep_ratio_longest ? std::max(ratio_h, ratio_w) : std::min(ratio_h, ratio_w);
    return {std::max(1, static_cast<int>(std::nearbyint(height / ratio))),
            std::max(1, static_cast<int>(std::nearbyint(width / ratio)))};
  }
  if (config.resize_height > 0) return {config.resize_height, config.resize_width};
  const int64_t short_side = std::min(height, width);
  const int64_t long_side = std::max(height, width);
  // Python's int(size * long / short): a correctly rounded double quotient, truncated.
  const int new_long = static_cast<int>(static_cast<double>(config.shortest_edge * long_side) /
                                        static_cast<double>(short_side));
  if (width <= height) return {new_long, config.shortest_edge};
  return {config.shortest_edge, new_long};
}

Image center_crop(const Image& image, int crop_height, int crop_width, bool torchvision,
                  const std::array<uint8_t, 3>& pad_fill) {
  Image out = Image::allocate(crop_width, crop_height, image.mode);
  const int top = crop_offset(image.height, crop_height, torchvision);
  const int left = crop_offset(image.width, crop_width, torchvision);
  const int c = image.channels();
  if (torchvision && pad_fill != std::array<uint8_t, 3>{0, 0, 0} &&
      (top < 0 || left < 0 || top + crop_height > image.height ||
       left + crop_width > image.width)) {
    for (size_t i = 0; i < out.pixels.size(); ++i) {
      out.pixels[i] = c >= 3 ? pad_fill[std::min<size_t>(i % c, 2)] : pad_fill[0];
    }
  }
  const int x_begin = std::max(0, -left);
  const int x_end = std::min(crop_width, image.width - left);
  for (int y = 0; y < crop_height; ++y) {
    const int sy = y + top;
    if (sy < 0 || sy >= image.height || x_begin >= x_end) continue;
    std::memcpy(out.row(y) + static_cast<size_t>(x_begin) * c,
                image.row(sy) + static_cast<size_t>(left + x_begin) * c,
                static_cast<size_t>(x_end - x_begin) * c);
  }
  return out;
}

Result<Image> preprocess_to_uint8(const Image& upright, const PreprocessorConfig& config) {
  Image rgb;
  if (config.do_convert_rgb && config.torchvision) {
    rgb = convert_to_rgb(upright);  // PIL's convert("RGB"): alpha dropped
  } else if (config.do_convert_rgb) {
    rgb = convert_to_rgb_on_white(upright);
  } else if (upright.mode == PixelMode::kRgb) {
    rgb = upright;
  } else {
    return invalid_argument("image is ", pixel_mode_name(upright.mode),
                            ", not RGB, and do_convert_rgb is false");
  }
  if (config.do_resize) {
    const auto [h, w] = resize_output_size(rgb.height, rgb.width, config);
    VITRT_ASSIGN_OR_RETURN(rgb, resize_image(rgb, w, h, config.resample));
  }
  if (config.do_center_crop) {
    rgb = center_crop(rgb, config.crop_height, config.crop_width, config.torchvision,
                      config.pad_fill);
  }
  if (config.flip_channel_order) {
    for (size_t i = 0; i + 2 < rgb.pixels.size(); i += 3)
      std::swap(rgb.pixels[i], rgb.pixels[i + 2]);
  }
  return rgb;
}

void write_pixel_values(const Image& rgb, const PreprocessorConfig& config, float* chw) {
  const size_t plane = static_cast<size_t>(rgb.width) * rgb.height;
  for (int c = 0; c < 3; ++c) {
    float* out = chw + c * plane;
    const float mean = config.image_mean[c];
    const float std = config.image_std[c];
    for (size_t i = 0; i < plane; ++i) {
      const uint8_t v = rgb.pixels[i * 3 + c];
      // HF rescales in float64 and rounds to float32 once, then normalizes in float32.
      float x =
          config.do_rescale ? static_cast<float>(v * config.rescale_factor) : static_cast<float>(v);
      if (config.do_rescale && config.rescale_offset) x -= 1.0f;
      if (config.do_normalize) x = (x - mean) / std;
      if (config.include_top) x = x / std;
      out[i] = x;
    }
  }
}

Result<Tensor> preprocess_image_files(const std::vector<std::string>& paths,
                                      const PreprocessorConfig& config,
                                      const DecodeOptions& options) {
  VITRT_ASSIGN_OR_RETURN(std::vector<Image> images, load_and_preprocess(paths, config, options));
  const int h = images[0].height, w = images[0].width;
  Tensor out = Tensor::empty(DType::kFloat32, {static_cast<int64_t>(images.size()), 3, h, w});
  float* data = out.data<float>();
  parallel_for(static_cast<int64_t>(images.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      write_pixel_values(images[i], config, data + i * 3 * static_cast<size_t>(h) * w);
    }
  });
  return out;
}

Result<Tensor> preprocess_image_files_uint8(const std::vector<std::string>& paths,
                                            const PreprocessorConfig& config,
                                            const DecodeOptions& options) {
  VITRT_ASSIGN_OR_RETURN(std::vector<Image> images, load_and_preprocess(paths, config, options));
  const int h = images[0].height, w = images[0].width;
  const size_t plane = static_cast<size_t>(h) * w;
  Tensor out = Tensor::empty(DType::kUInt8, {static_cast<int64_t>(images.size()), 3, h, w});
  uint8_t* data = out.data<uint8_t>();
  for (size_t i = 0; i < images.size(); ++i) {
    for (int c = 0; c < 3; ++c) {
      uint8_t* dst = data + (i * 3 + c) * plane;
      for (size_t p = 0; p < plane; ++p) dst[p] = images[i].pixels[p * 3 + c];
    }
  }
  return out;
}

}  // namespace vitrt::vision

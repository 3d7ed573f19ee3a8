// HF image-processor preprocessing (CLIPImageProcessor, PIL backend): convert to RGB, resize,
// centre crop, rescale and normalize, into the model's pixel_values.
//
// Every step reproduces transformers' arithmetic: the uint8 image after the crop equals HF's
// bit for bit, and the float values follow from it with HF's float64 rescale and float32
// normalize, so they match too.
#pragma once

#include <string>
#include <vector>

#include "vision/image.h"
#include "vision/image_decode.h"
#include "vision/preprocessor_config.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt::vision {

// The (height, width) an image of the given size is resized to: shortest_edge with the long
// side truncated as HF's get_resize_output_image_size (and torchvision's Resize) computes it,
// the exact size, or ResizeKeepRatio's.
std::pair<int, int> resize_output_size(int height, int width, const PreprocessorConfig& config);

// HF's center_crop: the window starts at floor((size - crop) / 2) on each axis; where the
// image is smaller than the crop, the missing pixels are zeros. With torchvision set,
// torchvision's CenterCrop / open_clip's CenterCropOrPad instead (see PreprocessorConfig).
Image center_crop(const Image& image, int crop_height, int crop_width, bool torchvision = false,
                  const std::array<uint8_t, 3>& pad_fill = {0, 0, 0});

// Convert, resize and crop an upright image: the RGB uint8 image HF rescales next.
Result<Image> preprocess_to_uint8(const Image& upright, const PreprocessorConfig& config);

// Rescale and normalize an RGB image into `chw` (3 * height * width floats, planar).
void write_pixel_values(const Image& rgb, const PreprocessorConfig& config, float* chw);

// Loads (EXIF orientation applied) and preprocesses image files in parallel, one image per
// thread, into float32 [N, 3, H, W]. All images must end up the same size (always the case
// with a centre crop); the first failing file's error is returned.
Result<Tensor> preprocess_image_files(const std::vector<std::string>& paths,
                                      const PreprocessorConfig& config,
                                      const DecodeOptions& options = {});
// The same, stopping before rescale: uint8 [N, 3, H, W].
Result<Tensor> preprocess_image_files_uint8(const std::vector<std::string>& paths,
                                            const PreprocessorConfig& config,
                                            const DecodeOptions& options = {});

}  // namespace vitrt::vision

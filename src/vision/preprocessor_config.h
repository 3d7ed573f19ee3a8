// The settings of an HF image processor, read from its preprocessor_config.json.
//
// Fields and defaults follow transformers' CLIPImageProcessor: a field the file omits takes
// CLIP's default (shortest edge 224, bicubic, 224x224 centre crop, rescale 1/255, OpenAI CLIP
// mean/std, convert to RGB). Other processors that use the same fields (SigLIP, ViT, DINOv2)
// work when their file spells the fields out, as the files on the Hub do.
#pragma once

#include <array>
#include <string>

#include "vision/resample.h"
#include "vitrt/status.h"

namespace vitrt::vision {

struct PreprocessorConfig {
  bool do_convert_rgb = true;
  bool do_resize = true;
  // Either the shortest edge (the other follows the aspect ratio) or an exact height x width.
  int shortest_edge = 224;
  int resize_height = 0;  // > 0 selects the exact size instead of shortest_edge
  int resize_width = 0;
  ResampleFilter resample = ResampleFilter::kBicubic;
  bool do_center_crop = true;
  int crop_height = 224;
  int crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> image_mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> image_std = {0.26862954f, 0.26130258f, 0.27577711f};
  // MobileViT's do_flip_channel_order: the pixel values leave as BGR. Applied to the uint8
  // pixels after the crop, with image_mean/image_std swapped to match (the parser does that),
  // which equals HF's flip after the normalization.
  bool flip_channel_order = false;
};

// `source` names the text in messages (usually the file path). Fields the file leaves out take
// the defaults of the image processor it names ("image_processor_type", or the older
// "feature_extractor_type"), as transformers' from_pretrained does, and an integer "size" means
// what that class makes of it: a square for ViT, DeiT, BEiT, SegFormer, DPT and EfficientNet,
// the shortest edge for CLIP, Bit (DINOv2), SigLIP, ConvNeXt, PoolFormer, LeViT, MobileNet and
// MobileViT. ConvNeXt's and PoolFormer's crop_pct and LeViT's 256/224 resize are folded into
// the resize and crop sizes. A file that names no class (or one not listed) keeps
// CLIPImageProcessor's defaults.
Result<PreprocessorConfig> parse_preprocessor_config(const std::string& json_text,
                                                     const std::string& source);
Result<PreprocessorConfig> read_preprocessor_config(const std::string& path);

// HF ViTImageProcessor's defaults (resize to 224x224 bilinear, no crop, rescale 1/255,
// mean = std = 0.5): what calibration and `vitrt eval` apply to images without a config.
PreprocessorConfig vit_default_preprocessor_config();

}  // namespace vitrt::vision

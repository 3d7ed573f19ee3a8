// The settings of an image preprocessing pipeline, read from one of the files models ship:
//   - an HF preprocessor_config.json (transformers' image processors, PIL backend);
//   - a timm model's config.json, or its pretrained_cfg alone (timm's eval transform:
//     resolve_data_config + create_transform);
//   - an open_clip model's open_clip_config.json (open_clip's image_transform, not training).
// The last two run torchvision's transforms on PIL images, whose arithmetic differs from HF's
// in the crop's rounding, the padding and the RGB conversion: `torchvision` selects it.
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
  // EfficientNetImageProcessor: rescale_offset makes the rescale x * factor - 1; include_top
  // divides by image_std once more after the normalization (its "normalize with mean 0").
  bool rescale_offset = false;
  bool include_top = false;

  // timm / open_clip (torchvision on PIL images):
  //  - the centre crop starts at round((size - crop) / 2), half to even, and an image smaller
  //    than the crop is padded by (crop - size) // 2 before it with `pad_fill` (HF: the floor
  //    of the offset, and zeros placed by the ceiling);
  //  - convert("RGB") drops an alpha band where HF composites it onto white.
  bool torchvision = false;
  std::array<uint8_t, 3> pad_fill = {0, 0, 0};
  // ResizeKeepRatio (timm, open_clip), used when keep_ratio_height > 0: each side divided by
  // the smaller (keep_ratio_longest: the larger) of height / keep_ratio_height and width /
  // keep_ratio_width, rounded half to even.
  int keep_ratio_height = 0;
  int keep_ratio_width = 0;
  bool keep_ratio_longest = false;
  // Where the settings came from, for messages: "HF", "timm" or "open_clip".
  const char* source_kind = "HF";
};

// `source` names the text in messages (usually the file path). A timm config is recognised by
// its "pretrained_cfg" object (or, alone, by "input_size" with timm's keys), an open_clip one
// by "preprocess_cfg" or "model_cfg"; their fields take timm's and open_clip's defaults, and
// the parts of their transforms that are not resize-crop-normalize (training augmentation)
// are refused. For an HF file, fields the file leaves out take
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

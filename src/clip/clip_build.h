// `vitrt build DIR` for a CLIP model folder: both towers' plans from the ONNX files clip.json
// names.
#pragma once

#include <string>

#include "vitrt/builder.h"
#include "vitrt/status.h"

namespace vitrt::clip {

// Builds OUT_DIR/vision.plan and OUT_DIR/text.plan from the towers MODEL_DIR/clip.json names.
// When OUT_DIR is another folder, clip.json and the preprocessor config are copied there, so
// that OUT_DIR is a model folder ClipModel::load reads without the ONNX files. Errors name the
// tower ("text tower (text.onnx): ...").
Status build_clip_plans(const std::string& model_dir, const std::string& out_dir,
                        const BuildOptions& options);

}  // namespace vitrt::clip

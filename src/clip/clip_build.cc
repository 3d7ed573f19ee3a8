// Building a CLIP model folder's two plans.
#include "clip/clip_build.h"

#include <filesystem>
#include <system_error>

#include "clip/clip_config.h"

namespace vitrt::clip {
namespace {

namespace fs = std::filesystem;

Status build_tower(const std::string& name, const fs::path& onnx, const fs::path& plan,
                   const BuildOptions& options) {
  if (options.log) options.log(str_cat(name, " tower: ", onnx.string(), " -> ", plan.string()));
  Result<BuildSummary> summary = build_plan(onnx.string(), plan.string(), options);
  if (!summary.ok()) {
    return summary.status().with_context(str_cat(name, " tower (", onnx.string(), ")"));
  }
  return Status::ok_status();
}

Status copy_into(const fs::path& from, const fs::path& to_dir) {
  std::error_code error;
  fs::copy_file(from, to_dir / from.filename(), fs::copy_options::overwrite_existing, error);
  if (error) {
    return io_error("cannot copy ", from.string(), " to ", to_dir.string(), ": ", error.message());
  }
  return Status::ok_status();
}

}  // namespace

Status build_clip_plans(const std::string& model_dir, const std::string& out_dir,
                        const BuildOptions& options) {
  VITRT_ASSIGN_OR_RETURN(ClipConfig config, read_clip_config(model_dir));
  const fs::path in(model_dir), out(out_dir);
  std::error_code error;
  fs::create_directories(out, error);
  if (error) return io_error("cannot create ", out.string(), ": ", error.message());
  VITRT_RETURN_IF_ERROR(
      build_tower("vision", in / config.vision.onnx, out / kVisionPlanFileName, options));
  VITRT_RETURN_IF_ERROR(
      build_tower("text", in / config.text.onnx, out / kTextPlanFileName, options));
  if (fs::equivalent(in, out, error)) return Status::ok_status();
  VITRT_RETURN_IF_ERROR(copy_into(in / kClipConfigFileName, out));
  return copy_into(in / config.preprocessor_config, out);
}

}  // namespace vitrt::clip

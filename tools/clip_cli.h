// What `vitrt clip embed`, `classify` and `rank` share: the flags that load a CLIP model
// folder, expanding image arguments (files and folders), the progress bar, and writing results
// as JSON or .npy.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_args.h"
#include "vitrt/clip.h"

namespace vitrt::cli {

// The flags every model-running clip subcommand takes (merge into its own FlagSpecs).
std::vector<FlagSpec> clip_model_flags();
// The help text for those flags.
extern const char* const kClipModelFlagsHelp;

// ClipOptions from --vocab, --batch and the progress bar (on stderr when it is a terminal, or
// with --progress); `what` names the items counted ("images", "texts"). Errors are usage
// errors (a bad flag value, no --model).
Result<ClipOptions> clip_options(const CliArgs& args, const std::string& what);

// A float rounded to the shortest decimal that reads back as the same float, as a JSON number.
nlohmann::json json_float(float value);

// Writes `json` (to stdout when `output` is empty or "-"; indented when `indent`) or `tensor`
// (when `output` ends in .npy). An error names the file.
Status write_clip_output(const std::string& output, const nlohmann::json& json,
                         const Tensor& tensor, bool indent);

}  // namespace vitrt::cli

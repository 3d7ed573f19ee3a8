// `vitrt build MODEL.onnx -o MODEL.plan [--device cpu|cuda] [--precision P] [--tf32]
//  [--profile INPUT:min=..,opt=..,max=..]... [--timing-cache FILE]`
// `vitrt build CLIP_DIR [-o OUT_DIR]` for both towers of a CLIP model folder.
#include <cstdio>
#include <filesystem>

#include "cli_args.h"
#include "clip/clip_build.h"
#include "clip/clip_config.h"
#include "commands.h"
#include "vitrt/builder.h"

namespace vitrt::cli {
namespace {

constexpr const char* kHelp =
    "usage: vitrt build MODEL.onnx -o MODEL.plan [--device cpu|cuda] [--precision P] [--tf32]\n"
    "                   [--profile INPUT:min=SHAPE,opt=SHAPE,max=SHAPE]... [--timing-cache FILE]\n"
    "                   [--no-tactics] [--verbose]\n"
    "       vitrt build CLIP_DIR [-o OUT_DIR] [--device cpu|cuda] [--precision P]\n"
    "\n"
    "Imports an ONNX model, infers its (symbolic) shapes, optimizes it, checks that every op\n"
    "has a kernel, and writes a self-contained plan file that 'vitrt run' and 'vitrt bench'\n"
    "load without the ONNX model.\n"
    "\n"
    "A folder holding clip.json (python/export_clip.py writes one) is a CLIP model: both towers\n"
    "are built, into vision.plan and text.plan in the folder (or OUT_DIR, which then also gets\n"
    "clip.json and the preprocessor config), for 'vitrt clip embed|classify|rank'.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE    the plan to write (required for an ONNX model; for a CLIP folder,\n"
    "                       the folder to write the plans into, default the model folder)\n"
    "  --device D           cpu (default) or cuda: the device kind the plan runs on\n"
    "  --precision P        fp32 (default), bf16 or (cuda) fp16. On the CPU, bf16 makes the\n"
    "                       linear layers (fused vitrt.Linear) multiply in bfloat16 with fp32\n"
    "                       accumulation (fast on CPUs with AVX512-BF16 or AMX); normalisation,\n"
    "                       softmax, attention products and the residual stream stay fp32.\n"
    "                       On CUDA, fp16/bf16 weights and activations with fp32 accumulation.\n"
    "                       int8 and fp8 are not supported yet.\n"
    "  --tf32               cuda fp32 plans: let GEMMs use TF32 tensor cores (else true fp32)\n"
    "  --profile SPEC       an optimization profile range for one input, e.g.\n"
    "                       pixel_values:min=1x3x224x224,opt=32x3x224x224,max=256x3x224x224\n"
    "                       (repeatable; a second range for the same input starts a second\n"
    "                       profile). The plan refuses inputs outside every profile; cuda builds\n"
    "                       time GEMM algorithms for each profile's opt shapes (default: batch 1\n"
    "                       and 32 when only the batch dim is symbolic)\n"
    "  --timing-cache FILE  cuda: reuse the GEMM timings in FILE and add the new ones, so a\n"
    "                       rebuild on the same GPU skips the timing (a bad file is ignored)\n"
    "  --no-tactics         cuda: skip the timing; cuBLASLt's heuristic picks at run time\n"
    "  --exact-gelu         cuda fp16/bf16: never time erf GELU as cuBLASLt's tanh-form GELU\n"
    "                       epilogue (at most 4.7e-4 from erf, below fp16's rounding of GELU\n"
    "                       outputs; taken only where faster, and said in --verbose)\n"
    "  --verbose            log each build step, each fusion applied (pattern, nodes absorbed)\n"
    "                       and each near miss with the reason it was not applied\n"
    "  --no-optimize        keep the graph as imported (no clean-up, no fusions)\n"
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 success, 1 the model cannot be built (message names the node), 2 usage\n";

const char* const kPrecisions[] = {"fp32", "fp16", "bf16", "int8", "fp8"};

}  // namespace

int build_command(const std::vector<std::string>& words) {
  Result<CliArgs> parsed = CliArgs::parse(words, {{"--output", "-o", true, false},
                                                  {"--precision", "", true, false},
                                                  {"--device", "", true, false},
                                                  {"--tf32", "", false, false},
                                                  {"--verbose", "", false, false},
                                                  {"--profile", "", true, true},
                                                  {"--timing-cache", "", true, false},
                                                  {"--no-tactics", "", false, false},
                                                  {"--exact-gelu", "", false, false},
                                                  {"--no-optimize", "", false, false}});
  if (!parsed.ok()) return usage_error("build", parsed.status().message());
  const CliArgs& args = *parsed;
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (args.positionals().size() != 1) {
    return usage_error("build", "expected exactly one MODEL.onnx or CLIP_DIR argument");
  }
  const std::string& model = args.positionals()[0];
  const bool clip_dir = std::filesystem::is_directory(model);
  if (clip_dir &&
      !std::filesystem::exists(std::filesystem::path(model) / clip::kClipConfigFileName)) {
    return usage_error("build", "'" + model +
                                    "' is a folder without clip.json; expected MODEL.onnx or a "
                                    "CLIP model folder");
  }
  if (!clip_dir && !args.has("--output")) return usage_error("build", "missing -o MODEL.plan");
  BuildOptions options;
  options.precision = args.get("--precision", "fp32");
  bool known = false;
  for (const char* p : kPrecisions) known = known || options.precision == p;
  if (!known) {
    return usage_error("build", "--precision must be one of fp32, fp16, bf16, int8, fp8; got '" +
                                    options.precision + "'");
  }
  options.device = args.get("--device", "cpu");
  if (options.device != "cpu" && options.device != "cuda") {
    return usage_error("build", "--device must be cpu or cuda; got '" + options.device + "'");
  }
  options.tf32 = args.has("--tf32");
  options.verbose = args.has("--verbose");
  options.optimize = !args.has("--no-optimize");
  options.profiles = args.get_all("--profile");
  options.timing_cache = args.get("--timing-cache");
  options.select_tactics = !args.has("--no-tactics");
  options.exact_gelu = args.has("--exact-gelu");
  if (clip_dir && !options.profiles.empty()) {
    return usage_error("build",
                       "--profile applies to one ONNX model; a CLIP folder's towers have "
                       "different inputs");
  }
  options.log = [](const std::string& line) { std::printf("[build] %s\n", line.c_str()); };
  if (clip_dir) {
    Status built = clip::build_clip_plans(model, args.get("--output", model), options);
    std::fflush(stdout);
    if (!built.ok()) return failure("build", built);
    return kExitOk;
  }
  Result<BuildSummary> summary = build_plan(model, args.get("--output"), options);
  std::fflush(stdout);
  if (!summary.ok()) return failure("build", summary.status());
  return kExitOk;
}

}  // namespace vitrt::cli

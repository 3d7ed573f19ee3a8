// `vitrt build MODEL.onnx -o MODEL.plan [--device cpu|cuda] [--precision P] [--tf32]
//  [--profile INPUT:min=..,opt=..,max=..]... [--timing-cache FILE]`
// `vitrt build CLIP_DIR [-o OUT_DIR]` for both towers of a CLIP model folder.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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
    "                   [--calib-data DIR [--calib-method M] [--calib-batches N] ...]\n"
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
    "                       int8 / fp8: post-training quantization of the encoder's linear\n"
    "                       layers (calibrated on --calib-data); the patch embedding, heads,\n"
    "                       attention, normalisation and the residual stream stay in the float\n"
    "                       type (cpu fp32, cuda fp16). --verbose lists each layer's precision.\n"
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
    "                       (the timing runs the plan once, so a node that cannot run on this\n"
    "                       GPU fails the build; without it, the plan's first run)\n"
    "  --exact-gelu         cuda fp16/bf16: never time erf GELU as cuBLASLt's tanh-form GELU\n"
    "                       epilogue (at most 4.7e-4 from erf, below fp16's rounding of GELU\n"
    "                       outputs; taken only where faster, and said in --verbose); fp8: nor\n"
    "                       as CUTLASS's FP8 GEMM computing the tanh form on fp16 pairs\n"
    "  --no-fp8-fast-accum  cuda fp8: never time FP8 GEMMs with fast accumulation (the tensor\n"
    "                       cores' accumulator unpromoted; taken only where faster)\n"
    "  --no-fp8-attention   cuda fp8: q, k, v stay 16-bit (default: the qkv layer writes E4M3\n"
    "                       codes and the attention's Q K^T runs on 8-bit tensor cores)\n"
    "  --calib-data DIR     int8/fp8: calibration inputs: images (.jpg .png .webp .gif .bmp\n"
    "                       .tif, for one-input image models), .npy files (one input tensor\n"
    "                       each), or sub-folders with NAME.npy for each model input (one\n"
    "                       run each); one kind per folder\n"
    "  --calib-config FILE  the images' preprocessing: an HF preprocessor_config.json, a timm\n"
    "                       config.json or an open_clip_config.json (default HF ViT's:\n"
    "                       224x224 bilinear, mean = std = 0.5)\n"
    "  --calib-method M     percentile (int8 default), entropy, mse, minmax (fp8 default)\n"
    "  --calib-percentile P for --calib-method percentile (default 99.99)\n"
    "  --calib-batches N    calibrate on at most N runs (default: all the data)\n"
    "  --calib-batch-size N images per run (default 8)\n"
    "  --calib-cache FILE   reuse FILE's measurements when it matches the model (a mismatch is\n"
    "                       an error); else calibrate and write it. A FILE that lacks values\n"
    "                       this build measures is calibrated again with --calib-data\n"
    "  --layer-precision GLOB=P  the precision (fp32 fp16 bf16 int8 fp8) of the linear layers\n"
    "                       whose node name matches GLOB; repeatable, the last match wins\n"
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
                                                  {"--no-fp8-fast-accum", "", false, false},
                                                  {"--no-fp8-attention", "", false, false},
                                                  {"--no-optimize", "", false, false},
                                                  {"--calib-data", "", true, false},
                                                  {"--calib-config", "", true, false},
                                                  {"--calib-method", "", true, false},
                                                  {"--calib-percentile", "", true, false},
                                                  {"--calib-batches", "", true, false},
                                                  {"--calib-batch-size", "", true, false},
                                                  {"--calib-cache", "", true, false},
                                                  {"--layer-precision", "", true, true}});
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
  options.fp8_fast_accum = !args.has("--no-fp8-fast-accum");
  options.fp8_attention = !args.has("--no-fp8-attention");
  if (clip_dir && !options.profiles.empty()) {
    return usage_error("build",
                       "--profile applies to one ONNX model; a CLIP folder's towers have "
                       "different inputs");
  }
  options.calib_data = args.get("--calib-data");
  options.calib_config = args.get("--calib-config");
  options.calib_method = args.get("--calib-method");
  options.calib_cache = args.get("--calib-cache");
  options.layer_precision = args.get_all("--layer-precision");
  for (const auto& [flag, target] :
       {std::pair<const char*, int*>{"--calib-batches", &options.calib_batches},
        std::pair<const char*, int*>{"--calib-batch-size", &options.calib_batch_size}}) {
    if (!args.has(flag)) continue;
    const std::string text = args.get(flag);
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < 1 || v > 1000000) {
      return usage_error("build",
                         std::string(flag) + " must be a positive integer; got '" + text + "'");
    }
    *target = static_cast<int>(v);
  }
  if (args.has("--calib-percentile")) {
    const std::string text = args.get("--calib-percentile");
    char* end = nullptr;
    options.calib_percentile = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(options.calib_percentile > 0.0) ||
        options.calib_percentile > 100.0) {
      return usage_error("build", "--calib-percentile must be in (0, 100]; got '" + text + "'");
    }
  }
  const bool quantized = options.precision == "int8" || options.precision == "fp8";
  if (!quantized && (args.has("--calib-data") || args.has("--layer-precision"))) {
    return usage_error("build",
                       "--calib-data and --layer-precision apply to --precision int8 "
                       "or fp8");
  }
  if (clip_dir && quantized) {
    return usage_error("build",
                       "--precision int8/fp8 applies to one ONNX model: build each CLIP tower "
                       "(vision.onnx, text.onnx) with calibration data of its own input");
  }
  // A bar redrawn in place on a terminal; one line per run otherwise (logs, CI).
  options.calib_progress = [tty = isatty(fileno(stderr)) != 0](int done, int total) {
    if (tty) {
      const int width = 30;
      const int filled = total > 0 ? done * width / total : width;
      std::fprintf(stderr, "\rcalibrating [%s%s] %d/%d", std::string(filled, '#').c_str(),
                   std::string(width - filled, ' ').c_str(), done, total);
      if (done == total) std::fputc('\n', stderr);
    } else {
      std::fprintf(stderr, "calibration batch %d/%d\n", done, total);
    }
  };
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

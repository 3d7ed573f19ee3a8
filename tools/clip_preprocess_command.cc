// `vitrt clip preprocess IMAGE... --config preprocessor_config.json -o pixel_values.npy`
#include <cstdio>

#include "cli_args.h"
#include "commands.h"
#include "core/npy.h"
#include "vision/image_preprocess.h"

namespace vitrt::cli {
namespace {

constexpr const char* kCommand = "clip preprocess";

constexpr const char* kHelp =
    "usage: vitrt clip preprocess IMAGE... --config preprocessor_config.json -o OUT.npy\n"
    "\n"
    "Decodes JPEG, PNG, WebP, GIF, BMP and TIFF images, turns them upright (EXIF orientation)\n"
    "and preprocesses them as the config's library does (HF's image processor, timm's or\n"
    "open_clip's eval transform: convert to RGB, resize with PIL's resampling, centre crop,\n"
    "rescale, normalize). Writes float32\n"
    "[N, 3, H, W] in the order of the IMAGE arguments. Images are decoded in parallel.\n"
    "\n"
    "options:\n"
    "  --config FILE      the model's preprocessor_config.json, timm config.json or\n"
    "                     open_clip_config.json (required)\n"
    "  -o, --output FILE  the .npy to write (required)\n"
    "  --uint8            write the uint8 [N, 3, H, W] pixels after the crop instead (before\n"
    "                     rescale and normalize)\n"
    "  --max-pixels N     refuse images whose header declares more than N pixels (default\n"
    "                     178956970, PIL's decompression-bomb limit)\n"
    "  -h, --help         show this help\n"
    "\n"
    "exit status: 0 success, 1 bad input or failure (the message names the file), 2 usage "
    "error\n";

}  // namespace

int clip_preprocess_command(const std::vector<std::string>& words) {
  Result<CliArgs> parsed = CliArgs::parse(words, {{"--config", "", true, false},
                                                  {"--output", "-o", true, false},
                                                  {"--uint8", "", false, false},
                                                  {"--max-pixels", "", true, false}});
  if (!parsed.ok()) return usage_error(kCommand, parsed.status().message());
  const CliArgs& args = *parsed;
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (args.positionals().empty()) return usage_error(kCommand, "expected at least one IMAGE");
  if (!args.has("--config")) return usage_error(kCommand, "missing --config FILE");
  if (!args.has("--output")) return usage_error(kCommand, "missing -o OUT.npy");
  Result<int64_t> max_pixels =
      args.get_int("--max-pixels", vision::kDefaultMaxImagePixels, 1, int64_t{1} << 40);
  if (!max_pixels.ok()) return usage_error(kCommand, max_pixels.status().message());

  auto config = vision::read_preprocessor_config(args.get("--config"));
  if (!config.ok()) return failure(kCommand, config.status());
  vision::DecodeOptions options;
  options.max_pixels = *max_pixels;
  auto pixels = args.has("--uint8")
                    ? vision::preprocess_image_files_uint8(args.positionals(), *config, options)
                    : vision::preprocess_image_files(args.positionals(), *config, options);
  if (!pixels.ok()) return failure(kCommand, pixels.status());
  Status written = write_npy_file(args.get("--output"), *pixels);
  if (!written.ok()) return failure(kCommand, written);
  return kExitOk;
}

}  // namespace vitrt::cli

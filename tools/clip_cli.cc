// Shared parts of the model-running `vitrt clip` subcommands (clip_cli.h).
#include "clip_cli.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "core/npy.h"

namespace vitrt::cli {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A one-line bar redrawn in place: "[=======>      ] 640/1000 images  55.2/s", one line per
// embed call. A call done in one batch draws nothing: it was never long.
class ProgressBar {
 public:
  explicit ProgressBar(std::string what)
      : what_(std::move(what)), run_start_(std::chrono::steady_clock::now()) {}

  void update(int64_t done, int64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (!drawing_ && done >= total) {
      run_start_ = now;
      return;
    }
    drawing_ = true;
    constexpr int kWidth = 30;
    // The rate counts from the end of the previous call (or the start): the first batch's time.
    const double seconds = std::chrono::duration<double>(now - run_start_).count();
    const int filled = total > 0 ? static_cast<int>(kWidth * done / total) : kWidth;
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < kWidth) bar += '>';
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r[%s] %lld/%lld %s  %.1f/s", bar.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), what_.c_str(),
                 seconds > 0 ? static_cast<double>(done) / seconds : 0.0);
    if (done >= total) {
      std::fputc('\n', stderr);
      drawing_ = false;
      run_start_ = now;
    }
    std::fflush(stderr);
  }

 private:
  std::string what_;
  std::chrono::steady_clock::time_point run_start_;
  bool drawing_ = false;
};

}  // namespace

std::vector<FlagSpec> clip_model_flags() {
  return {{"--model", "-m", true, false},   {"--vocab", "", true, false},
          {"--batch", "", true, false},     {"--progress", "", false, false},
          {"--truncate", "", false, false}, {"--output", "-o", true, false}};
}

const char* const kClipModelFlagsHelp =
    "  -m, --model DIR    the CLIP model folder: clip.json, preprocessor_config.json and the\n"
    "                     plans 'vitrt build DIR' writes (required)\n"
    "  -o, --output FILE  FILE.json or FILE.npy; default: JSON on stdout\n"
    "  --batch N          images or texts per tower run (default 64)\n"
    "  --progress         show a progress bar on stderr (default: only when stderr is a\n"
    "                     terminal)\n"
    "  --truncate         cut texts longer than the context (77 tokens) as open_clip does;\n"
    "                     without it they are an error\n"
    "  --vocab PATH       bpe_simple_vocab_16e6.txt.gz; default: $VITRT_CLIP_VOCAB, else\n"
    "                     third_party_data/clip/ beside the build directory or under the\n"
    "                     current directory\n"
    "  -h, --help         show this help\n";

Result<ClipOptions> clip_options(const CliArgs& args, const std::string& what) {
  if (!args.has("--model")) return invalid_argument("missing --model DIR");
  ClipOptions options;
  options.vocab_path = args.get("--vocab");
  VITRT_ASSIGN_OR_RETURN(int64_t batch, args.get_int("--batch", options.max_batch, 1, 1 << 16));
  options.max_batch = static_cast<int>(batch);
  options.truncate_texts = args.has("--truncate");
  if (args.has("--progress") || isatty(STDERR_FILENO)) {
    auto bar = std::make_shared<ProgressBar>(what);
    options.progress = [bar](int64_t done, int64_t total) { bar->update(done, total); };
  }
  return options;
}

nlohmann::json json_float(float value) {
  char text[32];
  // 9 significant digits always round-trip a float; fewer often do and read better.
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(text, sizeof(text), "%.*g", digits, static_cast<double>(value));
    if (std::strtof(text, nullptr) == value) break;
  }
  return std::strtod(text, nullptr);
}

Status write_clip_output(const std::string& output, const nlohmann::json& json,
                         const Tensor& tensor, bool indent) {
  if (ends_with(output, ".npy")) return write_npy_file(output, tensor);
  const std::string text = json.dump(indent ? 1 : -1) + "\n";
  if (output.empty() || output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return Status::ok_status();
  }
  std::ofstream file(output, std::ios::binary);
  file << text;
  if (!file) return io_error(output, ": cannot write");
  return Status::ok_status();
}

}  // namespace vitrt::cli

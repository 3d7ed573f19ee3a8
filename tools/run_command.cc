// `vitrt run MODEL.plan --input NAME=FILE.npy [--input ...] --output-dir DIR`
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "cli_args.h"
#include "commands.h"
#include "core/npy.h"
#include "cpu/float_widen.h"
#include "plan/plan_format.h"

namespace vitrt::cli {
namespace {

constexpr const char* kHelp =
    "usage: vitrt run MODEL.plan --input NAME=FILE.npy [--input ...] --output-dir DIR\n"
    "\n"
    "Runs a plan (or an ONNX model directly) on inputs read from NumPy .npy files and writes\n"
    "one OUTPUT_NAME.npy per graph output into DIR (created if missing).\n"
    "\n"
    "options:\n"
    "  --input NAME=FILE    the .npy file for graph input NAME; give every input exactly once\n"
    "  --output-dir DIR     where to write the outputs (required)\n"
    "  --print              also print each output: shape, min/mean/max, first values\n"
    "  --expect NAME=FILE   compare output NAME with the reference in FILE.npy (for example\n"
    "                       PyTorch's output): prints the max error and fails (exit 1) when it\n"
    "                       exceeds --tolerance times the reference's max |value|\n"
    "  --tolerance REL      for --expect (default 1e-4)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Output file names: the graph output's name with every character other than letters,\n"
    "digits, '.', '_' and '-' replaced by '_' (so '/head/logits:0' -> '_head_logits_0.npy'); a\n"
    "name starting with '.' gets a leading '_', an empty name becomes 'output'. If two outputs\n"
    "map to the same file name, the later ones get '_2', '_3', ... appended.\n"
    "\n"
    "Inputs: little-endian, C-order .npy (float32, float16, float64, int8..int64, uint8..uint64,\n"
    "bool) whose dtype, rank and static dims match the model input; symbolic dims (batch, ...)\n"
    "take their size from the arrays and must agree across inputs. A float16 or bfloat16\n"
    "input may also be given as float32/float64 (NumPy has no bfloat16): it is rounded to the\n"
    "model's type. bfloat16 outputs are written as float32.\n"
    "\n"
    "exit status: 0 success, 1 bad input or failure (the message names the file or input),\n"
    "2 usage error\n";

std::string sanitize_output_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    out.push_back(safe ? c : '_');
  }
  if (out.empty()) return "output";
  if (out[0] == '.') out.insert(out.begin(), '_');
  return out;
}

// A glance at the values: min/mean/max and the first few, as float.
void print_values(const Tensor& t) {
  const int64_t n = t.numel();
  if (n == 0 || t.dtype() == DType::kBFloat16) return;
  double lo = t.element_as_double(0), hi = lo, sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = t.element_as_double(i);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  std::printf("  min %.6g  mean %.6g  max %.6g\n  first:", lo, sum / n, hi);
  for (int64_t i = 0; i < std::min<int64_t>(n, 8); ++i) {
    std::printf(" %.6g", t.element_as_double(i));
  }
  std::printf("%s\n", n > 8 ? " ..." : "");
}

}  // namespace

struct OutputComparison {
  double max_abs_error = 0.0;
  double reference_scale = 0.0;  // max |reference|
};

Result<OutputComparison> compare_output(const Tensor& actual, const Tensor& reference) {
  if (actual.shape() != reference.shape()) {
    return invalid_argument("shape ", shape_to_string(actual.shape()),
                            " differs from the reference's ", shape_to_string(reference.shape()));
  }
  OutputComparison cmp;
  for (int64_t i = 0; i < reference.numel(); ++i) {
    const double r = reference.element_as_double(i);
    const double err = std::fabs(actual.element_as_double(i) - r);
    cmp.reference_scale = std::max(cmp.reference_scale, std::fabs(r));
    cmp.max_abs_error = std::isnan(err) ? INFINITY : std::max(cmp.max_abs_error, err);
  }
  return cmp;
}

// `t` (float32 or float64) as float16 or bfloat16, rounded to nearest even (float64 through
// float32): NumPy has no bfloat16, so a bfloat16 model input can only arrive as a wider float.
Tensor narrow_float(const Tensor& t, DType to) {
  if (t.dtype() == DType::kFloat32) return narrow_from_float32(t, to);
  Tensor f32 = Tensor::empty(DType::kFloat32, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) {
    f32.data<float>()[i] = static_cast<float>(t.data<double>()[i]);
  }
  return narrow_from_float32(f32, to);
}

Result<std::shared_ptr<Engine>> load_model(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return not_found("model file '", path, "' does not exist or is not a file");
  }
  // A .plan whose magic is damaged should say "not a vitrt plan", not an ONNX parse error.
  if (file_has_plan_magic(path) || std::filesystem::path(path).extension() == ".plan") {
    return Engine::load_plan(path);
  }
  return Engine::from_onnx(path);
}

int run_command(const std::vector<std::string>& words) {
  Result<CliArgs> parsed = CliArgs::parse(words, {{"--input", "-i", true, true},
                                                  {"--output-dir", "", true, false},
                                                  {"--print", "", false, false},
                                                  {"--expect", "", true, true},
                                                  {"--tolerance", "", true, false}});
  if (!parsed.ok()) return usage_error("run", parsed.status().message());
  const CliArgs& args = *parsed;
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (args.positionals().size() != 1) {
    return usage_error("run", "expected exactly one MODEL.plan (or MODEL.onnx) argument");
  }
  if (!args.has("--output-dir")) return usage_error("run", "missing --output-dir DIR");
  std::vector<std::pair<std::string, std::string>> input_files;
  for (const std::string& text : args.get_all("--input")) {
    Result<std::pair<std::string, std::string>> kv = split_assignment(text, "--input");
    if (!kv.ok()) return usage_error("run", kv.status().message());
    input_files.push_back(*kv);
  }

  std::map<std::string, std::string> expected_files;
  for (const std::string& text : args.get_all("--expect")) {
    Result<std::pair<std::string, std::string>> kv = split_assignment(text, "--expect");
    if (!kv.ok()) return usage_error("run", kv.status().message());
    expected_files[kv->first] = kv->second;
  }
  double tolerance = 1e-4;
  if (args.has("--tolerance")) {
    char* end = nullptr;
    const std::string text = args.get("--tolerance");
    tolerance = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || !(tolerance >= 0)) {
      return usage_error("run", "--tolerance expects a non-negative number, got '" + text + "'");
    }
  }

  const std::string model_path = args.positionals()[0];
  Result<std::shared_ptr<Engine>> engine = load_model(model_path);
  if (!engine.ok()) return failure("run", engine.status());

  std::vector<NamedTensor> inputs;
  for (const auto& [name, file] : input_files) {
    Result<Tensor> t = read_npy(file);
    if (!t.ok()) return failure("run", t.status().with_context(str_cat("input '", name, "'")));
    // A float16 or bfloat16 input given as float32/float64 is rounded to it (NumPy has no
    // bfloat16); any other dtype difference is the engine's error to report.
    for (const TensorInfo& info : (*engine)->inputs()) {
      const bool half = info.dtype == DType::kFloat16 || info.dtype == DType::kBFloat16;
      const bool wide = t->dtype() == DType::kFloat32 || t->dtype() == DType::kFloat64;
      if (info.name == name && half && wide) {
        std::fprintf(stderr, "vitrt run: input '%s': %s .npy rounded to the model's %s\n",
                     name.c_str(), dtype_name(t->dtype()), dtype_name(info.dtype));
        *t = narrow_float(*t, info.dtype);
      }
    }
    inputs.push_back({name, std::move(*t)});
  }
  std::unique_ptr<ExecutionContext> context = (*engine)->create_context();
  Result<std::vector<NamedTensor>> outputs = context->run(inputs);
  if (!outputs.ok()) return failure("run", outputs.status());

  const std::filesystem::path dir = args.get("--output-dir");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec)) {
    return failure("run", io_error("cannot create output directory '", dir.string(), "'"));
  }
  std::set<std::string> used;
  for (const NamedTensor& out : *outputs) {
    const std::string base = sanitize_output_name(out.name);
    std::string file = base;
    for (int k = 2; used.count(file) != 0; ++k) file = str_cat(base, "_", k);
    used.insert(file);
    const std::string path = (dir / (file + ".npy")).string();
    if (out.tensor.dtype() == DType::kBFloat16) {
      std::fprintf(stderr, "vitrt run: output '%s': bfloat16 written as float32 (exact)\n",
                   out.name.c_str());
    }
    Status written = write_npy_file(
        path, out.tensor.dtype() == DType::kBFloat16 ? widen_to_float32(out.tensor) : out.tensor);
    if (!written.ok()) {
      return failure("run", written.with_context(str_cat("output '", out.name, "'")));
    }
    std::printf("%s: %s -> %s\n", out.name.c_str(), out.tensor.describe().c_str(), path.c_str());
    if (args.has("--print")) print_values(out.tensor);
  }
  bool all_close = true;
  for (const auto& [name, file] : expected_files) {
    // Found by a loop, not a lambda: capturing a structured binding is C++20 that clang 14 (the
    // sanitizer build's compiler) does not have.
    auto it = outputs->begin();
    while (it != outputs->end() && it->name != name) ++it;
    if (it == outputs->end()) {
      return failure(
          "run", not_found("--expect names output '", name, "', which the model does not have"));
    }
    Result<Tensor> ref = read_npy(file);
    if (!ref.ok())
      return failure("run", ref.status().with_context(str_cat("--expect '", name, "'")));
    Result<OutputComparison> cmp = compare_output(it->tensor, *ref);
    if (!cmp.ok()) return failure("run", cmp.status().with_context(str_cat("output '", name, "'")));
    const bool close = cmp->max_abs_error <= tolerance * cmp->reference_scale;
    all_close = all_close && close;
    std::printf("%s vs %s: max |error| %.3g, reference scale %.3g, relative %.3g -> %s\n",
                name.c_str(), file.c_str(), cmp->max_abs_error, cmp->reference_scale,
                cmp->reference_scale > 0 ? cmp->max_abs_error / cmp->reference_scale : 0.0,
                close ? "ok" : "MISMATCH");
  }
  if (!all_close) {
    return failure("run", invalid_argument("outputs differ from the references by more than ",
                                           tolerance, " of their scale"));
  }
  return kExitOk;
}

}  // namespace vitrt::cli

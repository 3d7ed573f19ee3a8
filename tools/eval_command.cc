// `vitrt eval MODEL.plan --reference MODEL.onnx --data DIR [--labels FILE] [--batch N]
//  [--device cpu|cuda] [--json]`: how far a plan (any precision) is from the FP32 model.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "cli_args.h"
#include "commands.h"
#include "eval_data.h"

namespace vitrt::cli {
namespace {

constexpr const char* kHelp =
    "usage: vitrt eval MODEL.plan --reference MODEL.onnx --data DIR [--labels FILE]\n"
    "                 [--config preprocessor_config.json] [--batch N] [--device cpu|cuda]\n"
    "                 [--reference-optimized] [--json]\n"
    "\n"
    "Runs the plan and an FP32 reference over a data set and reports, per output, how close\n"
    "the plan comes: the cosine similarity of each item's output to the reference's (mean, and\n"
    "the worst item with its index) and the max |error| relative to the reference's scale (its\n"
    "max |value|). For classifier outputs ([batch, classes]): top-1 agreement with the\n"
    "reference and, with --labels, the top-1 accuracy of both.\n"
    "\n"
    "The reference is the ONNX model run by vitrt's CPU engine in FP32 as imported (no graph\n"
    "optimization, so no fusion is shared with the plan); --reference-optimized uses the\n"
    "optimized FP32 graph instead (faster on large data sets).\n"
    "\n"
    "Data (DIR): one NAME.npy per model input, each [items, ...]; or sub-folders (name\n"
    "order) each with NAME.npy per input, joined (the --calib-data layout of vitrt build); a\n"
    "single-input model also takes .npy files of any names, joined in name order. Or images\n"
    "(.jpg .jpeg .png .webp .gif .bmp .tif .tiff, sorted by name) for a model with one [batch, 3, "
    "H, W] input,\n"
    "preprocessed as HF's image processors do with --config (default: HF ViTImageProcessor's,\n"
    "224x224 bilinear, mean and std 0.5).\n"
    "\n"
    "options:\n"
    "  --reference FILE   the FP32 ONNX model the plan was built from (required)\n"
    "  --data DIR         the inputs (required)\n"
    "  --labels FILE      integer labels, one per item: .npy, or a text file of integers\n"
    "  --config FILE      preprocessing for image folders: preprocessor_config.json (HF),\n"
    "                     config.json (timm) or open_clip_config.json\n"
    "  --batch N          items per run, default 32 (a model with a static batch dim runs\n"
    "                     that many; a short last batch is padded and the padding dropped)\n"
    "  --device D         cpu (default) or cuda (a plan built with --device cuda)\n"
    "  --reference-optimized  run the reference through the optimizer (still FP32)\n"
    "  --json             print one JSON object as the last line of stdout\n"
    "  -h, --help         show this help\n"
    "\n"
    "Accuracy on a model with random weights says little about a precision: it shows that two\n"
    "engines agree. Evaluate trained weights on real data for accuracy figures.\n"
    "\n"
    "exit status: 0 success, 1 bad model, data or labels (the message names the file or\n"
    "input), 2 usage error\n";

// Running metrics of one output over the items.
struct OutputStats {
  std::string name;
  std::vector<int64_t> item_shape;  // the output's shape without the item axis
  int64_t items = 0;
  double cosine_sum = 0.0;
  double cosine_min = std::numeric_limits<double>::infinity();
  int64_t cosine_min_item = -1;
  int64_t nonfinite_items = 0;  // items whose plan output holds NaN or inf
  double max_abs_error = 0.0;
  double reference_scale = 0.0;  // max |reference|
  bool classifier = false;       // rank-2 [batch, classes] with classes > 1
  int64_t top1_agree = 0;
  std::vector<int64_t> plan_top1, reference_top1;
};

int64_t argmax(const std::vector<double>& v) {
  return std::max_element(v.begin(), v.end()) - v.begin();
}

// Adds the items of one batch (the first `count` items of `plan` and `reference`).
Status accumulate(OutputStats& s, const Tensor& plan, const Tensor& reference, int64_t count,
                  int64_t first_item) {
  if (plan.shape() != reference.shape()) {
    return invalid_argument("output '", s.name, "': the plan gives ", shape_to_string(plan.shape()),
                            " but the reference ", shape_to_string(reference.shape()));
  }
  const int64_t per_item = count == 0 ? 0 : plan.numel() / plan.dim(0);
  std::vector<double> p(static_cast<size_t>(per_item)), r(static_cast<size_t>(per_item));
  for (int64_t item = 0; item < count; ++item) {
    double dot = 0, pp = 0, rr = 0;
    bool finite = true;
    for (int64_t k = 0; k < per_item; ++k) {
      p[k] = plan.element_as_double(item * per_item + k);
      r[k] = reference.element_as_double(item * per_item + k);
      finite = finite && std::isfinite(p[k]);
      dot += p[k] * r[k];
      pp += p[k] * p[k];
      rr += r[k] * r[k];
      s.reference_scale = std::max(s.reference_scale, std::fabs(r[k]));
      const double err = std::fabs(p[k] - r[k]);
      s.max_abs_error = std::isnan(err) ? INFINITY : std::max(s.max_abs_error, err);
    }
    // Two zero vectors agree; one zero vector against a non-zero one does not.
    double cosine = (pp == 0 && rr == 0)   ? 1.0
                    : (pp == 0 || rr == 0) ? 0.0
                                           : dot / std::sqrt(pp * rr);
    if (!finite) {
      ++s.nonfinite_items;
      cosine = -1.0;  // the worst possible, so it shows as the worst item
    }
    s.cosine_sum += cosine;
    if (cosine < s.cosine_min) {
      s.cosine_min = cosine;
      s.cosine_min_item = first_item + item;
    }
    if (s.classifier) {
      s.plan_top1.push_back(argmax(p));
      s.reference_top1.push_back(argmax(r));
      s.top1_agree += s.plan_top1.back() == s.reference_top1.back();
    }
  }
  s.items += count;
  return Status::ok_status();
}

double ratio(int64_t a, int64_t b) {
  return b == 0 ? 0.0 : static_cast<double>(a) / b;
}

double accuracy(const std::vector<int64_t>& predicted, const std::vector<int64_t>& labels) {
  int64_t hits = 0;
  for (size_t i = 0; i < predicted.size(); ++i) hits += predicted[i] == labels[i];
  return ratio(hits, static_cast<int64_t>(predicted.size()));
}

// nlohmann writes NaN and inf as null; keep them readable as a JSON string instead.
nlohmann::json json_number(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

// The batch dim every input shares: a number when the model fixes it, 0 when symbolic.
Result<int64_t> static_batch(const Engine& engine) {
  int64_t fixed = 0;
  for (const TensorInfo& in : engine.inputs()) {
    if (in.dims.empty() || in.dims[0].empty() ||
        !std::isdigit(static_cast<unsigned char>(in.dims[0][0]))) {
      continue;
    }
    const int64_t b = std::stoll(in.dims[0]);
    if (fixed != 0 && b != fixed) {
      return invalid_argument("the plan's inputs fix different batch sizes (", fixed, " and ", b,
                              "); eval splits the data along axis 0 and needs one");
    }
    fixed = b;
  }
  return fixed;
}

Status check_same_interface(const Engine& plan, const Engine& reference) {
  auto names = [](const std::vector<TensorInfo>& infos) {
    std::vector<std::string> n;
    for (const TensorInfo& i : infos) n.push_back(i.name);
    return n;
  };
  auto joined = [](const std::vector<std::string>& n) {
    std::string s;
    for (const std::string& x : n) s += (s.empty() ? "'" : ", '") + x + "'";
    return s;
  };
  auto pi = names(plan.inputs()), ri = names(reference.inputs());
  std::sort(pi.begin(), pi.end());
  std::sort(ri.begin(), ri.end());
  if (pi != ri) {
    return invalid_argument("the plan's inputs (", joined(pi), ") differ from the reference's (",
                            joined(ri), "): is it the model the plan was built from?");
  }
  for (const TensorInfo& out : plan.outputs()) {
    bool found = false;
    for (const TensorInfo& r : reference.outputs()) found = found || r.name == out.name;
    if (!found) {
      return invalid_argument("the plan's output '", out.name,
                              "' is not an output of the reference (its outputs are ",
                              joined(names(reference.outputs())), ")");
    }
  }
  return Status::ok_status();
}

void print_table(const std::vector<OutputStats>& stats) {
  std::printf("\n%-24s %10s %20s %14s %10s", "output", "cos mean", "cos min (item)",
              "max|err|/scale", "top-1 agr");
  std::printf("\n");
  for (const OutputStats& s : stats) {
    char worst[64];
    std::snprintf(worst, sizeof(worst), "%.6f (%lld)", s.cosine_min,
                  static_cast<long long>(s.cosine_min_item));
    const double rel = s.reference_scale > 0 ? s.max_abs_error / s.reference_scale : 0.0;
    std::printf("%-24s %10.6f %20s %14.3g", s.name.c_str(), s.cosine_sum / s.items, worst, rel);
    if (s.classifier) {
      std::printf(" %9.2f%%", 100.0 * ratio(s.top1_agree, s.items));
    } else {
      std::printf(" %10s", "-");
    }
    std::printf("\n");
    if (s.nonfinite_items > 0) {
      std::printf("  %lld items of '%s' hold NaN or inf in the plan's output\n",
                  static_cast<long long>(s.nonfinite_items), s.name.c_str());
    }
  }
}

}  // namespace

int eval_command(const std::vector<std::string>& words) {
  Result<CliArgs> parsed = CliArgs::parse(words, {{"--reference", "", true, false},
                                                  {"--data", "", true, false},
                                                  {"--labels", "", true, false},
                                                  {"--config", "", true, false},
                                                  {"--batch", "", true, false},
                                                  {"--device", "", true, false},
                                                  {"--reference-optimized", "", false, false},
                                                  {"--json", "", false, false}});
  if (!parsed.ok()) return usage_error("eval", parsed.status().message());
  const CliArgs& args = *parsed;
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (args.positionals().size() != 1) {
    return usage_error("eval", "expected exactly one MODEL.plan argument");
  }
  if (!args.has("--reference")) return usage_error("eval", "missing --reference MODEL.onnx");
  if (!args.has("--data")) return usage_error("eval", "missing --data DIR");
  Result<int64_t> batch_flag = args.get_int("--batch", 32, 1, 1 << 20);
  if (!batch_flag.ok()) return usage_error("eval", batch_flag.status().message());
  const std::string device = args.get("--device", "cpu");
  if (device != "cpu" && device != "cuda") {
    return usage_error("eval", "--device must be cpu or cuda, got '" + device + "'");
  }

  const std::string model_path = args.positionals()[0];
  const std::string reference_path = args.get("--reference");
  Result<std::shared_ptr<Engine>> plan = load_model(model_path);
  if (!plan.ok()) return failure("eval", plan.status());
  if ((*plan)->device() != device) {
    return failure("eval",
                   invalid_argument("'", model_path, "' runs on device '", (*plan)->device(),
                                    "', not '", device, "': give --device ", (*plan)->device()));
  }
  BuildOptions reference_options;
  reference_options.optimize = args.has("--reference-optimized");
  Result<std::shared_ptr<Engine>> reference = Engine::from_onnx(reference_path, reference_options);
  if (!reference.ok()) {
    return failure("eval",
                   reference.status().with_context(str_cat("reference '", reference_path, "'")));
  }
  Status same = check_same_interface(**plan, **reference);
  if (!same.ok()) return failure("eval", same);

  vision::PreprocessorConfig config = vision::vit_default_preprocessor_config();
  if (args.has("--config")) {
    auto read = vision::read_preprocessor_config(args.get("--config"));
    if (!read.ok()) return failure("eval", read.status());
    config = *read;
  }
  const std::string data_dir = args.get("--data");
  Result<EvalData> data = read_eval_data(data_dir, (*plan)->inputs(), config);
  if (!data.ok()) return failure("eval", data.status());
  if (data->items == 0) {
    return failure("eval", invalid_argument("data folder '", data_dir, "' holds no items"));
  }
  std::vector<int64_t> labels;
  if (args.has("--labels")) {
    Result<std::vector<int64_t>> read = read_labels(args.get("--labels"));
    if (!read.ok()) return failure("eval", read.status());
    labels = std::move(*read);
    if (static_cast<int64_t>(labels.size()) != data->items) {
      return failure(
          "eval", invalid_argument("labels file '", args.get("--labels"), "' has ", labels.size(),
                                   " labels for ", data->items, " items in '", data_dir, "'"));
    }
  }
  Result<int64_t> fixed_batch = static_batch(**plan);
  if (!fixed_batch.ok()) return failure("eval", fixed_batch.status());
  const int64_t batch = *fixed_batch != 0 ? *fixed_batch : *batch_flag;

  std::unique_ptr<ExecutionContext> plan_context = (*plan)->create_context();
  std::unique_ptr<ExecutionContext> reference_context = (*reference)->create_context();
  std::vector<OutputStats> stats;
  for (int64_t begin = 0; begin < data->items; begin += batch) {
    const int64_t count = std::min(batch, data->items - begin);
    // A static batch dim takes exactly `batch` items: pad with copies of the last one.
    const int64_t run_items = *fixed_batch != 0 ? batch : count;
    std::vector<NamedTensor> inputs;
    for (const NamedTensor& in : data->inputs) {
      Tensor chunk = slice_items(in.tensor, begin, begin + count);
      if (run_items > count) {
        Tensor padded = Tensor::empty(chunk.dtype(), [&] {
          std::vector<int64_t> s = chunk.shape();
          s[0] = run_items;
          return s;
        }());
        const size_t item_bytes = chunk.nbytes() / static_cast<size_t>(count);
        for (int64_t i = 0; i < run_items; ++i) {
          std::memcpy(
              static_cast<uint8_t*>(padded.raw_data()) + i * item_bytes,
              static_cast<const uint8_t*>(chunk.raw_data()) + std::min(i, count - 1) * item_bytes,
              item_bytes);
        }
        chunk = std::move(padded);
      }
      inputs.push_back({in.name, std::move(chunk)});
    }
    const std::string items_text = str_cat("items ", begin, "..", begin + count - 1);
    Result<std::vector<NamedTensor>> plan_out = plan_context->run(inputs);
    if (!plan_out.ok()) {
      return failure("eval", plan_out.status().with_context(str_cat("plan, ", items_text)));
    }
    Result<std::vector<NamedTensor>> ref_out = reference_context->run(inputs);
    if (!ref_out.ok()) {
      return failure("eval", ref_out.status().with_context(str_cat("reference, ", items_text)));
    }
    std::map<std::string, const Tensor*> ref_by_name;
    for (const NamedTensor& r : *ref_out) ref_by_name[r.name] = &r.tensor;
    if (stats.empty()) {
      for (const NamedTensor& o : *plan_out) {
        OutputStats s;
        s.name = o.name;
        if (o.tensor.rank() == 0 || o.tensor.dim(0) != run_items) {
          return failure(
              "eval", invalid_argument("output '", o.name, "' has shape ",
                                       shape_to_string(o.tensor.shape()), " for ", run_items,
                                       " items: eval compares outputs item by item along axis 0"));
        }
        s.item_shape.assign(o.tensor.shape().begin() + 1, o.tensor.shape().end());
        s.classifier = o.tensor.rank() == 2 && o.tensor.dim(1) > 1;
        stats.push_back(std::move(s));
      }
    }
    for (size_t i = 0; i < stats.size(); ++i) {
      const Tensor& p = (*plan_out)[i].tensor;
      if (p.rank() == 0 || p.dim(0) != run_items) {
        return failure("eval", invalid_argument("output '", stats[i].name, "' has shape ",
                                                shape_to_string(p.shape()), " for ", run_items,
                                                " items (", items_text, ")"));
      }
      Status added = accumulate(stats[i], p, *ref_by_name.at(stats[i].name), count, begin);
      if (!added.ok()) return failure("eval", added.with_context(items_text));
    }
  }

  const std::string reference_kind =
      str_cat("vitrt CPU engine, fp32, ", reference_options.optimize ? "optimized" : "unoptimized");
  std::printf("model:     %s (device %s)\n", model_path.c_str(), device.c_str());
  std::printf("reference: %s (%s)\n", reference_path.c_str(), reference_kind.c_str());
  std::printf("data:      %s (%s), batch %lld\n", data_dir.c_str(), data->description.c_str(),
              static_cast<long long>(batch));
  print_table(stats);
  if (!labels.empty()) {
    for (const OutputStats& s : stats) {
      if (!s.classifier) continue;
      std::printf("top-1 accuracy of '%s' on %lld labelled items: plan %.2f%%, reference %.2f%%\n",
                  s.name.c_str(), static_cast<long long>(s.items),
                  100.0 * accuracy(s.plan_top1, labels),
                  100.0 * accuracy(s.reference_top1, labels));
    }
  }

  if (args.has("--json")) {
    nlohmann::json j;
    j["model"] = model_path;
    j["reference"] = reference_path;
    j["reference_engine"] = reference_kind;
    j["device"] = device;
    j["data"] = data_dir;
    j["items"] = data->items;
    j["batch"] = batch;
    j["outputs"] = nlohmann::json::array();
    for (const OutputStats& s : stats) {
      nlohmann::json o;
      o["name"] = s.name;
      o["item_shape"] = s.item_shape;
      o["cosine_mean"] = json_number(s.cosine_sum / s.items);
      o["cosine_min"] = json_number(s.cosine_min);
      o["cosine_min_item"] = s.cosine_min_item;
      o["max_abs_error"] = json_number(s.max_abs_error);
      o["reference_scale"] = s.reference_scale;
      o["max_abs_error_relative"] =
          json_number(s.reference_scale > 0 ? s.max_abs_error / s.reference_scale : 0.0);
      o["nonfinite_items"] = s.nonfinite_items;
      if (s.classifier) {
        o["top1_agreement"] = ratio(s.top1_agree, s.items);
        if (!labels.empty()) {
          o["top1_accuracy"] = accuracy(s.plan_top1, labels);
          o["reference_top1_accuracy"] = accuracy(s.reference_top1, labels);
        }
      }
      j["outputs"].push_back(o);
    }
    std::printf("%s\n", j.dump().c_str());
  }
  return kExitOk;
}

}  // namespace vitrt::cli

// `vitrt bench MODEL.plan [--batch N] [--shape NAME=DIMS] [--iterations K] [--warmup K]
//  [--device cpu|cuda] [--json]`: trtexec-like latency and throughput on random inputs.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <random>

#include "bench_devices.h"
#include "cli_args.h"
#include "commands.h"
#include "core/half.h"
#include "sample_stats.h"
#include "serve/devices.h"

namespace vitrt::cli {
namespace {

constexpr const char* kHelp =
    "usage: vitrt bench MODEL.plan [--batch N] [--shape NAME=DIMS] [--iterations K]\n"
    "                  [--warmup K] [--device cpu|cuda] [--json] [--devices LIST|all]\n"
    "                  [--contexts N]\n"
    "\n"
    "Times the model on random inputs (fixed seed): K warm-up runs, then K timed runs, and\n"
    "reports per-run latency (median, p90, p99, mean, min, max in ms) and throughput (items per\n"
    "second, items = the batch size). Also accepts an ONNX model directly.\n"
    "\n"
    "Input shapes: static dims are used as they are; a symbolic dim at axis 0 takes --batch;\n"
    "other symbolic dims need --shape for an input that has them (their size then applies to\n"
    "every input sharing the symbol).\n"
    "\n"
    "options:\n"
    "  --batch N          size of symbolic batch dims (axis 0), default 1\n"
    "  --shape NAME=DIMS  the full shape of input NAME, e.g. pixel_values=8x3x224x224\n"
    "                     ('x' or ',' between dims; repeat the flag for several inputs)\n"
    "  --iterations K     timed runs, default 20\n"
    "  --warmup K         untimed runs first, default 3\n"
    "  --device D         cpu (default) or cuda (a plan built with --device cuda); latency is\n"
    "                     end to end: input copies in, the run, output copies out; on cuda\n"
    "                     the GPU time of each phase is reported too (H2D, compute, D2H)\n"
    "  --json             print one JSON object as the last line of stdout: median_ms, p90_ms,\n"
    "                     p99_ms, mean_ms, min_ms, max_ms, throughput, batch, iterations,\n"
    "                     warmup, device, model; on cuda also h2d_ms, compute_ms, d2h_ms\n"
    "                     (medians of the GPU times) and data_transfers\n"
    "  --no-data-transfers  (cuda) time the compute alone: inputs stay on the GPU from the\n"
    "                     warm-up and nothing is copied in or out (trtexec's option of that\n"
    "                     name; the peer to a PyTorch timing whose tensors live on the GPU)\n"
    "  --profile          after the timed runs, run again with per-node timing and print the\n"
    "                     time per op type and the slowest nodes (not part of the latency)\n"
    "  --profile-nodes N  with --profile: how many of the slowest nodes to list, default 10,\n"
    "                     0 for every node\n"
    "  --devices LIST     cuda: the GPUs to run on at once, e.g. 0,1 or all; one engine per\n"
    "                     GPU (weights on each), --contexts contexts on each, each context\n"
    "                     its own thread; throughput is the aggregate, and the JSON line\n"
    "                     adds devices, contexts and per_device (each GPU's throughput)\n"
    "  --contexts N       execution contexts per device running at once, default 1 (with\n"
    "                     --no-data-transfers each context reruns its compute alone; the GPU\n"
    "                     time per run is reported as a median over all contexts)\n"
    "  -h, --help         show this help\n"
    "\n"
    "exit status: 0 success, 1 bad model or shapes, 2 usage error\n";

Result<std::vector<int64_t>> parse_dims(const std::string& text, const std::string& name) {
  std::vector<int64_t> dims;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find_first_of("x,", pos);
    if (end == std::string::npos) end = text.size();
    const std::string part = text.substr(pos, end - pos);
    if (part.empty() || part.size() > 12 ||
        part.find_first_not_of("0123456789") != std::string::npos) {
      return invalid_argument("--shape ", name, "=", text, ": '", part,
                              "' is not a non-negative integer dim");
    }
    dims.push_back(std::stoll(part));
    pos = end + 1;
  }
  return dims;
}

bool is_plain_symbol(const std::string& dim) {
  return !dim.empty() && dim.find_first_of("*?") == std::string::npos &&
         !(dim[0] >= '0' && dim[0] <= '9');
}

// Evaluates a dims string ("2*batch", "197", "seq") under the bindings; nullopt if unbound.
std::optional<int64_t> evaluate_dim(const std::string& dim,
                                    const std::map<std::string, int64_t>& symbols) {
  if (dim == "?") return std::nullopt;
  int64_t v = 1;
  size_t pos = 0;
  while (pos <= dim.size()) {
    size_t end = dim.find('*', pos);
    if (end == std::string::npos) end = dim.size();
    const std::string factor = dim.substr(pos, end - pos);
    int64_t number = 0;
    const auto [end_ptr, ec] =
        std::from_chars(factor.data(), factor.data() + factor.size(), number);
    if (!factor.empty() && ec == std::errc() && end_ptr == factor.data() + factor.size()) {
      v *= number;
    } else {
      auto it = symbols.find(factor);
      if (it == symbols.end()) return std::nullopt;
      v *= it->second;
    }
    pos = end + 1;
  }
  return v;
}

Tensor random_input(DType dtype, const std::vector<int64_t>& shape, std::mt19937_64& rng) {
  Tensor t = Tensor::empty(dtype, shape);
  const int64_t n = t.numel();
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  std::uniform_int_distribution<int> small(0, 9);  // valid as ids, indices and lengths
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::kFloat32:
        t.data<float>()[i] = real(rng);
        break;
      case DType::kFloat64:
        t.data<double>()[i] = real(rng);
        break;
      case DType::kFloat16:
        t.data<uint16_t>()[i] = float_to_half(real(rng));
        break;
      case DType::kBFloat16:
        t.data<uint16_t>()[i] = float_to_bf16(real(rng));
        break;
      case DType::kInt64:
        t.data<int64_t>()[i] = small(rng);
        break;
      case DType::kInt32:
        t.data<int32_t>()[i] = small(rng);
        break;
      case DType::kBool:
        t.data<uint8_t>()[i] = static_cast<uint8_t>(small(rng) & 1);
        break;
      default: {
        // Other integer types: a small value in the type's lowest byte, zeros above it.
        auto* p = static_cast<uint8_t*>(t.raw_data()) + i * dtype_size(dtype);
        std::fill(p, p + dtype_size(dtype), uint8_t{0});
        p[0] = static_cast<uint8_t>(small(rng));
      }
    }
  }
  return t;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// Binds every input's shape from --shape, then --batch, then the static dims.
Result<std::vector<std::vector<int64_t>>> resolve_shapes(
    const Engine& engine, const std::map<std::string, std::vector<int64_t>>& given, int64_t batch) {
  std::map<std::string, int64_t> symbols;
  for (const auto& [name, dims] : given) {
    const TensorInfo* info = nullptr;
    for (const TensorInfo& in : engine.inputs()) {
      if (in.name == name) info = &in;
    }
    if (info == nullptr) {
      std::string names;
      for (const TensorInfo& in : engine.inputs())
        names += (names.empty() ? "'" : ", '") + in.name + "'";
      return invalid_argument("--shape names unknown input '", name, "'; the inputs are ", names);
    }
    if (!info->dims.empty() && info->dims.size() != dims.size()) {
      return invalid_argument("--shape ", name, " has ", dims.size(), " dims, the input has rank ",
                              info->dims.size());
    }
    for (size_t a = 0; a < info->dims.size(); ++a) {
      if (is_plain_symbol(info->dims[a])) symbols.emplace(info->dims[a], dims[a]);
    }
  }
  std::vector<std::vector<int64_t>> shapes;
  for (const TensorInfo& in : engine.inputs()) {
    auto it = given.find(in.name);
    if (it != given.end()) {
      shapes.push_back(it->second);
      continue;
    }
    if (in.dims.empty()) {
      return invalid_argument("input '", in.name,
                              "' has unknown rank: give its shape with --shape ", in.name, "=DIMS");
    }
    std::vector<int64_t> shape;
    for (size_t a = 0; a < in.dims.size(); ++a) {
      const std::string& d = in.dims[a];
      std::optional<int64_t> v = evaluate_dim(d, symbols);
      if (!v && a == 0 && is_plain_symbol(d)) {
        symbols.emplace(d, batch);
        v = batch;
      }
      if (!v) {
        return invalid_argument("input '", in.name, "' dim ", a, " (", d,
                                ") is symbolic: give the input's shape with --shape ", in.name,
                                "=DIMS");
      }
      shape.push_back(*v);
    }
    shapes.push_back(std::move(shape));
  }
  return shapes;
}

// Runs `runs` more times with per-node timing on and prints where the time goes.
Status print_profile(ExecutionContext& context, const std::vector<NamedTensor>& inputs,
                     int64_t max_nodes, int64_t runs) {
  context.set_profiling(true);
  for (int64_t i = 0; i < runs; ++i) {
    Result<std::vector<NamedTensor>> r = context.run(inputs);
    if (!r.ok()) return r.status();
  }
  std::vector<NodeProfile> nodes = context.profile();
  context.set_profiling(false);
  double total = 0;
  std::map<std::string, std::pair<double, int>> by_op;
  for (const NodeProfile& n : nodes) {
    const double per_run = n.runs ? n.total_ms / n.runs : 0.0;
    total += per_run;
    by_op[n.op_type].first += per_run;
    by_op[n.op_type].second += 1;
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> ops(by_op.begin(), by_op.end());
  std::sort(ops.begin(), ops.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::printf("profile (%lld runs, ms per run; kernel time only, %.3f ms in all):\n",
              static_cast<long long>(runs), total);
  std::printf("  %-28s %10s %7s %6s\n", "op type", "ms", "%", "nodes");
  for (const auto& [op, v] : ops) {
    std::printf("  %-28s %10.3f %6.1f%% %6d\n", op.c_str(), v.first,
                total > 0 ? 100.0 * v.first / total : 0.0, v.second);
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const NodeProfile& a, const NodeProfile& b) { return a.total_ms > b.total_ms; });
  std::printf("  slowest nodes:\n");
  const size_t listed =
      max_nodes == 0 ? nodes.size() : std::min(nodes.size(), static_cast<size_t>(max_nodes));
  for (size_t i = 0; i < listed; ++i) {
    const double per_run = nodes[i].runs ? nodes[i].total_ms / nodes[i].runs : 0.0;
    std::printf("  %10.3f ms  %s (%s)\n", per_run, nodes[i].node_name.c_str(),
                nodes[i].op_type.c_str());
  }
  return Status();
}

}  // namespace

int bench_command(const std::vector<std::string>& words) {
  Result<CliArgs> parsed = CliArgs::parse(words, {{"--batch", "", true, false},
                                                  {"--shape", "", true, true},
                                                  {"--devices", "", true, false},
                                                  {"--contexts", "", true, false},
                                                  {"--iterations", "", true, false},
                                                  {"--warmup", "", true, false},
                                                  {"--device", "", true, false},
                                                  {"--json", "", false, false},
                                                  {"--profile", "", false, false},
                                                  {"--profile-nodes", "", true, false},
                                                  {"--no-data-transfers", "", false, false}});
  if (!parsed.ok()) return usage_error("bench", parsed.status().message());
  const CliArgs& args = *parsed;
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (args.positionals().size() != 1) {
    return usage_error("bench", "expected exactly one MODEL.plan argument");
  }
  Result<int64_t> batch = args.get_int("--batch", 1, 1, 1 << 20);
  if (!batch.ok()) return usage_error("bench", batch.status().message());
  Result<int64_t> iterations = args.get_int("--iterations", 20, 1, 10000000);
  if (!iterations.ok()) return usage_error("bench", iterations.status().message());
  Result<int64_t> warmup = args.get_int("--warmup", 3, 0, 10000000);
  if (!warmup.ok()) return usage_error("bench", warmup.status().message());
  Result<int64_t> profile_nodes = args.get_int("--profile-nodes", 10, 0, 1 << 30);
  if (!profile_nodes.ok()) return usage_error("bench", profile_nodes.status().message());
  if (args.has("--profile-nodes") && !args.has("--profile")) {
    return usage_error("bench", "--profile-nodes needs --profile");
  }
  const std::string device = args.get("--device", "cpu");
  if (device != "cpu" && device != "cuda") {
    return usage_error("bench", "--device must be cpu or cuda, got '" + device + "'");
  }
  // Several GPUs or contexts at once: bench_devices.cc.
  const bool several = args.has("--devices") || args.has("--contexts");
  Result<int64_t> contexts = args.get_int("--contexts", 1, 1, 256);
  if (!contexts.ok()) return usage_error("bench", contexts.status().message());
  std::vector<int> devices = {0};
  if (args.has("--devices")) {
    if (device != "cuda") return usage_error("bench", "--devices needs --device cuda");
    Result<std::vector<int>> list =
        serve::parse_device_list(args.get("--devices"), Engine::cuda_device_count());
    if (!list.ok()) return usage_error("bench", list.status().message());
    devices = *list;
  }
  std::map<std::string, std::vector<int64_t>> given;
  for (const std::string& text : args.get_all("--shape")) {
    Result<std::pair<std::string, std::string>> kv = split_assignment(text, "--shape");
    if (!kv.ok()) return usage_error("bench", kv.status().message());
    Result<std::vector<int64_t>> dims = parse_dims(kv->second, kv->first);
    if (!dims.ok()) return usage_error("bench", dims.status().message());
    given[kv->first] = *dims;
  }
  const std::string model = args.positionals()[0];
  const auto load_start = std::chrono::steady_clock::now();
  Result<std::shared_ptr<Engine>> engine =
      args.has("--devices") ? Engine::load_plan(model, devices[0]) : load_model(model);
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  if (!engine.ok()) return failure("bench", engine.status());
  // The device is the plan's: a cuda plan runs on the GPU (built with --device cuda).
  if ((*engine)->device() != device) {
    return failure(
        "bench", invalid_argument("'", model, "' runs on device '", (*engine)->device(), "', not '",
                                  device, "': build the plan with --device ", device));
  }
  Result<std::vector<std::vector<int64_t>>> shapes = resolve_shapes(**engine, given, *batch);
  if (!shapes.ok()) return failure("bench", shapes.status());

  std::mt19937_64 rng(20240601);
  std::vector<NamedTensor> inputs;
  for (size_t i = 0; i < shapes->size(); ++i) {
    const TensorInfo& info = (*engine)->inputs()[i];
    inputs.push_back({info.name, random_input(info.dtype, (*shapes)[i], rng)});
  }
  const bool transfers = !args.has("--no-data-transfers");
  if (!transfers && device != "cuda") {
    return usage_error("bench", "--no-data-transfers needs --device cuda");
  }
  if (several) {
    return bench_devices({model, device, devices, static_cast<int>(*contexts), *warmup, *iterations,
                          args.has("--json"), transfers},
                         *engine, inputs);
  }
  // Items per run: the batch dim of the first input when it has one.
  const int64_t items = !shapes->empty() && !(*shapes)[0].empty() ? (*shapes)[0][0] : *batch;

  std::unique_ptr<ExecutionContext> context = (*engine)->create_context();
  // One run() even without warm-up when the inputs must be on the device for the reruns. The
  // first run pays the per-shape set-up (memory plan, arena, CUDA graph capture).
  double first_run_s = 0.0;
  for (int64_t i = 0; i < std::max<int64_t>(*warmup, transfers ? 0 : 1); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Result<std::vector<NamedTensor>> r = context->run(inputs);
    if (!r.ok()) return failure("bench", r.status());
    if (i == 0) {
      first_run_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  }
  std::vector<double> ms, h2d, compute, d2h;
  ms.reserve(static_cast<size_t>(*iterations));
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < *iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (transfers) {
      Result<std::vector<NamedTensor>> r = context->run(inputs);
      if (!r.ok()) return failure("bench", r.status());
      const RunTimes t = context->last_run_times();
      if (t.measured) {
        h2d.push_back(t.upload_ms);
        compute.push_back(t.compute_ms);
        d2h.push_back(t.download_ms);
      }
    } else {
      Result<double> gpu_ms = context->rerun_on_device();
      if (!gpu_ms.ok()) return failure("bench", gpu_ms.status());
      compute.push_back(*gpu_ms);
    }
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (double v : ms) sum += v;
  const double mean = sum / ms.size();
  const double median = median_of(ms);
  const double p90 = percentile(sorted, 90), p99 = percentile(sorted, 99);
  const double throughput = total_s > 0 ? static_cast<double>(items) * ms.size() / total_s : 0;

  std::printf("model: %s\ndevice: %s\n", model.c_str(), device.c_str());
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::printf("input %s: %s\n", inputs[i].name.c_str(), inputs[i].tensor.describe().c_str());
  }
  std::printf("load: %.3f s (plan read, weights to the device); first run %.3f s (shape set-up)\n",
              load_s, first_run_s);
  std::printf("batch: %lld, warm-up runs: %lld, timed runs: %lld\n", static_cast<long long>(items),
              static_cast<long long>(*warmup), static_cast<long long>(*iterations));
  std::printf("latency (ms): median %.3f  p90 %.3f  p99 %.3f  mean %.3f  min %.3f  max %.3f\n",
              median, p90, p99, mean, sorted.front(), sorted.back());
  std::printf("throughput: %.2f items/s\n", throughput);
  const double h2d_ms = median_of(h2d), compute_ms = median_of(compute), d2h_ms = median_of(d2h);
  const DeviceMemory mem = context->device_memory();
  const auto mib = [](int64_t b) { return static_cast<double>(b) / (1 << 20); };
  const int64_t mem_total = mem.weights + mem.activations + mem.workspace + mem.io;
  if (mem_total > 0) {
    std::printf(
        "GPU memory (MiB, allocated by vitrt; the CUDA context and kernel images are not "
        "included): %.1f = weights %.1f + activations %.1f + workspace %.1f + I/O %.1f\n",
        mib(mem_total), mib(mem.weights), mib(mem.activations), mib(mem.workspace), mib(mem.io));
  }
  if (!compute.empty()) {
    if (transfers) {
      std::printf(
          "GPU time (ms, median): H2D %.3f  compute %.3f  D2H %.3f  (host latency - GPU: "
          "%.3f)\n",
          h2d_ms, compute_ms, d2h_ms, median - (h2d_ms + compute_ms + d2h_ms));
    } else {
      std::printf(
          "GPU time (ms, median): compute %.3f, no data transfers (host latency - GPU: "
          "%.3f)\n",
          compute_ms, median - compute_ms);
    }
  }
  if (args.has("--profile")) {
    Status profiled = print_profile(*context, inputs, *profile_nodes, *iterations);
    if (!profiled.ok()) return failure("bench", profiled);
  }
  if (args.has("--json")) {
    std::printf(
        "{\"model\": \"%s\", \"device\": \"%s\", \"batch\": %lld, \"iterations\": %lld, "
        "\"warmup\": %lld, \"median_ms\": %.6f, \"p90_ms\": %.6f, \"p99_ms\": %.6f, "
        "\"mean_ms\": %.6f, \"min_ms\": %.6f, \"max_ms\": %.6f, \"throughput\": %.6f, "
        "\"data_transfers\": %s, \"h2d_ms\": %.6f, \"compute_ms\": %.6f, \"d2h_ms\": %.6f, "
        "\"device_memory_mib\": %.3f, \"load_s\": %.6f, \"first_run_s\": %.6f}\n",
        json_escape(model).c_str(), device.c_str(), static_cast<long long>(items),
        static_cast<long long>(*iterations), static_cast<long long>(*warmup), median, p90, p99,
        mean, sorted.front(), sorted.back(), throughput, transfers ? "true" : "false", h2d_ms,
        compute_ms, d2h_ms, mib(mem_total), load_s, first_run_s);
  }
  return kExitOk;
}

}  // namespace vitrt::cli

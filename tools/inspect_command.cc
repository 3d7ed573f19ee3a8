// `vitrt inspect MODEL.onnx|MODEL.plan [--nodes]`
#include <cstdio>
#include <filesystem>

#include "cli_args.h"
#include "commands.h"
#include "ir/op_schema.h"
#include "onnx/onnx_import.h"
#include "passes/pass.h"
#include "plan/plan_format.h"

namespace vitrt::cli {
namespace {

constexpr const char* kHelp =
    "usage: vitrt inspect MODEL.onnx|MODEL.plan [--nodes]\n"
    "\n"
    "Prints the model's inputs and outputs with their (symbolic) shapes, op counts and\n"
    "parameter count and size. For a plan also its format version, checksum status, target\n"
    "device, precision and the vitrt version that built it.\n"
    "\n"
    "options:\n"
    "  --nodes      also list every node: name, op, inputs -> outputs with shapes\n"
    "  -h, --help   show this help\n"
    "\n"
    "exit status: 0 success, 1 unreadable model or plan, 2 usage error\n";

std::string value_text(const Value& v) {
  return str_cat(dtype_name(v.dtype), v.has_shape ? sym_shape_to_string(v.shape) : "[?]");
}

std::string bytes_text(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

void print_graph(const Graph& g, bool with_nodes) {
  if (!g.name.empty()) std::printf("graph: %s\n", g.name.c_str());
  if (!g.producer_name.empty()) {
    std::printf("producer: %s %s\n", g.producer_name.c_str(), g.producer_version.c_str());
  }
  std::string opsets;
  for (const auto& [domain, version] : g.opset_imports) {
    opsets +=
        str_cat(opsets.empty() ? "" : ", ", domain.empty() ? "ai.onnx" : domain, " ", version);
  }
  if (!opsets.empty()) std::printf("opsets: %s\n", opsets.c_str());
  std::printf("inputs:\n");
  for (ValueId id : g.inputs) {
    std::printf("  %s: %s\n", g.values[id].name.c_str(), value_text(g.values[id]).c_str());
  }
  std::printf("outputs:\n");
  for (ValueId id : g.outputs) {
    std::printf("  %s: %s\n", g.values[id].name.c_str(), value_text(g.values[id]).c_str());
  }
  int total = 0;
  for (const auto& [op, n] : g.op_counts()) total += n;
  std::printf("nodes: %d\n", total);
  for (const auto& [op, n] : g.op_counts()) std::printf("  %-28s %d\n", op.c_str(), n);
  std::printf("parameters: %lld (%s)\n", static_cast<long long>(g.parameter_count()),
              bytes_text(g.parameter_bytes()).c_str());
  if (!with_nodes) return;
  std::printf("node list:\n");
  for (const Node& n : g.nodes) {
    if (n.dead) continue;
    std::string ins, outs;
    for (ValueId id : n.inputs) {
      ins += ins.empty() ? "" : ", ";
      ins += id == kNoValue ? "<none>" : g.values[id].name + " " + value_text(g.values[id]);
    }
    for (ValueId id : n.outputs) {
      outs += outs.empty() ? "" : ", ";
      outs += id == kNoValue ? "<none>" : g.values[id].name + " " + value_text(g.values[id]);
    }
    std::printf("  %s (%s%s): %s -> %s\n", n.name.c_str(),
                n.domain.empty() ? "" : (n.domain + ".").c_str(), n.op_type.c_str(), ins.c_str(),
                outs.c_str());
  }
}

}  // namespace

int inspect_command(const std::vector<std::string>& words) {
  Result<CliArgs> parsed = CliArgs::parse(words, {{"--nodes", "", false, false}});
  if (!parsed.ok()) return usage_error("inspect", parsed.status().message());
  const CliArgs& args = *parsed;
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (args.positionals().size() != 1) {
    return usage_error("inspect", "expected exactly one MODEL.onnx or MODEL.plan argument");
  }
  const std::string path = args.positionals()[0];
  const bool with_nodes = args.has("--nodes");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return failure("inspect", not_found("'", path, "' does not exist or is not a file"));
  }
  if (file_has_plan_magic(path) || std::filesystem::path(path).extension() == ".plan") {
    Result<LoadedPlan> plan = read_plan_file(path);
    if (!plan.ok()) return failure("inspect", plan.status());
    std::printf("plan: %s\n", path.c_str());
    std::printf("format version: %u (this vitrt reads up to %u)\n", plan->format_version,
                kPlanFormatVersion);
    std::printf("checksum: ok\n");
    std::printf("size: %s\n", bytes_text(static_cast<int64_t>(plan->file_bytes)).c_str());
    std::printf("device: %s\n", plan->metadata.device.c_str());
    std::printf("precision: %s\n", plan->metadata.precision.c_str());
    std::printf("built by: vitrt %s\n", plan->metadata.vitrt_version.c_str());
    for (const auto& [k, v] : plan->metadata.build_options) {
      std::printf("build option %s: %s\n", k.c_str(), v.c_str());
    }
    print_graph(plan->graph, with_nodes);
    return kExitOk;
  }
  Result<Graph> graph = import_onnx_file(path);
  if (!graph.ok()) return failure("inspect", graph.status());
  std::printf("model: %s\n", path.c_str());
  // If nodes: shown as `vitrt build` resolves them (the branch each build-time condition takes),
  // or, where it cannot, the reason the build will give, and the Ifs as they are.
  int ifs = 0;
  for (const Node& n : graph->nodes) ifs += n.domain.empty() && n.op_type == "If" ? 1 : 0;
  if (ifs > 0) {
    Graph resolved = *graph;
    PassContext ctx(false, nullptr);
    Status inlined = inline_constant_ifs(resolved, ctx);
    if (inlined.ok()) {
      *graph = std::move(resolved);
      std::printf("If nodes: %d, resolved at build time: the branches taken are listed\n", ifs);
    } else {
      std::fprintf(stderr, "vitrt inspect: warning: vitrt build will refuse this model: %s\n",
                   inlined.to_string().c_str());
    }
  }
  // A model vitrt cannot infer (an unsupported op) is still worth listing: warn, show '?'.
  Status inferred = infer_shapes(*graph);
  if (!inferred.ok()) {
    std::fprintf(stderr, "vitrt inspect: warning: shape inference failed: %s\n",
                 inferred.to_string().c_str());
  }
  print_graph(*graph, with_nodes);
  return kExitOk;
}

}  // namespace vitrt::cli

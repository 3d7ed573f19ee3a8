// `vitrt perf --model NAME [--url http://HOST:PORT] [--concurrency 1,2,4 | --request-rate R,...]`:
// a load sweep against a running `vitrt serve` (or any KServe v2 server), like Triton's
// perf_analyzer. Reports p50/p90/p99 latency and throughput per step; JSON, CSV and an SVG
// chart of latency against throughput.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "cli_args.h"
#include "commands.h"
#include "serve/kserve.h"
#include "serve/load_generator.h"

namespace vitrt::cli {
namespace {

constexpr const char* kHelp =
    "usage: vitrt perf --model NAME [--url http://HOST:PORT] [--concurrency LIST |\n"
    "                  --request-rate LIST] [--duration-s S] [--batch N] [--shape NAME=DIMS]\n"
    "                  [--json FILE] [--csv FILE] [--svg FILE]\n"
    "\n"
    "Sends KServe v2 infer requests (random inputs, fixed seed, binary tensors) to a running\n"
    "server, one step per value of the sweep, and prints per step: requests/s, p50, p90 and\n"
    "p99 latency in ms, and failed requests. Closed loop (--concurrency: that many requests\n"
    "outstanding) or open loop (--request-rate: requests per second, latency counted from each\n"
    "request's scheduled time).\n"
    "\n"
    "options:\n"
    "  --model NAME          the model to load (required)\n"
    "  --url URL             default http://127.0.0.1:8000\n"
    "  --concurrency LIST    e.g. 1,2,4,8 (the default)\n"
    "  --request-rate LIST   e.g. 50,100,200 (uses --connections connections, default 16)\n"
    "  --connections N       connections for --request-rate\n"
    "  --duration-s S        seconds per step, default 5\n"
    "  --batch N             rows per request (the model's -1 batch dim), default 1\n"
    "  --shape NAME=DIMS     full shape of an input with other variable dims, e.g. ids=1x77\n"
    "  --json FILE           write the steps as JSON\n"
    "  --csv FILE            write the steps as CSV\n"
    "  --svg FILE            write a chart of p50/p90/p99 latency against throughput\n"
    "  -h, --help            show this help\n"
    "\n"
    "exit status: 0 success, 1 server unreachable or every request failed, 2 usage error\n";

Result<std::vector<double>> parse_list(const std::string& text, const std::string& flag) {
  std::vector<double> values;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    try {
      size_t used = 0;
      const double v = std::stod(part, &used);
      if (used != part.size() || !(v > 0) || v > 1e6) throw std::invalid_argument(part);
      values.push_back(v);
    } catch (const std::exception&) {
      return invalid_argument(flag, " '", text, "': '", part, "' is not a positive number");
    }
  }
  if (values.empty()) return invalid_argument(flag, " is empty");
  return values;
}

// The infer request: every model input filled with seeded random data, sent as binary.
Result<serve::LoadRequest> make_request(const serve::HttpTarget& target, const std::string& model,
                                        int64_t batch,
                                        const std::map<std::string, std::vector<int64_t>>& shapes) {
  VITRT_ASSIGN_OR_RETURN(serve::HttpReply meta, serve::http_get(target, "/v2/models/" + model));
  if (meta.status != 200) {
    return not_found("model '", model, "': the server answered ", meta.status, " ", meta.body);
  }
  const auto doc = nlohmann::json::parse(meta.body, nullptr, false);
  if (doc.is_discarded() || !doc.contains("inputs") || !doc["inputs"].is_array()) {
    return invalid_argument("model '", model, "': metadata without 'inputs'");
  }
  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  nlohmann::json header = {{"inputs", nlohmann::json::array()}};
  std::string binary;
  for (const auto& in : doc["inputs"]) {
    const std::string name = in.value("name", "");
    const std::string datatype = in.value("datatype", "");
    const DType dtype = serve::dtype_from_kserve(datatype);
    if (dtype == DType::kUndefined) {
      return unsupported("input '", name, "': datatype '", datatype, "' is not supported");
    }
    std::vector<int64_t> shape;
    if (shapes.count(name)) {
      shape = shapes.at(name);
    } else {
      for (size_t i = 0; i < in["shape"].size(); ++i) {
        const int64_t d = in["shape"][i].get<int64_t>();
        if (d < 0 && i > 0) {
          return invalid_argument("input '", name, "' has a variable dim ", i,
                                  ": give its shape with --shape ", name, "=DIMS");
        }
        shape.push_back(d < 0 ? batch : d);
      }
    }
    Tensor t = Tensor::zeros(dtype, shape);
    if (dtype == DType::kFloat32) {
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
    }
    header["inputs"].push_back({{"name", name},
                                {"datatype", datatype},
                                {"shape", shape},
                                {"parameters", {{"binary_data_size", t.nbytes()}}}});
    binary.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  }
  header["parameters"] = {{"binary_data_output", true}};
  serve::LoadRequest request;
  request.path = "/v2/models/" + model + "/infer";
  request.body = header.dump();
  request.headers = {{"Inference-Header-Content-Length", std::to_string(request.body.size())},
                     {"Content-Type", "application/octet-stream"}};
  request.body += binary;
  return request;
}

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Latency (ms) against throughput (requests/s): one polyline per percentile.
std::string svg_chart(const std::vector<serve::LoadStep>& steps, const std::string& title) {
  const double w = 640, h = 400, left = 60, right = 20, top = 40, bottom = 50;
  double max_x = 1, max_y = 1;
  for (const auto& s : steps) {
    max_x = std::max(max_x, s.throughput * 1.1);
    max_y = std::max(max_y, s.p99_ms * 1.1);
  }
  auto x = [&](double v) { return left + v / max_x * (w - left - right); };
  auto y = [&](double v) { return h - bottom - v / max_y * (h - top - bottom); };
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << w / 2 << "\" y=\"20\" text-anchor=\"middle\">" << xml_escape(title)
      << "</text>\n"
      << "<line x1=\"" << left << "\" y1=\"" << y(0) << "\" x2=\"" << w - right << "\" y2=\""
      << y(0) << "\" stroke=\"black\"/>\n"
      << "<line x1=\"" << left << "\" y1=\"" << y(0) << "\" x2=\"" << left << "\" y2=\"" << top
      << "\" stroke=\"black\"/>\n"
      << "<text x=\"" << w / 2 << "\" y=\"" << h - 10
      << "\" text-anchor=\"middle\">throughput (requests/s)</text>\n"
      << "<text x=\"15\" y=\"" << h / 2 << "\" transform=\"rotate(-90 15 " << h / 2
      << ")\" text-anchor=\"middle\">latency (ms)</text>\n";
  for (int i = 0; i <= 4; ++i) {
    out << "<text x=\"" << x(max_x * i / 4) << "\" y=\"" << y(0) + 16
        << "\" text-anchor=\"middle\">" << static_cast<int64_t>(max_x * i / 4) << "</text>\n"
        << "<text x=\"" << left - 5 << "\" y=\"" << y(max_y * i / 4) + 4
        << "\" text-anchor=\"end\">" << static_cast<int64_t>(max_y * i / 4 * 10) / 10.0
        << "</text>\n";
  }
  const struct {
    const char* name;
    const char* color;
    double serve::LoadStep::*field;
  } series[] = {{"p50", "#1f77b4", &serve::LoadStep::p50_ms},
                {"p90", "#ff7f0e", &serve::LoadStep::p90_ms},
                {"p99", "#d62728", &serve::LoadStep::p99_ms}};
  int row = 0;
  for (const auto& s : series) {
    out << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\" points=\"";
    for (const auto& step : steps) out << x(step.throughput) << "," << y(step.*s.field) << " ";
    out << "\"/>\n";
    for (const auto& step : steps) {
      out << "<circle cx=\"" << x(step.throughput) << "\" cy=\"" << y(step.*s.field)
          << "\" r=\"3\" fill=\"" << s.color << "\"/>\n";
    }
    out << "<text x=\"" << left + 10 << "\" y=\"" << top + 15 * row++ << "\" fill=\"" << s.color
        << "\">" << s.name << "</text>\n";
  }
  out << "</svg>\n";
  return out.str();
}

Status write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) return io_error("cannot write '", path, "'");
  return Status::ok_status();
}

}  // namespace

int perf_command(const std::vector<std::string>& args) {
  auto parsed = CliArgs::parse(args, {{"--model", ""},
                                      {"--url", ""},
                                      {"--concurrency", ""},
                                      {"--request-rate", ""},
                                      {"--connections", ""},
                                      {"--duration-s", ""},
                                      {"--batch", ""},
                                      {"--shape", "", true, true},
                                      {"--json", ""},
                                      {"--csv", ""},
                                      {"--svg", ""}});
  if (!parsed.ok()) return usage_error("perf", parsed.status().message());
  if (parsed->help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (!parsed->has("--model")) return usage_error("perf", "--model is required");
  if (parsed->has("--concurrency") && parsed->has("--request-rate")) {
    return usage_error("perf", "give --concurrency or --request-rate, not both");
  }
  const bool open_loop = parsed->has("--request-rate");
  auto sweep = parse_list(parsed->get(open_loop ? "--request-rate" : "--concurrency", "1,2,4,8"),
                          open_loop ? "--request-rate" : "--concurrency");
  auto target = serve::parse_http_url(parsed->get("--url", "http://127.0.0.1:8000"));
  auto batch = parsed->get_int("--batch", 1, 1, 1 << 20);
  auto connections = parsed->get_int("--connections", 16, 1, 4096);
  double duration_s = 5;
  try {
    duration_s = std::stod(parsed->get("--duration-s", "5"));
  } catch (const std::exception&) {
    duration_s = -1;
  }
  if (!(duration_s > 0 && duration_s <= 3600)) {
    return usage_error("perf", "--duration-s must be a number of seconds in (0, 3600]");
  }
  if (!sweep.ok()) return usage_error("perf", sweep.status().message());
  if (!target.ok()) return usage_error("perf", target.status().message());
  if (!batch.ok()) return usage_error("perf", batch.status().message());
  if (!connections.ok()) return usage_error("perf", connections.status().message());
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const std::string& text : parsed->get_all("--shape")) {
    auto kv = split_assignment(text, "--shape");
    if (!kv.ok()) return usage_error("perf", kv.status().message());
    std::vector<int64_t> dims;
    std::stringstream in(kv->second);
    std::string part;
    while (std::getline(in, part, 'x')) {
      if (part.empty() || part.size() > 12 ||
          part.find_first_not_of("0123456789") != std::string::npos) {
        return usage_error("perf", "--shape " + text + ": '" + part + "' is not a dim");
      }
      dims.push_back(std::stoll(part));
    }
    shapes[kv->first] = dims;
  }

  const std::string model = parsed->get("--model");
  auto request = make_request(*target, model, *batch, shapes);
  if (!request.ok()) return failure("perf", request.status());

  std::vector<serve::LoadStep> steps;
  std::printf("%-12s %12s %10s %10s %10s %8s\n", open_loop ? "rate/s" : "concurrency", "requests/s",
              "p50 ms", "p90 ms", "p99 ms", "failed");
  for (double v : *sweep) {
    const int conns = open_loop ? static_cast<int>(*connections) : static_cast<int>(v);
    auto step = serve::run_load_step(*target, *request, conns, open_loop ? v : 0, duration_s);
    if (!step.ok()) return failure("perf", step.status());
    std::printf("%-12g %12.1f %10.2f %10.2f %10.2f %8lld\n", v, step->throughput, step->p50_ms,
                step->p90_ms, step->p99_ms, static_cast<long long>(step->failed));
    if (!step->first_error.empty()) {
      std::printf("  first failure: %s\n", step->first_error.c_str());
    }
    std::fflush(stdout);
    steps.push_back(*step);
  }

  nlohmann::json doc = {{"model", model}, {"batch", *batch}, {"steps", nlohmann::json::array()}};
  std::string csv =
      "concurrency,request_rate,throughput,p50_ms,p90_ms,p99_ms,mean_ms,completed,failed\n";
  for (const auto& s : steps) {
    doc["steps"].push_back({{"concurrency", s.concurrency},
                            {"request_rate", s.request_rate},
                            {"throughput", s.throughput},
                            {"p50_ms", s.p50_ms},
                            {"p90_ms", s.p90_ms},
                            {"p99_ms", s.p99_ms},
                            {"mean_ms", s.mean_ms},
                            {"completed", s.completed},
                            {"failed", s.failed},
                            {"duration_s", s.duration_s}});
    std::ostringstream line;
    line << s.concurrency << "," << s.request_rate << "," << s.throughput << "," << s.p50_ms << ","
         << s.p90_ms << "," << s.p99_ms << "," << s.mean_ms << "," << s.completed << "," << s.failed
         << "\n";
    csv += line.str();
  }
  for (const auto& [flag, text] :
       {std::pair<std::string, std::string>{"--json", doc.dump(2) + "\n"},
        {"--csv", csv},
        {"--svg",
         svg_chart(steps, "vitrt perf: " + model + ", batch " + std::to_string(*batch))}}) {
    if (!parsed->has(flag)) continue;
    const Status written = write_file(parsed->get(flag), text);
    if (!written.ok()) return failure("perf", written);
  }
  int64_t completed = 0;
  for (const auto& s : steps) completed += s.completed;
  if (completed == 0) return failure("perf", internal_error("every request failed"));
  return kExitOk;
}

}  // namespace vitrt::cli

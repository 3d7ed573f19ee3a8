// `vitrt perf --model NAME [--url http://HOST:PORT] [--concurrency 1,2,4 | --request-rate R,...]`:
// a load sweep against a running `vitrt serve` (or any KServe v2 server), like Triton's
// perf_analyzer. Reports p50/p90/p99 latency and throughput per step; JSON, CSV and an SVG
// chart of latency against throughput. With --images, real photos go to /v1/embeddings and
// every answer is checked; --decode-only measures the server's per-image CPU work alone.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "cli_args.h"
#include "commands.h"
#include "serve/image_load.h"
#include "serve/kserve.h"
#include "serve/load_generator.h"

namespace vitrt::cli {
namespace {

constexpr const char* kHelp =
    "usage: vitrt perf --model NAME [--url http://HOST:PORT] [--concurrency LIST |\n"
    "                  --request-rate LIST] [--duration-s S] [--batch N] [--shape NAME=DIMS]\n"
    "                  [--images PATH... [--images-per-request N] [--embed-dim D]]\n"
    "                  [--json FILE] [--csv FILE] [--svg FILE]\n"
    "       vitrt perf --decode-only --images PATH... --preprocessor-config FILE\n"
    "                  [--threads LIST] [--duration-s S] [--json FILE]\n"
    "\n"
    "Sends KServe v2 infer requests (random inputs, fixed seed, binary tensors) to a running\n"
    "server, one step per value of the sweep, and prints per step: requests/s, p50, p90 and\n"
    "p99 latency in ms, and failed requests. Closed loop (--concurrency: that many requests\n"
    "outstanding) or open loop (--request-rate: requests per second, latency counted from each\n"
    "request's scheduled time).\n"
    "\n"
    "With --images (a CLIP model), each request is a POST /v1/embeddings of encoded photos as\n"
    "base64 data URIs, the files sent round robin; every answer must hold one unit-length\n"
    "embedding of the right size per image, else it counts as failed. Steps also report\n"
    "images/s.\n"
    "\n"
    "--decode-only contacts no server: it runs the server's per-image work (base64 decode,\n"
    "image decode, CLIP preprocessing with the given preprocessor_config.json) on each --threads\n"
    "count and prints images/s, the most a server decoding on that many cores can deliver.\n"
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
    "  --images PATH...      image files, or folders of image files (.jpg .png .webp .gif\n"
    "                        .bmp .tif)\n"
    "  --images-per-request N  images in each /v1/embeddings request, default 1\n"
    "  --embed-dim D         the embedding size answers must have (default: the first answer's)\n"
    "  --decode-only         measure the decode+preprocess rate, no server\n"
    "  --preprocessor-config FILE  the model's preprocessor_config.json, timm config.json or\n"
    "                        open_clip_config.json (--decode-only)\n"
    "  --threads LIST        --decode-only thread counts, default the number of cores\n"
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

// --decode-only: the decode+preprocess rate on each thread count.
int decode_only(const CliArgs& args, const std::vector<serve::ImageFile>& files,
                double duration_s) {
  if (!args.has("--preprocessor-config")) {
    return usage_error("perf", "--decode-only needs --preprocessor-config FILE");
  }
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  auto threads = parse_list(args.get("--threads", std::to_string(cores)), "--threads");
  if (!threads.ok()) return usage_error("perf", threads.status().message());
  auto config = vision::read_preprocessor_config(args.get("--preprocessor-config"));
  if (!config.ok()) return failure("perf", config.status());
  nlohmann::json doc = {{"images", files.size()}, {"decode", nlohmann::json::array()}};
  std::printf("%-8s %12s %12s\n", "threads", "images/s", "ms/image");
  for (double t : *threads) {
    auto rate = serve::measure_decode_rate(files, *config, static_cast<int>(t), duration_s);
    if (!rate.ok()) return failure("perf", rate.status());
    std::printf("%-8d %12.1f %12.2f\n", rate->threads, rate->images_per_s,
                rate->images_per_s > 0 ? 1e3 * rate->threads / rate->images_per_s : 0.0);
    std::fflush(stdout);
    doc["decode"].push_back({{"threads", rate->threads},
                             {"images", rate->images},
                             {"seconds", rate->seconds},
                             {"images_per_s", rate->images_per_s}});
  }
  if (args.has("--json")) {
    const Status written = write_file(args.get("--json"), doc.dump(2) + "\n");
    if (!written.ok()) return failure("perf", written);
  }
  return kExitOk;
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
                                      {"--svg", ""},
                                      {"--images", "", true, true},
                                      {"--images-per-request", ""},
                                      {"--embed-dim", ""},
                                      {"--decode-only", "", false},
                                      {"--preprocessor-config", ""},
                                      {"--threads", ""}});
  if (!parsed.ok()) return usage_error("perf", parsed.status().message());
  if (parsed->help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  const bool images_mode = parsed->has("--images");
  // `--images a.jpg b.jpg`: the words after --images are images too.
  std::vector<std::string> image_paths = parsed->get_all("--images");
  if (!parsed->positionals().empty() && !images_mode) {
    return usage_error("perf", "unexpected argument '" + parsed->positionals()[0] + "'");
  }
  for (const std::string& p : parsed->positionals()) image_paths.push_back(p);
  if (parsed->has("--decode-only") && !images_mode) {
    return usage_error("perf", "--decode-only needs --images PATH");
  }
  if (!parsed->has("--decode-only") && !parsed->has("--model")) {
    return usage_error("perf", "--model is required");
  }
  if (images_mode && (parsed->has("--batch") || parsed->has("--shape"))) {
    return usage_error("perf", "--batch and --shape are for tensor requests, not --images");
  }
  for (const char* flag : {"--images-per-request", "--embed-dim"}) {
    if (parsed->has(flag) && !images_mode) {
      return usage_error("perf", std::string(flag) + " needs --images PATH");
    }
  }
  if (parsed->has("--concurrency") && parsed->has("--request-rate")) {
    return usage_error("perf", "give --concurrency or --request-rate, not both");
  }
  const bool open_loop = parsed->has("--request-rate");
  auto sweep = parse_list(parsed->get(open_loop ? "--request-rate" : "--concurrency", "1,2,4,8"),
                          open_loop ? "--request-rate" : "--concurrency");
  auto target = serve::parse_http_url(parsed->get("--url", "http://127.0.0.1:8000"));
  auto batch = parsed->get_int("--batch", 1, 1, 1 << 20);
  auto connections = parsed->get_int("--connections", 16, 1, 4096);
  auto per_request = parsed->get_int("--images-per-request", 1, 1, 4096);
  auto embed_dim = parsed->get_int("--embed-dim", 0, 1, 1 << 20);
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
  if (!per_request.ok()) return usage_error("perf", per_request.status().message());
  if (!embed_dim.ok()) return usage_error("perf", embed_dim.status().message());
  std::vector<serve::ImageFile> files;
  if (images_mode) {
    auto read = serve::read_image_files(image_paths);
    if (!read.ok()) return failure("perf", read.status());
    files = std::move(*read);
  }
  if (parsed->has("--decode-only")) return decode_only(*parsed, files, duration_s);
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
  std::vector<serve::LoadRequest> requests;
  serve::ReplyCheck check;
  // Items per request: images with --images, else the batch rows.
  const int64_t items = images_mode ? *per_request : *batch;
  if (images_mode) {
    requests = serve::make_embedding_requests(model, files, static_cast<int>(*per_request));
    // One request first: it fails fast on a wrong model or endpoint, and fixes the embedding
    // size every later answer must have.
    auto first = serve::http_post(*target, requests[0]);
    if (!first.ok()) return failure("perf", first.status());
    if (first->status != 200) {
      return failure("perf", invalid_argument("model '", model, "': /v1/embeddings answered ",
                                              first->status, " ", first->body.substr(0, 300)));
    }
    auto dim = serve::check_embeddings_reply(first->body, *per_request, *embed_dim);
    if (!dim.ok()) return failure("perf", dim.status().with_context("first answer"));
    std::printf("perf: %zu image file(s), %lld per request, embeddings of %lld values\n",
                files.size(), static_cast<long long>(*per_request), static_cast<long long>(*dim));
    check = [dim = *dim, n = *per_request](const std::string& body) {
      auto r = serve::check_embeddings_reply(body, n, dim);
      return r.ok() ? std::string() : r.status().message();
    };
  } else {
    auto request = make_request(*target, model, *batch, shapes);
    if (!request.ok()) return failure("perf", request.status());
    requests.push_back(std::move(*request));
  }

  std::vector<serve::LoadStep> steps;
  std::printf("%-12s %12s %12s %10s %10s %10s %8s\n", open_loop ? "rate/s" : "concurrency",
              "requests/s", images_mode ? "images/s" : "rows/s", "p50 ms", "p90 ms", "p99 ms",
              "failed");
  for (double v : *sweep) {
    const int conns = open_loop ? static_cast<int>(*connections) : static_cast<int>(v);
    auto step =
        serve::run_load_step(*target, requests, conns, open_loop ? v : 0, duration_s, check);
    if (!step.ok()) return failure("perf", step.status());
    std::printf("%-12g %12.1f %12.1f %10.2f %10.2f %10.2f %8lld\n", v, step->throughput,
                step->throughput * static_cast<double>(items), step->p50_ms, step->p90_ms,
                step->p99_ms, static_cast<long long>(step->failed));
    if (!step->first_error.empty()) {
      std::printf("  first failure: %s\n", step->first_error.c_str());
    }
    std::fflush(stdout);
    steps.push_back(*step);
  }

  nlohmann::json doc = {{"model", model},
                        {"batch", *batch},
                        {"items_per_request", items},
                        {"images", images_mode},
                        {"steps", nlohmann::json::array()}};
  std::string csv =
      "concurrency,request_rate,throughput,items_per_s,p50_ms,p90_ms,p99_ms,mean_ms,completed,"
      "failed\n";
  for (const auto& s : steps) {
    const double items_per_s = s.throughput * static_cast<double>(items);
    doc["steps"].push_back({{"concurrency", s.concurrency},
                            {"request_rate", s.request_rate},
                            {"throughput", s.throughput},
                            {"items_per_s", items_per_s},
                            {"p50_ms", s.p50_ms},
                            {"p90_ms", s.p90_ms},
                            {"p99_ms", s.p99_ms},
                            {"mean_ms", s.mean_ms},
                            {"completed", s.completed},
                            {"failed", s.failed},
                            {"duration_s", s.duration_s},
                            {"first_error", s.first_error}});
    std::ostringstream line;
    line << s.concurrency << "," << s.request_rate << "," << s.throughput << "," << items_per_s
         << "," << s.p50_ms << "," << s.p90_ms << "," << s.p99_ms << "," << s.mean_ms << ","
         << s.completed << "," << s.failed << "\n";
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

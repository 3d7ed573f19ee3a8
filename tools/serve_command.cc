// `vitrt serve --model-repository DIR [--port N] ...`: the inference server (src/serve/).
#include <cstdio>

#include "cli_args.h"
#include "commands.h"
#include "serve/devices.h"
#include "serve/http_server.h"
#include "serve/inference_server.h"
#include "vitrt/clip.h"

namespace vitrt::cli {
namespace {

constexpr const char* kHelp =
    "usage: vitrt serve --model-repository DIR [--port N] [--host ADDR] [options]\n"
    "\n"
    "Serves every DIR/<model>/config.json over HTTP: KServe v2 (Triton's protocol, binary\n"
    "tensors included) and /metrics. README.md, \"Serving\", describes config.json. Plans run\n"
    "on the device they were built for (CUDA plans: one engine per GPU in --devices or the\n"
    "model's instance_group). SIGTERM or SIGINT: stop accepting, finish the requests in flight,\n"
    "exit 0.\n"
    "\n"
    "options:\n"
    "  --model-repository DIR   one folder per model (required)\n"
    "  --port N                 default 8000; 0 picks a free port\n"
    "  --host ADDR              default 0.0.0.0\n"
    "  --io-threads N           HTTP threads, default 2\n"
    "  --worker-threads N       request parsing/encoding threads, default 2\n"
    "  --max-body-bytes N       larger request bodies get 413, default 67108864\n"
    "  --read-timeout-ms N      time to read one request (idle keep-alive included), default "
    "30000\n"
    "  --max-in-flight N        more concurrent requests get 503 + Retry-After, default 1024\n"
    "  --devices LIST|all       GPUs for CUDA models whose config.json has no instance_group\n"
    "                           'gpus', e.g. 0,1: instance_count contexts on each, one engine\n"
    "                           per GPU, all fed from the model's one queue (default: GPU 0)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Prints 'vitrt serve: listening on HOST:PORT' once it accepts requests.\n"
    "exit status: 0 after a clean shutdown, 1 bad repository or port, 2 usage error\n";

}  // namespace

int serve_command(const std::vector<std::string>& args) {
  auto parsed = CliArgs::parse(args, {{"--model-repository", ""},
                                      {"--port", ""},
                                      {"--host", ""},
                                      {"--io-threads", ""},
                                      {"--worker-threads", ""},
                                      {"--max-body-bytes", ""},
                                      {"--read-timeout-ms", ""},
                                      {"--max-in-flight", ""},
                                      {"--devices", ""}});
  if (!parsed.ok()) return usage_error("serve", parsed.status().message());
  if (parsed->help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (!parsed->has("--model-repository"))
    return usage_error("serve", "--model-repository is required");
  serve::HttpServerOptions http;
  serve::InferenceServerOptions options;
  http.host = parsed->get("--host", "0.0.0.0");
  auto port = parsed->get_int("--port", 8000, 0, 65535);
  auto io_threads = parsed->get_int("--io-threads", 2, 1, 256);
  auto workers = parsed->get_int("--worker-threads", 2, 1, 256);
  auto body = parsed->get_int("--max-body-bytes", 64 << 20, 1, int64_t{1} << 40);
  auto timeout = parsed->get_int("--read-timeout-ms", 30000, 1, 3600000);
  auto in_flight = parsed->get_int("--max-in-flight", 1024, 1, 1 << 20);
  for (const auto* r : {&port, &io_threads, &workers, &body, &timeout, &in_flight}) {
    if (!r->ok()) return usage_error("serve", r->status().message());
  }
  http.port = static_cast<int>(*port);
  http.io_threads = static_cast<int>(*io_threads);
  http.max_body_bytes = static_cast<size_t>(*body);
  http.read_timeout_ms = *timeout;
  http.max_in_flight = *in_flight;
  options.worker_threads = static_cast<int>(*workers);
  if (parsed->has("--devices")) {
    auto devices = serve::parse_device_list(parsed->get("--devices"), Engine::cuda_device_count());
    if (!devices.ok()) return usage_error("serve", devices.status().message());
    options.devices = *devices;
  }
  options.clip_loader = [](const std::string& dir, const ClipOptions& clip_options) {
    return ClipModel::load(dir, clip_options);
  };

  auto server = serve::InferenceServer::load(parsed->get("--model-repository"), options);
  if (!server.ok()) return failure("serve", server.status());
  serve::InferenceServer& inference = **server;
  auto listener = serve::HttpServer::listen(
      http, [&inference](serve::HttpRequest&& request, serve::Responder respond) {
        inference.handle(std::move(request), std::move(respond));
      });
  if (!listener.ok()) return failure("serve", listener.status());
  for (const auto& m : inference.models()) {
    std::string where;
    for (const std::string& d : m->context_devices) where += (where.empty() ? "" : " ") + d;
    std::fprintf(stderr, "vitrt serve: model '%s' (max batch %lld, %zu context(s): %s)\n",
                 m->config.name.c_str(), static_cast<long long>(m->config.max_batch_size),
                 m->context_devices.size(), where.c_str());
  }
  std::printf("vitrt serve: listening on %s:%d\n", http.host.c_str(), (*listener)->port());
  std::fflush(stdout);
  (*listener)->run();
  inference.stop();
  std::fprintf(stderr, "vitrt serve: stopped\n");
  return kExitOk;
}

}  // namespace vitrt::cli

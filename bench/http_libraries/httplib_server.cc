// The cpp-httplib side of the HTTP library load test (bench/NOTES.md, "HTTP library"): a
// trivial GET and a KServe-v2-shaped JSON POST, on cpp-httplib's thread pool.
#include <httplib.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "infer_echo.h"

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8001;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 8;
  httplib::Server server;
  // Without TCP_NODELAY (off by default in 0.11) a POST answer waits on delayed ACK: ~290 req/s.
  server.set_tcp_nodelay(true);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("", "text/plain");
  });
  server.Post("/v2/models/m/infer", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(infer_echo(req.body), "application/json");
  });
  server.listen("127.0.0.1", port);
}

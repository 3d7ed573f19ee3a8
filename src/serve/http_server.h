// HttpServer: the HTTP/1.1 transport (Boost.Beast, chosen by a load test: bench/NOTES.md).
//
// Asynchronous: a connection holds no thread while it waits, so thousands of idle keep-alive
// clients cost memory only. Handlers are called on an I/O thread and answer through a
// Responder, from any thread, exactly once. Limits: request body size (413), a deadline per
// request read (a slow or idle client is disconnected), requests in flight (503 with
// Retry-After). SIGTERM/SIGINT: stop accepting, answer what is in flight, then return.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vitrt/status.h"

namespace vitrt::serve {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // path without the query string
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using Responder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest&&, Responder)>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  int port = 8000;  // 0: any free port (port() says which)
  int io_threads = 2;
  size_t max_body_bytes = 64 << 20;
  int64_t read_timeout_ms = 30000;  // to read one whole request, idle keep-alive included
  int64_t write_timeout_ms = 30000;
  int64_t max_in_flight = 1024;  // over this: 503 + Retry-After
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> listen(const HttpServerOptions& options,
                                                    HttpHandler handler);
  virtual ~HttpServer() = default;
  virtual int port() const = 0;
  // Serves until SIGTERM/SIGINT or stop(), then drains in-flight requests and returns.
  virtual void run() = 0;
  // Starts the drain from any thread (what SIGTERM does).
  virtual void stop() = 0;
  virtual int64_t in_flight() const = 0;
};

// The JSON error body every endpoint answers with: {"error": message}.
HttpResponse error_response(int status, const std::string& message);

}  // namespace vitrt::serve

// The load generator behind `vitrt perf` (like Triton's perf_analyzer): sends one prepared
// request over keep-alive HTTP connections, closed loop (N requests outstanding) or open loop
// (a fixed request rate), and reports latency percentiles and throughput for the step.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "vitrt/status.h"

namespace vitrt::serve {

struct HttpTarget {
  std::string host = "127.0.0.1";
  int port = 8000;
};

// "http://HOST:PORT" (or "HOST:PORT") into a target.
Result<HttpTarget> parse_http_url(const std::string& url);

// One blocking HTTP/1.1 exchange on a fresh connection (metadata fetches).
struct HttpReply {
  int status = 0;
  std::string body;
};
Result<HttpReply> http_get(const HttpTarget& target, const std::string& path);

struct LoadRequest {
  std::string path;  // "/v2/models/vit/infer"
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};
// One POST of `request` on a fresh connection (the check before a sweep).
Result<HttpReply> http_post(const HttpTarget& target, const LoadRequest& request);

struct LoadStep {
  int concurrency = 0;      // closed loop: requests outstanding
  double request_rate = 0;  // open loop: requests per second (0: closed loop)
  double duration_s = 0;
  int64_t completed = 0;  // 200 answers that passed the check
  int64_t failed = 0;     // other answers, wrong content and connection errors
  double throughput = 0;  // completed per second
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, mean_ms = 0;
  std::string first_error;  // the first failure's status and body, for the report
};

// Checks the body of one 200 answer: empty when it is right, else what is wrong (the request
// then counts as failed, so a server answering 200 with wrong content cannot look fast).
using ReplyCheck = std::function<std::string(const std::string& body)>;

// Runs one step for `duration_s` seconds, sending `requests` round robin (at least one). In
// open loop, `concurrency` connections carry the scheduled requests (a late one is sent as soon
// as a connection frees up, and its latency counts from its scheduled time, so queueing in the
// client is not hidden). `check` (optional) runs on every 200 answer.
Result<LoadStep> run_load_step(const HttpTarget& target, const std::vector<LoadRequest>& requests,
                               int concurrency, double request_rate, double duration_s,
                               const ReplyCheck& check = {});

// Percentile (0..100) of `values` by linear interpolation; 0 for an empty list.
double percentile(std::vector<double> values, double p);

}  // namespace vitrt::serve

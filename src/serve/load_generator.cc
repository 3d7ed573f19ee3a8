// HTTP client loops of the load generator (load_generator.h), on blocking Boost.Beast sockets:
// one thread per connection keeps the client simple and its timing direct.

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (C++20).
#include <utility>

#include "serve/load_generator.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <mutex>
#include <thread>

namespace vitrt::serve {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

class Connection {
 public:
  explicit Connection(const HttpTarget& target) : target_(target), socket_(io_) {}

  // Sends and reads one exchange, reconnecting once when a kept-alive connection was closed.
  Result<HttpReply> exchange(http::verb verb, const LoadRequest& request) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      beast::error_code ec;
      if (!socket_.is_open()) {
        tcp::resolver resolver(io_);
        auto endpoints = resolver.resolve(target_.host, std::to_string(target_.port), ec);
        if (!ec) asio::connect(socket_, endpoints, ec);
        if (ec)
          return io_error("cannot connect to ", target_.host, ":", target_.port, ": ",
                          ec.message());
        socket_.set_option(tcp::no_delay(true), ec);
      }
      http::request<http::string_body> req(verb, request.path, 11);
      req.set(http::field::host, target_.host);
      for (const auto& [name, value] : request.headers) req.set(name, value);
      req.body() = request.body;
      req.prepare_payload();
      http::write(socket_, req, ec);
      http::response_parser<http::string_body> parser;
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      if (!ec) http::read(socket_, buffer_, parser, ec);
      if (ec) {
        socket_.close(ec);
        continue;
      }
      auto response = parser.release();
      if (!response.keep_alive()) socket_.close(ec);
      return HttpReply{static_cast<int>(response.result_int()), std::move(response.body())};
    }
    return io_error("connection to ", target_.host, ":", target_.port, " failed twice");
  }

 private:
  HttpTarget target_;
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

Result<HttpTarget> parse_http_url(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  HttpTarget target;
  const size_t colon = rest.rfind(':');
  target.host = rest.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
      return invalid_argument("--url '", url, "': '", port, "' is not a port");
    }
    target.port = std::stoi(port);
  }
  if (target.host.empty() || target.host.find('/') != std::string::npos) {
    return invalid_argument("--url '", url, "': expected http://HOST:PORT");
  }
  return target;
}

Result<HttpReply> http_get(const HttpTarget& target, const std::string& path) {
  Connection connection(target);
  return connection.exchange(http::verb::get, LoadRequest{path, "", {}});
}

Result<HttpReply> http_post(const HttpTarget& target, const LoadRequest& request) {
  Connection connection(target);
  return connection.exchange(http::verb::post, request);
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

Result<LoadStep> run_load_step(const HttpTarget& target, const std::vector<LoadRequest>& requests,
                               int concurrency, double request_rate, double duration_s,
                               const ReplyCheck& check) {
  if (requests.empty()) return invalid_argument("no request to send");
  LoadStep step;
  step.concurrency = concurrency;
  step.request_rate = request_rate;
  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::atomic<int64_t> next_slot{0};
  std::atomic<uint64_t> next_request{0};
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(duration_s));
  auto loop = [&]() {
    Connection connection(target);
    while (true) {
      Clock::time_point sent = Clock::now();
      if (request_rate > 0) {
        // Open loop: slot k is due at start + k / rate.
        const int64_t slot = next_slot.fetch_add(1);
        sent = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(static_cast<double>(slot) / request_rate));
        if (sent >= end) return;
        std::this_thread::sleep_until(sent);
      } else if (sent >= end) {
        return;
      }
      const LoadRequest& request = requests[next_request.fetch_add(1) % requests.size()];
      Result<HttpReply> reply = connection.exchange(http::verb::post, request);
      const double ms = ms_between(sent, Clock::now());
      // Checked outside the lock: the check may parse a large answer.
      std::string wrong;
      if (!reply.ok()) {
        wrong = reply.status().message();
      } else if (reply->status != 200) {
        wrong = std::to_string(reply->status) + " " + reply->body.substr(0, 200);
      } else if (check) {
        wrong = check(reply->body);
        if (!wrong.empty()) wrong = "200 with wrong content: " + wrong;
      }
      std::lock_guard<std::mutex> lock(mutex);
      if (wrong.empty()) {
        latencies_ms.push_back(ms);
      } else {
        ++step.failed;
        if (step.first_error.empty()) step.first_error = std::move(wrong);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < concurrency; ++i) threads.emplace_back(loop);
  for (auto& t : threads) t.join();
  step.duration_s = std::chrono::duration<double>(Clock::now() - start).count();
  step.completed = static_cast<int64_t>(latencies_ms.size());
  step.throughput = static_cast<double>(step.completed) / step.duration_s;
  step.p50_ms = percentile(latencies_ms, 50);
  step.p90_ms = percentile(latencies_ms, 90);
  step.p99_ms = percentile(latencies_ms, 99);
  double total = 0;
  for (double v : latencies_ms) total += v;
  step.mean_ms = latencies_ms.empty() ? 0 : total / static_cast<double>(latencies_ms.size());
  return step;
}

}  // namespace vitrt::serve

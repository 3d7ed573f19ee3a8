// The Boost.Beast HTTP/1.1 server behind HttpServer (http_server.h).

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (C++20).
#include <utility>

#include "serve/http_server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <cctype>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

namespace vitrt::serve {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Session;

struct Shared {
  HttpServerOptions options;
  HttpHandler handler;
  // Admitted requests whose response is not yet handed to a write: what max_in_flight limits.
  // The slot frees when the write starts, before the client can see the response, so a client
  // that sends its next request after reading the last one is never refused for it.
  std::atomic<int64_t> in_flight{0};
  // Responses being written: a drain waits for these bytes too.
  std::atomic<int64_t> writing{0};
  std::atomic<bool> draining{false};
  // Responders may outlive the server (a handler that keeps one, a worker finishing late).
  // Once the server is gone they must not touch its io_context: `stopped` (under `mutex`)
  // tells them, and the server closes every live session's socket before the io_context dies.
  std::mutex mutex;
  bool stopped = false;
  std::vector<std::weak_ptr<Session>> sessions;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Shared> shared)
      : stream_(std::in_place, std::move(socket)), shared_(std::move(shared)) {}

  // Called by the server, with its I/O threads stopped, before the io_context is destroyed.
  void release_socket() { stream_.reset(); }

  void start() {
    asio::dispatch(stream_->get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    stream_->expires_after(std::chrono::milliseconds(shared_->options.read_timeout_ms));
    http::async_read(
        *stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      send(error_response(413, "request body exceeds the server's limit of " +
                                   std::to_string(shared_->options.max_body_bytes) + " bytes"));
      return;
    }
    if (ec) {
      // Timeout, disconnect or a request that is not HTTP: nothing to answer on.
      if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
          ec != asio::error::connection_reset && ec != asio::error::eof) {
        keep_alive_ = false;
        send(error_response(400, "malformed HTTP request: " + ec.message()));
        return;
      }
      beast::error_code ignored;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    auto message = parser_->release();
    keep_alive_ = message.keep_alive();
    HttpRequest request;
    request.method = std::string(message.method_string());
    const std::string target(message.target());
    request.target = target.substr(0, target.find('?'));
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers[name] = std::string(field.value());
    }
    request.body = std::move(message.body());

    if (shared_->draining) {
      keep_alive_ = false;
      HttpResponse r = error_response(503, "server is shutting down");
      r.headers.push_back({"Retry-After", "1"});
      send(std::move(r));
      return;
    }
    if (shared_->in_flight.fetch_add(1) >= shared_->options.max_in_flight) {
      shared_->in_flight.fetch_sub(1);
      HttpResponse r = error_response(503, "server is at its limit of " +
                                               std::to_string(shared_->options.max_in_flight) +
                                               " requests in flight");
      r.headers.push_back({"Retry-After", "1"});
      send(std::move(r));
      return;
    }
    // The responder may run on any thread; the write goes back through the connection's
    // strand. A client that disconnected meanwhile makes the write fail, nothing else.
    // The request stays counted in flight until its response goes to the write, and the write
    // is counted until it ends (or fails), so a drain waits for the bytes, not just for the
    // handler.
    auto once = std::make_shared<std::atomic<bool>>(false);
    shared_->handler(std::move(request), [self = shared_from_this(), once](HttpResponse r) {
      if (once->exchange(true)) return;
      std::lock_guard<std::mutex> lock(self->shared_->mutex);
      if (self->shared_->stopped || !self->stream_) return;
      asio::post(self->stream_->get_executor(), [self, r = std::move(r)]() mutable {
        self->send(std::move(r), /*counted=*/true);
      });
    });
  }

  void send(HttpResponse r, bool counted = false) {
    auto response = std::make_shared<http::response<http::string_body>>();
    response->result(static_cast<unsigned>(r.status));
    response->version(11);
    response->set(http::field::server, "vitrt");
    response->set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) response->set(name, value);
    response->body() = std::move(r.body);
    response->keep_alive(keep_alive_ && !shared_->draining);
    response->prepare_payload();
    stream_->expires_after(std::chrono::milliseconds(shared_->options.write_timeout_ms));
    shared_->writing.fetch_add(1);
    if (counted) shared_->in_flight.fetch_sub(1);
    http::async_write(*stream_, *response,
                      [self = shared_from_this(), response](beast::error_code ec, size_t) {
                        self->shared_->writing.fetch_sub(1);
                        if (!ec && response->keep_alive()) {
                          self->read();
                          return;
                        }
                        beast::error_code ignored;
                        self->stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
                      });
  }

  std::optional<beast::tcp_stream> stream_;
  std::shared_ptr<Shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
};

class BeastServer final : public HttpServer {
 public:
  BeastServer(const HttpServerOptions& options, HttpHandler handler)
      : io_(options.io_threads), acceptor_(asio::make_strand(io_)), signals_(io_, SIGTERM, SIGINT) {
    shared_ = std::make_shared<Shared>();
    shared_->options = options;
    shared_->handler = std::move(handler);
  }

  Status open() {
    beast::error_code ec;
    const auto address = asio::ip::make_address(shared_->options.host, ec);
    if (ec) return invalid_argument("--host '", shared_->options.host, "': ", ec.message());
    const tcp::endpoint endpoint(address, static_cast<uint16_t>(shared_->options.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return io_error("cannot listen on ", shared_->options.host, ":", shared_->options.port, ": ",
                      ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    return Status::ok_status();
  }

  ~BeastServer() override {
    // Stop the I/O threads' work, then free every socket while the io_context still exists;
    // sessions kept alive by outstanding responders end up holding no socket.
    io_.stop();
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->stopped = true;
    for (const auto& w : shared_->sessions) {
      if (auto session = w.lock()) session->release_socket();
    }
    shared_->sessions.clear();
  }

  int port() const override { return port_; }
  int64_t in_flight() const override { return shared_->in_flight.load(); }

  void run() override {
    accept();
    signals_.async_wait([this](beast::error_code ec, int) {
      if (!ec) stop();
    });
    std::vector<std::thread> threads;
    for (int i = 1; i < shared_->options.io_threads; ++i)
      threads.emplace_back([this] { io_.run(); });
    io_.run();
    for (auto& t : threads) t.join();
  }

  void stop() override {
    asio::post(acceptor_.get_executor(), [this] {
      if (shared_->draining.exchange(true)) return;
      beast::error_code ignored;
      acceptor_.close(ignored);
      signals_.cancel();
      wait_for_drain();
    });
  }

 private:
  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || shared_->draining) return;
      if (!ec) {
        auto session = std::make_shared<Session>(std::move(s), shared_);
        {
          std::lock_guard<std::mutex> lock(shared_->mutex);
          std::erase_if(shared_->sessions, [](const auto& w) { return w.expired(); });
          shared_->sessions.push_back(session);
        }
        session->start();
      }
      accept();
    });
  }

  // Polls until every in-flight request is answered and its response written, then stops
  // the I/O threads after a short grace (the kernel's socket buffers drain to the client).
  void wait_for_drain() {
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(20));
    timer->async_wait([this, timer](beast::error_code) {
      if (shared_->in_flight.load() > 0 || shared_->writing.load() > 0) {
        wait_for_drain();
        return;
      }
      auto grace = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      grace->async_wait([this, grace](beast::error_code) { io_.stop(); });
    });
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  std::shared_ptr<Shared> shared_;
  int port_ = 0;
};

}  // namespace

HttpResponse error_response(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  // Messages quote client input, which may not be UTF-8: replace such bytes, never throw.
  r.body = nlohmann::json({{"error", message}})
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Result<std::unique_ptr<HttpServer>> HttpServer::listen(const HttpServerOptions& options,
                                                       HttpHandler handler) {
  auto server = std::make_unique<BeastServer>(options, std::move(handler));
  VITRT_RETURN_IF_ERROR(server->open());
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace vitrt::serve

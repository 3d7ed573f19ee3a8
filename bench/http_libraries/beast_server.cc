// The Boost.Beast side of the HTTP library load test (bench/NOTES.md, "HTTP library"): the same
// two endpoints as httplib_server.cc, asynchronous, one io_context run by N threads.
// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (C++20).
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "infer_echo.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : stream_(std::move(socket)) {}
  void start() { read(); }

 private:
  void read() {
    request_ = {};
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return;
                       self->answer();
                     });
  }
  void answer() {
    auto response =
        std::make_shared<http::response<http::string_body>>(http::status::ok, request_.version());
    response->keep_alive(request_.keep_alive());
    if (request_.target() == "/v2/models/m/infer") {
      response->set(http::field::content_type, "application/json");
      response->body() = infer_echo(request_.body());
    }
    response->prepare_payload();
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code ec, size_t) {
                        if (!ec && response->keep_alive()) self->read();
                      });
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
};

void accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](beast::error_code ec, tcp::socket socket) {
    if (!ec) std::make_shared<Session>(std::move(socket))->start();
    accept(acceptor);
  });
}

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8002;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  asio::io_context io(threads);
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)});
  accept(acceptor);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
}

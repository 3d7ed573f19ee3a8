// HttpServer: the in-flight limit answers 503 with Retry-After, stop() waits for the requests
// in flight to be answered, and the load generator's client and percentiles.
#include "serve/http_server.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <thread>

#include "serve/load_generator.h"

namespace vitrt::serve {
namespace {

TEST(ServeHttpServer, InFlightLimitAnswers503AndStopDrains) {
  std::mutex mutex;
  std::vector<Responder> held;
  std::promise<void> first_arrived;
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.max_in_flight = 1;
  auto server = HttpServer::listen(options, [&](HttpRequest&& request, Responder respond) {
    if (request.target == "/hold") {
      std::lock_guard<std::mutex> lock(mutex);
      held.push_back(std::move(respond));
      first_arrived.set_value();
      return;
    }
    respond(HttpResponse{200, "text/plain", "hello", {}});
  });
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  std::thread io([&server] { (*server)->run(); });
  const HttpTarget target{"127.0.0.1", (*server)->port()};

  Result<HttpReply> plain = http_get(target, "/plain");
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ(plain->body, "hello");

  // /plain's slot was freed before its response reached us, so /hold is admitted (a refusal
  // here once hung this test: the slot used to free only after the write completed).
  auto first = std::async(std::launch::async, [&target] { return http_get(target, "/hold"); });
  if (first_arrived.get_future().wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    (*server)->stop();
    io.join();
    Result<HttpReply> r = first.get();
    FAIL() << "/hold never reached the handler: "
           << (r.ok() ? "status " + std::to_string(r->status) : r.status().to_string());
  }
  Result<HttpReply> refused = http_get(target, "/plain");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(refused->body.find("limit of 1 requests in flight"), std::string::npos);

  // stop() while /hold is unanswered: run() must not return before it is answered.
  (*server)->stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ((*server)->in_flight(), 1);
  {
    std::lock_guard<std::mutex> lock(mutex);
    held[0](HttpResponse{200, "text/plain", "late", {}});
  }
  Result<HttpReply> late = first.get();
  ASSERT_TRUE(late.ok()) << late.status().to_string();
  EXPECT_EQ(late->body, "late");
  io.join();
  EXPECT_EQ((*server)->in_flight(), 0);
}

TEST(ServeLoadGenerator, PercentilesInterpolate) {
  EXPECT_EQ(percentile({}, 50), 0);
  EXPECT_EQ(percentile({5, 1, 3}, 50), 3);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile({10, 20}, 90), 19);
  EXPECT_EQ(percentile({1, 2, 3}, 100), 3);
}

TEST(ServeLoadGenerator, ParsesUrls) {
  Result<HttpTarget> t = parse_http_url("http://localhost:9000/");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "localhost");
  EXPECT_EQ(t->port, 9000);
  EXPECT_EQ(parse_http_url("10.0.0.1")->port, 8000);
  EXPECT_FALSE(parse_http_url("http://host:99999").ok());
  EXPECT_FALSE(parse_http_url("http://host/path").ok());
}

}  // namespace
}  // namespace vitrt::serve

// Long polls: an HttpServer answer completed later from another thread, or by its deadline,
// without holding a thread; and an HttpClient request cancelled from another thread.

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "common/net/http_client.h"
#include "common/net/http_server.h"

namespace kubehub {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// An HTTP server on one thread whose /later answers are deferred: /later?complete waits for
/// complete() to be called by the test, /later?timeout until its 300 ms deadline.
class DeferringServer {
 public:
  DeferringServer() : work_(asio::make_work_guard(io_)) {
    net::HttpServerOptions options;
    options.name = "test";
    server_ = std::make_unique<net::HttpServer>(io_, options, [this](net::HttpRequest& req) {
      if (req.path == "/big") {
        // 2 MiB, as an error or as an answer.
        return net::HttpResponse{req.query == "error" ? 500 : 200, "text/plain",
                                 std::string(2 << 20, 'b')};
      }
      if (req.path != "/later") return net::HttpResponse{200, "text/plain", "now\n"};
      auto d = std::make_shared<net::HttpDeferred>();
      d->deadline = std::chrono::steady_clock::now() + (req.query == "timeout" ? 300ms : 30s);
      d->start = [this](std::function<void(net::HttpResponse)> complete) {
        std::lock_guard lock(mu_);
        pending_.push_back(std::move(complete));
      };
      d->on_timeout = [] { return net::HttpResponse{200, "text/plain", "timed out\n"}; };
      net::HttpResponse r;
      r.deferred = d;
      return r;
    });
    auto bound = server_->start(*net::parseHostPort("127.0.0.1:0"));
    EXPECT_TRUE(bound.ok()) << bound.status();
    address_ = bound->str();
    runner_ = std::thread([this] { io_.run(); });
  }
  ~DeferringServer() {
    stop();
    work_.reset();
    io_.stop();
    runner_.join();
  }
  std::unique_ptr<net::HttpClient> client(std::chrono::milliseconds timeout = 10s,
                                          size_t max_response_bytes = 64 << 20) {
    net::HttpClientOptions o;
    o.timeout = timeout;
    o.max_response_bytes = max_response_bytes;
    return std::move(*net::HttpClient::create("http://" + address_, o));
  }
  void stop() { server_->stop(); }
  bool waitStopped(std::chrono::milliseconds timeout) { return server_->waitStopped(timeout); }
  const std::string& address() const { return address_; }
  size_t pending() {
    std::lock_guard lock(mu_);
    return pending_.size();
  }
  void completeAll(const std::string& body) {
    std::vector<std::function<void(net::HttpResponse)>> all;
    {
      std::lock_guard lock(mu_);
      all.swap(pending_);
    }
    for (auto& c : all) {
      c(net::HttpResponse{200, "text/plain", body});
      c(net::HttpResponse{500, "text/plain", "a second completion is ignored\n"});
    }
  }

 private:
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<net::HttpServer> server_;
  std::string address_;
  std::thread runner_;
  std::mutex mu_;
  std::vector<std::function<void(net::HttpResponse)>> pending_;
};

TEST(HttpDeferred, AnswersWhenCompletedFromAnotherThreadWhileServingOthers) {
  DeferringServer server;
  auto held =
      std::async(std::launch::async, [&] { return server.client()->request("GET", "/later"); });
  for (int i = 0; i < 200 && server.pending() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server.pending(), 1u);
  // The server's only thread is free: other requests are answered meanwhile.
  auto now = server.client()->request("GET", "/now");
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->body, "now\n");
  EXPECT_EQ(held.wait_for(0ms), std::future_status::timeout);
  server.completeAll("changed\n");
  auto r = held.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "changed\n");
}

TEST(HttpDeferred, AnswersAtTheDeadlineWhenNothingCompletes) {
  DeferringServer server;
  auto r = server.client()->request("GET", "/later?timeout");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "timed out\n");
  server.completeAll("too late\n");  // nothing to write to any more: ignored
}

TEST(HttpDeferred, StopEndsHeldLongPollsAndIdleConnectionsAtOnce) {
  DeferringServer server;
  auto held =
      std::async(std::launch::async, [&] { return server.client()->request("GET", "/later"); });
  for (int i = 0; i < 200 && server.pending() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server.pending(), 1u);

  // A keep-alive connection, idle after one answer.
  asio::io_context io;
  asio::ip::tcp::socket idle(io);
  auto hp = *net::parseHostPort(server.address());
  idle.connect({asio::ip::make_address(hp.host), hp.port});
  std::string request = "GET /now HTTP/1.1\r\nHost: test\r\n\r\n";
  asio::write(idle, asio::buffer(request));
  std::string answer;
  boost::system::error_code ec;
  asio::read_until(idle, asio::dynamic_buffer(answer), "now\n", ec);
  ASSERT_FALSE(ec) << ec.message();
  auto closed = std::async(std::launch::async, [&] {
    char byte;
    boost::system::error_code rec;
    idle.read_some(asio::buffer(&byte, 1), rec);
    return rec;
  });

  server.stop();
  EXPECT_TRUE(server.waitStopped(10s)) << "connections outlived stop()";
  ASSERT_EQ(held.wait_for(10s), std::future_status::ready) << "the long poll outlived stop()";
  EXPECT_FALSE(held.get().ok());
  ASSERT_EQ(closed.wait_for(10s), std::future_status::ready) << "the idle connection stayed open";
  auto rec = closed.get();
  EXPECT_TRUE(rec == asio::error::eof || rec == asio::error::connection_reset) << rec.message();
}

TEST(HttpClient, CancelEndsARequestInProgressAndLaterOnes) {
  DeferringServer server;
  std::shared_ptr<net::HttpClient> client = server.client(30s);
  auto held = std::async(std::launch::async, [&] { return client->request("GET", "/later"); });
  for (int i = 0; i < 200 && server.pending() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server.pending(), 1u);
  client->cancel();
  ASSERT_EQ(held.wait_for(5s), std::future_status::ready) << "cancel() did not end the request";
  auto r = held.get();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cancelled"), std::string::npos) << r.status();
  EXPECT_FALSE(client->request("GET", "/now").ok());
}

TEST(HttpClientStream, AnErrorAnswerIsBoundedAsRequestsAreAndASuccessIsNot) {
  DeferringServer server;
  auto client = server.client(10s, 1 << 20);
  size_t streamed = 0;
  auto sink = [&streamed](std::string_view piece) {
    streamed += piece.size();
    return true;
  };
  // A 2xx body goes to the sink piece by piece, whatever its size.
  auto ok = client->stream("GET", "/big", "", {}, sink);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(streamed, size_t{2} << 20);
  // An error answer is read whole into memory: over the limit, refused as request() refuses it.
  auto error = client->stream("GET", "/big?error", "", {}, sink);
  ASSERT_FALSE(error.ok());
  EXPECT_NE(error.status().message().find("body limit"), std::string::npos) << error.status();
  auto plain = client->request("GET", "/big?error");
  ASSERT_FALSE(plain.ok());
}

}  // namespace
}  // namespace kubehub

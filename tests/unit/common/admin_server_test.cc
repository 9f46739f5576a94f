// The admin endpoint shared by the hub, the agent and the metaserver: what each path answers,
// and one server on a real listener.
#include "common/net/admin_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "common/net/http_client.h"

namespace kubehub::net {
namespace {

using namespace std::chrono_literals;

HttpRequest get(std::string path, std::string method = "GET") {
  HttpRequest r;
  r.method = std::move(method);
  r.path = path;
  r.target = std::move(path);
  return r;
}

TEST(AdminResponse, LivenessIsAlwaysOk) {
  AdminRoutes routes;
  routes.readiness = [] { return Readiness::waiting("starting"); };
  for (const char* path : {"/healthz", "/livez"}) {
    HttpResponse r = adminResponse(routes, get(path));
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, "ok\n") << path;
    EXPECT_EQ(r.content_type, "text/plain");
  }
}

TEST(AdminResponse, ReadinessSaysWhyAndWhetherDegraded) {
  Readiness now = Readiness::ok();
  AdminRoutes routes;
  routes.readiness = [&now] { return now; };
  EXPECT_EQ(adminResponse(routes, get("/readyz")).status, 200);
  EXPECT_EQ(adminResponse(routes, get("/readyz")).body, "ok\n");

  now = Readiness::degraded("degraded: metaserver unreachable");
  EXPECT_EQ(adminResponse(routes, get("/readyz")).status, 200);
  EXPECT_EQ(adminResponse(routes, get("/readyz")).body, "ok (degraded: metaserver unreachable)\n");

  now = Readiness::waiting("no tunnel to any hub");
  EXPECT_EQ(adminResponse(routes, get("/readyz")).status, 503);
  EXPECT_EQ(adminResponse(routes, get("/readyz")).body, "no tunnel to any hub\n");

  now = Readiness::waiting("");
  EXPECT_EQ(adminResponse(routes, get("/readyz")).body, "not ready\n");

  AdminRoutes none;  // no readiness function: ready whenever it answers
  EXPECT_EQ(adminResponse(none, get("/readyz")).status, 200);
}

TEST(AdminResponse, MetricsOnlyWhenGiven) {
  AdminRoutes routes;
  EXPECT_EQ(adminResponse(routes, get("/metrics")).status, 404);
  routes.metrics = [] { return std::string("up 1\n"); };
  HttpResponse r = adminResponse(routes, get("/metrics"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "up 1\n");
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4");
}

TEST(AdminResponse, OwnRoutesByExactPath) {
  AdminRoutes routes;
  int calls = 0;
  routes.routes["/debug/clusters"] = [&calls](const HttpRequest&) {
    ++calls;
    return HttpResponse{200, "application/json", "{\"clusters\":[]}"};
  };
  EXPECT_EQ(adminResponse(routes, get("/debug/clusters")).body, "{\"clusters\":[]}");
  EXPECT_EQ(adminResponse(routes, get("/debug/clusters/")).status, 404);
  EXPECT_EQ(adminResponse(routes, get("/debug")).status, 404);
  EXPECT_EQ(calls, 1);
}

TEST(AdminResponse, OnlyGetIsServed) {
  AdminRoutes routes;
  int calls = 0;
  routes.routes["/debug/x"] = [&calls](const HttpRequest&) {
    ++calls;
    return HttpResponse{};
  };
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "get"}) {
    for (const char* path : {"/healthz", "/readyz", "/debug/x"}) {
      HttpResponse r = adminResponse(routes, get(path, method));
      EXPECT_EQ(r.status, 405) << method << " " << path;
      ASSERT_EQ(r.headers.size(), 1u);
      EXPECT_EQ(r.headers[0].first, "Allow");
      EXPECT_EQ(r.headers[0].second, "GET");
    }
  }
  EXPECT_EQ(calls, 0);
  // An unknown path is unknown whatever the method.
  EXPECT_EQ(adminResponse(routes, get("/nothing", "POST")).status, 404);
}

TEST(AdminServer, AnswersOnItsListenerUntilStopped) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::atomic<bool> ready{false};
  AdminRoutes routes;
  routes.readiness = [&ready] {
    return ready ? Readiness::ok() : Readiness::waiting("waiting for the test");
  };
  AdminServer server(io, routes);
  auto bound = server.start(HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(bound.ok()) << bound.status();
  std::thread runner([&io] { io.run(); });

  HttpClientOptions co;
  co.timeout = 10s;
  auto client = HttpClient::create("http://" + bound->str(), co);
  ASSERT_TRUE(client.ok()) << client.status();
  auto waiting = (*client)->request("GET", "/readyz");
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_EQ(waiting->status, 503);
  EXPECT_EQ(waiting->body, "waiting for the test\n");
  ready = true;
  auto now_ready = (*client)->request("GET", "/readyz");
  ASSERT_TRUE(now_ready.ok()) << now_ready.status();
  EXPECT_EQ(now_ready->status, 200);
  auto posted = (*client)->request("POST", "/healthz", "x");
  ASSERT_TRUE(posted.ok()) << posted.status();
  EXPECT_EQ(posted->status, 405);

  server.stop();
  work.reset();
  runner.join();
  co.timeout = 2s;
  auto after = HttpClient::create("http://" + bound->str(), co);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE((*after)->request("GET", "/healthz").ok()) << "still answering after stop()";
}

}  // namespace
}  // namespace kubehub::net

// The typed metaserver client against a MetaserverServer in process over a throwaway PostgreSQL:
// typed calls, paging, ETag revalidation, errors as statuses, and cancelling a long poll.
#include "metaserver/client/metaserver_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/cord.h"
#include "metaserver/metaserver_server.h"
#include "tests/integration/test_postgres.h"

namespace kubehub::metaserver {
namespace {

using namespace std::chrono_literals;

constexpr const char* kAdminToken = "admin-token-0123456789";

/// One PostgreSQL and one metaserver for the suite (each test uses names of its own).
class MetaserverClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = new integration::TestPostgres();
    if (!pg_->running()) return;
    MetaserverOptions o;
    o.listen = "127.0.0.1:0";
    o.admin_listen = "127.0.0.1:0";
    o.insecure_http = true;
    o.database_url = pg_->conninfo();
    o.admin_token = kAdminToken;
    o.threads = 2;
    o.db_wait = 10s;
    server_ = new MetaserverServer(o, "test");
    auto bound = server_->start();
    if (!bound.ok()) return;
    url_ = "http://" + bound->api.str();
    ran_ = new std::future<void>(
        std::async(std::launch::async, [server = server_] { server->run(nullptr); }));
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) server_->stop();
    if (ran_ != nullptr) ran_->wait();
    delete ran_;
    delete server_;
    delete pg_;
  }
  void SetUp() override {
    // `make deps` installs PostgreSQL 15: without it these tests fail rather than pass unseen.
    ASSERT_TRUE(pg_->running()) << "no PostgreSQL 15 server to start (set KUBEHUB_PGBIN)";
    ASSERT_FALSE(url_.empty()) << "the metaserver did not start";
  }
  static std::unique_ptr<MetaserverClient> client(std::string token = kAdminToken,
                                                  std::chrono::milliseconds timeout = 10s) {
    MetaserverClientOptions o;
    o.url = url_;
    o.token = std::move(token);
    o.timeout = timeout;
    auto c = MetaserverClient::create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  static integration::TestPostgres* pg_;
  static MetaserverServer* server_;
  static std::future<void>* ran_;
  static std::string url_;
};

integration::TestPostgres* MetaserverClientTest::pg_ = nullptr;
MetaserverServer* MetaserverClientTest::server_ = nullptr;
std::future<void>* MetaserverClientTest::ran_ = nullptr;
std::string MetaserverClientTest::url_;

TEST_F(MetaserverClientTest, TypedCallsDecodeRecords) {
  auto c = client();
  ASSERT_TRUE(c);
  auto created = c->callAs<TenantRecord>("POST", "/api/v1/tenants",
                                         Json{{"name", "typed"}, {"description", "Typed Ltd"}});
  ASSERT_TRUE(created.ok()) << created.status();
  auto got = c->tenant("typed");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->description, "Typed Ltd");
  EXPECT_TRUE(*got == *created);
  EXPECT_GT(got->created_at, 0);

  auto me = c->whoami();
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_TRUE(me->admin);
  EXPECT_TRUE(me->user.empty());

  ASSERT_TRUE(c->call("POST", "/api/v1/clusters",
                      Json{{"name", "typed-edge"}, {"labels", {{"env", "prod"}}}})
                  .ok());
  auto clusters = c->clusters();
  ASSERT_TRUE(clusters.ok()) << clusters.status();
  bool found = false;
  for (const auto& cl : *clusters) {
    if (cl.name == "typed-edge") {
      found = true;
      EXPECT_EQ(cl.labels.at("env"), "prod");
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(MetaserverClientTest, ListAllFollowsContinueTokens) {
  auto c = client();
  ASSERT_TRUE(c);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        c->call("POST", "/api/v1/tenants", Json{{"name", "page-" + std::to_string(i)}}).ok());
  }
  auto first = c->listPage<TenantRecord>("/api/v1/tenants", 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->items.size(), 2u);
  EXPECT_FALSE(first->continue_token.empty());
  auto whole = c->listAll<TenantRecord>("/api/v1/tenants", 0);
  ASSERT_TRUE(whole.ok()) << whole.status();
  auto paged = c->listAll<TenantRecord>("/api/v1/tenants", 2);
  ASSERT_TRUE(paged.ok()) << paged.status();
  EXPECT_GE(paged->items.size(), 5u);
  EXPECT_EQ(paged->items, whole->items) << "every tenant once, in order";
  EXPECT_TRUE(paged->continue_token.empty());
  // A list's other fields are kept (the hubs' registry TTL).
  auto hubs = c->listAll<HubRecord>("/api/v1/hubs", 1);
  ASSERT_TRUE(hubs.ok()) << hubs.status();
  EXPECT_TRUE(hubs->extra.contains("ttlSeconds")) << hubs->extra.dump();
}

TEST_F(MetaserverClientTest, RoutesRevalidateWithTheirETag) {
  auto c = client();
  ASSERT_TRUE(c);
  auto first = c->routes("");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->not_modified);
  ASSERT_FALSE(first->etag.empty());
  auto again = c->routes(first->etag);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->not_modified);
  EXPECT_EQ(again->etag, first->etag);
  // The table moves: a new ETag and the new table.
  ASSERT_TRUE(c->call("POST", "/api/v1/clusters", Json{{"name", "routed"}}).ok());
  ASSERT_TRUE(
      c->heartbeat("hub-routes", HubHeartbeat{{{"peer", "wss://h:3/peer"}}, 0, 0, "1", ""}).ok());
  ASSERT_TRUE(c->clusterConnected("routed", "hub-routes").ok());
  auto moved = c->routes(first->etag);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_FALSE(moved->not_modified);
  EXPECT_NE(moved->etag, first->etag);
  ASSERT_EQ(moved->value.connections.size(), 1u);
  EXPECT_EQ(moved->value.connections[0].cluster, "routed");
  EXPECT_EQ(moved->value.connections[0].hub, "hub-routes");
  EXPECT_TRUE(c->leave("hub-routes").ok());
}

TEST_F(MetaserverClientTest, ErrorsBecomeStatusesWithTheServersMessage) {
  auto c = client();
  ASSERT_TRUE(c);
  auto missing = c->tenant("nowhere");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_EQ(httpStatusOf(missing.status()), 404);
  EXPECT_NE(missing.status().message().find("nowhere"), std::string_view::npos) << missing.status();

  auto invalid = c->call("POST", "/api/v1/tenants", Json{{"name", "Not A Label"}});
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument) << invalid.status();
  EXPECT_EQ(httpStatusOf(invalid.status()), 422);
  EXPECT_NE(invalid.status().message().find("DNS label"), std::string_view::npos)
      << invalid.status();

  auto stranger = client("not-a-token");
  ASSERT_TRUE(stranger);
  auto denied = stranger->whoami();
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kUnauthenticated) << denied.status();
  EXPECT_EQ(httpStatusOf(denied.status()), 401);

  MetaserverClientOptions nowhere;
  nowhere.url = "http://127.0.0.1:1";
  nowhere.timeout = 2s;
  auto unreachable = MetaserverClient::create(nowhere);
  ASSERT_TRUE(unreachable.ok());
  auto s = (*unreachable)->whoami().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(httpStatusOf(s), 0) << "not an answer";

  EXPECT_EQ(statusFromHttp(409, R"({"error":{"code":409,"message":"exists"}})"), [] {
    absl::Status want = absl::FailedPreconditionError("exists");
    want.SetPayload("kubehub.dev/metaserver-answer-status", absl::Cord("409"));
    return want;
  }());
  EXPECT_EQ(statusFromHttp(502, "<html>bad gateway</html>").message(), "<html>bad gateway</html>");
}

TEST_F(MetaserverClientTest, CancelEndsABlockedLongPoll) {
  auto c = client(kAdminToken, 60s);
  ASSERT_TRUE(c);
  // Right after start the feed may not have read its generations yet (503): wait until it has.
  auto now = c->changes("", 0s);
  for (auto until = std::chrono::steady_clock::now() + 10s;
       !now.ok() && httpStatusOf(now.status()) == 503 && std::chrono::steady_clock::now() < until;
       now = c->changes("", 0s)) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(now.ok()) << now.status();
  ASSERT_FALSE(now->since.empty());
  EXPECT_FALSE(now->feeds.empty());
  auto start = std::chrono::steady_clock::now();
  // Nothing changes: the poll would wait 50 s; cancel() from this thread ends it.
  auto polled = std::async(std::launch::async, [poller = c.get(), since = now->since] {
    return poller->changes(since, std::chrono::seconds(50));
  });
  EXPECT_EQ(polled.wait_for(300ms), std::future_status::timeout) << "the poll waits";
  c->cancel();
  ASSERT_EQ(polled.wait_for(10s), std::future_status::ready) << "cancel() ended the poll";
  auto result = polled.get();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  // Cancelled for good: later calls fail at once.
  EXPECT_EQ(c->whoami().status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace kubehub::metaserver

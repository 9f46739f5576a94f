// The metaserver's composition root in process: a MetaserverServer started from
// MetaserverOptions on port 0 (as kubehub-metaserver starts it from flags) against a throwaway
// PostgreSQL; the admin endpoint, one REST call and stop().
#include "metaserver/metaserver_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "common/net/http_client.h"
#include "tests/integration/test_postgres.h"

namespace kubehub::metaserver {
namespace {

using namespace std::chrono_literals;

constexpr const char* kAdminToken = "admin-token-0123456789";

TEST(MetaserverServer, ServesHealthAndRestThenStops) {
  integration::TestPostgres pg;
  // `make deps` installs PostgreSQL 15: without it this test fails rather than passing unseen.
  ASSERT_TRUE(pg.running()) << "no PostgreSQL 15 server to start (set KUBEHUB_PGBIN)";

  // Configured the way kubehub-metaserver's flags configure it.
  MetaserverOptions o;
  o.listen = "127.0.0.1:0";
  o.admin_listen = "127.0.0.1:0";
  o.insecure_http = true;
  o.database_url = pg.conninfo();
  o.admin_token = kAdminToken;
  o.threads = 2;
  o.db_wait = 10s;
  ASSERT_TRUE(o.validate().ok()) << o.validate();
  MetaserverServer server(o, "test");
  auto bound = server.start();
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_NE(bound->api.port, 0);
  EXPECT_NE(bound->admin.port, 0);
  EXPECT_EQ(server.options().public_url, "http://" + bound->api.str());
  auto ran = std::async(std::launch::async, [&server] { server.run(nullptr); });
  // A failed assertion below still ends run(), which the future's destructor waits for.
  struct StopOnExit {
    MetaserverServer& server;
    ~StopOnExit() { server.stop(); }
  } stop_on_exit{server};

  net::HttpClientOptions co;
  co.timeout = 10s;
  auto admin = net::HttpClient::create("http://" + bound->admin.str(), co);
  ASSERT_TRUE(admin.ok()) << admin.status();
  auto health = (*admin)->request("GET", "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");
  auto ready = (*admin)->request("GET", "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 200) << ready->body;

  auto api = net::HttpClient::create("http://" + bound->api.str(), co);
  ASSERT_TRUE(api.ok()) << api.status();
  auto tenants = (*api)->request("GET", "/api/v1/tenants", "",
                                 {{"Authorization", std::string("Bearer ") + kAdminToken}});
  ASSERT_TRUE(tenants.ok()) << tenants.status();
  EXPECT_EQ(tenants->status, 200) << tenants->body;
  auto anonymous = (*api)->request("GET", "/api/v1/tenants");
  ASSERT_TRUE(anonymous.ok()) << anonymous.status();
  EXPECT_EQ(anonymous->status, 401) << anonymous->body;

  server.stop();
  server.stop();  // idempotent
  ASSERT_EQ(ran.wait_for(20s), std::future_status::ready) << "run() did not return after stop()";
}

}  // namespace
}  // namespace kubehub::metaserver

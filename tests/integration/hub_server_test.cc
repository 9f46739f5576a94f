// The hub's and the agent's composition roots in process: a HubServer started from HubOptions
// and an AgentServer from AgentOptions, on port 0 (as kubehub-hub and kubehub-agent start them
// from flags), with the edge API server stand-in; users' requests, both admin endpoints and
// stop().
#include "hub/hub_server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "agent/agent_server.h"
#include "common/net/http_client.h"
#include "tests/integration/hub_fixture.h"

namespace kubehub {
namespace {

using namespace std::chrono_literals;

class HubServerTest : public HubFixture {
 protected:
  void SetUp() override {
    HubFixture::SetUp();
    if (HasFatalFailure()) return;
    EXPECT_NE(hub_.bound().users.port, 0);
    EXPECT_NE(hub_.bound().tunnel.port, 0);
    EXPECT_NE(hub_.bound().admin.port, 0);
    EXPECT_FALSE(hub_.bound().peer.has_value());
    EXPECT_EQ(agent_.resolved().cluster, "edge-1");
    EXPECT_NE(agent_.admin().port, 0);
    // The admin endpoint lists the attached agent's cluster.
    ASSERT_NE(adminGet("/debug/clusters").body.find("\"edge-1\""), std::string::npos);
  }
};

TEST_F(HubServerTest, ServesUsersThroughTheAgent) {
  auto ns = usersGet("/clusters/edge-1/api/v1/namespaces");
  EXPECT_EQ(ns.status, 200);
  EXPECT_NE(ns.body.find("\"NamespaceList\""), std::string::npos);
  EXPECT_EQ(usersGet("/clusters/edge-1/api/v1/namespaces", false).status, 401);
  EXPECT_EQ(usersGet("/clusters/edge-9/api/v1/namespaces").status, 503);
}

TEST_F(HubServerTest, AdminEndpointReportsHealthMetricsAndClusters) {
  EXPECT_EQ(adminGet("/healthz").status, 200);
  auto ready = adminGet("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ok\n");
  auto metrics = adminGet("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("kubehub_hub_"), std::string::npos);
  auto clusters = adminGet("/debug/clusters");
  EXPECT_EQ(clusters.status, 200);
  EXPECT_NE(clusters.body.find("\"agentVersion\":\"test\""), std::string::npos);
  EXPECT_EQ(adminGet("/debug/cache").status, 200);
  EXPECT_EQ(adminGet("/debug/peers").status, 200);
  EXPECT_EQ(adminGet("/no-such-page").status, 404);
}

TEST_F(HubServerTest, AgentAdminEndpointIsReadyOnceItsTunnelIsUp) {
  net::HttpClientOptions co;
  co.timeout = 10s;
  auto admin = net::HttpClient::create("http://" + agent_.admin().str(), co);
  ASSERT_TRUE(admin.ok()) << admin.status();
  // Attached to the hub (SetUp waited for it); the API server probe may lag a moment.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  absl::StatusOr<net::HttpClientResponse> ready;
  do {
    ready = (*admin)->request("GET", "/readyz");
    ASSERT_TRUE(ready.ok()) << ready.status();
    if (ready->status == 200) break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(ready->status, 200) << ready->body;
  EXPECT_EQ(ready->body, "ok\n");
  auto metrics = (*admin)->request("GET", "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->body.find("kubehub_agent_"), std::string::npos);

  // With the hub gone the agent says why it is not ready.
  hub_.stop();
  deadline = std::chrono::steady_clock::now() + 20s;
  do {
    ready = (*admin)->request("GET", "/readyz");
    ASSERT_TRUE(ready.ok()) << ready.status();
    if (ready->status == 503) break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(ready->body, "no tunnel to any hub\n");
}

TEST_F(HubServerTest, AgentStopEndsRunAndTheHubSeesTheTunnelGo) {
  agent_.server().stop();
  agent_.server().stop();  // idempotent
  ASSERT_TRUE(agent_.waitStopped(20s));
  EXPECT_EQ(agent_.exitCode(), 0);
  EXPECT_TRUE(waitUntil([this] {
    return adminGet("/debug/clusters").body.find("\"edge-1\"") == std::string::npos;
  })) << "the hub still lists the stopped agent's cluster";
  EXPECT_EQ(usersGet("/clusters/edge-1/api/v1/namespaces").status, 503);
}

TEST_F(HubServerTest, StopEndsRunAndClosesTheListeners) {
  hub_.server().stop();
  hub_.server().stop();  // idempotent
  ASSERT_TRUE(hub_.waitStopped(20s));
  auto client = httpClient("https://" + hub_.bound().users.str(), 5s);
  ASSERT_TRUE(client);
  EXPECT_FALSE(client->request("GET", "/clusters/edge-1/api/v1/namespaces", "", {}).ok());
}

}  // namespace
}  // namespace kubehub

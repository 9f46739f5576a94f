// The hub's and the agent's composition roots in process: a HubServer started from HubOptions
// and an AgentServer from AgentOptions, on port 0 (as kubehub-hub and kubehub-agent start them
// from flags), with the edge API server stand-in; users' requests, both admin endpoints and
// stop().
#include "hub/hub_server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <thread>

#include "agent/agent_server.h"
#include "common/net/http_client.h"
#include "common/net/tls.h"
#include "tests/integration/standin_thread.h"
#include "tests/integration/test_pki.h"
#include "tests/standin/api_server.h"
#include "tests/standin/server.h"

namespace kubehub {
namespace {

using namespace std::chrono_literals;

constexpr const char* kEdgeToken = "edge-token-0123456789";
constexpr const char* kUserToken = "user-token-0123456789";

class HubServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_.issue("standin", "standin", true);
    pki_.issue("hub", "hub", true);
    pki_.issue("agent", "edge-1", false);

    ASSERT_TRUE(standin_.start(pki_, kEdgeToken));
    net::HostPort standin_addr = standin_.address();

    // The hub, configured the way kubehub-hub's flags configure it.
    std::ofstream(pki_.path("tokens.csv")) << kUserToken << ",alice,1,\"devs\"\n";
    hub::HubOptions o;
    o.listen = "127.0.0.1:0";
    o.tunnel_listen = "127.0.0.1:0";
    o.admin_listen = "127.0.0.1:0";
    o.tls_cert = pki_.path("hub.crt");
    o.tls_key = pki_.path("hub.key");
    o.agent_ca = pki_.path("ca.crt");
    o.token_file = pki_.path("tokens.csv");
    o.audit_log = "";
    o.hub_id = "hub-test";
    o.threads = 1;
    o.tunnel_threads = 1;
    ASSERT_TRUE(o.validate().ok()) << o.validate();
    hub_ = std::make_unique<hub::HubServer>(o);
    auto bound = hub_->start();
    ASSERT_TRUE(bound.ok()) << bound.status();
    bound_ = *bound;
    EXPECT_NE(bound_.users.port, 0);
    EXPECT_NE(bound_.tunnel.port, 0);
    EXPECT_NE(bound_.admin.port, 0);
    EXPECT_FALSE(bound_.peer.has_value());
    hub_thread_ = std::thread([this] {
      hub_->run(nullptr);
      hub_stopped_.set_value();
    });

    // The agent, configured the way kubehub-agent's flags configure it: its edge API server
    // from a kubeconfig, its client certificate (CN edge-1) naming the cluster.
    std::ofstream(pki_.path("kubeconfig"))
        << "apiVersion: v1\nkind: Config\n"
        << "clusters:\n- name: edge\n  cluster:\n"
        << "    server: https://" << standin_addr.str() << "\n"
        << "    certificate-authority: " << pki_.path("ca.crt") << "\n"
        << "users:\n- name: agent\n  user:\n    token: " << kEdgeToken << "\n"
        << "contexts:\n- name: edge\n  context:\n"
        << "    cluster: edge\n    user: agent\n"
        << "current-context: edge\n";
    agent::AgentOptions ao;
    ao.hub_urls = {"wss://" + bound_.tunnel.str() + "/tunnel"};
    ao.hub_connections = 1;
    ao.tls_cert = pki_.path("agent.crt");
    ao.tls_key = pki_.path("agent.key");
    ao.hub_ca = pki_.path("ca.crt");
    ao.kubeconfig = pki_.path("kubeconfig");
    ao.admin_listen = "127.0.0.1:0";
    ao.backoff_base = 50ms;
    ao.backoff_max = 200ms;
    ASSERT_TRUE(ao.validate().ok()) << ao.validate();
    auto resolved = ao.resolved();
    ASSERT_TRUE(resolved.ok()) << resolved.status();
    EXPECT_EQ(resolved->cluster, "edge-1");
    agent_ = std::make_unique<agent::AgentServer>(*resolved, "test", "hub-server-test");
    auto agent_admin = agent_->start();
    ASSERT_TRUE(agent_admin.ok()) << agent_admin.status();
    agent_admin_ = *agent_admin;
    EXPECT_NE(agent_admin_.port, 0);
    agent_thread_ = std::thread([this] {
      agent_exit_ = agent_->run(nullptr);
      agent_stopped_.set_value();
    });

    net::HttpClientOptions co;
    co.tls.ca_file = pki_.path("ca.crt");
    co.timeout = 20s;
    auto users = net::HttpClient::create("https://" + bound_.users.str(), co);
    ASSERT_TRUE(users.ok()) << users.status();
    users_ = std::move(*users);
    auto admin = net::HttpClient::create("http://" + bound_.admin.str(), co);
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);

    // The agent is attached once the admin endpoint lists its cluster.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (adminGet("/debug/clusters").body.find("\"edge-1\"") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_NE(adminGet("/debug/clusters").body.find("\"edge-1\""), std::string::npos)
        << "the agent did not connect";
  }

  void TearDown() override {
    users_.reset();
    admin_.reset();
    if (hub_thread_.joinable()) {
      hub_->stop();
      hub_thread_.join();
    }
    if (agent_thread_.joinable()) {
      agent_->stop();
      agent_thread_.join();
    }
    agent_.reset();
    hub_.reset();
  }

  net::HttpClientResponse usersGet(const std::string& target, bool with_token = true) {
    net::HeaderList h = {{"Accept", "application/json"}};
    if (with_token) h.emplace_back("Authorization", std::string("Bearer ") + kUserToken);
    auto r = users_->request("GET", target, "", h);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : net::HttpClientResponse{};
  }

  net::HttpClientResponse adminGet(const std::string& target) {
    auto r = admin_->request("GET", target, "", {});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : net::HttpClientResponse{};
  }

  TestPki pki_;
  StandinThread standin_;
  std::unique_ptr<hub::HubServer> hub_;
  hub::HubAddresses bound_;
  std::thread hub_thread_;
  std::promise<void> hub_stopped_;
  std::unique_ptr<agent::AgentServer> agent_;
  net::HostPort agent_admin_;
  std::thread agent_thread_;
  std::promise<void> agent_stopped_;
  int agent_exit_ = -1;
  std::unique_ptr<net::HttpClient> users_;
  std::unique_ptr<net::HttpClient> admin_;
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
  auto admin = net::HttpClient::create("http://" + agent_admin_.str(), co);
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
  hub_->stop();
  hub_thread_.join();
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
  agent_->stop();
  agent_->stop();  // idempotent
  ASSERT_EQ(agent_stopped_.get_future().wait_for(20s), std::future_status::ready);
  agent_thread_.join();
  EXPECT_EQ(agent_exit_, 0);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (adminGet("/debug/clusters").body.find("\"edge-1\"") != std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(adminGet("/debug/clusters").body.find("\"edge-1\""), std::string::npos);
  EXPECT_EQ(usersGet("/clusters/edge-1/api/v1/namespaces").status, 503);
}

TEST_F(HubServerTest, StopEndsRunAndClosesTheListeners) {
  hub_->stop();
  hub_->stop();  // idempotent
  ASSERT_EQ(hub_stopped_.get_future().wait_for(20s), std::future_status::ready);
  hub_thread_.join();
  net::HttpClientOptions co;
  co.tls.ca_file = pki_.path("ca.crt");
  co.timeout = 5s;
  auto client = net::HttpClient::create("https://" + bound_.users.str(), co);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_FALSE((*client)->request("GET", "/clusters/edge-1/api/v1/namespaces", "", {}).ok());
}

}  // namespace
}  // namespace kubehub

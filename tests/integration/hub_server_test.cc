// The hub's composition root in process: a HubServer started from HubOptions on port 0 (as
// kubehub-hub starts it from flags), the edge API server stand-in and an agent; users' requests,
// the admin endpoint and stop().
#include "hub/hub_server.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <thread>

#include "agent/dialer/tunnel_client.h"
#include "agent/forward/upstream_client.h"
#include "common/net/http_client.h"
#include "common/net/tls.h"
#include "tests/integration/standin_thread.h"
#include "tests/integration/test_pki.h"
#include "tests/standin/api_server.h"
#include "tests/standin/server.h"

namespace kubehub {
namespace {

namespace asio = boost::asio;
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

    // The agent, on its own context.
    agent::KubeTarget target;
    target.server = *net::parseUrl("https://" + standin_addr.str());
    target.server_name = "127.0.0.1";
    target.tls.ca_file = pki_.path("ca.crt");
    target.token = kEdgeToken;
    auto upstream =
        agent::UpstreamClient::create(agent_io_.get_executor(), target, agent::UpstreamOptions{});
    ASSERT_TRUE(upstream.ok()) << upstream.status();
    net::ClientTlsOptions agent_tls;
    agent_tls.ca_file = pki_.path("ca.crt");
    agent_tls.cert_file = pki_.path("agent.crt");
    agent_tls.key_file = pki_.path("agent.key");
    agent::TunnelClientOptions to;
    to.hubs = {"wss://" + bound_.tunnel.str() + "/tunnel"};
    to.cluster = "edge-1";
    to.agent_version = "test";
    to.tls = net::TlsSource::fixed("tunnel", *net::makeClientContext(agent_tls));
    to.backoff_base = 50ms;
    to.backoff_max = 200ms;
    auto state = std::make_shared<agent::AgentState>();
    agent::StatusReporterOptions status_options;
    status_options.agent_version = "test";
    status_options.agent_build = "hub-server";
    state->status = std::make_shared<agent::StatusReporter>(status_options);
    asio::co_spawn(agent_io_, agent::StatusReporter::run(state->status, *upstream), asio::detached);
    asio::co_spawn(agent_io_, agent::runTunnelClient(to, *upstream, state), asio::detached);
    agent_thread_ = std::thread([this] { agent_io_.run(); });

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
    agent_work_.reset();
    agent_io_.stop();
    if (agent_thread_.joinable()) agent_thread_.join();
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
  asio::io_context agent_io_;
  asio::executor_work_guard<asio::io_context::executor_type> agent_work_ =
      asio::make_work_guard(agent_io_);
  std::thread agent_thread_;
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

#pragma once
/// The in-process harness: the edge API server stand-in, a hub started through HubServer and an
/// agent through AgentServer (the composition roots kubehub-hub and kubehub-agent run), on port
/// 0 with a throwaway PKI, plus users' and admin HTTP clients. HubThread and AgentThread run one
/// more server each on a thread of its own. Everything here is for the test's own thread.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent_server.h"
#include "common/net/http_client.h"
#include "hub/hub_server.h"
#include "hub/tunnel/tunnel_registry.h"
#include "tests/integration/standin_thread.h"
#include "tests/integration/test_pki.h"

namespace kubehub {

inline constexpr const char* kEdgeToken = "edge-token-0123456789";
inline constexpr const char* kUserToken = "user-token-0123456789";
/// What the fixture's agents tell the hub they are.
inline constexpr const char* kAgentVersion = "test";
inline constexpr const char* kAgentBuild = "in-process";

/// Whether `condition` holds within `timeout` (looked at every 10 ms).
inline bool waitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

/// The URL agents dial for the tunnel endpoint at `at`.
inline std::string tunnelUrl(const net::HostPort& at) { return "wss://" + at.str() + "/tunnel"; }

/// A HubServer run on its own thread; stopped and joined when destroyed.
class HubThread {
 public:
  HubThread() = default;
  HubThread(const HubThread&) = delete;
  HubThread& operator=(const HubThread&) = delete;
  ~HubThread() { stop(); }

  /// Starts a hub from `options` and runs it; fails the test (and returns false) when the
  /// options are invalid or it does not start.
  bool start(const hub::HubOptions& options) {
    absl::Status valid = options.validate();
    EXPECT_TRUE(valid.ok()) << valid;
    if (!valid.ok()) return false;
    server_ = std::make_unique<hub::HubServer>(options);
    auto bound = server_->start();
    EXPECT_TRUE(bound.ok()) << bound.status();
    if (!bound.ok()) return false;
    bound_ = *bound;
    ended_ = ran_.get_future();
    thread_ = std::thread([this] {
      server_->run(nullptr);
      ran_.set_value();
    });
    return true;
  }

  hub::HubServer& server() { return *server_; }
  const hub::HubAddresses& bound() const { return bound_; }
  std::shared_ptr<hub::TunnelRegistry> tunnels() const { return server_->tunnels(); }
  /// Whether `cluster`'s agent has a tunnel to this hub.
  bool attached(const std::string& cluster) const { return tunnels()->find(cluster) != nullptr; }

  /// After server().stop(): whether run() returned within `timeout` (its thread is then joined).
  bool waitStopped(std::chrono::milliseconds timeout) {
    if (!thread_.joinable()) return true;
    if (ended_.wait_for(timeout) != std::future_status::ready) return false;
    thread_.join();
    return true;
  }
  /// Stops the hub and joins its thread. Idempotent.
  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }

 private:
  std::unique_ptr<hub::HubServer> server_;
  hub::HubAddresses bound_;
  std::promise<void> ran_;
  std::future<void> ended_;
  std::thread thread_;
};

/// An AgentServer run on its own thread; stopped and joined when destroyed.
class AgentThread {
 public:
  AgentThread() = default;
  AgentThread(const AgentThread&) = delete;
  AgentThread& operator=(const AgentThread&) = delete;
  ~AgentThread() { stop(); }

  /// Starts an agent from `options` (resolved here, as kubehub-agent does) and runs it; fails
  /// the test (and returns false) when they are invalid or it does not start.
  bool start(const agent::AgentOptions& options) {
    absl::Status valid = options.validate();
    EXPECT_TRUE(valid.ok()) << valid;
    if (!valid.ok()) return false;
    auto resolved = options.resolved();
    EXPECT_TRUE(resolved.ok()) << resolved.status();
    if (!resolved.ok()) return false;
    resolved_ = *resolved;
    server_ = std::make_unique<agent::AgentServer>(resolved_, kAgentVersion, kAgentBuild);
    auto admin = server_->start();
    EXPECT_TRUE(admin.ok()) << admin.status();
    if (!admin.ok()) return false;
    admin_ = *admin;
    ended_ = ran_.get_future();
    thread_ = std::thread([this] {
      exit_code_ = server_->run(nullptr);
      ran_.set_value();
    });
    return true;
  }

  agent::AgentServer& server() { return *server_; }
  /// The options the agent runs with (the cluster taken from its certificate, say).
  const agent::AgentOptions& resolved() const { return resolved_; }
  const net::HostPort& admin() const { return admin_; }
  /// run()'s exit code, once waitStopped() said it returned.
  int exitCode() const { return exit_code_; }

  /// After server().stop(): whether run() returned within `timeout` (its thread is then joined).
  bool waitStopped(std::chrono::milliseconds timeout) {
    if (!thread_.joinable()) return true;
    if (ended_.wait_for(timeout) != std::future_status::ready) return false;
    thread_.join();
    return true;
  }
  /// Stops the agent and joins its thread. Idempotent.
  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }

 private:
  std::unique_ptr<agent::AgentServer> server_;
  agent::AgentOptions resolved_;
  net::HostPort admin_;
  int exit_code_ = -1;
  std::promise<void> ran_;
  std::future<void> ended_;
  std::thread thread_;
};

/// The stand-in, hub "hub-test" and agent "edge-1" (client certificate "agent", its API server
/// from a kubeconfig), started in SetUp the way their binaries start them from flags; SetUp
/// returns once the agent's tunnel is attached.
class HubFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_.issue("standin", "standin", true);
    pki_.issue("hub", "hub", true);
    pki_.issue("agent", "edge-1", false);
    ASSERT_TRUE(standin_.start(pki_, kEdgeToken));
    std::ofstream(pki_.path("tokens.csv")) << kUserToken << ",alice,1,\"devs\"\n";
    std::ofstream(pki_.path("kubeconfig"))
        << "apiVersion: v1\nkind: Config\n"
        << "clusters:\n- name: edge\n  cluster:\n"
        << "    server: https://" << standin_.address().str() << "\n"
        << "    certificate-authority: " << pki_.path("ca.crt") << "\n"
        << "users:\n- name: agent\n  user:\n    token: " << kEdgeToken << "\n"
        << "contexts:\n- name: edge\n  context:\n"
        << "    cluster: edge\n    user: agent\n"
        << "current-context: edge\n";

    ASSERT_TRUE(hub_.start(hubOptions("hub-test")));
    ASSERT_TRUE(agent_.start(agentOptions("agent", {tunnelUrl(hub_.bound().tunnel)})));
    users_ = httpClient("https://" + hub_.bound().users.str(), std::chrono::seconds(20));
    admin_ = httpClient("http://" + hub_.bound().admin.str(), std::chrono::seconds(20));
    ASSERT_TRUE(users_ && admin_);
    ASSERT_TRUE(waitUntil([this] { return hub_.attached("edge-1"); }))
        << "the agent did not connect";
  }

  void TearDown() override {
    users_.reset();
    admin_.reset();
    hub_.stop();
    agent_.stop();
  }

  /// A hub's options as kubehub-hub's flags would give them: every endpoint on 127.0.0.1 port
  /// 0, the test PKI's "hub" certificate, static tokens, no audit log, one users' thread and one
  /// tunnels' thread (a user's request and its tunnel on different threads: the riskier case).
  hub::HubOptions hubOptions(const std::string& hub_id) const {
    hub::HubOptions o;
    o.listen = "127.0.0.1:0";
    o.tunnel_listen = "127.0.0.1:0";
    o.admin_listen = "127.0.0.1:0";
    o.tls_cert = pki_.path("hub.crt");
    o.tls_key = pki_.path("hub.key");
    o.agent_ca = pki_.path("ca.crt");
    o.token_file = pki_.path("tokens.csv");
    o.audit_log = "";
    o.hub_id = hub_id;
    o.threads = 1;
    o.tunnel_threads = 1;
    o.cache_resources = cache_resources_;
    return o;
  }

  /// An agent's options as kubehub-agent's flags would give them: client certificate `cert`
  /// (whose CN names the cluster), the stand-in through the kubeconfig, `hubs` to dial, its
  /// admin endpoint on port 0, quick reconnects.
  agent::AgentOptions agentOptions(const std::string& cert, std::vector<std::string> hubs) const {
    agent::AgentOptions o;
    o.hub_urls = std::move(hubs);
    o.hub_connections = agent_connections_;
    o.tls_cert = pki_.path(cert + ".crt");
    o.tls_key = pki_.path(cert + ".key");
    o.hub_ca = pki_.path("ca.crt");
    o.kubeconfig = pki_.path("kubeconfig");
    o.admin_listen = "127.0.0.1:0";
    o.backoff_base = std::chrono::milliseconds(50);
    o.backoff_max = std::chrono::milliseconds(200);
    return o;
  }

  /// A client trusting the test CA; null (and a test failure) when it cannot be made.
  std::unique_ptr<net::HttpClient> httpClient(const std::string& url,
                                              std::chrono::milliseconds timeout) const {
    net::HttpClientOptions co;
    co.tls.ca_file = pki_.path("ca.crt");
    co.timeout = timeout;
    auto client = net::HttpClient::create(url, co);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  /// A GET on the hub's users' endpoint as alice (anonymous without the token).
  net::HttpClientResponse usersGet(const std::string& target, bool with_token = true) {
    net::HeaderList h = {{"Accept", "application/json"}};
    if (with_token) h.emplace_back("Authorization", std::string("Bearer ") + kUserToken);
    auto r = users_->request("GET", target, "", h);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : net::HttpClientResponse{};
  }

  /// A GET on the hub's admin endpoint.
  net::HttpClientResponse adminGet(const std::string& target) {
    auto r = admin_->request("GET", target, "", {});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : net::HttpClientResponse{};
  }

  /// Tunnels the agents keep to distinct hubs (--hub-connections).
  int64_t agent_connections_ = 1;
  /// The hubs' --cache-resources ("": the defaults).
  std::string cache_resources_;
  TestPki pki_;
  StandinThread standin_;
  HubThread hub_;
  AgentThread agent_;
  std::unique_ptr<net::HttpClient> users_;
  std::unique_ptr<net::HttpClient> admin_;
};

}  // namespace kubehub

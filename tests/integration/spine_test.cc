// In-process integration of the spine: the edge API server stand-in, a hub (tunnel listener and
// users' endpoint) and an agent (dialer and upstream client), all on port 0 in one process,
// exercised with HTTPS requests the way kubectl sends them.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "agent/dialer/tunnel_client.h"
#include "agent/forward/upstream_client.h"
#include "common/net/http_client.h"
#include "common/net/tls.h"
#include "common/tunnel/ws_transport.h"
#include "hub/api/user_server.h"
#include "hub/tunnel/agent_session.h"
#include "tests/integration/standin_thread.h"
#include "tests/integration/test_pki.h"
#include "tests/standin/api_server.h"
#include "tests/standin/server.h"

namespace kubehub {
namespace {

namespace asio = boost::asio;

constexpr const char* kEdgeToken = "edge-token-0123456789";
constexpr const char* kUserToken = "user-token-0123456789";

class SpineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_.issue("standin", "standin", true);
    pki_.issue("hub", "hub", true);
    pki_.issue("agent", "edge-1", false);
    pki_.issue("agent2", "edge-2", false);

    // The edge API server stand-in, on its own thread.
    ASSERT_TRUE(standin_.start(pki_, kEdgeToken));
    net::HostPort standin_addr = standin_.address();

    // The hub.
    auto tunnel_tls =
        net::makeServerContext({pki_.path("hub.crt"), pki_.path("hub.key"), pki_.path("ca.crt")});
    auto user_tls = net::makeServerContext({pki_.path("hub.crt"), pki_.path("hub.key"), ""});
    ASSERT_TRUE(tunnel_tls.ok() && user_tls.ok());
    auto tokens =
        hub::StaticTokenAuthenticator::parse(std::string(kUserToken) + ",alice,1,\"devs\"\n");
    ASSERT_TRUE(tokens.ok());
    registry_ = std::make_shared<hub::TunnelRegistry>();
    auto policy = hub::cache::CachePolicy::parse("none");
    auto cache = std::make_shared<hub::cache::CacheRegistry>(*policy);
    tunnels_ = tunnelListener("hub-test", registry_, cache);
    hub::UserServerDeps deps;
    deps.auth = std::make_shared<hub::Authenticator>(
        std::make_shared<const hub::StaticTokenAuthenticator>(std::move(*tokens)), nullptr);
    deps.registry = registry_;
    deps.cache = cache;
    users_ = std::make_unique<hub::UserServer>(pool_, *user_tls, hub::UserServerOptions{}, deps);
    auto tunnel_addr = tunnels_->start({"127.0.0.1", 0});
    auto users_addr = users_->start({"127.0.0.1", 0});
    ASSERT_TRUE(tunnel_addr.ok() && users_addr.ok());
    users_url_ = "https://" + users_addr->str();
    tunnel_addr_ = *tunnel_addr;

    // The agent.
    agent::KubeTarget target;
    target.server = *net::parseUrl("https://" + standin_addr.str());
    target.server_name = "127.0.0.1";
    target.tls.ca_file = pki_.path("ca.crt");
    target.token = kEdgeToken;
    auto upstream =
        agent::UpstreamClient::create(io_.get_executor(), target, agent::UpstreamOptions{});
    ASSERT_TRUE(upstream.ok()) << upstream.status();
    net::ClientTlsOptions agent_tls;
    agent_tls.ca_file = pki_.path("ca.crt");
    agent_tls.cert_file = pki_.path("agent.crt");
    agent_tls.key_file = pki_.path("agent.key");
    agent::TunnelClientOptions to;
    to.hubs = {"wss://" + tunnel_addr->str() + "/tunnel"};
    to.connections = agent_connections_;
    to.cluster = "edge-1";
    to.agent_version = "test";
    to.tls = net::TlsSource::fixed("tunnel", *net::makeClientContext(agent_tls));
    to.backoff_base = std::chrono::milliseconds(50);
    to.backoff_max = std::chrono::milliseconds(200);
    auto state = std::make_shared<agent::AgentState>();
    agent::StatusReporterOptions status_options;
    status_options.agent_version = "test";
    status_options.agent_build = "spine";
    state->status = std::make_shared<agent::StatusReporter>(status_options);
    asio::co_spawn(io_, agent::StatusReporter::run(state->status, *upstream), asio::detached);
    asio::co_spawn(io_, agent::runTunnelClient(to, *upstream, state), asio::detached);
    io_thread_ = std::thread([this] { pool_.run(nullptr); });

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!registry_->find("edge-1") && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(registry_->find("edge-1")) << "the agent did not connect";
    net::HttpClientOptions co;
    co.tls.ca_file = pki_.path("ca.crt");
    co.timeout = std::chrono::seconds(20);
    auto client = net::HttpClient::create(users_url_, co);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  /// A hub's tunnel endpoint (not started) that attaches agents to `registry`.
  std::unique_ptr<tunnel::TunnelListener> tunnelListener(
      const std::string& hub_id, std::shared_ptr<hub::TunnelRegistry> registry,
      std::shared_ptr<hub::cache::CacheRegistry> cache) {
    auto tls =
        net::makeServerContext({pki_.path("hub.crt"), pki_.path("hub.key"), pki_.path("ca.crt")});
    EXPECT_TRUE(tls.ok());
    hub::AgentSessionOptions session;
    session.hub_id = hub_id;
    return std::make_unique<tunnel::TunnelListener>(
        pool_, *tls,
        [registry, cache, session](std::unique_ptr<tunnel::Transport> t, tunnel::TunnelPeer peer) {
          auto ex = t->executor();
          asio::co_spawn(ex,
                         hub::runAgentSession(registry, nullptr, cache, nullptr, std::move(t),
                                              std::move(peer), session),
                         asio::detached);
        },
        std::chrono::seconds(10));
  }

  void TearDown() override {
    users_.reset();
    tunnels_.reset();
    pool_.stop();
    if (io_thread_.joinable()) io_thread_.join();
  }

  net::HttpClientResponse get(const std::string& target, bool with_token = true) {
    net::HeaderList h = {{"Accept", "application/json"}};
    if (with_token) h.emplace_back("Authorization", std::string("Bearer ") + kUserToken);
    auto r = client_->request("GET", target, "", h);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : net::HttpClientResponse{};
  }

  /// Tunnels the agent keeps to distinct hubs.
  int agent_connections_ = 1;
  TestPki pki_;
  StandinThread standin_;
  // Users' connections on one context, tunnels on another (--tunnel-threads 1): a user's request
  // and the tunnel it goes through are always on different threads, the riskier case.
  net::IoPool pool_{1, 1};
  asio::io_context& io_ = pool_.main();
  std::thread io_thread_;
  std::shared_ptr<hub::TunnelRegistry> registry_;
  std::unique_ptr<tunnel::TunnelListener> tunnels_;
  std::unique_ptr<hub::UserServer> users_;
  std::string users_url_;
  net::HostPort tunnel_addr_;
  std::unique_ptr<net::HttpClient> client_;
};

TEST_F(SpineTest, ReadsWritesAndRefusalsGoThroughHubAndAgent) {
  auto ns = get("/clusters/edge-1/api/v1/namespaces");
  EXPECT_EQ(ns.status, 200);
  EXPECT_NE(ns.body.find("\"NamespaceList\""), std::string::npos);

  std::string cm =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"in-process"},"data":{"k":"v"}})";
  auto created =
      client_->request("POST", "/clusters/edge-1/api/v1/namespaces/default/configmaps", cm,
                       {{"Authorization", std::string("Bearer ") + kUserToken},
                        {"Content-Type", "application/json"}});
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->status, 201) << created->body;
  auto got = get("/clusters/edge-1/api/v1/namespaces/default/configmaps/in-process");
  EXPECT_EQ(got.status, 200);
  EXPECT_NE(got.body.find("\"k\":\"v\""), std::string::npos);

  auto missing = get("/clusters/edge-1/api/v1/namespaces/default/configmaps/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("configmaps \\\"nope\\\" not found"), std::string::npos)
      << missing.body;

  EXPECT_EQ(get("/clusters/edge-1/api/v1/namespaces", false).status, 401);
  auto unknown = get("/clusters/edge-9/api/v1/namespaces");
  EXPECT_EQ(unknown.status, 503);
  EXPECT_NE(unknown.body.find("edge-9"), std::string::npos);
  EXPECT_EQ(get("/clusters/edge-1/../edge-9/api/v1/namespaces").status, 400);
}

// The agent's status report arrives at the hub over the tunnel's control channel and is kept
// with the cluster's tunnel: what the metrics and the metaserver are fed from.
TEST_F(SpineTest, StopEndsUsersConnectionsAndTheirStreamsAtOnce) {
  // A watch through the tunnel, open until the hub's users' endpoint stops.
  net::HttpClientOptions co;
  co.tls.ca_file = pki_.path("ca.crt");
  co.timeout = std::chrono::seconds(60);
  auto watcher = net::HttpClient::create(users_url_, co);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  std::atomic<bool> streaming{false};
  auto watch = std::async(std::launch::async, [&] {
    return (*watcher)->stream("GET", "/clusters/edge-1/api/v1/namespaces?watch=true", "",
                              {{"Authorization", std::string("Bearer ") + kUserToken}},
                              [&](std::string_view) {
                                streaming = true;
                                return true;
                              });
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!streaming && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(streaming) << "the watch sent nothing";
  EXPECT_EQ(get("/clusters/edge-1/api/v1/namespaces").status, 200);  // client_ stays connected

  users_->stop();
  EXPECT_TRUE(users_->waitStopped(std::chrono::seconds(10))) << "connections outlived stop()";
  ASSERT_EQ(watch.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the watch outlived stop()";
  // The tunnel is untouched: only the users' side stopped.
  EXPECT_TRUE(registry_->find("edge-1"));
}

TEST_F(SpineTest, TheAgentsStatusReportReachesTheHub) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::shared_ptr<const proto::ClusterStatusReport> report;
  while (!report && std::chrono::steady_clock::now() < deadline) {
    for (const auto& t : registry_->snapshot()) {
      if (t.cluster == "edge-1" && t.status) report = t.status;
    }
    if (!report) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(report) << "no status report reached the hub";
  EXPECT_EQ(report->kubernetes_version, "v1.32.4");
  EXPECT_EQ(report->platform, "linux/amd64");
  ASSERT_TRUE(report->nodes.has_value()) << report->nodes_error;
  EXPECT_EQ(report->nodes->total, 3);  // the stand-in's seed: one of them NotReady
  EXPECT_EQ(report->nodes->ready, 2);
  EXPECT_EQ(report->nodes->cpu_millis, 2000 + 2000 + 3500);
  EXPECT_EQ(report->agent_version, "test");
  EXPECT_EQ(report->agent_build, "spine");
}

TEST_F(SpineTest, AgentsAreAdmittedWhilePeersStallMidHandshake) {
  // More connections than the listener has handshake slots, each stalled after the first bytes
  // of a TLS record: they hold their slots until the handshake deadline (10 s here).
  asio::io_context client_io;
  std::vector<asio::ip::tcp::socket> stalled;
  auto endpoint = asio::ip::tcp::endpoint(asio::ip::make_address(tunnel_addr_.host),
                                          static_cast<uint16_t>(tunnel_addr_.port));
  const unsigned char record_start[] = {0x16, 0x03, 0x01};
  for (int i = 0; i < 300; ++i) {
    stalled.emplace_back(client_io);
    boost::system::error_code ec;
    stalled.back().connect(endpoint, ec);
    ASSERT_FALSE(ec) << ec.message();
    asio::write(stalled.back(), asio::buffer(record_start), ec);
    ASSERT_FALSE(ec) << ec.message();
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (tunnels_->handshakesInProgress() < 256 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(tunnels_->handshakesInProgress(), 256) << "the stalled peers hold no handshake slots";
  // One more: the accept the listener had already started when the slots filled takes it.
  stalled.emplace_back(client_io);
  stalled.back().connect(endpoint);
  asio::write(stalled.back(), asio::buffer(record_start));
  // An agent dialling now must get its tunnel well before their deadline: stalled peers may slow
  // admission down, not stop it.
  net::ClientTlsOptions tls;
  tls.ca_file = pki_.path("ca.crt");
  tls.cert_file = pki_.path("agent2.crt");
  tls.key_file = pki_.path("agent2.key");
  auto context = net::makeClientContext(tls);
  ASSERT_TRUE(context.ok()) << context.status();
  auto url = net::parseUrl("wss://" + tunnel_addr_.str() + "/tunnel");
  ASSERT_TRUE(url.ok());
  auto dialed = asio::co_spawn(
      client_io,
      tunnel::dialTunnel(client_io.get_executor(), *context, *url, std::chrono::seconds(6)),
      asio::use_future);
  client_io.run();
  auto transport = dialed.get();
  EXPECT_TRUE(transport.ok()) << transport.status();
}

TEST_F(SpineTest, UsersImpersonationHeadersNeverReachTheEdge) {
  auto r =
      client_->request("POST", "/clusters/edge-1/apis/authentication.k8s.io/v1/selfsubjectreviews",
                       R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})",
                       {{"Authorization", std::string("Bearer ") + kUserToken},
                        {"Content-Type", "application/json"},
                        {"Impersonate-User", "admin"},
                        {"Impersonate-Group", "system:masters"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_NE(r->body.find("\"username\":\"alice\""), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("system:masters"), std::string::npos) << r->body;
}

/// What the agent answers a stream the hub opens with `head` itself (past the hub's planner):
/// the status and body.
asio::awaitable<std::pair<int, std::string>> askAgent(std::shared_ptr<tunnel::Mux> mux,
                                                      proto::RequestHead head) {
  auto stream = mux->openStream(head, true);
  if (!stream.ok()) co_return std::make_pair(0, std::string(stream.status().message()));
  auto response = co_await (*stream)->responseHead();
  if (!response.ok()) co_return std::make_pair(0, std::string(response.status().message()));
  std::string body;
  for (;;) {
    auto chunk = co_await (*stream)->read();
    if (!chunk.ok()) break;
    body += chunk->data;
    (*stream)->consumed(chunk->data.size());
    if (chunk->end) break;
  }
  co_return std::make_pair(static_cast<int>(response->status), body);
}

// An agent in --mode native (no upstream): the hub asks it no discovery, refuses Kubernetes
// paths for it, and so does the agent for a stream that gets past the hub; its commands answer
// and its status report is a host's.
TEST_F(SpineTest, AHostAgentServesOnlyItsOwnPaths) {
  net::ClientTlsOptions agent_tls;
  agent_tls.ca_file = pki_.path("ca.crt");
  agent_tls.cert_file = pki_.path("agent2.crt");
  agent_tls.key_file = pki_.path("agent2.key");
  agent::TunnelClientOptions to;
  to.hubs = {"wss://" + tunnel_addr_.str() + "/tunnel"};
  to.connections = 1;
  to.cluster = "edge-2";
  to.agent_version = "test";
  to.host = true;
  to.tls = net::TlsSource::fixed("tunnel", *net::makeClientContext(agent_tls));
  to.backoff_base = std::chrono::milliseconds(50);
  to.backoff_max = std::chrono::milliseconds(200);
  auto state = std::make_shared<agent::AgentState>();
  state->commands = std::make_shared<agent::CommandService>(nullptr, state->metrics);
  agent::StatusReporterOptions status_options;
  status_options.agent_version = "test";
  status_options.host = true;
  state->status = std::make_shared<agent::StatusReporter>(status_options);
  asio::co_spawn(io_, agent::StatusReporter::run(state->status, nullptr), asio::detached);
  asio::co_spawn(io_, agent::runTunnelClient(to, nullptr, state), asio::detached);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::shared_ptr<const proto::ClusterStatusReport> report;
  while (!report && std::chrono::steady_clock::now() < deadline) {
    for (const auto& t : registry_->snapshot()) {
      if (t.cluster == "edge-2" && t.status) report = t.status;
    }
    if (!report) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(report) << "no status report of the host reached the hub";
  EXPECT_TRUE(registry_->isHost("edge-2"));
  EXPECT_FALSE(registry_->isHost("edge-1"));
  EXPECT_EQ(report->kind, "host");
  ASSERT_TRUE(report->host.has_value());
  EXPECT_GT(report->host->cpus, 0);
  EXPECT_GT(report->host->memory_total_bytes, 0);
  EXPECT_FALSE(report->host->kernel.empty());
  EXPECT_FALSE(report->nodes.has_value());

  const std::string refusal = "cluster edge-2 is a host: only /kubehub/v1/commands is served";
  auto refused = get("/clusters/edge-2/api/v1/namespaces");
  EXPECT_EQ(refused.status, 404) << refused.body;
  EXPECT_NE(refused.body.find(refusal), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("\"kind\":\"Status\""), std::string::npos) << refused.body;
  auto listing = get("/clusters/edge-2/kubehub/v1/commands");
  EXPECT_EQ(listing.status, 200) << listing.body;
  // The agent's own answer, for a hub that did not know (or a request past it).
  auto mux = registry_->find("edge-2");
  ASSERT_TRUE(mux);
  proto::RequestHead head;
  head.method = "GET";
  head.target = "/api/v1/namespaces";
  auto answer = asio::co_spawn(mux->executor(), askAgent(mux, head), asio::use_future);
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  auto [status, body] = answer.get();
  EXPECT_EQ(status, 404) << body;
  EXPECT_NE(body.find(refusal), std::string::npos) << body;
  // Unaffected: the Kubernetes cluster next to it.
  EXPECT_EQ(get("/clusters/edge-1/api/v1/namespaces").status, 200);
}

// /kubehub/ paths are the agent's own: an agent that offers no commands answers them itself
// (an empty listing, 404 for a call), and they never reach the API server.
TEST_F(SpineTest, CommandPathsAreAnsweredByTheAgentNeverTheApiServer) {
  auto listing = get("/clusters/edge-1/kubehub/v1/commands");
  EXPECT_EQ(listing.status, 200) << listing.body;
  EXPECT_NE(listing.body.find("\"CommandList\""), std::string::npos) << listing.body;
  EXPECT_NE(listing.body.find("\"items\":[]"), std::string::npos) << listing.body;
  auto run = client_->request("POST", "/clusters/edge-1/kubehub/v1/commands/anything", "{}",
                              {{"Authorization", std::string("Bearer ") + kUserToken},
                               {"Content-Type", "application/json"}});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, 404) << run->body;
  EXPECT_NE(run->body.find("not offered by this cluster's agent"), std::string::npos) << run->body;
  EXPECT_EQ(get("/clusters/edge-1/kubehub/v2/else").status, 404);
}

// The hub's identity headers come first and a head that does not fit is refused whole: with
// truncation, 256 padding headers once pushed Impersonate-* out and the edge ran the request
// as the agent's ServiceAccount.
TEST_F(SpineTest, RequestsWithTooManyHeadersAreRefusedNotRunAsTheAgent) {
  auto review = [&](int padding) {
    net::HeaderList h = {{"Authorization", std::string("Bearer ") + kUserToken},
                         {"Content-Type", "application/json"}};
    for (int i = 0; i < padding; ++i) h.emplace_back("X-Pad-" + std::to_string(i), "x");
    auto r = client_->request(
        "POST", "/clusters/edge-1/apis/authentication.k8s.io/v1/selfsubjectreviews",
        R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})", h);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : net::HttpClientResponse{};
  };
  auto many = review(256);
  EXPECT_EQ(many.status, 431) << many.body;
  EXPECT_NE(many.body.find("\"kind\":\"Status\""), std::string::npos) << many.body;
  EXPECT_EQ(many.body.find("username"), std::string::npos) << many.body;
  // As many as fit beside the hub's own still work, as the user.
  auto fitting = review(230);
  EXPECT_EQ(fitting.status, 201) << fitting.body;
  EXPECT_NE(fitting.body.find("\"username\":\"alice\""), std::string::npos) << fitting.body;
}

asio::awaitable<int> statusOf(std::shared_ptr<tunnel::Mux> mux, proto::RequestHead head) {
  auto opened = mux->openStream(head, true);
  if (!opened.ok()) co_return -1;
  auto response = co_await (*opened)->responseHead();
  (*opened)->reset(proto::ResetCode::kCancel, "done");
  co_return response.ok() ? response->status : -2;
}

// Defence in depth: should the hub ever send a request that names no user, the agent refuses
// it instead of running it with its ServiceAccount's rights; the hub's own (marked) requests may
// only read.
TEST_F(SpineTest, AgentRefusesRequestsThatNameNoUser) {
  auto mux = registry_->find("edge-1");
  ASSERT_TRUE(mux);
  auto status = [&](proto::RequestHead head) {
    auto f = asio::co_spawn(mux->executor(), statusOf(mux, std::move(head)), asio::use_future);
    EXPECT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    return f.get();
  };
  proto::RequestHead anonymous{"GET", "/api/v1/namespaces", {{"Accept", "application/json"}}};
  EXPECT_EQ(status(anonymous), 403);
  proto::RequestHead named = anonymous;
  named.headers.emplace_back("Impersonate-User", "alice");
  EXPECT_EQ(status(named), 200);
  proto::RequestHead internal_read = anonymous;
  internal_read.internal = true;
  EXPECT_EQ(status(internal_read), 200);
  proto::RequestHead internal_write{
      "DELETE", "/api/v1/namespaces/default/configmaps/x", {{"Accept", "application/json"}}};
  internal_write.internal = true;
  EXPECT_EQ(status(internal_write), 403);
}

}  // namespace
}  // namespace kubehub

namespace kubehub {
namespace {

class SpineFleetTest : public SpineTest {
 protected:
  SpineFleetTest() { agent_connections_ = 2; }
};

TEST_F(SpineFleetTest, TheAgentReachesTheHubsTheFleetAnnouncesOncePerHub) {
  auto first = registry_->find("edge-1");
  ASSERT_TRUE(first);
  auto second_registry = std::make_shared<hub::TunnelRegistry>();
  auto cache = std::make_shared<hub::cache::CacheRegistry>(*hub::cache::CachePolicy::parse("none"));
  auto second = tunnelListener("hub-second", second_registry, cache);
  auto second_addr = second->start({"127.0.0.1", 0});
  ASSERT_TRUE(second_addr.ok());

  // The agent knew one hub; the fleet names itself under two addresses, a second hub, and an
  // entry the agent must not dial.
  nlohmann::json hubs = {
      {"type", "hubs"},
      {"hubs",
       {{{"id", "hub-test"}, {"url", "wss://" + tunnel_addr_.str() + "/tunnel"}},
        {{"id", "hub-test"}, {"url", "wss://localhost:" + std::to_string(tunnel_addr_.port)}},
        {{"id", "hub-second"}, {"url", "wss://" + second_addr->str() + "/tunnel"}},
        {{"id", "plain"}, {"url", "https://127.0.0.1:1/tunnel"}}}}};
  first->sendControl(hubs.dump());

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!second_registry->find("edge-1") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(second_registry->find("edge-1")) << "the agent did not reach the announced hub";
  // The first hub's tunnel was never replaced: no second tunnel reached it by its other name.
  EXPECT_EQ(registry_->find("edge-1"), first);
  EXPECT_EQ(get("/clusters/edge-1/api/v1/namespaces").status, 200);
  second->stop();
}

}  // namespace
}  // namespace kubehub

namespace kubehub {
namespace {

/// A hub's peer endpoint (started on port 0) serving with `cert`; links it accepts are dropped.
std::pair<std::unique_ptr<tunnel::TunnelListener>, net::HostPort> peerEndpoint(
    net::IoPool& pool, const TestPki& pki, const std::string& cert) {
  auto tls = net::makeServerContext(
      {pki.path(cert + ".crt"), pki.path(cert + ".key"), pki.path("ca.crt")});
  EXPECT_TRUE(tls.ok()) << tls.status();
  auto listener = std::make_unique<tunnel::TunnelListener>(
      pool, *tls, [](std::unique_ptr<tunnel::Transport>, tunnel::TunnelPeer) {},
      std::chrono::seconds(10), tunnel::kPeerEndpoint);
  auto bound = listener->start({"127.0.0.1", 0});
  EXPECT_TRUE(bound.ok()) << bound.status();
  return {std::move(listener), bound.ok() ? *bound : net::HostPort{}};
}

TEST_F(SpineTest, APeerLinkReachesOnlyTheHubItMeant) {
  pki_.issueHub("hub-b", "hub-b");
  pki_.issueHub("hub-a", "hub-a");
  net::ClientTlsOptions client;
  client.ca_file = pki_.path("ca.crt");
  client.cert_file = pki_.path("hub-a.crt");
  client.key_file = pki_.path("hub-a.key");
  auto tls = net::makeClientContext(client);
  ASSERT_TRUE(tls.ok()) << tls.status();
  auto dial = [&](const net::HostPort& at, const std::string& hub) {
    auto url = net::parseUrl("wss://" + at.str() + "/peer");
    auto result = asio::co_spawn(
        io_, tunnel::dialPeer(io_.get_executor(), *tls, *url, hub, std::chrono::seconds(10)),
        asio::use_future);
    return result.get();
  };
  auto [hub_b, hub_b_addr] = peerEndpoint(pool_, pki_, "hub-b");
  EXPECT_TRUE(dial(hub_b_addr, "hub-b").ok()) << "the hub the routing table names";
  // The registry's address led elsewhere: the certificate, not the address, names the hub.
  auto wrong = dial(hub_b_addr, "hub-c");
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(wrong.status())) << wrong.status();
  EXPECT_NE(wrong.status().message().find("names hub \"hub-b\""), absl::string_view::npos)
      << wrong.status();
  // A serving certificate that is not a hub's (the users' endpoint's, say) names no hub.
  auto [plain, plain_addr] = peerEndpoint(pool_, pki_, "hub");
  auto not_hub = dial(plain_addr, "hub");
  ASSERT_FALSE(not_hub.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(not_hub.status())) << not_hub.status();
  plain->stop();
  hub_b->stop();
}

}  // namespace
}  // namespace kubehub

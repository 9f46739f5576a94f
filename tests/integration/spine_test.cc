// In-process integration of the spine: the edge API server stand-in, a hub (HubServer) and
// agents (AgentServer), all on port 0 in one process (tests/integration/hub_fixture.h),
// exercised with HTTPS requests the way kubectl sends them. Where a test must act past the
// composition roots (speak to an agent as only the hub does, stop the users' endpoint alone),
// it says why.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/net/http_client.h"
#include "common/net/server_main.h"
#include "common/net/task_group.h"
#include "common/net/tls.h"
#include "common/tunnel/ws_transport.h"
#include "hub/api/user_server.h"
#include "hub/auth/authenticator.h"
#include "hub/auth/token_file.h"
#include "hub/tunnel/tunnel_registry.h"
#include "tests/integration/hub_fixture.h"
#include "tests/integration/test_pki.h"
#include "tests/unit/tunnel/memory_transport.h"

namespace kubehub {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// Hub "hub-test" with agent "edge-1" (hub_fixture.h); the hub caches nothing, so every
/// request goes through the tunnel to the agent.
class SpineTest : public HubFixture {
 protected:
  SpineTest() { cache_resources_ = "none"; }

  void SetUp() override {
    pki_.issue("agent2", "edge-2", false);
    HubFixture::SetUp();
  }

  /// The agent's last status report as the hub keeps it with `cluster`'s tunnel, once one
  /// arrived (null after 20 s without).
  std::shared_ptr<const proto::ClusterStatusReport> statusReport(const std::string& cluster) {
    std::shared_ptr<const proto::ClusterStatusReport> report;
    waitUntil([&] {
      for (const auto& t : hub_.tunnels()->snapshot()) {
        if (t.cluster == cluster && t.status) report = t.status;
      }
      return report != nullptr;
    });
    return report;
  }

  /// A gauge's value on the hub's /metrics (-1 when absent).
  double hubGauge(const std::string& name) {
    std::string text = adminGet("/metrics").body;
    size_t at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
  }
};

TEST_F(SpineTest, ReadsWritesAndRefusalsGoThroughHubAndAgent) {
  auto ns = usersGet("/clusters/edge-1/api/v1/namespaces");
  EXPECT_EQ(ns.status, 200);
  EXPECT_NE(ns.body.find("\"NamespaceList\""), std::string::npos);

  std::string cm =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"in-process"},"data":{"k":"v"}})";
  auto created =
      users_->request("POST", "/clusters/edge-1/api/v1/namespaces/default/configmaps", cm,
                      {{"Authorization", std::string("Bearer ") + kUserToken},
                       {"Content-Type", "application/json"}});
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->status, 201) << created->body;
  auto got = usersGet("/clusters/edge-1/api/v1/namespaces/default/configmaps/in-process");
  EXPECT_EQ(got.status, 200);
  EXPECT_NE(got.body.find("\"k\":\"v\""), std::string::npos);

  auto missing = usersGet("/clusters/edge-1/api/v1/namespaces/default/configmaps/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("configmaps \\\"nope\\\" not found"), std::string::npos)
      << missing.body;

  EXPECT_EQ(usersGet("/clusters/edge-1/api/v1/namespaces", false).status, 401);
  auto unknown = usersGet("/clusters/edge-9/api/v1/namespaces");
  EXPECT_EQ(unknown.status, 503);
  EXPECT_NE(unknown.body.find("edge-9"), std::string::npos);
  EXPECT_EQ(usersGet("/clusters/edge-1/../edge-9/api/v1/namespaces").status, 400);
}

/// A watch of namespaces on edge-1 through `client` on a thread of its own (the future holds
/// how it ended); `streaming` is set once the first bytes arrived.
std::future<absl::StatusOr<net::HttpClientResponse>> startWatch(net::HttpClient& client,
                                                                std::atomic<bool>& streaming) {
  return std::async(std::launch::async, [&client, &streaming] {
    return client.stream("GET", "/clusters/edge-1/api/v1/namespaces?watch=true", "",
                         {{"Authorization", std::string("Bearer ") + kUserToken}},
                         [&streaming](std::string_view) {
                           streaming = true;
                           return true;
                         });
  });
}

/// A users' endpoint alone over `registry` (the hub's certificate and tokens), on `pool`; its
/// URL in `*url`. Fails the test when it does not start.
void startUsersAlone(const TestPki& pki, net::IoPool& pool,
                     std::shared_ptr<hub::TunnelRegistry> registry,
                     std::unique_ptr<hub::UserServer>* server, std::string* url) {
  auto tls = net::makeServerContext({pki.path("hub.crt"), pki.path("hub.key"), ""});
  ASSERT_TRUE(tls.ok()) << tls.status();
  auto tokens = hub::StaticTokenAuthenticator::loadFile(pki.path("tokens.csv"));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  hub::UserServerDeps deps;
  deps.auth = std::make_shared<hub::Authenticator>(
      std::make_shared<const hub::StaticTokenAuthenticator>(std::move(*tokens)), nullptr);
  deps.registry = std::move(registry);
  *server = std::make_unique<hub::UserServer>(pool, *tls, hub::UserServerOptions{}, deps);
  auto bound = (*server)->start({"127.0.0.1", 0});
  ASSERT_TRUE(bound.ok()) << bound.status();
  *url = "https://" + bound->str();
}

// UserServer::stop's own promise, which HubServer::stop cannot show: the hub lets requests in
// progress run on for half a second, then ends its agents' sessions (which ends the streams
// through them whatever the users' endpoint does) and stops its threads. So here a second
// users' endpoint, made by hand over the running hub's tunnels on threads of its own, is
// stopped alone.
class SpineUsersStopTest : public SpineTest {
 protected:
  void SetUp() override {
    SpineTest::SetUp();
    if (HasFatalFailure()) return;
    startUsersAlone(pki_, pool_, hub_.tunnels(), &alone_, &alone_url_);
    if (HasFatalFailure()) return;
    io_thread_ = std::thread([this] { pool_.run(nullptr); });
  }

  void TearDown() override {
    alone_.reset();
    pool_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    SpineTest::TearDown();
  }

  net::IoPool pool_{1};
  std::thread io_thread_;
  std::unique_ptr<hub::UserServer> alone_;
  std::string alone_url_;
};

TEST_F(SpineUsersStopTest, StopEndsUsersConnectionsAndTheirStreamsAtOnce) {
  // A watch through the tunnel, open until the users' endpoint stops: its client waits 60 s for
  // each piece, so only the endpoint's stop ends it within the bound below.
  auto watcher = httpClient(alone_url_, 60s);
  auto client = httpClient(alone_url_, 20s);
  ASSERT_TRUE(watcher && client);
  std::atomic<bool> streaming{false};
  auto watch = startWatch(*watcher, streaming);
  ASSERT_TRUE(waitUntil([&streaming] { return streaming.load(); })) << "the watch sent nothing";
  auto listed = client->request("GET", "/clusters/edge-1/api/v1/namespaces", "",
                                {{"Authorization", std::string("Bearer ") + kUserToken}});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->status, 200);  // `client` stays connected

  alone_->stop();
  EXPECT_TRUE(alone_->waitStopped(10s)) << "connections outlived stop()";
  ASSERT_EQ(watch.wait_for(10s), std::future_status::ready) << "the watch outlived stop()";
  // The tunnel is untouched: only the users' side stopped.
  EXPECT_TRUE(hub_.attached("edge-1"));
}

/// The users' endpoint alone, in front of a tunnel whose agent end the test plays (a Mux over
/// memory, its stream window small): what the hub does with answers that meet its upload.
class SpineEarlyAnswerTest : public SpineTest {
 protected:
  static constexpr uint32_t kWindow = 8 * 1024;

  void SetUp() override {
    SpineTest::SetUp();
    if (HasFatalFailure()) return;
    auto ex = asio::make_strand(pool_.next().get_executor());
    auto [hub_end, agent_end] = tunnel::MemoryTransport::pair(ex);
    tunnel::MuxOptions o;
    o.stream_window = kWindow;
    o.max_stream_window = kWindow;
    o.name = "edge-early";
    hub_mux_ = std::make_shared<tunnel::Mux>(std::move(hub_end), o);
    o.opens_streams = false;
    agent_mux_ = std::make_shared<tunnel::Mux>(std::move(agent_end), o);
    // As the agent answers a request it will not read the body of (a command it does not offer):
    // the whole answer, then a reset that stops the upload.
    agent_mux_->setOpenHandler([weak = std::weak_ptr<tunnel::Mux>(agent_mux_)](
                                   std::shared_ptr<tunnel::Stream> s, proto::RequestHead) {
      if (auto m = weak.lock()) m->spawn(answerEarly(std::move(s)));
    });
    registry_ = std::make_shared<hub::TunnelRegistry>();
    hub::ClusterTunnel entry;
    entry.cluster = "edge-early";
    entry.mux = hub_mux_;
    entry.connected_at = std::chrono::system_clock::now();
    registry_->attach(std::move(entry));
    startUsersAlone(pki_, pool_, registry_, &users_alone_, &url_);
    if (HasFatalFailure()) return;
    muxes_.spawn(ex, runMux(hub_mux_));
    muxes_.spawn(ex, runMux(agent_mux_));
    io_thread_ = std::thread([this] { pool_.run(nullptr); });
  }

  void TearDown() override {
    if (hub_mux_) hub_mux_->shutdown(proto::GoAwayCode::kNormal, "test over");
    muxes_.wait(5s);
    if (users_alone_) users_alone_->stop();
    if (users_alone_) users_alone_->waitStopped(5s);
    pool_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    users_alone_.reset();
    SpineTest::TearDown();
  }

  static asio::awaitable<void> runMux(std::shared_ptr<tunnel::Mux> mux) { co_await mux->run(); }

  static asio::awaitable<void> answerEarly(std::shared_ptr<tunnel::Stream> stream) {
    std::string body = R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":404})";
    proto::ResponseHead head;
    head.status = 404;
    head.headers.emplace_back("Content-Type", "application/json");
    head.headers.emplace_back("Content-Length", std::to_string(body.size()));
    stream->sendResponseHead(head, false);
    absl::Status st = co_await stream->write(body);
    if (st.ok()) stream->finish();
    stream->reset(proto::ResetCode::kCancel, "exchange finished");
  }

  net::IoPool pool_{1};
  std::thread io_thread_;
  std::shared_ptr<tunnel::Mux> hub_mux_;
  std::shared_ptr<tunnel::Mux> agent_mux_;
  net::TaskGroup muxes_{"test tunnel"};
  std::shared_ptr<hub::TunnelRegistry> registry_;
  std::unique_ptr<hub::UserServer> users_alone_;
  std::string url_;
};

// A command call whose parameters outgrow the stream's window: the hub's upload waits for
// credit the agent never gives, the agent answers 404 and resets, and that reset ends the
// upload. The client gets the 404 (before, the hub took the reset for the end of the exchange
// and closed the connection without a word: "stream truncated").
TEST_F(SpineEarlyAnswerTest, AnAnswerThatMeetsTheUploadReachesTheClient) {
  auto client = httpClient(url_, 20s);
  ASSERT_TRUE(client);
  std::string parameters = R"({"pad":")" + std::string(4 * kWindow, 'p') + R"("})";
  auto run =
      client->request("POST", "/clusters/edge-early/kubehub/v1/commands/anything", parameters,
                      {{"Authorization", std::string("Bearer ") + kUserToken},
                       {"Content-Type", "application/json"}});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status, 404) << run->body;
  EXPECT_NE(run->body.find("\"code\":404"), std::string::npos) << run->body;
}

// The whole hub's stop ends users' watches within its window (half a second for requests in
// progress, at most a second more for the agents' sessions), not when they would time out.
TEST_F(SpineTest, HubStopEndsUsersWatchesWithinItsWindow) {
  auto watcher = httpClient("https://" + hub_.bound().users.str(), 60s);
  ASSERT_TRUE(watcher);
  std::atomic<bool> streaming{false};
  auto watch = startWatch(*watcher, streaming);
  ASSERT_TRUE(waitUntil([&streaming] { return streaming.load(); })) << "the watch sent nothing";
  auto stopped_at = std::chrono::steady_clock::now();
  hub_.server().stop();
  ASSERT_EQ(watch.wait_for(10s), std::future_status::ready) << "the watch outlived the hub";
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, 5s);
  EXPECT_TRUE(hub_.waitStopped(10s));
}

// The agent's status report arrives at the hub over the tunnel's control channel and is kept
// with the cluster's tunnel: what the metrics and the metaserver are fed from.
TEST_F(SpineTest, TheAgentsStatusReportReachesTheHub) {
  auto report = statusReport("edge-1");
  ASSERT_TRUE(report) << "no status report reached the hub";
  EXPECT_EQ(report->kubernetes_version, "v1.32.4");
  EXPECT_EQ(report->platform, "linux/amd64");
  ASSERT_TRUE(report->nodes.has_value()) << report->nodes_error;
  EXPECT_EQ(report->nodes->total, 3);  // the stand-in's seed: one of them NotReady
  EXPECT_EQ(report->nodes->ready, 2);
  EXPECT_EQ(report->nodes->cpu_millis, 2000 + 2000 + 3500);
  EXPECT_EQ(report->agent_version, kAgentVersion);
  EXPECT_EQ(report->agent_build, kAgentBuild);
}

TEST_F(SpineTest, AgentsAreAdmittedWhilePeersStallMidHandshake) {
  // More connections than the listener has handshake slots, each stalled after the first bytes
  // of a TLS record: they hold their slots until the handshake deadline (10 s).
  const net::HostPort& tunnel_at = hub_.bound().tunnel;
  asio::io_context client_io;
  std::vector<asio::ip::tcp::socket> stalled;
  auto endpoint = asio::ip::tcp::endpoint(asio::ip::make_address(tunnel_at.host),
                                          static_cast<uint16_t>(tunnel_at.port));
  const unsigned char record_start[] = {0x16, 0x03, 0x01};
  for (int i = 0; i < 300; ++i) {
    stalled.emplace_back(client_io);
    boost::system::error_code ec;
    stalled.back().connect(endpoint, ec);
    ASSERT_FALSE(ec) << ec.message();
    asio::write(stalled.back(), asio::buffer(record_start), ec);
    ASSERT_FALSE(ec) << ec.message();
  }
  const std::string handshakes = "kubehub_hub_tunnel_handshakes_in_progress";
  waitUntil([&] { return hubGauge(handshakes) >= 256; }, 8s);
  ASSERT_GE(hubGauge(handshakes), 256) << "the stalled peers hold no handshake slots";
  // One more: the accept the listener had already started when the slots filled takes it.
  stalled.emplace_back(client_io);
  stalled.back().connect(endpoint);
  asio::write(stalled.back(), asio::buffer(record_start));
  // An agent dialling now must get its tunnel well before their deadline: stalled peers may slow
  // admission down, not stop it.
  AgentThread second;
  ASSERT_TRUE(second.start(agentOptions("agent2", {tunnelUrl(tunnel_at)})));
  EXPECT_TRUE(waitUntil([this] { return hub_.attached("edge-2"); }, 6s))
      << "the agent was not admitted before the stalled peers' deadline";
}

TEST_F(SpineTest, UsersImpersonationHeadersNeverReachTheEdge) {
  auto r =
      users_->request("POST", "/clusters/edge-1/apis/authentication.k8s.io/v1/selfsubjectreviews",
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
  // kubehub-agent --mode native --commands-file: no kubeconfig, its certificate names edge-2.
  std::ofstream(pki_.path("commands.yaml"))
      << "commands:\n  - name: echo-args\n    executable: /bin/echo\n    args: [\"{text}\"]\n"
      << "    parameters:\n      - name: text\n        required: true\n";
  auto options = agentOptions("agent2", {tunnelUrl(hub_.bound().tunnel)});
  options.mode = "native";
  options.kubeconfig.clear();
  options.commands_file = pki_.path("commands.yaml");
  AgentThread host;
  ASSERT_TRUE(host.start(options));

  auto report = statusReport("edge-2");
  ASSERT_TRUE(report) << "no status report of the host reached the hub";
  EXPECT_TRUE(hub_.tunnels()->isHost("edge-2"));
  EXPECT_FALSE(hub_.tunnels()->isHost("edge-1"));
  EXPECT_EQ(report->kind, "host");
  ASSERT_TRUE(report->host.has_value());
  EXPECT_GT(report->host->cpus, 0);
  EXPECT_GT(report->host->memory_total_bytes, 0);
  EXPECT_FALSE(report->host->kernel.empty());
  EXPECT_FALSE(report->nodes.has_value());

  const std::string refusal = "cluster edge-2 is a host: only /kubehub/v1/commands is served";
  auto refused = usersGet("/clusters/edge-2/api/v1/namespaces");
  EXPECT_EQ(refused.status, 404) << refused.body;
  EXPECT_NE(refused.body.find(refusal), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("\"kind\":\"Status\""), std::string::npos) << refused.body;
  auto listing = usersGet("/clusters/edge-2/kubehub/v1/commands");
  EXPECT_EQ(listing.status, 200) << listing.body;
  EXPECT_NE(listing.body.find("echo-args"), std::string::npos) << listing.body;
  // The agent's own answer, for a hub that did not know (or a request past it).
  auto mux = hub_.tunnels()->find("edge-2");
  ASSERT_TRUE(mux);
  proto::RequestHead head;
  head.method = "GET";
  head.target = "/api/v1/namespaces";
  auto answer = asio::co_spawn(mux->executor(), askAgent(mux, head), asio::use_future);
  ASSERT_EQ(answer.wait_for(20s), std::future_status::ready);
  auto [status, body] = answer.get();
  EXPECT_EQ(status, 404) << body;
  EXPECT_NE(body.find(refusal), std::string::npos) << body;
  // Unaffected: the Kubernetes cluster next to it.
  EXPECT_EQ(usersGet("/clusters/edge-1/api/v1/namespaces").status, 200);
}

// /kubehub/ paths are the agent's own: an agent that offers no commands answers them itself
// (an empty listing, 404 for a call), and they never reach the API server.
TEST_F(SpineTest, CommandPathsAreAnsweredByTheAgentNeverTheApiServer) {
  auto listing = usersGet("/clusters/edge-1/kubehub/v1/commands");
  EXPECT_EQ(listing.status, 200) << listing.body;
  EXPECT_NE(listing.body.find("\"CommandList\""), std::string::npos) << listing.body;
  EXPECT_NE(listing.body.find("\"items\":[]"), std::string::npos) << listing.body;
  // With a body, which the agent refuses before reading it: its reset, which stops the upload,
  // once overtook the end of its answer, and the client now and then got "stream truncated"
  // instead of the 404 (Mux.AnAnswerCompleteBeforeTheUploadArrivesWhole shows it every time).
  auto run = users_->request("POST", "/clusters/edge-1/kubehub/v1/commands/anything",
                             R"({"args":["one","two"]})",
                             {{"Authorization", std::string("Bearer ") + kUserToken},
                              {"Content-Type", "application/json"}});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status, 404) << run->body;
  EXPECT_NE(run->body.find("not offered by this cluster's agent"), std::string::npos) << run->body;
  EXPECT_EQ(usersGet("/clusters/edge-1/kubehub/v2/else").status, 404);
}

// The hub's identity headers come first and a head that does not fit is refused whole: with
// truncation, 256 padding headers once pushed Impersonate-* out and the edge ran the request
// as the agent's ServiceAccount.
TEST_F(SpineTest, RequestsWithTooManyHeadersAreRefusedNotRunAsTheAgent) {
  auto review = [&](int padding) {
    net::HeaderList h = {{"Authorization", std::string("Bearer ") + kUserToken},
                         {"Content-Type", "application/json"}};
    for (int i = 0; i < padding; ++i) h.emplace_back("X-Pad-" + std::to_string(i), "x");
    auto r = users_->request(
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

/// The status the agent answers a stream the hub opens with `head` itself (past the hub's
/// planner, through the hub's tunnel to it).
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
// The streams are opened on the hub's tunnel by hand: the hub's users' endpoint never sends such
// requests, which is the point.
TEST_F(SpineTest, AgentRefusesRequestsThatNameNoUser) {
  auto mux = hub_.tunnels()->find("edge-1");
  ASSERT_TRUE(mux);
  auto status = [&](proto::RequestHead head) {
    auto f = asio::co_spawn(mux->executor(), statusOf(mux, std::move(head)), asio::use_future);
    EXPECT_EQ(f.wait_for(20s), std::future_status::ready);
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

class SpineFleetTest : public SpineTest {
 protected:
  SpineFleetTest() { agent_connections_ = 2; }
};

// The fleet's announcement is sent by hand over the first tunnel (a hub only sends one with
// peering, which needs a metaserver); both hubs are HubServers.
TEST_F(SpineFleetTest, TheAgentReachesTheHubsTheFleetAnnouncesOncePerHub) {
  auto first = hub_.tunnels()->find("edge-1");
  ASSERT_TRUE(first);
  HubThread second;
  ASSERT_TRUE(second.start(hubOptions("hub-second")));
  const net::HostPort& first_at = hub_.bound().tunnel;

  // The agent knew one hub; the fleet names itself under two addresses, a second hub, and an
  // entry the agent must not dial.
  nlohmann::json hubs = {
      {"type", "hubs"},
      {"hubs",
       {{{"id", "hub-test"}, {"url", tunnelUrl(first_at)}},
        {{"id", "hub-test"}, {"url", "wss://localhost:" + std::to_string(first_at.port)}},
        {{"id", "hub-second"}, {"url", tunnelUrl(second.bound().tunnel)}},
        {{"id", "plain"}, {"url", "https://127.0.0.1:1/tunnel"}}}}};
  first->sendControl(hubs.dump());

  ASSERT_TRUE(waitUntil([&second] { return second.attached("edge-1"); }))
      << "the agent did not reach the announced hub";
  // The first hub's tunnel was never replaced: no second tunnel reached it by its other name.
  EXPECT_EQ(hub_.tunnels()->find("edge-1"), first);
  EXPECT_EQ(usersGet("/clusters/edge-1/api/v1/namespaces").status, 200);
}

/// A hub's peer endpoint (started on port 0) serving with `cert`; links it accepts are dropped.
std::pair<std::unique_ptr<tunnel::TunnelListener>, net::HostPort> peerEndpoint(
    net::IoPool& pool, const TestPki& pki, const std::string& cert) {
  auto tls = net::makeServerContext(
      {pki.path(cert + ".crt"), pki.path(cert + ".key"), pki.path("ca.crt")});
  EXPECT_TRUE(tls.ok()) << tls.status();
  auto listener = std::make_unique<tunnel::TunnelListener>(
      pool, *tls, [](std::unique_ptr<tunnel::Transport>, tunnel::TunnelPeer) {}, 10s,
      tunnel::kPeerEndpoint);
  auto bound = listener->start({"127.0.0.1", 0});
  EXPECT_TRUE(bound.ok()) << bound.status();
  return {std::move(listener), bound.ok() ? *bound : net::HostPort{}};
}

// Wired by hand: a HubServer serves peers only with --peer-listen, which needs a metaserver
// (hubs find each other in its registry), and what is tested is the dialling side's check of
// the certificate at the far end, for which a bare peer endpoint is enough. No hub or agent.
class SpinePeerLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_.issue("hub", "hub", true);
    io_thread_ = std::thread([this] { pool_.run(nullptr); });
  }
  void TearDown() override {
    pool_.stop();
    io_thread_.join();
  }

  TestPki pki_;
  net::IoPool pool_{1};
  asio::io_context& io_ = pool_.main();
  std::thread io_thread_;
};

TEST_F(SpinePeerLinkTest, APeerLinkReachesOnlyTheHubItMeant) {
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
    auto result = asio::co_spawn(io_, tunnel::dialPeer(io_.get_executor(), *tls, *url, hub, 10s),
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

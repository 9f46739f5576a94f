#pragma once
/// The agent's connections to the hubs: up to `connections` tunnels, each to a distinct hub
/// (dial an mTLS WebSocket, HELLO/WELCOME, serve the hub's streams and control messages), each
/// reconnecting forever with exponential backoff and full jitter when it drops. Which address
/// each tunnel dials is HubSet's choice, from the bootstrap URLs and the fleet's `hubs`
/// announcements. Runs on the agent's single-threaded io_context.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "agent/commands/command_service.h"
#include "agent/forward/upstream_client.h"
#include "agent/metrics/agent_metrics.h"
#include "agent/status/status_reporter.h"
#include "common/net/tls_source.h"
#include "common/tunnel/mux.h"

namespace kubehub::agent {

struct TunnelClientOptions {
  /// Bootstrap tunnel URLs (canonicalTunnelUrl form); at least one. Never forgotten.
  std::vector<std::string> hubs;
  /// Tunnels to distinct hubs kept at once.
  int connections = 2;
  std::string cluster;
  std::string agent_version;
  /// A host agent (--mode native): says so in HELLO (kCapabilityHost), answers no discovery and
  /// refuses every path but /kubehub/ (the upstream is null then).
  bool host = false;
  /// The client certificate (and hub CA) each new tunnel dials with: replaced when the
  /// certificate is renewed or its files change; open tunnels keep the one they started with.
  std::shared_ptr<net::TlsSource> tls;
  std::chrono::milliseconds dial_timeout{10000};
  std::chrono::milliseconds backoff_base{500};
  /// Also how long a connection with no hub left to reach waits before looking again (it looks
  /// at once when the fleet announces hubs or another connection's hub frees up).
  std::chrono::milliseconds backoff_max{30000};
  /// A tunnel that stayed up this long resets the backoff.
  std::chrono::milliseconds stable_after{30000};
};

struct AgentState {
  std::atomic<int> tunnels_up{0};
  std::atomic<bool> api_reachable{false};
  /// Set while the agent waits for its first certificate (enrolment with the metaserver).
  std::atomic<bool> enrolling{false};
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> dial_failures{0};
  std::shared_ptr<AgentMetrics> metrics = std::make_shared<AgentMetrics>();
  /// Cluster status reports sent on every tunnel; null: none are sent.
  std::shared_ptr<StatusReporter> status;
  /// Answers /kubehub/ paths (native commands); never null once the agent runs.
  std::shared_ptr<CommandService> commands;
};

/// Runs until the io_context stops.
boost::asio::awaitable<void> runTunnelClient(TunnelClientOptions options,
                                             std::shared_ptr<UpstreamClient> upstream,
                                             std::shared_ptr<AgentState> state);

}  // namespace kubehub::agent

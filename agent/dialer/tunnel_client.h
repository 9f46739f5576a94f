#pragma once
/// The agent's connection to the hub: dial (mTLS WebSocket), HELLO/WELCOME, serve the hub's
/// streams and control messages, and reconnect forever with exponential backoff and full
/// jitter when the tunnel drops. Runs on the agent's single-threaded io_context.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "agent/forward/upstream_client.h"
#include "agent/metrics/agent_metrics.h"
#include "common/net/address.h"
#include "common/tunnel/mux.h"

namespace kubehub::agent {

struct TunnelClientOptions {
  net::Url hub;
  std::string cluster;
  std::string agent_version;
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::chrono::milliseconds dial_timeout{10000};
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30000};
  /// A tunnel that stayed up this long resets the backoff.
  std::chrono::milliseconds stable_after{30000};
};

struct AgentState {
  std::atomic<bool> tunnel_up{false};
  std::atomic<bool> api_reachable{false};
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> dial_failures{0};
  std::shared_ptr<AgentMetrics> metrics = std::make_shared<AgentMetrics>();
};

/// Runs until the io_context stops.
boost::asio::awaitable<void> runTunnelClient(TunnelClientOptions options,
                                             std::shared_ptr<UpstreamClient> upstream,
                                             std::shared_ptr<AgentState> state);

}  // namespace kubehub::agent

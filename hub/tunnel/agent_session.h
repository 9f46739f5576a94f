#pragma once
/// The hub's side of one agent connection: the HELLO/WELCOME handshake, identity checks,
/// registration in the TunnelRegistry, the discovery request, and the multiplexer's lifetime.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "common/tunnel/mux.h"
#include "common/tunnel/transport.h"
#include "common/tunnel/ws_transport.h"
#include "hub/auth/metaserver_sync.h"
#include "hub/cache/cluster_cache.h"
#include "hub/metrics/hub_metrics.h"
#include "hub/tunnel/tunnel_registry.h"

namespace kubehub::hub {

class TunnelMover;

struct AgentSessionOptions {
  std::string hub_id;
  tunnel::MuxOptions mux;
  std::chrono::milliseconds hello_timeout{10000};
  /// Tell agents the fleet's hubs (control message "hubs") so they keep tunnels to several.
  /// Only hubs that take peer links are named, and only by a hub that does: without peering a
  /// user reaches a cluster only through the hubs holding its tunnel, so agents stay where
  /// they were sent.
  bool advertise_hubs = false;
  /// While this hub drains and another hub takes agents, new tunnels are refused (GOAWAY
  /// DRAINING): the agent tries another hub. Null: never.
  std::shared_ptr<const TunnelMover> mover;
};

/// Runs on the transport's strand until the tunnel closes.
/// `metrics`, `cache` and `metaserver` may be null. With a metaserver, only clusters it knows
/// and has not disabled may connect, and connections are recorded in its registry.
boost::asio::awaitable<void> runAgentSession(std::shared_ptr<TunnelRegistry> registry,
                                             std::shared_ptr<HubMetrics> metrics,
                                             std::shared_ptr<cache::CacheRegistry> cache,
                                             std::shared_ptr<MetaserverSync> metaserver,
                                             std::unique_ptr<tunnel::Transport> transport,
                                             tunnel::TunnelPeer peer, AgentSessionOptions options);

}  // namespace kubehub::hub

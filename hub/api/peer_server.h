#pragma once
/// The owner side of hub-to-hub links: a peer hub (its client certificate a hub's, from the
/// same CA) opens one stream per user request it routes here. The OPEN carries the user's
/// request as the user sent it to the entry hub (target /clusters/NAME/..., the user's headers
/// without credentials) and, first, the entry hub's verdict on who the user is
/// (auth/peer_identity.h). This hub then plans the request as its users' endpoint would, minus
/// authentication and the tenant's rate limit (the entry hub applied both): the grants again,
/// then its cache (through a ResponseReframer) or the cluster's tunnel (the two streams
/// spliced, raw bytes both ways after a 101). A request for a cluster whose tunnel is not here
/// gets 503 with `Kubehub-Route: stale`: a request crosses at most one peer link.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include "common/tunnel/transport.h"
#include "common/tunnel/ws_transport.h"
#include "hub/api/cache_serving.h"
#include "hub/api/stream_quota.h"

namespace kubehub::hub {

class TunnelRegistry;
class MetaserverSync;
class HubMetrics;
namespace cache {
class CacheRegistry;
}

struct PeerServerDeps {
  /// This hub's id, for answers that name it.
  std::string hub_id;
  std::shared_ptr<TunnelRegistry> registry;
  std::shared_ptr<MetaserverSync> metaserver;
  std::shared_ptr<HubMetrics> metrics;
  std::shared_ptr<cache::CacheRegistry> cache;
  /// Shared with the users' endpoint: one share of each tunnel per user, however it came.
  std::shared_ptr<StreamQuota> stream_quota;
  CacheServeOptions cache_options;
  std::chrono::milliseconds response_timeout{60000};
  /// Where each request of a link is served (round robin over the users' threads), so one busy
  /// peer hub does not hold one thread; null: on the link's own strand.
  std::function<boost::asio::any_io_executor()> request_executor;
  /// Where a request for `target` is better served: on the thread of the cluster's tunnel, when
  /// that is one of the requests' threads; empty otherwise (or when unset).
  std::function<boost::asio::any_io_executor(std::string_view target)> tunnel_executor;
};

/// Serves one accepted peer link until it closes. Refuses (closes) a link whose certificate is
/// not a hub's.
boost::asio::awaitable<void> runPeerSession(std::shared_ptr<const PeerServerDeps> deps,
                                            std::unique_ptr<tunnel::Transport> transport,
                                            tunnel::TunnelPeer peer);

}  // namespace kubehub::hub

#pragma once
/// The users' Kubernetes endpoint: HTTPS at /clusters/CLUSTER/<kubernetes path>. Authenticates
/// the bearer token, routes to the cluster's tunnel and streams the exchange both ways (plain
/// responses, chunked watch streams, and upgrades such as exec/attach/port-forward).
/// One strand per connection; start/stop from any thread.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>

#include "absl/status/statusor.h"
#include "common/net/address.h"
#include "common/net/server_main.h"
#include "common/net/tls_source.h"
#include "hub/api/cache_serving.h"
#include "hub/api/stream_quota.h"
#include "hub/audit/audit_log.h"
#include "hub/auth/authenticator.h"
#include "hub/auth/rate_limiter.h"
#include "hub/cache/cluster_cache.h"
#include "hub/metrics/hub_metrics.h"
#include "hub/tunnel/tunnel_registry.h"

namespace kubehub::hub {

class PeerLinks;

struct UserServerOptions {
  /// How long to wait for the edge's response head.
  std::chrono::milliseconds response_timeout{60000};
  /// Idle keep-alive connections are closed after this.
  std::chrono::milliseconds idle_timeout{120000};
  std::chrono::milliseconds handshake_timeout{10000};
  /// A single write to a client that does not progress for this long drops the client.
  std::chrono::milliseconds write_timeout{60000};
  size_t max_header_bytes = 64 * 1024;
  /// Users' connections held at once, in total and per client address (0: no limit). Beyond
  /// them a new connection is closed at accept; established ones are not affected.
  size_t max_connections = 10000;
  size_t max_connections_per_client = 1000;
  /// Streams one user / one tenant may hold on one cluster's tunnel.
  StreamQuotaLimits stream_quota;
  CacheServeOptions cache;
};

/// What the users' endpoint works with. Only `auth` and `registry` are required.
struct UserServerDeps {
  std::shared_ptr<Authenticator> auth;
  std::shared_ptr<TunnelRegistry> registry;
  /// Grants, cluster records and bans; null without a metaserver (static tokens only).
  std::shared_ptr<MetaserverSync> metaserver;
  std::shared_ptr<HubMetrics> metrics;
  std::shared_ptr<cache::CacheRegistry> cache;
  std::shared_ptr<AuditLog> audit;
  std::shared_ptr<RateLimiter> tenant_limiter;
  /// Links to peer hubs; null: requests for clusters whose tunnel is elsewhere get 503.
  std::shared_ptr<PeerLinks> peers;
  /// This hub's id (never a peer route to itself).
  std::string hub_id;
  /// Shared with the peer endpoint; null: the server makes its own from options.stream_quota.
  std::shared_ptr<StreamQuota> stream_quota;
};

class UserServer {
 public:
  /// Connections are spread over `pool`'s contexts; the acceptor lives on its main one.
  UserServer(net::IoPool& pool, std::shared_ptr<boost::asio::ssl::context> tls,
             UserServerOptions options, UserServerDeps deps);
  /// The same with a serving certificate that may rotate: each connection takes the context in
  /// force when it is accepted.
  UserServer(net::IoPool& pool, std::shared_ptr<net::TlsSource> tls, UserServerOptions options,
             UserServerDeps deps);
  ~UserServer();

  absl::StatusOr<net::HostPort> start(const net::HostPort& address);
  /// Closes the listener and cancels every connection: requests in progress are cut, streams
  /// through tunnels reset. Any thread; idempotent.
  void stop();
  /// Closes the listener only: connections open keep being served (a hub shutting down lets
  /// requests in progress finish while its agents hear GOAWAY).
  void stopAccepting();
  /// After stop(): blocks until every connection has ended or `timeout` passed; whether they
  /// have. Never on a thread of the server's pool.
  bool waitStopped(std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kubehub::hub

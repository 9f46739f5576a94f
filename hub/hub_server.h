#pragma once
/// The hub's composition root: HubOptions (what main.cc fills from flags) and HubServer, which
/// wires the tunnel listener, the users' endpoint, the peer listener, the admin endpoint and the
/// metaserver sync together, starts them and stops them. main.cc and in-process tests share it.
/// HubServer's methods are called from one thread (main's, or a test's) except stop().

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/net/address.h"

namespace kubehub::hub {

class TunnelRegistry;

/// Everything the hub is configured with; defaults are the flags' defaults.
struct HubOptions {
  std::string listen = "0.0.0.0:8443";
  std::string tunnel_listen = "0.0.0.0:8444";
  std::string admin_listen = "0.0.0.0:9090";
  std::string tls_cert, tls_key;
  std::string tunnel_tls_cert, tunnel_tls_key;  // empty: tls_cert, tls_key
  std::string agent_ca;
  std::string peer_listen;
  std::string peer_tls_cert, peer_tls_key, peer_ca;
  std::chrono::milliseconds tls_reload_interval{10000};
  std::chrono::milliseconds drain_timeout{30000};
  int64_t drain_rate_milli = 100000;
  int64_t rebalance_rate_milli = 2000;
  std::chrono::milliseconds rebalance_settle{30000};
  std::string token_file;
  std::string metaserver_url, metaserver_token_file, metaserver_ca;
  std::string audit_log = "-";
  int64_t audit_log_max_bytes = 100ll << 20;
  int64_t audit_log_max_files = 5;
  int64_t tenant_rate_milli = 500000;
  int64_t tenant_burst = 1000;
  std::string advertise_host;
  std::string advertise_tunnel_url;
  std::string hub_id;  // empty: the host name
  std::string log_level = "info";
  int64_t threads = 0;  // 0: one per usable CPU
  int64_t tunnel_threads = 0;
  std::chrono::milliseconds response_timeout{60000};
  std::chrono::milliseconds write_timeout{60000};
  std::chrono::milliseconds idle_timeout{120000};
  std::chrono::milliseconds handshake_timeout{10000};
  int64_t max_connections = -1;  // auto: 10,000, or half the descriptor limit if lower
  int64_t max_connections_per_client = 1000;
  // -1: a share of max_streams (see withDefaults).
  int64_t max_long_streams_per_user = -1;
  int64_t max_long_streams_per_tenant = -1;
  int64_t max_requests_per_user = -1;
  int64_t max_requests_per_tenant = -1;
  std::chrono::milliseconds ping_interval{15000};
  std::chrono::milliseconds tunnel_idle_timeout{45000};
  int64_t stream_window = 256 * 1024;
  int64_t max_streams = 1024;
  std::string cache_resources;
  int64_t cache_max_bytes = 512ll << 20;
  int64_t cache_window = 10000;
  int64_t cache_window_bytes = 0;
  std::chrono::milliseconds cache_bookmark_interval{60000};
  std::chrono::milliseconds cache_consistency_timeout{100};
  std::chrono::milliseconds cache_hedge_after{2};
  bool cache_gzip = true;
  /// A cluster's cache is kept this long after its last tunnel here closed (a returning agent
  /// resumes its watches without a relist), then dropped.
  std::chrono::milliseconds cache_keep_detached{15 * 60 * 1000};

  /// The first rule these options break, as a one-line message naming the flags; OK if none.
  absl::Status validate() const;
  /// A copy with the derived defaults filled in: tunnel certificate, threads, hub id, the
  /// per-user and per-tenant stream limits.
  HubOptions withDefaults() const;

  double drainRate() const { return static_cast<double>(drain_rate_milli) / 1000.0; }
  double rebalanceRate() const { return static_cast<double>(rebalance_rate_milli) / 1000.0; }
  double tenantRate() const { return static_cast<double>(tenant_rate_milli) / 1000.0; }
};

/// Where a started hub listens (port 0 in the options: the port the system chose).
struct HubAddresses {
  net::HostPort users;
  net::HostPort tunnel;
  net::HostPort admin;
  std::optional<net::HostPort> peer;
};

/// The hub: owns its I/O threads, listeners, caches and background loops. start() once, then
/// run() (blocks) on one thread; stop() from any thread ends run().
class HubServer {
 public:
  /// `options` must be valid (validate()); derived defaults are filled here.
  explicit HubServer(const HubOptions& options);
  ~HubServer();
  HubServer(const HubServer&) = delete;
  HubServer& operator=(const HubServer&) = delete;

  /// Loads tokens, certificates and the audit log, wires every part and binds the listeners.
  absl::StatusOr<HubAddresses> start();

  /// Runs the I/O threads until the hub has stopped. With `on_signal`, the first SIGINT/SIGTERM
  /// calls it (usually stop()), a second stops at once.
  void run(std::function<void()> on_signal);

  /// Stops the hub. With peering, agents first move to other hubs (for up to --drain-timeout,
  /// /readyz answering 503 meanwhile); then the listeners close, agents get GOAWAY, and run()
  /// returns about half a second later. Thread-safe; idempotent.
  void stop();

  /// The options with their defaults filled in.
  const HubOptions& options() const;

  /// The agents' tunnels attached to this hub (null before start()): for in-process tests that
  /// speak to an agent past the users' endpoint, as only the hub itself does.
  std::shared_ptr<TunnelRegistry> tunnels() const;

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace kubehub::hub

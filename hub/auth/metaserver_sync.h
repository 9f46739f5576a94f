#pragma once
/// What the hub learns from the metaserver, kept locally so that no user request waits on it:
/// token signing keys, the revocation feed (polled every few hundred milliseconds, so a revoked
/// token is refused within a second), grants by tenant, clusters (labels, disabled), and bans.
/// Also reports this hub to the registry (heartbeat, which clusters' tunnels it holds).
///
/// One background thread talks to the metaserver; readers take an immutable snapshot
/// (thread-safe, lock-free for them). When the metaserver is unreachable the hub keeps serving
/// with the last snapshot and says so in its logs and /readyz.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "common/auth/grant.h"
#include "common/auth/token.h"
#include "common/net/http_client.h"
#include "common/net/tls.h"
#include "hub/peer/routing_table.h"
#include "metaserver/client/metaserver_client.h"

namespace kubehub::hub {

struct ClusterRecord {
  auth::Labels labels;
  bool disabled = false;
};

/// One consistent view. Parts are shared between snapshots, so replacing one is cheap.
struct AuthSnapshot {
  std::shared_ptr<const auth::KeySet> keys;
  std::shared_ptr<const std::unordered_map<std::string, int64_t>> revoked;  // jti -> exp
  std::shared_ptr<const std::unordered_map<std::string, std::vector<auth::Grant>>> grants;
  std::shared_ptr<const std::unordered_map<std::string, ClusterRecord>> clusters;
  std::shared_ptr<const std::unordered_set<std::string>> banned_users;
  std::shared_ptr<const std::unordered_set<std::string>> banned_tenants;
  bool keys_loaded = false;
  bool grants_loaded = false;
  bool clusters_loaded = false;
};

struct MetaserverSyncOptions {
  std::string url;    // https://metaserver:8443
  std::string token;  // a token of a user with the hub role
  /// When set, the token in force (a rotated token file read again); overrides `token`.
  std::function<std::string()> token_source;
  net::ClientTlsOptions tls;
  std::string hub_id;
  std::string users_address;
  std::string tunnel_address;
  std::string version;
  /// Revocations, bans and the routing table are asked for this often while the metaserver's
  /// change feed (a long poll on GET /api/v1/changes) is not answering; while it is, each feed
  /// is fetched when it changed, and every `safety_poll` (routes every `state_poll`) in case.
  std::chrono::milliseconds revocation_poll{250};
  std::chrono::milliseconds state_poll{2000};
  std::chrono::milliseconds safety_poll{10000};
  /// How long one long poll waits for a change (0: do not follow the change feed).
  std::chrono::seconds change_wait{25};
  std::chrono::milliseconds heartbeat{5000};
  std::chrono::milliseconds request_timeout{5000};
};

/// Whether the metaserver will take this hub's reports: a hub's token acts only for the hub named
/// like its user (an admin's for any), so --hub-id must be the token's user. `whoami` is the
/// metaserver's GET /api/v1/whoami answer for the token. FailedPrecondition with a one-line
/// message saying how to fix it otherwise.
absl::Status checkHubIdentity(const metaserver::Whoami& whoami, std::string_view hub_id);

/// 16 random hex characters, new for every hub process.
std::string randomInstanceId();

class MetaserverSync {
 public:
  explicit MetaserverSync(MetaserverSyncOptions options);
  ~MetaserverSync();

  /// Where users, agents and peer hubs reach this hub (reported in heartbeats; `peer` empty:
  /// this hub takes no peer links). Call before start().
  void setAddresses(std::string users, std::string tunnel, std::string peer = {}) {
    users_address_ = std::move(users);
    tunnel_address_ = std::move(tunnel);
    peer_address_ = std::move(peer);
  }
  /// Asks the metaserver who the token is and checks it against the hub id (checkHubIdentity).
  /// FailedPrecondition for a mismatch; Unavailable when the metaserver did not say. Until it
  /// has said, the background thread asks again and logs a mismatch as an error. Call before
  /// start().
  absl::Status checkIdentity();
  /// Starts the background thread.
  void start();
  void stop();
  /// Removes this hub from the registry (its routes go at once), after stop(): the hub is
  /// leaving. Blocks for at most one request timeout.
  void leave();

  std::shared_ptr<const AuthSnapshot> snapshot() const;
  /// The fleet's routing table (which hubs hold which clusters' tunnels); not loaded until the
  /// metaserver first answered. Thread-safe.
  std::shared_ptr<const RoutingTable> routes() const;
  /// Counts changes of the routing table (0: never loaded).
  uint64_t routesVersion() const { return routes_version_.load(); }
  /// Seconds since the metaserver last answered for the routing table (-1: never).
  double routesAgeSeconds() const;
  /// Asks the metaserver for the routing table soon (a peer said a route was stale).
  void wantRoutes();
  /// True once keys, grants and clusters were loaded at least once.
  bool ready() const;
  /// "ok", or why the metaserver is not being reached (for /readyz and logs).
  std::string health() const;

  /// Registry events; queued and sent by the background thread.
  void clusterConnected(const std::string& cluster);
  void clusterDisconnected(const std::string& cluster);
  /// Registry events not yet sent: at most one per cluster (its latest state).
  size_t pendingRegistryEvents() const;
  void setAgentCount(size_t n) { agents_.store(n); }
  /// A connected cluster's latest status report (proto::statusReportJson): kept until sent,
  /// a newer report of the cluster replacing an unsent one; sent in batches about once a second
  /// (POST /api/v1/hubs/HUB/cluster-status).
  void reportClusterStatus(const std::string& cluster, nlohmann::json report);
  /// Asks for a key reload soon (a token named an unknown key id).
  void wantKeys() { want_keys_.store(true); }

 private:
  void run();
  void runPasses();
  /// The client of checkIdentity(), the sync thread and leave(), which never overlap.
  absl::StatusOr<metaserver::MetaserverClient*> client();
  bool syncKeys();
  bool syncRevocations();
  bool syncGrants();
  bool syncClusters();
  bool syncBans();
  bool syncRoutes();
  void wake();
  bool heartbeat();
  void flushRegistryEvents();
  void queueRegistryEvent(const std::string& cluster, bool connected);
  /// Whether `cluster` has a registry event waiting (events_mu_ held).
  bool pendingLocked(const std::string& cluster) const;
  void flushStatusReports();
  void publish(const std::function<void(AuthSnapshot&)>& change);
  void noteResult(bool ok, const std::string& what);

  const MetaserverSyncOptions options_;
  std::string users_address_;
  std::string tunnel_address_;
  std::string peer_address_;
  /// Random per process: the metaserver drops a restarted hub's connections by it.
  const std::string instance_ = randomInstanceId();
  std::unique_ptr<metaserver::MetaserverClient> client_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  /// Shared with the change watcher's thread; stop() cancels its long poll and joins it.
  struct Signal {
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;             // guarded by mu: a wait ends early
    std::set<std::string> moved;    // guarded by mu: feeds whose generation moved
    std::atomic<bool> live{false};  // the long poll answers: poll only as a safety net
    std::atomic<bool> stopping{false};
    std::shared_ptr<metaserver::MetaserverClient> client;  // guarded by mu: to cancel
  };
  std::thread watch_thread_;
  std::shared_ptr<Signal> signal_ = std::make_shared<Signal>();
  static void watchChanges(MetaserverSyncOptions options, std::shared_ptr<Signal> signal);
  std::atomic<bool> want_routes_{false};

  mutable std::mutex snapshot_mu_;
  std::shared_ptr<const AuthSnapshot> snapshot_;
  std::shared_ptr<const RoutingTable> routes_;
  std::atomic<uint64_t> routes_version_{0};
  std::atomic<int64_t> routes_checked_at_ms_{0};  // steady clock
  std::string routes_etag_;                       // sync thread only
  bool routes_supported_ = true;
  std::chrono::steady_clock::time_point routes_retry_at_{};

  mutable std::mutex events_mu_;
  std::deque<std::pair<std::string, bool>> events_;  // cluster, connected?
  std::set<std::string> held_;                       // clusters whose tunnel this hub holds

  std::mutex status_mu_;
  std::map<std::string, nlohmann::json> status_pending_;    // guarded by status_mu_
  bool status_supported_ = true;                            // sync thread only
  std::chrono::steady_clock::time_point status_sent_at_{};  // sync thread only

  std::atomic<size_t> agents_{0};
  std::atomic<bool> want_keys_{false};
  int64_t revocation_cursor_ = 0;
  mutable std::mutex health_mu_;
  std::string health_ = "not contacted yet";
  bool was_healthy_ = false;
  bool bans_supported_ = true;
  bool identity_checked_ = false;
  std::chrono::steady_clock::time_point bans_retry_at_{};
};

}  // namespace kubehub::hub

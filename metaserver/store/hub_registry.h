#pragma once
/// The registry of hubs: their heartbeats (a hub whose last one is older than the registry TTL
/// is dead), draining, which cluster's tunnel each holds (connections), the cluster status
/// reports they forward, and the routing table hubs and agents are steered by. Thread-safe.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "metaserver/model/records.h"
#include "metaserver/store/page.h"
#include "metaserver/store/pg.h"

namespace kubehub::metaserver {

class HubRegistry {
 public:
  /// `registry_ttl`: a hub whose last heartbeat is older is dead, and so are its connections.
  HubRegistry(PgPool& pool, std::chrono::seconds registry_ttl)
      : pool_(pool), registry_ttl_(registry_ttl) {}

  /// `instance`: the hub process's random id ("" from hubs that send none); a different one
  /// than last time is a restart, which drops the hub's connections.
  absl::StatusOr<HubRecord> heartbeatHub(const std::string& id, const auth::Labels& addresses,
                                         int64_t agents, double load, const std::string& version,
                                         const std::string& instance = {});
  absl::StatusOr<Listed<HubRecord>> listHubs(bool include_dead, const PageQuery& page = {});
  absl::StatusOr<HubRecord> getHub(const std::string& id);
  absl::Status deleteHub(const std::string& id);
  /// Drains (or undrains) a registered hub; NotFound for an unknown one. The mark outlives the
  /// registration: a hub that deregistered or was pruned comes back draining. Undraining a hub
  /// that is not registered removes its mark and answers a record with only the id (not alive).
  absl::StatusOr<HubRecord> setHubDraining(const std::string& id, bool draining,
                                           const std::string& reason);
  absl::Status putConnection(const std::string& cluster, const std::string& hub);
  absl::Status deleteConnection(const std::string& cluster, const std::string& hub);
  absl::StatusOr<std::vector<EndpointRecord>> endpoints(const std::string& cluster);
  /// Stores clusters' status reports forwarded by `hub`; only for clusters whose tunnel `hub`
  /// holds (a connection), others are skipped. Returns the clusters stored.
  absl::StatusOr<std::vector<std::string>> putClusterStatus(
      const std::string& hub, const std::vector<ClusterStatusUpdate>& updates);
  /// Live hubs and every connection of theirs, read in one statement (one snapshot).
  absl::StatusOr<RoutingTable> routingTable();

  /// Announces on the routes change feed the hubs whose registration expired in the last
  /// `window` (no write says so otherwise: their heartbeats just stopped). Call every `window`.
  absl::Status announceExpiredHubs(std::chrono::seconds window);

 private:
  std::string ttl() const { return std::to_string(registry_ttl_.count()); }

  PgPool& pool_;
  std::chrono::seconds registry_ttl_;
};

}  // namespace kubehub::metaserver

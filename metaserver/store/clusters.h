#pragma once
/// The edge clusters kubehub reaches, each read with its status from the registry: the hubs
/// holding its tunnel now, when it was last seen, and its agent's latest report. Thread-safe.

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "metaserver/model/records.h"
#include "metaserver/store/page.h"
#include "metaserver/store/pg.h"

namespace kubehub::metaserver {

class Clusters {
 public:
  /// `registry_ttl`: a hub whose last heartbeat is older no longer holds a tunnel.
  Clusters(PgPool& pool, std::chrono::seconds registry_ttl)
      : pool_(pool), registry_ttl_(registry_ttl) {}

  absl::StatusOr<ClusterRecord> createCluster(const ClusterRecord& c);
  absl::StatusOr<Listed<ClusterRecord>> listClusters(const PageQuery& page = {});
  absl::StatusOr<ClusterRecord> getCluster(const std::string& name);
  absl::StatusOr<ClusterRecord> updateCluster(const std::string& name, const ClusterPatch& patch);
  absl::Status deleteCluster(const std::string& name);

 private:
  PgPool& pool_;
  std::chrono::seconds registry_ttl_;
};

}  // namespace kubehub::metaserver

#pragma once
/// Keeps the metaserver's copy of each cluster's status report current with what this hub
/// caches of the cluster. An agent reports at connect (before the cache has synced) and then
/// about once a minute; in between, refresh() forwards the last report again with fresh cache
/// counts: soon when a type was added, dropped or synced, at most once a minute when only
/// counts moved. Thread-safe; refresh() is called from one timer.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "hub/auth/metaserver_sync.h"
#include "hub/cache/cluster_cache.h"
#include "hub/tunnel/tunnel_registry.h"
#include "proto/cluster_status.h"

namespace kubehub::hub {

/// What this hub caches of `cluster`, for its status report: nullopt for hosts and when the
/// cache is off; an empty summary before the cluster's first discovery.
std::optional<proto::CacheSummary> cacheSummaryFor(const cache::CacheRegistry* cache,
                                                   const std::string& cluster,
                                                   std::string_view kind);

class StatusForwarder {
 public:
  /// How often the timer should call refresh().
  static constexpr std::chrono::seconds kCheckEvery{2};
  /// A report whose cache moved only in object counts goes again after this long at the soonest.
  static constexpr std::chrono::seconds kCountsEvery{60};

  StatusForwarder(std::shared_ptr<TunnelRegistry> registry,
                  std::shared_ptr<cache::CacheRegistry> cache,
                  std::shared_ptr<MetaserverSync> metaserver)
      : registry_(std::move(registry)),
        cache_(std::move(cache)),
        metaserver_(std::move(metaserver)) {}

  /// Returns how many reports were forwarded again.
  size_t refresh(std::chrono::steady_clock::time_point now);

 private:
  const std::shared_ptr<TunnelRegistry> registry_;
  const std::shared_ptr<cache::CacheRegistry> cache_;
  const std::shared_ptr<MetaserverSync> metaserver_;
  std::mutex mu_;
  /// cluster -> when refresh() last forwarded its report (or first saw it).
  std::map<std::string, std::chrono::steady_clock::time_point> sent_at_;
};

}  // namespace kubehub::hub

#pragma once
/// What the hub caches of one cluster, in the form its status report carries to the metaserver
/// (proto::CacheSummary: types, object counts, bounded). Pure.

#include <cstddef>
#include <vector>

#include "hub/cache/cluster_cache.h"
#include "proto/cluster_status.h"

namespace kubehub::hub::cache {

/// Every type counts in the totals; the `max_types` with the most objects (ties by name) are
/// listed, and `truncated` says whether any was left out.
proto::CacheSummary summarizeCache(std::vector<ClusterCache::TypeState> types,
                                   size_t max_types = proto::kMaxStatusCachedTypes);

/// Whether the summary moved in more than object counts: a type added, dropped or synced.
bool cacheShapeChanged(const proto::CacheSummary& before, const proto::CacheSummary& now);

}  // namespace kubehub::hub::cache

#pragma once
/// The hub cache's figures read at scrape time: objects, bytes, the event window, sync and
/// watch state and relists per cached type, and types dropped over the byte budget.

#include <memory>

#include "hub/cache/cluster_cache.h"
#include "hub/metrics/hub_metrics.h"

namespace kubehub::hub::cache {

ScrapeSource cacheScrapeSource(std::shared_ptr<const CacheRegistry> cache);

}  // namespace kubehub::hub::cache

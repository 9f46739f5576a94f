#include "hub/tunnel/status_forwarder.h"

#include <nlohmann/json.hpp>
#include <set>

#include "hub/cache/cache_summary.h"

namespace kubehub::hub {

std::optional<proto::CacheSummary> cacheSummaryFor(const cache::CacheRegistry* cache,
                                                   const std::string& cluster,
                                                   std::string_view kind) {
  if (cache == nullptr || !cache->policy().enabled || kind != proto::kKindKubernetes) {
    return std::nullopt;
  }
  auto c = cache->find(cluster);
  if (!c) return proto::CacheSummary{};
  return cache::summarizeCache(c->state());
}

size_t StatusForwarder::refresh(std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mu_);
  std::set<std::string> seen;
  size_t sent = 0;
  for (const auto& t : registry_->snapshot()) {
    if (!t.status) continue;
    seen.insert(t.cluster);
    auto fresh = cacheSummaryFor(cache_.get(), t.cluster, t.status->kind);
    if (!fresh) continue;
    auto at = sent_at_.try_emplace(t.cluster, now).first;
    const auto& before = t.status->cache;
    bool shape = !before || cache::cacheShapeChanged(*before, *fresh);
    bool counts = before && *before != *fresh && now - at->second >= kCountsEvery;
    if (!shape && !counts) continue;
    proto::ClusterStatusReport report = *t.status;
    report.cache = std::move(fresh);
    nlohmann::json forwarded = proto::statusReportJson(report);
    // A newer report of the agent's came in since the snapshot: it carries the cache already.
    if (!registry_->replaceStatus(t.cluster, t.mux.get(), t.status, std::move(report))) continue;
    if (metaserver_) metaserver_->reportClusterStatus(t.cluster, std::move(forwarded));
    at->second = now;
    ++sent;
  }
  std::erase_if(sent_at_, [&](const auto& e) { return !seen.count(e.first); });
  return sent;
}

}  // namespace kubehub::hub

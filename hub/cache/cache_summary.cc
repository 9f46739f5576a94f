#include "hub/cache/cache_summary.h"

#include <algorithm>
#include <tuple>

namespace kubehub::hub::cache {

proto::CacheSummary summarizeCache(std::vector<ClusterCache::TypeState> types, size_t max_types) {
  proto::CacheSummary out;
  out.type_count = static_cast<int64_t>(types.size());
  for (const auto& t : types) {
    out.objects += static_cast<int64_t>(t.objects);
    if (t.synced) ++out.synced_types;
  }
  std::sort(types.begin(), types.end(), [](const auto& a, const auto& b) {
    return std::tie(b.objects, a.resource, a.version) < std::tie(a.objects, b.resource, b.version);
  });
  out.truncated = types.size() > max_types;
  if (out.truncated) types.resize(max_types);
  out.types.reserve(types.size());
  for (auto& t : types) {
    out.types.push_back(proto::CachedType{std::move(t.resource), std::move(t.version),
                                          static_cast<int64_t>(t.objects), t.synced});
  }
  return out;
}

bool cacheShapeChanged(const proto::CacheSummary& before, const proto::CacheSummary& now) {
  return before.type_count != now.type_count || before.synced_types != now.synced_types;
}

}  // namespace kubehub::hub::cache

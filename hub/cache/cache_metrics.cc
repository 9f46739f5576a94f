#include "hub/cache/cache_metrics.h"

namespace kubehub::hub::cache {

namespace {

void collectCache(const CacheRegistry& cache, std::vector<prometheus::MetricFamily>* out) {
  using prometheus::MetricType;
  prometheus::MetricFamily objects{
      "kubehub_hub_cache_objects", "Objects in the hub cache.", MetricType::Gauge, {}};
  prometheus::MetricFamily bytes{
      "kubehub_hub_cache_bytes",
      "Bytes held by the hub cache: current objects plus the event window's history (what "
      "--cache-max-bytes counts).",
      MetricType::Gauge,
      {}};
  prometheus::MetricFamily window_bytes{
      "kubehub_hub_cache_window_bytes",
      "Part of kubehub_hub_cache_bytes held only by the event window (old versions and "
      "deleted objects kept for watches resuming from a resourceVersion).",
      MetricType::Gauge,
      {}};
  prometheus::MetricFamily window_events{
      "kubehub_hub_cache_window_events",
      "Events in the window a watch can resume from (bounded by --cache-window and "
      "--cache-window-bytes).",
      MetricType::Gauge,
      {}};
  prometheus::MetricFamily synced{
      "kubehub_hub_cache_synced",
      "1 when a cached type finished its initial list (reads are served from it).",
      MetricType::Gauge,
      {}};
  prometheus::MetricFamily live{"kubehub_hub_cache_live",
                                "1 while a cached type's watch on the edge runs.",
                                MetricType::Gauge,
                                {}};
  prometheus::MetricFamily lists{
      "kubehub_hub_cache_lists_total",
      "Full LISTs of a cached type applied from the edge: the initial sync, then one per "
      "relist (410 Gone). A tunnel that comes back resumes its watches from their "
      "resourceVersion without one.",
      MetricType::Counter,
      {}};
  for (const auto& c : cache.all()) {
    for (const auto& t : c->state()) {
      auto metric = [&](double v) {
        prometheus::ClientMetric m;
        m.label = {{"cluster", c->cluster()}, {"resource", t.resource}};
        m.gauge.value = v;
        return m;
      };
      objects.metric.push_back(metric(static_cast<double>(t.objects)));
      bytes.metric.push_back(metric(static_cast<double>(t.bytes)));
      window_bytes.metric.push_back(metric(static_cast<double>(t.window_bytes)));
      window_events.metric.push_back(metric(static_cast<double>(t.window_events)));
      synced.metric.push_back(metric(t.synced ? 1 : 0));
      live.metric.push_back(metric(t.live ? 1 : 0));
      prometheus::ClientMetric m;
      m.label = {{"cluster", c->cluster()}, {"resource", t.resource}};
      m.counter.value = static_cast<double>(t.lists);
      lists.metric.push_back(m);
    }
  }
  prometheus::MetricFamily dropped{
      "kubehub_hub_cache_budget_drops_total",
      "Cached types that fell back to forwarding because the cluster's cache "
      "exceeded --cache-max-bytes.",
      MetricType::Counter,
      {}};
  for (const auto& c : cache.all()) {
    prometheus::ClientMetric m;
    m.label = {{"cluster", c->cluster()}};
    m.counter.value = static_cast<double>(c->droppedTypes());
    dropped.metric.push_back(m);
  }
  out->push_back(dropped);
  prometheus::MetricFamily clusters{
      "kubehub_hub_cache_clusters",
      "Clusters with a cache on this hub: attached (a tunnel feeds it) or detached (kept for "
      "--cache-keep-detached after the last tunnel closed, so a returning agent does not relist).",
      MetricType::Gauge,
      {}};
  double attached = 0;
  double detached = 0;
  for (const auto& c : cache.all()) (c->attached() ? attached : detached) += 1;
  for (auto [state, n] : {std::pair{"attached", attached}, std::pair{"detached", detached}}) {
    prometheus::ClientMetric m;
    m.label = {{"state", state}};
    m.gauge.value = n;
    clusters.metric.push_back(m);
  }
  out->push_back(clusters);
  prometheus::MetricFamily gone{
      "kubehub_hub_cache_clusters_dropped_total",
      "Cluster caches dropped after --cache-keep-detached without a tunnel.",
      MetricType::Counter,
      {}};
  prometheus::ClientMetric g;
  g.counter.value = static_cast<double>(cache.droppedClusters());
  gone.metric.push_back(g);
  out->push_back(gone);
  out->push_back(objects);
  out->push_back(bytes);
  out->push_back(window_bytes);
  out->push_back(window_events);
  out->push_back(synced);
  out->push_back(live);
  out->push_back(lists);
}

}  // namespace

ScrapeSource cacheScrapeSource(std::shared_ptr<const CacheRegistry> cache) {
  return [cache = std::move(cache)](std::vector<prometheus::MetricFamily>* out) {
    collectCache(*cache, out);
  };
}

}  // namespace kubehub::hub::cache

#include "hub/tunnel/status_forwarder.h"

#include <gtest/gtest.h>

namespace kubehub::hub {
namespace {

using std::chrono::seconds;

struct Fixture {
  std::shared_ptr<TunnelRegistry> registry = std::make_shared<TunnelRegistry>();
  std::shared_ptr<cache::CacheRegistry> cache =
      std::make_shared<cache::CacheRegistry>(cache::CachePolicy{});
  StatusForwarder forwarder{registry, cache, nullptr};

  void connect(const std::string& cluster, std::optional<proto::CacheSummary> summary,
               std::string kind = std::string(proto::kKindKubernetes)) {
    ClusterTunnel t;
    t.cluster = cluster;
    registry->attach(std::move(t));
    proto::ClusterStatusReport r;
    r.kind = kind;
    r.agent_version = "0.1.0";
    r.cache = std::move(summary);
    registry->setStatus(cluster, nullptr, std::move(r));
  }
  std::optional<proto::CacheSummary> reported(const std::string& cluster) {
    for (const auto& t : registry->snapshot()) {
      if (t.cluster == cluster && t.status) return t.status->cache;
    }
    return std::nullopt;
  }
};

TEST(StatusForwarder, SummaryIsTheHubsForKubernetesClustersOnly) {
  auto cache = std::make_shared<cache::CacheRegistry>(cache::CachePolicy{});
  EXPECT_EQ(cacheSummaryFor(cache.get(), "edge-1", proto::kKindKubernetes), proto::CacheSummary{})
      << "before discovery: nothing cached yet";
  EXPECT_FALSE(cacheSummaryFor(cache.get(), "edge-1", proto::kKindHost));
  EXPECT_FALSE(cacheSummaryFor(nullptr, "edge-1", proto::kKindKubernetes));
  auto off = std::make_shared<cache::CacheRegistry>(*cache::CachePolicy::parse("none"));
  EXPECT_FALSE(cacheSummaryFor(off.get(), "edge-1", proto::kKindKubernetes));
}

TEST(StatusForwarder, ForwardsAgainWhenTheShapeMovesSoonAndCountsAtMostOncePerInterval) {
  Fixture f;
  auto t0 = std::chrono::steady_clock::now();
  // A report forwarded without a cache summary (an agent's, before the hub added one).
  f.connect("edge-1", std::nullopt);
  f.connect("host-1", std::nullopt, std::string(proto::kKindHost));
  EXPECT_EQ(f.forwarder.refresh(t0), 1u);
  EXPECT_EQ(f.reported("edge-1"), proto::CacheSummary{});
  EXPECT_FALSE(f.reported("host-1")) << "hosts have no cache";
  EXPECT_EQ(f.forwarder.refresh(t0 + seconds(2)), 0u) << "nothing moved";

  // Only counts differ (the report says 5 objects, the cache holds none): not before a minute.
  proto::CacheSummary stale;
  stale.objects = 5;
  f.connect("edge-1", stale);
  EXPECT_EQ(f.forwarder.refresh(t0 + seconds(4)), 0u);
  EXPECT_EQ(f.forwarder.refresh(t0 + StatusForwarder::kCountsEvery - seconds(1)), 0u);
  EXPECT_EQ(f.forwarder.refresh(t0 + StatusForwarder::kCountsEvery + seconds(1)), 1u);
  EXPECT_EQ(f.reported("edge-1"), proto::CacheSummary{});

  // A type more in the report than cached: a change of shape, forwarded at once.
  proto::CacheSummary shape;
  shape.type_count = 1;
  f.connect("edge-1", shape);
  EXPECT_EQ(f.forwarder.refresh(t0 + StatusForwarder::kCountsEvery + seconds(3)), 1u);
  EXPECT_EQ(f.reported("edge-1"), proto::CacheSummary{});
}

TEST(StatusForwarder, ANewerReportIsNeverReplacedByARefreshOfAnOlderOne) {
  TunnelRegistry registry;
  ClusterTunnel t;
  t.cluster = "edge-1";
  registry.attach(std::move(t));
  proto::ClusterStatusReport old_report;
  old_report.agent_version = "0.1.0";
  registry.setStatus("edge-1", nullptr, old_report);
  auto seen = registry.snapshot()[0].status;
  proto::ClusterStatusReport newer = old_report;
  newer.agent_version = "0.2.0";
  registry.setStatus("edge-1", nullptr, newer);
  proto::ClusterStatusReport refreshed = old_report;
  refreshed.cache = proto::CacheSummary{};
  EXPECT_FALSE(registry.replaceStatus("edge-1", nullptr, seen, refreshed));
  EXPECT_EQ(registry.snapshot()[0].status->agent_version, "0.2.0");
  EXPECT_TRUE(registry.replaceStatus("edge-1", nullptr, registry.snapshot()[0].status, refreshed));
  EXPECT_EQ(registry.snapshot()[0].status->cache, proto::CacheSummary{});
}

}  // namespace
}  // namespace kubehub::hub

#include "hub/cache/cache_summary.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kubehub::hub::cache {
namespace {

ClusterCache::TypeState type(std::string resource, size_t objects, bool synced) {
  ClusterCache::TypeState t{};
  t.resource = std::move(resource);
  t.version = "v1";
  t.objects = objects;
  t.synced = synced;
  return t;
}

TEST(CacheSummary, CountsEveryTypeAndListsTheLargestFirst) {
  std::vector<ClusterCache::TypeState> types = {type("configmaps", 4, true), type("pods", 9, true),
                                                type("deployments.apps", 4, false),
                                                type("services", 1, true)};
  proto::CacheSummary s = summarizeCache(types);
  EXPECT_EQ(s.type_count, 4);
  EXPECT_EQ(s.synced_types, 3);
  EXPECT_EQ(s.objects, 18);
  EXPECT_FALSE(s.truncated);
  ASSERT_EQ(s.types.size(), 4u);
  EXPECT_EQ(s.types[0], (proto::CachedType{"pods", "v1", 9, true}));
  EXPECT_EQ(s.types[1].resource, "configmaps");  // ties by name
  EXPECT_EQ(s.types[2], (proto::CachedType{"deployments.apps", "v1", 4, false}));
  EXPECT_EQ(s.types[3].resource, "services");

  proto::CacheSummary capped = summarizeCache(types, 2);
  EXPECT_TRUE(capped.truncated);
  EXPECT_EQ(capped.type_count, 4);
  EXPECT_EQ(capped.objects, 18);
  ASSERT_EQ(capped.types.size(), 2u);
  EXPECT_EQ(capped.types[1].resource, "configmaps");

  proto::CacheSummary none = summarizeCache({});
  EXPECT_EQ(none, proto::CacheSummary{});
}

TEST(CacheSummary, ShapeChangesOnTypesAndSyncNotCounts) {
  proto::CacheSummary a = summarizeCache({type("pods", 1, false)});
  EXPECT_FALSE(cacheShapeChanged(a, summarizeCache({type("pods", 7, false)})));
  EXPECT_TRUE(cacheShapeChanged(a, summarizeCache({type("pods", 1, true)})));
  EXPECT_TRUE(
      cacheShapeChanged(a, summarizeCache({type("pods", 1, false), type("nodes", 0, false)})));
}

TEST(CacheSummary, ReportCarriesItWithinTheStatusBounds) {
  std::vector<ClusterCache::TypeState> types;
  for (int i = 0; i < 600; ++i) {
    types.push_back(type(std::string(60, 'r') + "." + std::to_string(i) + std::string(200, 'g'),
                         static_cast<size_t>(i), true));
  }
  proto::ClusterStatusReport r;
  r.agent_version = "0.1.0";
  r.cache = summarizeCache(types);
  EXPECT_TRUE(r.cache->truncated);
  EXPECT_EQ(r.cache->types.size(), proto::kMaxStatusCachedTypes);
  EXPECT_EQ(r.cache->types[0].objects, 599);
  auto parsed = proto::parseStatusReport(proto::statusReportJson(r));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, r);
}

}  // namespace
}  // namespace kubehub::hub::cache

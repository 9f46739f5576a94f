#include "common/k8s/cluster_path.h"

#include <gtest/gtest.h>

#include "common/k8s/query.h"
#include "common/k8s/validation.h"

namespace kubehub::k8s {
namespace {

TEST(ClusterPath, SplitsClusterPathAndQuery) {
  auto t = parseClusterTarget("/clusters/edge-1/api/v1/namespaces/a/pods?watch=true&limit=5");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->cluster, "edge-1");
  EXPECT_EQ(t->path, "/api/v1/namespaces/a/pods");
  EXPECT_EQ(t->query, "watch=true&limit=5");
  EXPECT_EQ(t->upstreamTarget(), "/api/v1/namespaces/a/pods?watch=true&limit=5");
}

TEST(ClusterPath, BareClusterMapsToRoot) {
  auto t = parseClusterTarget("/clusters/c1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->path, "/");
  auto t2 = parseClusterTarget("/clusters/c1/version");
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(t2->path, "/version");
}

TEST(ClusterPath, RefusesTraversalTricks) {
  const char* bad[] = {
      "/clusters/a/../b/api/v1/pods",
      "/clusters/a/./api",
      "/clusters/a/api/..",
      "/clusters/a%2f..%2fb/api",
      "/clusters/a/api%2Fv1",
      "/clusters/a/%2e%2e/b",
      "/clusters/a//api/v1",
      "//clusters/a/api",
      "/clusters/a\\..\\b/api",
      "/clusters/a/api%00",
      "/clusters/a/api%",
      "/clusters/a/api%%32f",
      "/clusters/A/api",
      "/clusters/-a/api",
      "/clusters//api",
      "/clusters/a/api#frag",
      "/clusters/a/api\r\nX: y",
  };
  for (const char* target : bad) {
    auto t = parseClusterTarget(target);
    EXPECT_FALSE(t.ok()) << target;
    EXPECT_TRUE(absl::IsInvalidArgument(t.status()) || absl::IsNotFound(t.status())) << target;
  }
}

TEST(ClusterPath, NotUnderClustersIsNotFound) {
  auto t = parseClusterTarget("/api/v1/pods");
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(absl::IsNotFound(t.status()));
  EXPECT_FALSE(parseClusterTarget("/clustersx/a").ok());
}

TEST(ClusterPath, AllowsOrdinaryEscapesInQueryAndNames) {
  auto t = parseClusterTarget("/clusters/c/api/v1/pods?labelSelector=app%3Dweb%2Cx+in+(a)");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(queryParam(t->query, "labelSelector").value(), "app=web,x in (a)");
  EXPECT_FALSE(queryParam(t->query, "fieldSelector").has_value());
}

TEST(ClusterPath, DnsLabels) {
  EXPECT_TRUE(isDnsLabel("a"));
  EXPECT_TRUE(isDnsLabel("edge-01"));
  EXPECT_FALSE(isDnsLabel(""));
  EXPECT_FALSE(isDnsLabel("Edge"));
  EXPECT_FALSE(isDnsLabel("a-"));
  EXPECT_FALSE(isDnsLabel("a.b"));
  EXPECT_FALSE(isDnsLabel(std::string(64, 'a')));
  EXPECT_TRUE(isDnsLabel(std::string(63, 'a')));
}

}  // namespace
}  // namespace kubehub::k8s

#include "tests/standin/proxy_path.h"

#include <gtest/gtest.h>

namespace kubehub::standin {
namespace {

TEST(ProxyTarget, NamePortAndScheme) {
  auto t = parseProxyTarget("web-1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->name, "web-1");
  EXPECT_EQ(t->port, "");
  EXPECT_EQ(t->scheme, "");

  t = parseProxyTarget("web-1:8080");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->name, "web-1");
  EXPECT_EQ(t->port, "8080");

  t = parseProxyTarget("web:http-metrics");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->port, "http-metrics");

  t = parseProxyTarget("https:web:443");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->scheme, "https");
  EXPECT_EQ(t->name, "web");
  EXPECT_EQ(t->port, "443");

  t = parseProxyTarget(":web:");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->scheme, "");
  EXPECT_EQ(t->name, "web");
  EXPECT_EQ(t->port, "");
}

TEST(ProxyTarget, BadSegmentsAre400) {
  for (const char* bad : {"ftp:web:21", "a:b:c:d", ":80", ""}) {
    auto t = parseProxyTarget(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_NE(std::string(t.status().message()).find("invalid request"), std::string::npos);
  }
}

TEST(ProxyBackendPath, WhatFollowsProxy) {
  EXPECT_EQ(proxyBackendPath("/api/v1/namespaces/default/pods/web-1:80/proxy"), "/");
  EXPECT_EQ(proxyBackendPath("/api/v1/namespaces/default/pods/web-1:80/proxy/"), "/");
  EXPECT_EQ(proxyBackendPath("/api/v1/namespaces/default/pods/web-1/proxy/some/path"),
            "/some/path");
  EXPECT_EQ(proxyBackendPath("/api/v1/namespaces/default/services/http:web:80/proxy/a/b/"),
            "/a/b/");
}

TEST(ProxyBackendPath, EncodedPathsPassThroughAsSent) {
  EXPECT_EQ(proxyBackendPath("/api/v1/namespaces/default/pods/web-1%3A80/proxy/a%2Fb/c%20d"),
            "/a%2Fb/c%20d");
  EXPECT_EQ(proxyBackendPath("/api/v1/namespaces/default/pods/web-1/proxy/proxy/x"), "/proxy/x");
}

TEST(ProxyDialRefused, TheApiServersWords) {
  EXPECT_EQ(proxyDialRefused("10.244.0.5", 81),
            "error trying to reach service: dial tcp 10.244.0.5:81: connect: connection refused");
}

}  // namespace
}  // namespace kubehub::standin

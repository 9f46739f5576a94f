#include "proto/cluster_status.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kubehub::proto {
namespace {

using Json = nlohmann::json;

ClusterStatusReport full() {
  ClusterStatusReport r;
  r.kubernetes_version = "v1.32.4";
  r.platform = "linux/amd64";
  r.nodes = NodeSummary{3, 2, 5500, 24LL << 30};
  r.agent_version = "0.1.0";
  r.agent_build = "abc123";
  r.uptime_seconds = 42;
  r.served_types = 57;
  r.rtt_ms = 0.25;
  return r;
}

Json message() { return Json::parse(encodeStatusMessage(full())); }

TEST(StatusMessage, RoundTrips) {
  auto parsed = parseStatusMessage(encodeStatusMessage(full()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, full());

  ClusterStatusReport minimal;
  minimal.agent_version = "0.1.0";
  minimal.nodes_error = "nodes is forbidden: User cannot list resource \"nodes\"";
  auto again = parseStatusMessage(encodeStatusMessage(minimal));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, minimal);
  // What was not known is left out, not invented.
  Json j = statusReportJson(minimal);
  EXPECT_FALSE(j.contains("nodes"));
  EXPECT_FALSE(j.contains("kubernetes"));
  EXPECT_FALSE(j.contains("resources"));
  EXPECT_FALSE(j.contains("tunnel"));
}

TEST(StatusMessage, Schema) {
  Json j = message();
  EXPECT_EQ(j["type"], "status");
  EXPECT_EQ(j["kubernetes"]["gitVersion"], "v1.32.4");
  EXPECT_EQ(j["nodes"]["total"], 3);
  EXPECT_EQ(j["nodes"]["ready"], 2);
  EXPECT_EQ(j["nodes"]["allocatable"]["cpuMillis"], 5500);
  EXPECT_EQ(j["nodes"]["allocatable"]["memoryBytes"], 24LL << 30);
  EXPECT_EQ(j["agent"]["uptimeSeconds"], 42);
  EXPECT_EQ(j["resources"]["served"], 57);
  EXPECT_EQ(j["tunnel"]["rttMillis"], 0.25);
}

TEST(StatusMessage, RefusesMalformed) {
  EXPECT_FALSE(parseStatusMessage("").ok());
  EXPECT_FALSE(parseStatusMessage("{").ok());
  EXPECT_FALSE(parseStatusMessage("[]").ok());
  EXPECT_FALSE(parseStatusMessage(R"({"type":"hubs"})").ok());
  EXPECT_FALSE(parseStatusMessage(R"({"type":"status"})").ok());  // no agent
}

TEST(StatusMessage, RefusesWrongTypes) {
  struct Case {
    const char* pointer;
    Json value;
    const char* field;
  };
  const Case cases[] = {
      {"/agent", "x", "\"agent\""},
      {"/agent/version", 1, "\"agent.version\""},
      {"/agent/uptimeSeconds", -1, "\"agent.uptimeSeconds\""},
      {"/agent/uptimeSeconds", 1.5, "\"agent.uptimeSeconds\""},
      {"/agent/uptimeSeconds", "1", "\"agent.uptimeSeconds\""},
      {"/kubernetes", Json::array(), "\"kubernetes\""},
      {"/kubernetes/gitVersion", true, "\"kubernetes.gitVersion\""},
      {"/kubernetes/gitVersion", std::string(65, 'v'), "\"kubernetes.gitVersion\""},
      {"/kubernetes/platform", "linux\n", "\"kubernetes.platform\""},
      {"/nodes/total", "3", "\"nodes.total\""},
      {"/nodes/ready", 4, "\"nodes.ready\""},  // more ready than total
      {"/nodes/total", 2000000, "\"nodes.total\""},
      {"/nodes/allocatable", nullptr, "\"nodes.allocatable\""},
      {"/nodes/allocatable/cpuMillis", -5, "\"nodes.allocatable.cpuMillis\""},
      {"/nodes/allocatable/memoryBytes", 18446744073709551615ull,
       "\"nodes.allocatable.memoryBytes\""},
      {"/nodesError", 7, "\"nodesError\""},
      {"/nodesError", std::string(513, 'e'), "\"nodesError\""},
      {"/resources/served", -1, "\"resources.served\""},
      {"/tunnel/rttMillis", "fast", "\"tunnel.rttMillis\""},
      {"/tunnel/rttMillis", -0.5, "\"tunnel.rttMillis\""},
  };
  for (const auto& c : cases) {
    Json j = message();
    j[Json::json_pointer(c.pointer)] = c.value;
    auto parsed = parseStatusMessage(j.dump());
    ASSERT_FALSE(parsed.ok()) << c.pointer;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.field), std::string_view::npos)
        << c.pointer << ": " << parsed.status().message();
  }
}

ClusterStatusReport host() {
  ClusterStatusReport r;
  r.kind = std::string(kKindHost);
  HostFacts h;
  h.os = "Debian GNU/Linux 12 (bookworm)";
  h.kernel = "6.1.0-18-amd64";
  h.arch = "x86_64";
  h.cpus = 4;
  h.memory_total_bytes = 8LL << 30;
  h.memory_available_bytes = 5LL << 30;
  h.disk_path = "/";
  h.disk_total_bytes = 100LL << 30;
  h.disk_free_bytes = 40LL << 30;
  h.uptime_seconds = 86400;
  h.load1 = 0.5;
  h.load5 = 0.25;
  h.load15 = 0.125;
  r.host = h;
  r.agent_version = "0.1.0";
  r.uptime_seconds = 7;
  r.rtt_ms = 1.5;
  return r;
}

TEST(StatusMessage, HostRoundTripsAndSchema) {
  auto parsed = parseStatusMessage(encodeStatusMessage(host()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, host());
  Json j = statusReportJson(host());
  EXPECT_EQ(j["kind"], "host");
  EXPECT_EQ(j["host"]["os"], "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(j["host"]["kernel"], "6.1.0-18-amd64");
  EXPECT_EQ(j["host"]["arch"], "x86_64");
  EXPECT_EQ(j["host"]["cpus"], 4);
  EXPECT_EQ(j["host"]["memory"]["totalBytes"], 8LL << 30);
  EXPECT_EQ(j["host"]["memory"]["availableBytes"], 5LL << 30);
  EXPECT_EQ(j["host"]["disk"]["path"], "/");
  EXPECT_EQ(j["host"]["disk"]["freeBytes"], 40LL << 30);
  EXPECT_EQ(j["host"]["uptimeSeconds"], 86400);
  EXPECT_EQ(j["host"]["load"]["5m"], 0.25);
  EXPECT_FALSE(j.contains("kubernetes"));
  EXPECT_FALSE(j.contains("nodes"));
  // A Kubernetes report says its kind too.
  EXPECT_EQ(message()["kind"], "kubernetes");
}

TEST(StatusMessage, ReportsWithoutKindAreOfKubernetes) {
  Json j = message();
  j.erase("kind");
  auto parsed = parseStatusMessage(j.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->kind, "kubernetes");
  EXPECT_FALSE(parsed->host.has_value());
}

TEST(StatusMessage, RefusesMalformedHost) {
  struct Case {
    const char* pointer;
    Json value;
    const char* field;
  };
  const Case cases[] = {
      {"/kind", "vm", "\"kind\""},
      {"/kind", 1, "\"kind\""},
      {"/host", nullptr, "\"host\""},  // kind host without its facts
      {"/host", "linux", "\"host\""},
      {"/host/os", std::string(129, 'o'), "\"host.os\""},
      {"/host/kernel", "6.1\n", "\"host.kernel\""},
      {"/host/cpus", -1, "\"host.cpus\""},
      {"/host/cpus", nullptr, "\"host.cpus\""},
      {"/host/memory", nullptr, "\"host.memory\""},
      {"/host/memory/totalBytes", "8G", "\"host.memory.totalBytes\""},
      {"/host/disk/path", std::string(257, 'p'), "\"host.disk.path\""},
      {"/host/disk/path", "", "\"host.disk.path\""},
      {"/host/disk/freeBytes", -1, "\"host.disk.freeBytes\""},
      {"/host/uptimeSeconds", 1.5, "\"host.uptimeSeconds\""},
      {"/host/load/1m", "high", "\"host.load.1m\""},
      {"/host/load/15m", -0.1, "\"host.load.15m\""},
      {"/host/load/5m", 1e7, "\"host.load.5m\""},
  };
  for (const auto& c : cases) {
    Json j = Json::parse(encodeStatusMessage(host()));
    j[Json::json_pointer(c.pointer)] = c.value;
    auto parsed = parseStatusMessage(j.dump());
    ASSERT_FALSE(parsed.ok()) << c.pointer;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.field), std::string_view::npos)
        << c.pointer << ": " << parsed.status().message();
  }
}

TEST(StatusMessage, RefusesOversized) {
  Json j = message();
  j["padding"] = std::string(kMaxStatusMessage, 'x');
  auto parsed = parseStatusMessage(j.dump());
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("over the limit"), std::string_view::npos);
}

TEST(StatusMessage, IgnoresAndDropsUnknownFields) {
  Json j = message();
  j["future"] = {{"anything", 1}};
  j["agent"]["extra"] = "x";
  auto parsed = parseStatusMessage(j.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, full());
  EXPECT_FALSE(statusReportJson(*parsed).contains("future"));
}

}  // namespace
}  // namespace kubehub::proto

namespace kubehub::proto {
namespace {

ClusterStatusReport cached() {
  ClusterStatusReport r = full();
  CacheSummary c;
  c.type_count = 3;
  c.synced_types = 2;
  c.objects = 12;
  c.truncated = true;
  c.types.push_back(CachedType{"pods", "v1", 9, true});
  c.types.push_back(CachedType{"deployments.apps", "v1", 3, false});
  r.cache = c;
  return r;
}

TEST(StatusReportCache, RoundTripsAndSchema) {
  Json j = statusReportJson(cached());
  EXPECT_EQ(j["cache"]["typeCount"], 3);
  EXPECT_EQ(j["cache"]["syncedTypes"], 2);
  EXPECT_EQ(j["cache"]["objects"], 12);
  EXPECT_EQ(j["cache"]["truncated"], true);
  EXPECT_EQ(j["cache"]["types"][0],
            Json::parse(R"({"resource":"pods","version":"v1","objects":9,"synced":true})"));
  auto parsed = parseStatusReport(j);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, cached());
  // The agent's message without it has none.
  EXPECT_FALSE(statusReportJson(full()).contains("cache"));
}

TEST(StatusReportCache, RefusesMalformedAndOversized) {
  struct Case {
    const char* pointer;
    Json value;
    const char* field;
  };
  const Case cases[] = {
      {"/cache", "x", "\"cache\""},
      {"/cache/typeCount", -1, "\"cache.typeCount\""},
      {"/cache/typeCount", 1, "\"cache.syncedTypes\""},  // more synced than counted
      {"/cache/syncedTypes", 4, "\"cache.syncedTypes\""},
      {"/cache/objects", "12", "\"cache.objects\""},
      {"/cache/truncated", "yes", "\"cache.truncated\""},
      {"/cache/types", Json::object(), "\"cache.types\""},
      {"/cache/types/0/resource", "", "\"cache.types[0].resource\""},
      {"/cache/types/1/resource", std::string(321, 'r'), "\"cache.types[1].resource\""},
      {"/cache/types/0/version", 1, "\"cache.types[0].version\""},
      {"/cache/types/0/objects", -3, "\"cache.types[0].objects\""},
      {"/cache/types/1/synced", 1, "\"cache.types[1].synced\""},
  };
  for (const auto& c : cases) {
    Json j = statusReportJson(cached());
    j[Json::json_pointer(c.pointer)] = c.value;
    auto parsed = parseStatusReport(j);
    ASSERT_FALSE(parsed.ok()) << c.pointer;
    EXPECT_NE(parsed.status().message().find(c.field), std::string_view::npos)
        << c.pointer << ": " << parsed.status().message();
  }
  Json over = statusReportJson(cached());
  over["cache"]["typeCount"] = 1;
  over["cache"]["syncedTypes"] = 0;
  auto listed = parseStatusReport(over);
  ASSERT_FALSE(listed.ok());
  EXPECT_NE(listed.status().message().find("more types than cache.typeCount"),
            std::string_view::npos)
      << listed.status().message();
  Json many = statusReportJson(cached());
  many["cache"]["typeCount"] = kMaxStatusCachedTypes + 10;
  for (size_t i = 0; i <= kMaxStatusCachedTypes; ++i) {
    many["cache"]["types"].push_back(
        {{"resource", "r" + std::to_string(i)}, {"version", "v1"}, {"objects", 0}});
  }
  auto parsed = parseStatusReport(many);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("more than 512"), std::string_view::npos)
      << parsed.status().message();
}

}  // namespace
}  // namespace kubehub::proto

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

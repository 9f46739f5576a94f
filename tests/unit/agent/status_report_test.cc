#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/status/node_summary.h"
#include "agent/status/status_schedule.h"

namespace kubehub::agent {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

/// A node as a list item from a real API server: no kind/apiVersion.
Json node(const std::string& name, const char* ready, Json allocatable) {
  return Json{{"metadata", {{"name", name}}},
              {"status",
               {{"allocatable", std::move(allocatable)},
                {"conditions", Json::array({Json{{"type", "MemoryPressure"}, {"status", "False"}},
                                            Json{{"type", "Ready"}, {"status", ready}}})}}}};
}

std::string page(Json items, std::string next = "") {
  return Json{{"kind", "NodeList"},
              {"apiVersion", "v1"},
              {"metadata", {{"resourceVersion", "42"}, {"continue", next}}},
              {"items", std::move(items)}}
      .dump();
}

TEST(NodeSummary, CountsReadinessAndSumsAllocatable) {
  proto::NodeSummary sum;
  auto next = addNodeListPage(
      page(Json::array({node("a", "True", {{"cpu", "4"}, {"memory", "16Gi"}, {"pods", "110"}}),
                        node("b", "False", {{"cpu", "3500m"}, {"memory", "16331164Ki"}}),
                        node("c", "Unknown", {{"cpu", "500m"}, {"memory", "1.5G"}})}),
           "page-2"),
      &sum);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, "page-2");
  EXPECT_EQ(sum.total, 3);
  EXPECT_EQ(sum.ready, 1);
  EXPECT_EQ(sum.cpu_millis, 4000 + 3500 + 500);
  EXPECT_EQ(sum.memory_bytes, (16LL << 30) + 16331164LL * 1024 + 1500000000LL);

  // A second page adds to the first; a node without conditions or allocatable counts as not
  // ready and adds nothing.
  next = addNodeListPage(page(Json::array({node("d", "True", {{"cpu", "2"}, {"memory", "1Gi"}}),
                                           Json{{"metadata", {{"name", "e"}}}}})),
                         &sum);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, "");
  EXPECT_EQ(sum.total, 5);
  EXPECT_EQ(sum.ready, 2);
  EXPECT_EQ(sum.cpu_millis, 10000);
}

TEST(NodeSummary, EmptyAndNullItems) {
  proto::NodeSummary sum;
  ASSERT_TRUE(addNodeListPage(page(Json::array()), &sum).ok());
  ASSERT_TRUE(addNodeListPage(R"({"items":null,"metadata":{}})", &sum).ok());
  EXPECT_EQ(sum, proto::NodeSummary{});
}

TEST(NodeSummary, RefusesMalformedWithoutAddingThePage) {
  proto::NodeSummary sum;
  EXPECT_FALSE(addNodeListPage("not json", &sum).ok());
  EXPECT_FALSE(addNodeListPage(R"({"kind":"Status"})", &sum).ok());
  EXPECT_FALSE(addNodeListPage(R"({"items":[1]})", &sum).ok());
  auto bad = addNodeListPage(page(Json::array({node("a", "True", {{"cpu", "4"}}),
                                               node("b", "True", {{"cpu", "4 cores"}})})),
                             &sum);
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(addNodeListPage(page(Json::array({node("a", "True", {{"memory", 5}})})), &sum).ok());
  EXPECT_EQ(sum, proto::NodeSummary{});
}

TEST(StatusSchedule, FirstAtOnceThenOnChangeOrIntervalNeverWithinTheFloor) {
  StatusSchedule s(60s, 10s);
  auto t0 = StatusSchedule::Clock::time_point{} + 1000s;
  EXPECT_TRUE(s.due(t0, 1));  // a new tunnel reports at once
  s.sent(t0, 1);
  EXPECT_FALSE(s.due(t0 + 1s, 1));
  // A change within 10 s waits for the floor, then goes.
  EXPECT_FALSE(s.due(t0 + 5s, 2));
  EXPECT_FALSE(s.due(t0 + 9999ms, 2));
  EXPECT_TRUE(s.due(t0 + 10s, 2));
  s.sent(t0 + 10s, 2);
  // Nothing changed: the next one after the interval.
  EXPECT_FALSE(s.due(t0 + 30s, 2));
  EXPECT_FALSE(s.due(t0 + 69s, 2));
  EXPECT_TRUE(s.due(t0 + 70s, 2));
}

TEST(StatusSchedule, ChangesInABurstGiveOneReportPerFloor) {
  StatusSchedule s(60s, 10s);
  auto t = StatusSchedule::Clock::time_point{} + 1000s;
  uint64_t generation = 1;
  int sent = 0;
  // The report changes every 100 ms for a minute; the tunnel checks every 100 ms.
  for (int i = 0; i < 600; ++i) {
    ++generation;
    if (s.due(t, generation)) {
      s.sent(t, generation);
      ++sent;
    }
    t += 100ms;
  }
  EXPECT_EQ(sent, 6);
}

}  // namespace
}  // namespace kubehub::agent

#include "hub/metrics/hub_metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace kubehub::hub {
namespace {

using std::chrono::minutes;

bool has(const std::string& text, const std::string& line_start) {
  return text.find("\n" + line_start) != std::string::npos;
}

TEST(HubMetrics, RequestSeriesUnusedForLongerThanIdleGo) {
  HubMetrics m;
  const auto t0 = std::chrono::steady_clock::now();
  // Two tenants' GETs of cluster a share one latency histogram and one byte counter.
  m.request("a", "t1", "get", 200, "forward", 0.01, 100, t0);
  m.request("a", "t2", "get", 200, "forward", 0.02, 100, t0 + minutes(50));
  m.request("b", "t1", "list", 200, "cache", 0.03, 100, t0);

  EXPECT_EQ(m.forgetIdleRequestSeries(t0 + minutes(59), minutes(60)), 0u);
  EXPECT_EQ(m.forgetIdleRequestSeries(t0 + minutes(70), minutes(60)), 2u)
      << "a/t1 and b/t1 had no request for 70 minutes";
  std::string text = m.serialize();
  EXPECT_FALSE(has(text,
                   "kubehub_hub_requests_total{cluster=\"a\",code=\"200\",served_from="
                   "\"forward\",tenant=\"t1\""))
      << text;
  EXPECT_TRUE(has(text,
                  "kubehub_hub_requests_total{cluster=\"a\",code=\"200\",served_from="
                  "\"forward\",tenant=\"t2\""))
      << text;
  EXPECT_FALSE(has(text, "kubehub_hub_requests_total{cluster=\"b\"")) << text;
  EXPECT_FALSE(has(text, "kubehub_hub_request_duration_seconds_count{cluster=\"b\"")) << text;
  EXPECT_FALSE(has(text, "kubehub_hub_response_bytes_total{cluster=\"b\"")) << text;
  // Still shared with a/t2: both requests are in it.
  EXPECT_TRUE(
      has(text,
          "kubehub_hub_request_duration_seconds_count{cluster=\"a\",served_from=\"forward\","
          "verb=\"get\"} 2"))
      << text;
  EXPECT_TRUE(has(text,
                  "kubehub_hub_response_bytes_total{cluster=\"a\",served_from=\"forward\"} "
                  "200"))
      << text;

  // Used again: counted from zero.
  m.request("b", "t1", "list", 200, "cache", 0.03, 100, t0 + minutes(71));
  text = m.serialize();
  EXPECT_TRUE(has(text,
                  "kubehub_hub_requests_total{cluster=\"b\",code=\"200\",served_from="
                  "\"cache\",tenant=\"t1\",verb=\"list\"} 1"))
      << text;

  EXPECT_EQ(m.forgetIdleRequestSeries(t0 + minutes(200), minutes(60)), 2u);
  text = m.serialize();
  EXPECT_EQ(text.find("cluster=\""), std::string::npos) << text;
}

}  // namespace
}  // namespace kubehub::hub

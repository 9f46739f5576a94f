#include "agent/dialer/hubs_message.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kubehub::agent {
namespace {

using nlohmann::json;

TEST(CanonicalTunnelUrl, SpellsEveryUrlOneWay) {
  EXPECT_EQ(*canonicalTunnelUrl("wss://Hub.Example.COM/tunnel"),
            "wss://hub.example.com:443/tunnel");
  EXPECT_EQ(*canonicalTunnelUrl("wss://hub.example.com:443"), "wss://hub.example.com:443/tunnel");
  EXPECT_EQ(*canonicalTunnelUrl("wss://127.0.0.1:4431/tunnel/"), "wss://127.0.0.1:4431/tunnel");
  EXPECT_EQ(*canonicalTunnelUrl("wss://[::1]:4431/edge/tunnel"), "wss://[::1]:4431/edge/tunnel");
}

TEST(CanonicalTunnelUrl, RefusesAnythingButAPlainWssUrl) {
  for (const char* bad :
       {"", "https://hub:443/tunnel", "ws://hub:80/tunnel", "hub:443", "wss://", "wss://:443/x",
        "wss://user@hub/tunnel", "wss://hub:99999/tunnel", "wss://hub:443/a b", "wss://hub/a#b",
        "wss://hub name/tunnel", "wss://hub/\x01"}) {
    EXPECT_FALSE(canonicalTunnelUrl(bad).ok()) << bad;
  }
  std::string long_url = "wss://hub/" + std::string(kMaxTunnelUrlLength, 'a');
  auto refused = canonicalTunnelUrl(long_url);
  ASSERT_FALSE(refused.ok());
  // A hostile URL is not echoed in full into logs.
  EXPECT_LT(refused.status().message().size(), 200u);
}

TEST(HubsMessage, ParsesTheFleetWithCanonicalUrls) {
  auto m = parseHubsMessage(R"({"type":"hubs","hubs":[
      {"id":"hub-1","url":"wss://127.0.0.1:4431/tunnel"},
      {"id":"hub-2","url":"wss://HUB-2.example.com","zone":"eu"}]})");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->hubs.size(), 2u);
  EXPECT_EQ(m->hubs[0], (AnnouncedHub{"hub-1", "wss://127.0.0.1:4431/tunnel"}));
  EXPECT_EQ(m->hubs[1], (AnnouncedHub{"hub-2", "wss://hub-2.example.com:443/tunnel"}));
  EXPECT_TRUE(m->skipped.empty());

  auto empty = parseHubsMessage(R"({"type":"hubs","hubs":[]})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->hubs.empty());
}

TEST(HubsMessage, SkipsBadEntriesSayingWhy) {
  auto m = parseHubsMessage(R"({"type":"hubs","hubs":[
      "wss://hub-0:443/tunnel",
      {"url":"wss://hub-1:443/tunnel"},
      {"id":"","url":"wss://hub-2:443/tunnel"},
      {"id":"hub 3","url":"wss://hub-3:443/tunnel"},
      {"id":7,"url":"wss://hub-4:443/tunnel"},
      {"id":"hub-5"},
      {"id":"hub-6","url":["wss://hub-6:443/tunnel"]},
      {"id":"hub-7","url":"https://hub-7:443/tunnel"},
      {"id":"hub-8","url":"ws://hub-8:80/tunnel"},
      {"id":"hub-9","url":"wss://hub-9:443/tunnel"},
      {"id":"hub-9-again","url":"wss://HUB-9/tunnel"},
      {"id":"hub-10","url":"wss://hub-10:443/tunnel"}]})");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->hubs.size(), 2u);
  EXPECT_EQ(m->hubs[0].id, "hub-9");
  EXPECT_EQ(m->hubs[1].id, "hub-10");
  ASSERT_EQ(m->skipped.size(), 10u);
  EXPECT_NE(m->skipped[0].find("not an object"), std::string::npos);
  EXPECT_NE(m->skipped[7].find("wss://"), std::string::npos);
  EXPECT_NE(m->skipped[9].find("listed before"), std::string::npos);

  std::string long_id(kMaxHubIdLength + 1, 'h');
  auto too_long = parseHubsMessage(
      json{{"type", "hubs"},
           {"hubs", json::array({{{"id", long_id}, {"url", "wss://hub:443/tunnel"}},
                                 {{"id", "hub"}, {"url", "wss://hub/" + std::string(3000, 'a')}}})}}
          .dump());
  ASSERT_TRUE(too_long.ok());
  EXPECT_TRUE(too_long->hubs.empty());
  EXPECT_EQ(too_long->skipped.size(), 2u);
}

TEST(HubsMessage, RefusesAMessageThatIsNotAListOrTooLong) {
  EXPECT_FALSE(parseHubsMessage(R"({"type":"hubs"})").ok());
  EXPECT_FALSE(parseHubsMessage(R"({"type":"hubs","hubs":{"id":"x"}})").ok());
  EXPECT_FALSE(parseHubsMessage(R"({"type":"hubs","hubs":null})").ok());
  EXPECT_FALSE(parseHubsMessage(R"([{"id":"x","url":"wss://x/tunnel"}])").ok());

  json list = json::array();
  for (size_t i = 0; i < kMaxAnnouncedHubs; ++i) {
    list.push_back({{"id", "hub-" + std::to_string(i)},
                    {"url", "wss://hub-" + std::to_string(i) + ":443/tunnel"}});
  }
  auto at_limit = parseHubsMessage(json{{"type", "hubs"}, {"hubs", list}}.dump());
  ASSERT_TRUE(at_limit.ok());
  EXPECT_EQ(at_limit->hubs.size(), kMaxAnnouncedHubs);
  list.push_back({{"id", "one-more"}, {"url", "wss://one-more:443/tunnel"}});
  auto over = parseHubsMessage(json{{"type", "hubs"}, {"hubs", list}}.dump());
  ASSERT_FALSE(over.ok());
  EXPECT_NE(std::string(over.status().message()).find("1000"), std::string::npos);
}

}  // namespace
}  // namespace kubehub::agent

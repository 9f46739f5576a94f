// The pure parts of hub-to-hub routing: the routing table, the identity header, and the
// reframing of cache answers for a peer stream.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "hub/auth/peer_identity.h"
#include "hub/peer/response_reframer.h"
#include "hub/peer/routing_table.h"

namespace kubehub::hub {
namespace {

using Json = nlohmann::json;

Json table() {
  return Json::parse(R"({
    "hubs": [
      {"id": "hub-1", "addresses": {"peer": "wss://10.0.0.1:8445/peer", "tunnel": "wss://10.0.0.1:8444/tunnel"}},
      {"id": "hub-2", "addresses": {"peer": "wss://10.0.0.2:8445/peer", "tunnel": "wss://10.0.0.2:8444/tunnel"}},
      {"id": "hub-3", "addresses": {"tunnel": "wss://10.0.0.3:8444/tunnel"}},
      {"addresses": {}}
    ],
    "routes": [
      {"cluster": "edge-1", "hubs": ["hub-2", "hub-1"]},
      {"cluster": "edge-2", "hubs": ["hub-3"]},
      {"cluster": "edge-3", "hubs": ["hub-9"]},
      {"cluster": 7}
    ],
    "ttlSeconds": 30})");
}

TEST(RoutingTable, OwnersAreOtherHubsThatTakePeerLinksNewestTunnelFirst) {
  auto t = parseRoutingTable(table());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->hubs.size(), 3u);
  // The table lists edge-1's hubs oldest tunnel first: hub-2, then hub-1.
  auto owners = t->owners("edge-1", "hub-3");
  ASSERT_EQ(owners.size(), 2u);
  EXPECT_EQ(owners[0]->id, "hub-1");
  EXPECT_EQ(owners[1]->id, "hub-2");
  EXPECT_EQ(owners[0]->peer, "wss://10.0.0.1:8445/peer");
  // Never itself; never a hub without a peer address; never a hub not in the live list.
  ASSERT_EQ(t->owners("edge-1", "hub-2").size(), 1u);
  EXPECT_TRUE(t->owners("edge-2", "hub-1").empty());
  EXPECT_TRUE(t->owners("edge-3", "hub-1").empty());
  EXPECT_TRUE(t->owners("nowhere", "hub-1").empty());
}

TEST(RoutingTable, ShapeErrorsAndEquality) {
  EXPECT_FALSE(parseRoutingTable(Json::array()).ok());
  EXPECT_FALSE(parseRoutingTable(Json{{"hubs", Json::array()}}).ok());
  auto a = parseRoutingTable(table());
  auto b = parseRoutingTable(table());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(*a == *b);
  Json changed = table();
  changed["routes"][0]["hubs"] = Json::array({"hub-1"});
  auto c = parseRoutingTable(changed);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(*a == *c);
  EXPECT_FALSE(RoutingTable{}.loaded);
}

TEST(PeerIdentity, RoundTripsAndRefusesWhatItDoesNotMake) {
  Principal p;
  p.user = "alice";
  p.tenant = "acme";
  p.groups = {"dev", "ops"};
  p.token_id = "t-1";
  p.expires_at = 1900000000;
  auto back = decodePeerIdentity(encodePeerIdentity(p));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->user, "alice");
  EXPECT_EQ(back->tenant, "acme");
  EXPECT_EQ(back->groups, p.groups);
  EXPECT_EQ(back->token_id, "t-1");
  EXPECT_EQ(back->expires_at, 1900000000);
  EXPECT_FALSE(back->break_glass);
  p.break_glass = true;
  EXPECT_TRUE(decodePeerIdentity(encodePeerIdentity(p))->break_glass);
  for (const char* bad :
       {"", "null", "[]", R"({"tenant":"acme"})", R"({"user":""})",
        R"({"user":"a","groups":"dev"})", R"({"user":"a","groups":[1]})",
        R"({"user":"a","breakGlass":"yes"})", R"({"user":"a","expiresAt":"x"})"}) {
    EXPECT_FALSE(decodePeerIdentity(bad).ok()) << bad;
  }
}

/// Feeds `bytes` in pieces of `step` and gathers what comes out.
struct Reframed {
  std::optional<proto::ResponseHead> head;
  std::string body;
  bool end = false;
  bool error = false;
};
Reframed reframe(const std::string& bytes, size_t step, bool head_only = false) {
  ResponseReframer r(head_only);
  Reframed out;
  for (size_t i = 0; i < bytes.size(); i += step) {
    auto o = r.feed(std::string_view(bytes).substr(i, step));
    if (!o.ok()) {
      out.error = true;
      return out;
    }
    if (o->head) {
      EXPECT_FALSE(out.head.has_value()) << "head given twice";
      out.head = o->head;
    }
    out.body += o->body;
    if (o->end) out.end = true;
  }
  return out;
}

TEST(ResponseReframer, LengthBodyInPiecesOfAnySize) {
  std::string bytes =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
      "X-Kubehub-Served-From: cache\r\n\r\n{\"items\":1}";
  for (size_t step : {1u, 2u, 3u, 7u, 64u, 1000u}) {
    Reframed r = reframe(bytes, step);
    ASSERT_FALSE(r.error) << step;
    ASSERT_TRUE(r.head.has_value()) << step;
    EXPECT_EQ(r.head->status, 200);
    EXPECT_EQ(r.head->reason, "OK");
    EXPECT_EQ(r.head->headers.size(), 3u);
    EXPECT_EQ(r.head->headers[2].second, "cache");
    EXPECT_EQ(r.body, "{\"items\":1}");
    EXPECT_TRUE(r.end) << step;
  }
}

TEST(ResponseReframer, ChunkedBodyIsDechunkedAndFramingHeaderDropped) {
  std::string bytes =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
  for (size_t step : {1u, 2u, 5u, 13u, 4096u}) {
    Reframed r = reframe(bytes, step);
    ASSERT_FALSE(r.error) << step;
    ASSERT_TRUE(r.head.has_value());
    ASSERT_EQ(r.head->headers.size(), 1u) << "Transfer-Encoding is this hop's framing";
    EXPECT_EQ(r.body, "helloabcdefghijklmnopqrstuvwxyz");
    EXPECT_TRUE(r.end) << step;
  }
  // A watch that is still streaming: no end yet.
  Reframed open = reframe(bytes.substr(0, bytes.size() - 5), 3);
  EXPECT_FALSE(open.end);
  EXPECT_EQ(open.body, "helloabcdefghijklmnopqrstuvwxyz");
}

TEST(ResponseReframer, NoBodyStatusesAndErrors) {
  Reframed not_modified = reframe("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 4);
  EXPECT_TRUE(not_modified.end);
  EXPECT_EQ(not_modified.head->status, 304);
  EXPECT_TRUE(reframe("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 4, true).end);
  EXPECT_TRUE(reframe("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 100).end);
  EXPECT_TRUE(reframe("HTTP/1.0 200 OK\r\n\r\n", 100).error);
  EXPECT_TRUE(reframe("HTTP/1.1 abc OK\r\n\r\n", 100).error);
  EXPECT_TRUE(reframe("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 100).error);
  EXPECT_TRUE(reframe("HTTP/1.1 200 OK\r\n\r\n", 100).error) << "unframed body";
  EXPECT_TRUE(reframe("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100).error);
  EXPECT_TRUE(reframe("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", 100).error);
  EXPECT_TRUE(reframe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc", 100).error)
      << "bytes after the end";
}

}  // namespace
}  // namespace kubehub::hub

namespace kubehub::hub {
namespace {

TEST(RoutingTable, DrainingOwnersAreTriedLast) {
  Json j = table();
  j["hubs"][0]["draining"] = true;  // hub-1, the newest tunnel of edge-1
  auto t = parseRoutingTable(j);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->hubs.at("hub-1").draining);
  auto owners = t->owners("edge-1", "hub-3");
  ASSERT_EQ(owners.size(), 2u);
  EXPECT_EQ(owners[0]->id, "hub-2");
  EXPECT_EQ(owners[1]->id, "hub-1") << "still tried: it holds the tunnel until its agents move";
  EXPECT_FALSE(*t == *parseRoutingTable(table()));
}

}  // namespace
}  // namespace kubehub::hub

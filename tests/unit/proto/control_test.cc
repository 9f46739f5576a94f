#include "proto/control.h"

#include <gtest/gtest.h>

#include "proto/discovery_report.h"
#include "proto/frame.h"
#include "tests/unit/proto/golden.h"

namespace kubehub::proto {
namespace {

using Json = nlohmann::json;

std::string controlFrame(const std::string& message) {
  return encodeFrame(FrameType::kControl, 0, 0, message);
}

// Each "before" below is how the hub or the agent built the message by hand before this codec
// (hub/tunnel/agent_session.cc, hub/tunnel/tunnel_mover.cc, agent/dialer/tunnel_client.cc,
// agent/discovery/discovery.cc): the typed encoders must send the same bytes, so agents and
// hubs of either kind keep understanding each other. The golden files pin those bytes.

TEST(Control, DiscoveryRequestIsTheBytesHubsSent) {
  std::string before = Json{{"type", "discovery.request"}, {"id", 1}}.dump();
  std::string now = encodeDiscoveryRequest(DiscoveryRequest{1});
  EXPECT_EQ(now, before);
  checkGolden("control_discovery_request.bin", controlFrame(now));
  auto parsed = parseDiscoveryRequest(now);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->id, 1);
}

Json sampleResources() {
  return Json::array({Json{{"group", ""},
                           {"version", "v1"},
                           {"resource", "pods"},
                           {"kind", "Pod"},
                           {"namespaced", true},
                           {"verbs", {"get", "list", "watch"}},
                           {"subresources", {"log", "exec"}}},
                      Json{{"group", "apps"},
                           {"version", "v1"},
                           {"resource", "deployments"},
                           {"kind", "Deployment"},
                           {"namespaced", true},
                           {"verbs", {"get", "list"}},
                           {"subresources", Json::array()}}});
}

TEST(Control, DiscoveryResponseIsTheBytesAgentsSent) {
  Json version = {{"major", "1"}, {"minor", "32"}, {"gitVersion", "v1.32.4"}};
  std::vector<std::string> failed = {"metrics.k8s.io/v1beta1"};
  std::string before = Json{
      {"type", "discovery.response"},
      {"id", 1},
      {"serverVersion", version},
      {"resources", sampleResources()},
      {"failedGroupVersions",
       failed}}.dump();
  DiscoveryResponse response;
  response.id = 1;
  response.server_version = version;
  response.resources = sampleResources();
  response.failed_group_versions = failed;
  std::string now = encodeDiscoveryResponse(response);
  EXPECT_EQ(now, before);
  checkGolden("control_discovery_response.bin", controlFrame(now));
  auto parsed = parseDiscoveryResponse(now);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, response);
}

TEST(Control, DiscoveryResponseDefaultsAndRefusals) {
  auto minimal = parseDiscoveryResponse(R"({"type":"discovery.response","resources":[]})");
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_EQ(minimal->id, 0);
  EXPECT_TRUE(minimal->server_version.is_object());
  EXPECT_TRUE(minimal->failed_group_versions.empty());
  // An empty report encodes as the swarm's and a failing API server's did: {} and [].
  EXPECT_EQ(encodeDiscoveryResponse(DiscoveryResponse{}),
            R"({"failedGroupVersions":[],"id":0,"resources":[],"serverVersion":{},)"
            R"("type":"discovery.response"})");
  for (const char* bad : {
           R"({"type":"discovery.response"})",
           R"({"type":"discovery.response","resources":{}})",
           R"({"type":"discovery.response","resources":[],"serverVersion":"v1"})",
           R"({"type":"discovery.response","resources":[],"failedGroupVersions":"x"})",
           R"({"type":"discovery.response","resources":[],"failedGroupVersions":[1]})",
           R"({"type":"discovery.response","resources":[],"id":-1})",
           R"({"type":"discovery.error","resources":[]})",
       }) {
    EXPECT_FALSE(parseDiscoveryResponse(bad).ok()) << bad;
  }
}

// The hub reads a discovery.response through the one typed parser: the envelope's rules hold,
// and within `resources` a bad entry is skipped, not the whole report.
TEST(Control, TheHubsDiscoveryReportIsTheTypedResponseRead) {
  DiscoveryResponse response;
  response.id = 3;
  response.server_version = Json{{"gitVersion", "v1.31.2"}};
  response.resources = Json::array({Json{{"group", "apps"},
                                         {"version", "v1"},
                                         {"resource", "deployments"},
                                         {"kind", "Deployment"},
                                         {"namespaced", true},
                                         {"verbs", {"get", "list", "watch"}}},
                                    Json{{"group", "apps"}, {"version", 1}, {"resource", "bad"}},
                                    Json("not an object"),
                                    Json{{"group", ""},
                                         {"version", "v1"},
                                         {"resource", "nodes"},
                                         {"kind", "Node"},
                                         {"namespaced", false},
                                         {"verbs", {"get", 7}}}});
  auto report = parseDiscoveryReport(encodeDiscoveryResponse(response));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->listed, 4u);
  ASSERT_EQ(report->resources.size(), 2u);
  EXPECT_EQ(report->resources[0].resource, "deployments");
  EXPECT_TRUE(report->resources[0].hasVerb("watch"));
  EXPECT_EQ(report->resources[1].resource, "nodes");
  EXPECT_FALSE(report->resources[1].namespaced);
  EXPECT_EQ(report->resources[1].verbs, std::vector<std::string>{"get"});
  EXPECT_EQ(report->server_version, "v1.31.2");
  EXPECT_EQ(discoveryReport(*parseDiscoveryResponse(encodeDiscoveryResponse(response))).listed, 4u);

  // What the typed parser refuses, the hub refuses too.
  for (const char* bad : {
           R"({"type":"discovery.response","resources":{}})",
           R"({"type":"discovery.response","resources":[],"serverVersion":"v1"})",
           R"({"type":"discovery.response","resources":[],"failedGroupVersions":[1]})",
           R"({"type":"discovery.response","id":-1,"resources":[]})",
           R"({"type":"hubs","resources":[]})",
       }) {
    EXPECT_FALSE(parseDiscoveryReport(bad).ok()) << bad;
  }
  std::string huge = R"({"type":"discovery.response","resources":[")" +
                     std::string(kMaxControlMessage, 'x') + R"("]})";
  EXPECT_FALSE(parseDiscoveryReport(huge).ok());
}

TEST(Control, DiscoveryErrorIsTheBytesAgentsSent) {
  std::string before = Json{{"type", "discovery.error"},
                            {"id", 1},
                            {"message", "this agent fronts a host, not an API server"}}
                           .dump();
  DiscoveryError error{1, "this agent fronts a host, not an API server"};
  std::string now = encodeDiscoveryError(error);
  EXPECT_EQ(now, before);
  checkGolden("control_discovery_error.bin", controlFrame(now));
  auto parsed = parseDiscoveryError(now);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, error);
}

TEST(Control, HubsIsTheBytesHubsSent) {
  Json list = Json::array();
  list.push_back({{"id", "hub-1"}, {"url", "wss://10.0.0.7:8444/tunnel"}});
  list.push_back({{"id", "hub-2"}, {"url", "wss://10.0.0.8:8444/tunnel"}});
  std::string before = Json{{"type", "hubs"}, {"hubs", list}}.dump();
  Hubs hubs;
  hubs.hubs = {{"hub-1", "wss://10.0.0.7:8444/tunnel"}, {"hub-2", "wss://10.0.0.8:8444/tunnel"}};
  std::string now = encodeHubs(hubs);
  EXPECT_EQ(now, before);
  checkGolden("control_hubs.bin", controlFrame(now));
  auto parsed = parseHubs(now);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->hubs, hubs.hubs);
  EXPECT_TRUE(parsed->skipped.empty());

  std::string none = Json{{"type", "hubs"}, {"hubs", Json::array()}}.dump();
  EXPECT_EQ(encodeHubs(Hubs{}), none);
}

TEST(Control, HubsSkipsBadEntriesAndRefusesABadList) {
  auto parsed = parseHubs(R"({"type":"hubs","zone":"eu","hubs":[
      "hub-0", {"url":"wss://a/tunnel"}, {"id":"hub 2","url":"wss://b/tunnel"},
      {"id":"hub-3","url":7}, {"id":"hub-4","url":"wss://d/tunnel","extra":true}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->hubs.size(), 1u);
  EXPECT_EQ(parsed->hubs[0], (AnnouncedHub{"hub-4", "wss://d/tunnel"}));
  ASSERT_EQ(parsed->skipped.size(), 4u);
  EXPECT_NE(parsed->skipped[0].find("entry 0: not an object"), std::string::npos);
  EXPECT_NE(parsed->skipped[3].find("\"url\""), std::string::npos);

  Hubs long_url;
  long_url.hubs = {{"hub", "wss://hub/" + std::string(kMaxTunnelUrlLength, 'a')}};
  auto skipped = parseHubs(encodeHubs(long_url));
  ASSERT_TRUE(skipped.ok());
  EXPECT_TRUE(skipped->hubs.empty());

  EXPECT_FALSE(parseHubs(R"({"type":"hubs"})").ok());
  EXPECT_FALSE(parseHubs(R"({"type":"hubs","hubs":null})").ok());
  EXPECT_FALSE(parseHubs(R"({"type":"move","hubs":[]})").ok());
  Hubs many;
  for (size_t i = 0; i <= kMaxAnnouncedHubs; ++i)
    many.hubs.push_back({"hub-" + std::to_string(i), "wss://h/tunnel"});
  auto over = parseHubs(encodeHubs(many));
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("more than 1000 hubs"), std::string::npos);
  many.hubs.pop_back();
  EXPECT_TRUE(parseHubs(encodeHubs(many)).ok());
}

TEST(Control, MoveIsTheBytesHubsSent) {
  std::vector<std::string> to = {"hub-3", "hub-4"};
  std::string before = Json{{"type", "move"}, {"reason", "hub hub-1 draining"}, {"to", to}}.dump();
  Move move{"hub hub-1 draining", to};
  std::string now = encodeMove(move);
  EXPECT_EQ(now, before);
  checkGolden("control_move.bin", controlFrame(now));
  auto parsed = parseMove(now);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, move);

  std::string empty_before =
      Json{{"type", "move"}, {"reason", "rebalancing"}, {"to", std::vector<std::string>{}}}.dump();
  Move empty{"rebalancing", {}};
  EXPECT_EQ(encodeMove(empty), empty_before);

  // `only` is sent when true, and older agents ignore it (unknown fields are).
  Move only{"hub hub-1 rebalancing", {"hub-3"}, true};
  std::string only_bytes = encodeMove(only);
  EXPECT_EQ(only_bytes, Json({{"type", "move"},
                              {"reason", "hub hub-1 rebalancing"},
                              {"to", std::vector<std::string>{"hub-3"}},
                              {"only", true}})
                            .dump());
  auto only_parsed = parseMove(only_bytes);
  ASSERT_TRUE(only_parsed.ok()) << only_parsed.status();
  EXPECT_EQ(*only_parsed, only);
  auto explicit_false = parseMove(R"({"type":"move","to":["hub-2"],"only":false})");
  ASSERT_TRUE(explicit_false.ok());
  EXPECT_FALSE(explicit_false->only);
}

TEST(Control, MoveRefusesWhatIsNotAListOfHubIds) {
  auto bare = parseMove(R"({"type":"move"})");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(*bare, Move{});
  for (const char* bad : {
           R"({"type":"move","reason":7})",
           R"({"type":"move","to":"hub-1"})",
           R"({"type":"move","to":["hub 1"]})",
           R"({"type":"move","to":[""]})",
           R"({"type":"move","to":[3]})",
           R"({"type":"move","to":["hub-2"],"only":"yes"})",
           R"({"type":"move","to":["hub-2"],"only":1})",
       }) {
    auto parsed = parseMove(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("move message: "), std::string::npos);
  }
  Move many;
  for (size_t i = 0; i <= kMaxMoveTargets; ++i) many.to.push_back("hub-" + std::to_string(i));
  EXPECT_FALSE(parseMove(encodeMove(many)).ok());
  many.to.pop_back();
  EXPECT_TRUE(parseMove(encodeMove(many)).ok());
}

TEST(Control, LeavingIsTheBytesAgentsSent) {
  std::string before = Json{{"type", "leaving"}, {"to", "hub-3"}}.dump();
  std::string now = encodeLeaving(Leaving{"hub-3"});
  EXPECT_EQ(now, before);
  checkGolden("control_leaving.bin", controlFrame(now));
  auto parsed = parseLeaving(now);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->to, "hub-3");
  EXPECT_FALSE(parseLeaving(R"({"type":"leaving","to":["hub-3"]})").ok());
  EXPECT_EQ(parseLeaving(R"({"type":"leaving"})")->to, "");
}

TEST(Control, TextIsCutAtACharacterBoundaryAndNeverThrows) {
  // 4095 ASCII bytes then a 2-byte character: the cut falls inside it and drops it whole.
  std::string text = std::string(kMaxControlText - 1, 'a') + "\xc3\xa9" + "tail";
  auto parsed = parseDiscoveryError(encodeDiscoveryError(DiscoveryError{2, text}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->message, std::string(kMaxControlText - 1, 'a'));

  std::string too_long =
      Json{{"type", "discovery.error"}, {"message", std::string(kMaxControlText + 1, 'x')}}.dump();
  EXPECT_FALSE(parseDiscoveryError(too_long).ok());
  // Bytes that are not UTF-8 (an API server's error text) are replaced, not thrown on.
  auto replaced = parseDiscoveryError(encodeDiscoveryError(DiscoveryError{3, "bad \xff byte"}));
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_EQ(replaced->message, "bad \xef\xbf\xbd byte");
}

TEST(Control, TypesAndSizesAreCheckedFirst) {
  EXPECT_EQ(*controlType(R"({"type":"status","agent":{}})"), "status");
  EXPECT_EQ(*controlType(R"({"type":"future.thing"})"), "future.thing");
  for (const char* bad : {"", "[]", "{", R"({"id":1})", R"({"type":1})", "\"hubs\""}) {
    EXPECT_FALSE(controlType(bad).ok()) << bad;
  }
  EXPECT_FALSE(controlType(std::string(kMaxControlMessage + 1, ' ')).ok());
  std::string padded =
      R"({"type":"leaving","to":"hub","pad":")" + std::string(kMaxSmallControlMessage, 'p') + "\"}";
  auto refused = parseLeaving(padded);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("longer than"), std::string::npos);
  EXPECT_FALSE(parseDiscoveryRequest(R"({"type":"discovery.request","id":"1"})").ok());
  EXPECT_FALSE(parseDiscoveryRequest(R"({"type":"discovery.request","id":1.5})").ok());
  EXPECT_EQ(parseDiscoveryRequest(R"({"type":"discovery.request"})")->id, 0);
}

TEST(Control, HubIds) {
  EXPECT_TRUE(isHubId("hub-1"));
  EXPECT_TRUE(isHubId(std::string(kMaxHubIdLength, 'h')));
  EXPECT_FALSE(isHubId(std::string(kMaxHubIdLength + 1, 'h')));
  EXPECT_FALSE(isHubId(""));
  EXPECT_FALSE(isHubId("hub 1"));
  EXPECT_FALSE(isHubId("hub\x7f"));
}

}  // namespace
}  // namespace kubehub::proto

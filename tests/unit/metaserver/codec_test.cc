#include "metaserver/model/codec.h"

#include <gtest/gtest.h>

namespace kubehub::metaserver {
namespace {

Json j(std::string_view text) { return Json::parse(text); }

void expect400(const absl::Status& s, std::string_view needle) {
  EXPECT_TRUE(isBadRequest(s)) << s;
  EXPECT_NE(std::string(s.message()).find(needle), std::string::npos) << s.message();
}

void expect422(const absl::Status& s, std::string_view needle) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_FALSE(isBadRequest(s)) << s;
  EXPECT_NE(std::string(s.message()).find(needle), std::string::npos) << s.message();
}

TEST(Codec, BodiesMustBeJsonObjects) {
  expect400(parseJsonObject("{").status(), "not valid JSON");
  expect400(parseJsonObject("[1]").status(), "JSON object");
  expect400(parseJsonObject("").status(), "not valid JSON");
  EXPECT_TRUE(parseJsonObject("", true).ok());
}

TEST(Codec, TenantUnknownFieldsTypesAndNames) {
  auto t = decodeTenant(j(R"({"name":"acme","description":"Acme Corp"})"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->name, "acme");
  expect400(decodeTenant(j(R"({"name":"acme","nmae":"x"})")).status(), "unknown field \"nmae\"");
  expect400(decodeTenant(j(R"({"name":7})")).status(), "must be a string");
  expect400(decodeTenant(j(R"({})")).status(), "\"name\" is required");
  expect422(decodeTenant(j(R"({"name":"Acme"})")).status(), "DNS label");
  expect422(decodeTenant(j(R"({"name":"acme'; DROP TABLE tenants;--"})")).status(), "DNS label");
  expect422(decodeTenant(j(R"({"name":"a/b"})")).status(), "DNS label");
  expect422(decodeTenant(j(R"({"name":"x","description":"a\u0000b"})")).status(),
            "control characters");
}

TEST(Codec, UsersGroupsAndRoles) {
  auto u = decodeUser(j(
      R"({"name":"alice@example.com","tenant":"acme","groups":["devs"],"roles":["hub","admin","hub"]})"));
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->roles, (std::vector<std::string>{"admin", "hub"}));
  expect422(decodeUser(j(R"({"name":"alice","tenant":"acme","roles":["root"]})")).status(), "role");
  expect422(decodeUser(j(R"({"name":"Alice","tenant":"acme"})")).status(), "user name");
  expect422(decodeUser(j(R"({"name":"alice","tenant":"acme","groups":["a,b"]})")).status(),
            "group");
  expect400(decodeUser(j(R"({"name":"alice","tenant":"acme","groups":"devs"})")).status(),
            "array of strings");
  EXPECT_TRUE(checkUserName("svc-account.1_x").ok());
  EXPECT_FALSE(checkUserName("").ok());
  EXPECT_FALSE(checkUserName("a b").ok());
  EXPECT_FALSE(checkUserName("a'--").ok());
}

TEST(Codec, ClustersAndPatches) {
  auto c = decodeCluster(j(R"({"name":"edge-1","labels":{"env":"prod","example.com/zone":"a"}})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->labels.at("env"), "prod");
  expect422(decodeCluster(j(R"({"name":"edge-1","labels":{"bad key":"x"}})")).status(),
            "label key");
  expect422(decodeCluster(j(R"({"name":"edge-1","labels":{"k":"bad value"}})")).status(),
            "label value");
  expect400(decodeCluster(j(R"({"name":"edge-1","labels":{"k":1}})")).status(),
            "object of strings");
  expect422(
      decodeCluster(
          j(R"({"name":"this-name-is-far-too-long-to-be-a-dns-label-because-it-has-more-than-63"})"))
          .status(),
      "DNS label");
  auto p = decodeClusterPatch(j(R"({"disabled":true})"));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->disabled.value());
  EXPECT_FALSE(p->labels.has_value());
  expect400(decodeClusterPatch(j(R"({})")).status(), "nothing to change");
  expect400(decodeClusterPatch(j(R"({"name":"x"})")).status(), "unknown field");
}

TEST(Codec, ClusterPatchNullsAreMergePatchRemovals) {
  // Labels and description removed (back to none and empty), not "unknown fields".
  auto p = decodeClusterPatch(j(R"({"disabled":true,"labels":null})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->disabled.value());
  ASSERT_TRUE(p->labels.has_value());
  EXPECT_TRUE(p->labels->empty());
  EXPECT_FALSE(p->description.has_value());
  auto d = decodeClusterPatch(j(R"({"description":null})"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->description, std::optional<std::string>(""));
  EXPECT_FALSE(d->labels.has_value());
  EXPECT_FALSE(d->disabled.has_value());
  // A null "disabled" changes nothing: lifting a cluster's ban takes an explicit false.
  auto kept = decodeClusterPatch(j(R"({"disabled":null,"description":"edge"})"));
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_FALSE(kept->disabled.has_value());
  EXPECT_EQ(kept->description, std::optional<std::string>("edge"));
  expect400(decodeClusterPatch(j(R"({"disabled":null})")).status(), "nothing to change");
  // Types are still checked, and unknown fields still refused.
  expect400(decodeClusterPatch(j(R"({"labels":"x"})")).status(), "object of strings");
  expect400(decodeClusterPatch(j(R"({"labels":null,"name":null})")).status(),
            "unknown field \"name\"");
}

TEST(Codec, BanPatches) {
  auto ban = decodeBanPatch(j(R"({"disabled":true,"reason":"left the company"})"), "user");
  ASSERT_TRUE(ban.ok()) << ban.status();
  EXPECT_TRUE(ban->disabled);
  EXPECT_EQ(ban->reason.value(), "left the company");
  auto bare = decodeBanPatch(j(R"({"disabled":true})"), "user");
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->reason.has_value());  // re-disabling keeps the current reason
  auto null_reason = decodeBanPatch(j(R"({"disabled":true,"reason":null})"), "user");
  ASSERT_TRUE(null_reason.ok()) << null_reason.status();
  EXPECT_FALSE(null_reason->reason.has_value());
  auto lift = decodeBanPatch(j(R"({"disabled":false})"), "tenant");
  ASSERT_TRUE(lift.ok());
  EXPECT_FALSE(lift->disabled);
  expect400(decodeBanPatch(j(R"({})"), "user").status(), "\"disabled\" is required");
  expect400(decodeBanPatch(j(R"({"reason":"x"})"), "user").status(), "\"disabled\" is required");
  expect400(decodeBanPatch(j(R"({"disabled":"yes"})"), "user").status(), "must be a boolean");
  expect400(decodeBanPatch(j(R"({"disabled":1})"), "user").status(), "must be a boolean");
  expect400(decodeBanPatch(j(R"({"disabled":true,"reason":7})"), "tenant").status(),
            "must be a string");
  expect400(decodeBanPatch(j(R"({"disabled":true,"name":"bob"})"), "user").status(),
            "user: unknown field \"name\"");
  expect422(decodeBanPatch(j(R"({"disabled":false,"reason":"x"})"), "user").status(), "only with");
  expect422(decodeBanPatch(j(R"({"disabled":true,"reason":"a\nb"})"), "tenant").status(),
            "control characters");
  expect422(
      decodeBanPatch(Json{{"disabled", true}, {"reason", std::string(1025, 'x')}}, "user").status(),
      "longer than 1024");
}

TEST(Codec, BansAndBanFieldsEncoding) {
  BanList bans;
  bans.users.push_back({"alice", "acme", "phished", 1700000000});
  bans.tenants.push_back({"evil", "", "", 0});
  bans.clusters.push_back({"edge-9", "", "", std::nullopt});
  Json out = toJson(bans, 1700000005);
  EXPECT_EQ(out, j(R"({"users": [{"name": "alice", "tenant": "acme", "reason": "phished",
                                  "since": "2023-11-14T22:13:20Z"}],
                       "tenants": [{"name": "evil", "reason": "", "since": "1970-01-01T00:00:00Z"}],
                       "clusters": [{"name": "edge-9"}],
                       "serverTime": 1700000005})"));
  Json empty = toJson(BanList{}, 1);
  EXPECT_EQ(empty, j(R"({"users":[],"tenants":[],"clusters":[],"serverTime":1})"));
  UserRecord u;
  u.name = "alice";
  EXPECT_EQ(toJson(u)["disabled"], false);
  EXPECT_TRUE(toJson(u)["disabledAt"].is_null());
  u.ban = {true, 1700000000, "phished"};
  EXPECT_EQ(toJson(u)["disabledAt"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(toJson(u)["disabledReason"], "phished");
  TenantRecord t;
  t.ban = {true, 0, ""};
  EXPECT_EQ(toJson(t)["disabled"], true);
}

TEST(Codec, GrantsDecodeStrictlyAndRoundTrip) {
  const char* text = R"({"name":"g","tenant":"acme","user":"alice",
    "clusters":{"names":["edge-1"],"selector":"env=prod"},
    "rules":[{"apiGroups":["","apps"],"resources":["pods","deployments"],"verbs":["get"]}]})";
  auto g = decodeGrant(j(text));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->rules[0].namespaces, (std::vector<std::string>{"*"}));
  auto back = grantFromSpec(g->name, g->tenant, g->user, grantSpecJson(*g));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(grantSpecJson(*back), grantSpecJson(*g));
  expect400(
      decodeGrant(
          j(R"({"name":"g","tenant":"acme","clusters":{"names":["a"]},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"],"extra":1}]})"))
          .status(),
      "unknown field \"extra\"");
  expect400(decodeGrant(j(R"({"name":"g","tenant":"acme","clusters":[],"rules":[]})")).status(),
            "clusters must be an object");
  expect422(
      decodeGrant(
          j(R"({"name":"g","tenant":"acme","clusters":{"selector":"env in (a'; --"},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]})"))
          .status(),
      "label selector");
  expect422(decodeGrant(j(R"({"name":"g","tenant":"acme","clusters":{"names":["a"]},"rules":[]})"))
                .status(),
            "rule");
}

// A refused name is shown as valid UTF-8: cut between characters, stray bytes escaped (the
// message is the audit record's detail, which PostgreSQL refuses otherwise).
TEST(Codec, RefusedNamesAreShownAsValidUtf8) {
  std::string accented = "a";
  for (int i = 0; i < 50; ++i) accented += "\xc3\xa9";  // 'é'
  const std::vector<absl::Status> refused = {
      checkDnsLabel("tenant", accented), checkUserName(accented), checkHubId(accented),
      checkDnsLabel("tenant", "\xff"),   checkUserName("\xff"),   checkHubId("\xff")};
  for (const absl::Status& s : refused) {
    std::string message(s.message());
    EXPECT_FALSE(s.ok());
    EXPECT_NO_THROW((void)Json(message).dump()) << "not valid UTF-8: " << message;
  }
  EXPECT_NE(std::string(refused[0].message()).find("\"a" + accented.substr(1, 78) + "\""),
            std::string::npos)
      << refused[0].message();
  EXPECT_NE(std::string(refused[3].message()).find("name \"\\xff\""), std::string::npos)
      << refused[3].message();
  EXPECT_NE(std::string(checkHubId("hub\x01").message()).find("control characters"),
            std::string::npos);
}

TEST(Codec, GrantUserIsANameOrAbsent) {
  const std::string spec = R"("clusters":{"names":["*"]},"commands":["*"])";
  // Absent or null: the whole tenant's grant.
  auto tenant_wide = decodeGrant(j(R"({"name":"g","tenant":"acme",)" + spec + "}"));
  ASSERT_TRUE(tenant_wide.ok()) << tenant_wide.status();
  EXPECT_EQ(tenant_wide->user, "");
  auto null_user = decodeGrant(j(R"({"name":"g","tenant":"acme","user":null,)" + spec + "}"));
  ASSERT_TRUE(null_user.ok()) << null_user.status();
  EXPECT_EQ(null_user->user, "");
  // Empty (an unset variable in a script): refused naming the field, never tenant-wide.
  auto empty = decodeGrant(j(R"({"name":"g","tenant":"acme","user":"",)" + spec + "}"));
  expect422(empty.status(), "field \"user\" must not be empty");
  expect422(decodeGrant(j(R"({"name":"g","tenant":"acme","user":"Bob",)" + spec + "}")).status(),
            "user name \"Bob\" is invalid");
}

TEST(Codec, TtlsTokensAndHubs) {
  EXPECT_EQ(*parseTtl(Json("90m"), "ttl"), 5400);
  EXPECT_EQ(*parseTtl(Json(60), "ttl"), 60);
  expect422(parseTtl(Json("soon"), "ttl").status(), "invalid duration");
  expect422(parseTtl(Json(0), "ttl").status(), "positive");
  expect400(parseTtl(Json(true), "ttl").status(), "duration");
  auto t = decodeTokenRequest(j(R"({"user":"alice","ttl":"1h","description":"ci"})"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->ttl_seconds, 3600);
  expect400(decodeTokenRequest(j(R"({"ttl":"1h"})")).status(), "\"user\" is required");
  auto h = decodeHubHeartbeat(j(
      R"({"addresses":{"users":"https://hub-1:8443","tunnel":"wss://hub-1:8444/tunnel"},"agents":3,"load":0.5})"));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->agents, 3);
  expect422(decodeHubHeartbeat(j(R"({"agents":-1})")).status(), "negative");
  expect422(decodeHubHeartbeat(j(R"({"addresses":{"Users":"x"}})")).status(), "DNS label");
  EXPECT_TRUE(checkHubId("hub-1.example.com").ok());
  EXPECT_FALSE(checkHubId("hub_1").ok());
  EXPECT_FALSE(checkHubId("").ok());
  EXPECT_FALSE(checkHubId(std::string(64, 'h') + ".example.com").ok());  // a host's label
}

TEST(Codec, Encoding) {
  EXPECT_EQ(formatTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatTime(1700000000), "2023-11-14T22:13:20Z");
  ClusterRecord c;
  c.name = "edge-1";
  c.hubs = {"hub-1"};
  Json out = toJson(c);
  EXPECT_EQ(out["status"]["state"], "connected");
  EXPECT_TRUE(out["status"]["lastSeen"].is_null());
  c.hubs.clear();
  EXPECT_EQ(toJson(c)["status"]["state"], "disconnected");
}

TEST(Codec, ClusterStatus) {
  ClusterRecord c;
  c.name = "edge-1";
  c.hubs = {"hub-1"};
  c.connected_since = 1700000000;
  c.last_seen = 1700000100;
  c.reported_at = 1700000090;
  c.reported_by = "hub-1";
  c.report =
      R"({"agent":{"version":"0.1.0","build":"","uptimeSeconds":3},"nodes":{"total":2,"ready":1,"allocatable":{"cpuMillis":1,"memoryBytes":2}}})";
  Json st = toJson(c)["status"];
  EXPECT_EQ(st["connected"], true);
  EXPECT_EQ(st["since"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(st["reportedAt"], "2023-11-14T22:14:50Z");
  EXPECT_EQ(st["reportedBy"], "hub-1");
  EXPECT_EQ(st["report"]["nodes"]["ready"], 1);
  EXPECT_EQ(st["kind"], "kubernetes") << "reports from before kinds are of Kubernetes clusters";
  EXPECT_TRUE(st["cachedObjects"].is_null()) << "no cache in the report";
  c.report =
      R"({"agent":{"version":"0.1.0","uptimeSeconds":3},"cache":{"typeCount":1,"syncedTypes":1,"objects":42,"truncated":false,"types":[{"resource":"pods","version":"v1","objects":42,"synced":true}]}})";
  EXPECT_EQ(toJson(c)["status"]["cachedObjects"], 42);
  c.report =
      R"({"kind":"host","host":{"cpus":2,"memory":{"totalBytes":1,"availableBytes":1},"uptimeSeconds":1},"agent":{"version":"0.1.0","build":"","uptimeSeconds":3}})";
  EXPECT_EQ(toJson(c)["status"]["kind"], "host");
  // Disconnected: no "since", the last report and last-seen kept.
  c.hubs.clear();
  st = toJson(c)["status"];
  EXPECT_EQ(st["connected"], false);
  EXPECT_TRUE(st["since"].is_null());
  EXPECT_EQ(st["report"]["agent"]["version"], "0.1.0");
  // Never reported.
  c.report.clear();
  c.reported_at.reset();
  c.reported_by.clear();
  st = toJson(c)["status"];
  EXPECT_TRUE(st["report"].is_null());
  EXPECT_TRUE(st["kind"].is_null());
  EXPECT_TRUE(st["reportedAt"].is_null());
  EXPECT_TRUE(st["reportedBy"].is_null());
}

TEST(Codec, ClusterStatusBatch) {
  Json report = {{"agent", {{"version", "0.1.0"}, {"uptimeSeconds", 5}}}, {"future", 1}};
  auto ok = decodeClusterStatusBatch(
      Json{{"reports", Json::array({Json{{"cluster", "edge-1"}, {"report", report}}})}});
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].cluster, "edge-1");
  // Stored in normal form: unknown fields dropped.
  Json stored = Json::parse((*ok)[0].report);
  EXPECT_FALSE(stored.contains("future"));
  EXPECT_EQ(stored["agent"]["uptimeSeconds"], 5);
  // The hub's cache summary is kept, checked like the rest.
  Json cached = report;
  cached["cache"] = {
      {"typeCount", 1},
      {"syncedTypes", 0},
      {"objects", 7},
      {"types", Json::array({Json{
                    {"resource", "pods"}, {"version", "v1"}, {"objects", 7}, {"synced", false}}})}};
  auto with_cache = decodeClusterStatusBatch(
      Json{{"reports", Json::array({Json{{"cluster", "edge-1"}, {"report", cached}}})}});
  ASSERT_TRUE(with_cache.ok()) << with_cache.status();
  Json kept = Json::parse((*with_cache)[0].report);
  EXPECT_EQ(kept["cache"]["objects"], 7);
  EXPECT_EQ(kept["cache"]["types"][0]["resource"], "pods");
  cached["cache"]["objects"] = -1;
  EXPECT_FALSE(
      decodeClusterStatusBatch(
          Json{{"reports", Json::array({Json{{"cluster", "edge-1"}, {"report", cached}}})}})
          .ok());

  EXPECT_FALSE(decodeClusterStatusBatch(Json::object()).ok());
  EXPECT_FALSE(decodeClusterStatusBatch(Json{{"reports", "x"}}).ok());
  EXPECT_FALSE(decodeClusterStatusBatch(Json{{"reports", Json::array()}, {"extra", 1}}).ok());
  EXPECT_FALSE(
      decodeClusterStatusBatch(
          Json{{"reports", Json::array({Json{{"cluster", "Bad_Name"}, {"report", report}}})}})
          .ok());
  Json wrong = report;
  wrong["agent"]["version"] = 7;
  auto bad = decodeClusterStatusBatch(
      Json{{"reports", Json::array({Json{{"cluster", "edge-1"}, {"report", wrong}}})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("agent.version"), std::string_view::npos);
  Json many = Json::array();
  for (size_t i = 0; i <= kMaxClusterStatusBatch; ++i)
    many.push_back(Json{{"cluster", "edge-1"}, {"report", report}});
  EXPECT_FALSE(decodeClusterStatusBatch(Json{{"reports", many}}).ok());
}

}  // namespace
}  // namespace kubehub::metaserver

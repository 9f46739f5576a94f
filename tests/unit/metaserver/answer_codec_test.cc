// The client's side of the codec: every record the REST API answers with decodes back to what
// was encoded, and an answer of the wrong shape is refused with the field named.
#include <gtest/gtest.h>

#include "metaserver/model/codec.h"

namespace kubehub::metaserver {
namespace {

template <class T>
void expectRoundTrip(const T& record) {
  Json encoded = toJson(record);
  auto decoded = fromJson<T>(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status() << "\n" << encoded.dump(2);
  EXPECT_TRUE(*decoded == record) << encoded.dump(2);
  EXPECT_EQ(toJson(*decoded), encoded);
}

void expectFieldError(const absl::Status& s, std::string_view field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(std::string(s.message()).find(field), std::string::npos) << s.message();
}

TEST(AnswerCodec, TimesAreRfc3339) {
  EXPECT_EQ(*parseTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*parseTime(formatTime(1714564800)), 1714564800);
  EXPECT_EQ(*parseTime("2024-05-01T12:00:00.250Z"), 1714564800);
  EXPECT_EQ(*parseTime("2024-05-01T14:00:00+02:00"), 1714564800);
  EXPECT_TRUE(parseTime("2024-02-29T00:00:00Z").ok());
  // Years before 1000 keep four digits, so what is written reads back (metaserver_codec_fuzz).
  EXPECT_EQ(formatTime(-33229440000), "0917-01-01T00:00:00Z");
  EXPECT_EQ(*parseTime(formatTime(-33229440000)), -33229440000);
  EXPECT_EQ(*parseTime(formatTime(-62167219200)), -62167219200);
  for (std::string_view bad :
       {"", "2024-05-01", "2024-05-01 12:00:00Z", "2024-13-01T12:00:00Z", "2024-05-01T12:00:00",
        "2024-05-01T12:00:00Zjunk", "1714564800", "9999-12-31T23:59:59-00:01",
        "2023-02-29T00:00:00Z", "0000-01-01T00:00:00+00:01"}) {
    EXPECT_FALSE(parseTime(bad).ok()) << bad;
  }
}

TEST(AnswerCodec, TenantsAndUsersWithTheirBans) {
  TenantRecord t{"acme", "Acme Corp", 1714564800, Ban{true, 1714564900, "unpaid"}};
  expectRoundTrip(t);
  expectRoundTrip(TenantRecord{"beta", "", 1714564800, Ban{}});
  UserRecord u{"alice@acme", "acme", {"dev", "ops"}, {"hub"}, "Alice", 1714564800, Ban{}};
  expectRoundTrip(u);
}

TEST(AnswerCodec, ClustersWithStatusAndReport) {
  ClusterRecord c;
  c.name = "edge-1";
  c.labels = {{"env", "prod"}, {"zone", "a"}};
  c.description = "edge";
  c.created_at = 1714564800;
  c.hubs = {"hub-1", "hub-2"};
  c.connected_since = 1714564810;
  c.last_seen = 1714564820;
  c.report = R"({"agent":{"build":"","uptimeSeconds":12,"version":"9.9.9"},"kind":"kubernetes"})";
  c.reported_at = 1714564830;
  c.reported_by = "hub-1";
  expectRoundTrip(c);
  ClusterRecord quiet;
  quiet.name = "edge-2";
  quiet.disabled = true;
  quiet.created_at = 1714564800;
  expectRoundTrip(quiet);
}

TEST(AnswerCodec, GrantsTokensHubsAndTheRest) {
  GrantRecord g;
  g.grant.name = "read-pods";
  g.grant.tenant = "acme";
  g.grant.user = "alice";
  g.grant.cluster_names = {"edge-1"};
  g.grant.cluster_selector = "env=prod";
  g.grant.rules = {auth::GrantRule{{""}, {"pods", "pods/log"}, {"get", "list"}, {"default"}}};
  g.grant.commands = {"logs"};
  g.created_at = 1714564800;
  expectRoundTrip(g);
  TokenRecord token{"t1", "alice", "acme", "ci", "k1", 1714564800, 1714568400, 1714566000, "admin"};
  expectRoundTrip(token);
  expectRoundTrip(IssuedToken{token, "kh_secret"});
  HubRecord hub{
      "hub-1",      {{"users", "https://h:1"}}, 3, 0.5, "1.2.3", 1714564800, 1714564805, true, true,
      "maintenance"};
  expectRoundTrip(hub);
  expectRoundTrip(ClusterEndpoints{
      "edge-1", {EndpointRecord{"hub-1", {{"tunnel", "wss://h:2"}}, 1714564800, 1714564805}}});
  expectRoundTrip(AuditRecord{7, 1714564800, "admin", "POST /api/v1/tenants", "tenants/acme", 201,
                              "tenant=acme", "127.0.0.1"});
  expectRoundTrip(BootstrapToken{"edge-1", "b1", "khb_x", 1714564800, "PEM",
                                 "/api/v1/clusters/edge-1/certificate", "https://m", "https://h"});
  expectRoundTrip(SignedCertificate{"CERT", "CA", "0a1b", 1714564800});
  expectRoundTrip(Whoami{"user:alice", false, false, "alice", "acme", {"hub"}, "t1"});
  expectRoundTrip(Whoami{"admin(bootstrap)", true, true, "", "", {}, ""});
  BansAnswer bans;
  bans.bans.users = {BanList::Entry{"bob", "beta", "left", 1714564800}};
  bans.bans.tenants = {BanList::Entry{"beta", "", "unpaid", 1714564800}};
  bans.bans.clusters = {BanList::Entry{"edge-3", "", "", std::nullopt}};
  bans.server_time = 1714564900;
  expectRoundTrip(bans);
  RevocationsAnswer revoked;
  revoked.page.cursor = 12;
  revoked.page.items = {RevocationRecord{0, "t1", 1714568400, 1714566000}};
  revoked.server_time = 1714566001;
  expectRoundTrip(revoked);
  expectRoundTrip(ChangesPage{"grants.3,routes.7", {{"grants", 3}, {"routes", 7}}});
  RoutingTable routes;
  HubRecord live;
  live.id = "hub-1";
  live.addresses = {{"peer", "wss://h:3/peer"}};
  live.version = "1.2.3";
  live.alive = true;
  routes.hubs = {live};
  routes.connections = {{"edge-1", "hub-1"}, {"edge-1", "hub-2"}, {"edge-2", "hub-1"}};
  expectRoundTrip(routes);
}

TEST(AnswerCodec, UnknownFieldsAreIgnored) {
  Json j = toJson(TenantRecord{"acme", "", 1714564800, Ban{}});
  j["addedLater"] = {{"any", "thing"}};
  EXPECT_TRUE(fromJson<TenantRecord>(j).ok());
}

ClusterRecord named(std::string name) {
  ClusterRecord c;
  c.name = std::move(name);
  return c;
}

TEST(AnswerCodec, AWrongAnswerNamesTheField) {
  expectFieldError(fromJson<TenantRecord>(Json::array()).status(), "tenant must be an object");
  expectFieldError(fromJson<TenantRecord>(Json{{"description", "x"}}).status(), "\"name\"");
  Json cluster = toJson(named("edge-1"));
  cluster["labels"] = "env=prod";
  expectFieldError(fromJson<ClusterRecord>(cluster).status(), "\"labels\"");
  cluster = toJson(named("edge-1"));
  cluster["status"]["lastSeen"] = "yesterday";
  expectFieldError(fromJson<ClusterRecord>(cluster).status(), "cluster.status: field \"lastSeen\"");
  GrantRecord g;
  g.grant.name = "g";
  g.grant.tenant = "acme";
  g.grant.cluster_names = {"*"};
  g.grant.rules = {auth::GrantRule{{""}, {"pods"}, {"get"}, {"*"}}};
  Json grant = toJson(g);
  grant["rules"][0]["verbs"] = Json::array({"get", 7});
  expectFieldError(fromJson<GrantRecord>(grant).status(), "rules[0]: field \"verbs\"");
  Json bans = {{"users", Json::array({{{"tenant", "acme"}}})}};
  expectFieldError(fromJson<BansAnswer>(bans).status(), "bans.users[0]: field \"name\"");
  expectFieldError(
      fromJson<ChangesPage>(Json{{"since", ""}, {"feeds", {{"grants", "3"}}}}).status(),
      "feed \"grants\"");
}

}  // namespace
}  // namespace kubehub::metaserver

#include "hub/api/request_plan.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/net/http_headers.h"
#include "hub/auth/metaserver_sync.h"
#include "hub/auth/peer_identity.h"
#include "hub/cache/resource_store.h"

namespace kubehub::hub {
namespace {

constexpr std::string_view kReviews =
    "/clusters/edge-1/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

auth::GrantRule rule(std::vector<std::string> resources, std::vector<std::string> verbs,
                     std::vector<std::string> namespaces) {
  return auth::GrantRule{{""}, std::move(resources), std::move(verbs), std::move(namespaces)};
}

/// Tenant acme may read pods in team-a and team-b, configmaps anywhere, and nodes "in team-a"
/// (a namespace grant on a cluster-scoped type, which must never reach nodes).
AuthSnapshot grants() {
  auth::Grant g;
  g.name = "team";
  g.tenant = "acme";
  g.cluster_names = {"edge-1"};
  g.rules = {rule({"pods", "pods/log", "pods/exec"}, {"get", "list", "watch", "create"},
                  {"team-a", "team-b"}),
             rule({"configmaps"}, {"*"}, {"*"}), rule({"nodes"}, {"get", "list"}, {"team-a"})};
  // carol may run one native command on edge-1, and nothing else.
  auth::Grant commands;
  commands.name = "carol-cmds";
  commands.tenant = "acme";
  commands.user = "carol";
  commands.cluster_names = {"edge-1"};
  commands.commands = {"disk-usage"};
  AuthSnapshot s;
  s.grants = std::make_shared<const std::unordered_map<std::string, std::vector<auth::Grant>>>(
      std::unordered_map<std::string, std::vector<auth::Grant>>{{"acme", {g, commands}}});
  s.clusters = std::make_shared<const std::unordered_map<std::string, ClusterRecord>>(
      std::unordered_map<std::string, ClusterRecord>{{"edge-1", ClusterRecord{}}});
  s.revoked = std::make_shared<const std::unordered_map<std::string, int64_t>>();
  s.banned_users = std::make_shared<const std::unordered_set<std::string>>();
  s.banned_tenants = std::make_shared<const std::unordered_set<std::string>>();
  return s;
}

/// A request as the parser would give it.
struct Request {
  std::string method = "GET";
  std::string target;
  /// "": none; "expired": a bad token; "banned"; else the user (acme's), or "root" (break-glass).
  std::string token = "alice";
  std::vector<std::pair<std::string, std::string>> headers = {};
  bool body_pending = false;
  bool keep_alive = true;
};

/// What the hub knows besides the request.
struct World {
  bool metaserver = true;
  RateVerdict rate = {};
  bool tunnel = true;
  /// The tunnel here is a host agent's (--mode native).
  bool host = false;
  /// Without the tunnel: another hub holds it and takes peer links; the routing table's word.
  bool peer_route = false;
  PolicyFacts::Elsewhere elsewhere = PolicyFacts::Elsewhere::kUnknown;
  /// decideCachedRead's answer; nullopt: the cluster is not cached.
  std::optional<cache::CacheDecision> cache = std::nullopt;
  /// The access review's body, read when the plan asks for it.
  std::string review_body = "";
};

absl::StatusOr<Principal> authenticate(const std::string& token) {
  if (token.empty()) return absl::UnauthenticatedError("Unauthorized");
  if (token == "expired") return absl::UnauthenticatedError("Unauthorized: the token has expired");
  if (token == "banned") return absl::PermissionDeniedError("user \"mallory\" is banned");
  Principal p;
  p.user = token;
  if (token == "root") {
    p.break_glass = true;
    p.groups = {"system:masters"};
  } else {
    p.tenant = "acme";
    p.groups = {"dev"};
  }
  return p;
}

std::shared_ptr<cache::ResourceStore> store(std::string resource, bool namespaced) {
  return std::make_shared<cache::ResourceStore>(
      cache::TypeInfo{"", "v1", resource, "Kind", namespaced}, size_t{100});
}

cache::CacheDecision served(std::string resource, bool namespaced) {
  cache::CacheDecision d;
  d.store = store(std::move(resource), namespaced);
  return d;
}

cache::CacheDecision declined(std::string why) {
  cache::CacheDecision d;
  d.why_not = std::move(why);
  return d;
}

/// Plans a request the way the user server does, reading the review body when asked.
struct Planned {
  RequestPlan plan;
  /// How often the cache was asked.
  int cache_asked = 0;
  /// Whether the tenant's rate limit applies (planTarget's answer).
  bool rate_limited = false;
};

Planned plan(const Request& r, const World& w) {
  std::vector<HeaderView> views;
  RequestHead head;
  for (const auto& [k, v] : r.headers) {
    views.push_back({k, v});
    if (net::iequals(k, "Accept")) head.accept = v;
    if (net::iequals(k, "Content-Type")) head.content_type = v;
    if (net::iequals(k, "Expect")) head.expect = v;
  }
  head.method = r.method;
  head.target = r.target;
  head.keep_alive = r.keep_alive;
  head.body_pending = r.body_pending;
  head.headers = views;
  auto who = authenticate(r.token);
  Planned out;
  auto targeted = planTarget(head, who, !r.token.empty());
  if (auto* reject = std::get_if<Reject>(&targeted)) {
    out.plan = *reject;
    return out;
  }
  const auto& target = std::get<RequestTarget>(targeted);
  out.rate_limited = target.rate_limited;
  AuthSnapshot snap = grants();
  PolicyFacts facts;
  facts.rate = w.rate;
  facts.auth = w.metaserver ? &snap : nullptr;
  facts.tunnel_here = w.tunnel;
  facts.host_here = w.tunnel && w.host;
  facts.peer_route = w.peer_route;
  facts.elsewhere = w.elsewhere;
  auto cached = [&]() {
    ++out.cache_asked;
    return w.cache;
  };
  out.plan = planRequest(head, *who, target, facts, cached);
  if (std::holds_alternative<ReadReviewBody>(out.plan)) {
    auto namespaced = [](const std::string&, const std::string& resource) -> std::optional<bool> {
      if (resource == "nodes") return false;
      if (resource == "pods") return true;
      return std::nullopt;
    };
    bool to_peer = std::get<ReadReviewBody>(out.plan).to_peer;
    out.plan = planReview(head, *who, target, w.review_body, facts.auth, namespaced, to_peer);
  }
  return out;
}

Reject rejected(const Planned& p) {
  auto* r = std::get_if<Reject>(&p.plan);
  EXPECT_NE(r, nullptr) << "not refused (plan #" << p.plan.index() << ")";
  return r ? *r : Reject{};
}

Forward forwarded(const Planned& p) {
  auto* f = std::get_if<Forward>(&p.plan);
  EXPECT_NE(f, nullptr) << "not forwarded (plan #" << p.plan.index() << ")";
  if (auto* r = std::get_if<Reject>(&p.plan)) ADD_FAILURE() << r->code << " " << r->message;
  return f ? *f : Forward{};
}

struct RefusalCase {
  std::string name;
  Request request;
  World world;
  int code;
  std::string message;
  int retry_after = 0;
  bool keep_alive = true;
  std::string audit_reason = "";
  std::string denial = "";
  std::string auth_failure = "";
};

std::string grantDenial(const std::string& verb, const std::string& resource,
                        const std::string& scope) {
  return resource + " is forbidden: User \"alice\" cannot " + verb + " resource \"" + resource +
         "\" in API group \"\" " + scope +
         " of cluster \"edge-1\": no grant of tenant \"acme\" allows it (ask your platform team "
         "for a grant)";
}

TEST(RequestPlan, NativeCommandsGoToTheAgentUnderTheirOwnGrants) {
  const std::string run = "/clusters/edge-1/kubehub/v1/commands/disk-usage";
  const std::string list = "/clusters/edge-1/kubehub/v1/commands";
  World w;
  w.review_body = R"({"path": "/var"})";
  // carol's grant names the command: forwarded with its parameters, streamed, audited.
  Forward f = forwarded(plan({"POST", run, "carol"}, w));
  EXPECT_EQ(f.head.target, "/kubehub/v1/commands/disk-usage");
  EXPECT_EQ(f.body, w.review_body);
  EXPECT_EQ(f.command_parameters, R"({"path":"/var"})");
  EXPECT_TRUE(f.long_lived);
  EXPECT_FALSE(f.end_stream);
  // alice may do plenty on edge-1, but run no command; carol no other one.
  Reject r = rejected(plan({"POST", run, "alice"}, w));
  EXPECT_EQ(r.code, 403);
  EXPECT_NE(r.message.find("cannot run command \"disk-usage\" on cluster \"edge-1\""),
            std::string::npos)
      << r.message;
  EXPECT_EQ(std::string(r.denial), "grant");
  EXPECT_EQ(rejected(plan({"POST", list + "/reboot", "carol"}, w)).code, 403);
  // Static-token identities may run everything; without a metaserver, grants are not enforced.
  EXPECT_EQ(forwarded(plan({"POST", list + "/reboot", "root"}, w)).head.target,
            "/kubehub/v1/commands/reboot");
  World no_metaserver = w;
  no_metaserver.metaserver = false;
  forwarded(plan({"POST", run, "alice"}, no_metaserver));
  // Listing: anyone with a grant on the cluster.
  EXPECT_EQ(forwarded(plan({"GET", list, "alice"}, w)).head.target, "/kubehub/v1/commands");
  EXPECT_FALSE(forwarded(plan({"GET", list, "alice"}, w)).long_lived);
  // No parameters at all; parameters that are not an object.
  World empty;
  EXPECT_EQ(forwarded(plan({"POST", run, "carol"}, empty)).command_parameters, "{}");
  World array;
  array.review_body = "[1]";
  EXPECT_EQ(rejected(plan({"POST", run, "carol"}, array)).code, 400);
  // Methods and paths that are not commands: never forwarded.
  EXPECT_EQ(rejected(plan({"GET", run, "carol"}, w)).code, 405);
  EXPECT_EQ(rejected(plan({"POST", list, "carol"}, w)).code, 405);
  EXPECT_EQ(rejected(plan({"GET", "/clusters/edge-1/kubehub/v1/other", "carol"}, w)).code, 404);
  EXPECT_EQ(rejected(plan({"POST", list + "/Bad_Name", "carol"}, w)).code, 404);
  EXPECT_EQ(rejected(plan({"POST", list + "/a/b", "carol"}, w)).code, 404);
  // Without the tunnel here: the same 503 as any other request; through a peer hub that holds
  // it, read here first (this hub audits the call) and sent on with the body.
  World away = w;
  away.tunnel = false;
  EXPECT_EQ(rejected(plan({"POST", run, "carol"}, away)).code, 503);
  away.peer_route = true;
  Forward via_peer = forwarded(plan({"POST", run, "carol"}, away));
  EXPECT_EQ(via_peer.via, Forward::Via::kPeerHub);
  EXPECT_EQ(via_peer.head.target, run);
  EXPECT_EQ(via_peer.body, w.review_body);
  EXPECT_EQ(via_peer.command_parameters, R"({"path":"/var"})");
  EXPECT_EQ(rejected(plan({"POST", list + "/reboot", "carol"}, away)).code, 403);
}

TEST(RequestPlan, ACommandListingIsCutToTheCallersGrants) {
  const std::string list = "/clusters/edge-1/kubehub/v1/commands";
  World w;
  // carol's grant names disk-usage: the agent's listing is cut to it; alice's grants name no
  // command: she sees none; root (static token) and a hub without a metaserver: all of them.
  EXPECT_EQ(forwarded(plan({"GET", list, "carol"}, w)).listed_commands,
            (std::set<std::string>{"disk-usage"}));
  EXPECT_EQ(forwarded(plan({"GET", list, "alice"}, w)).listed_commands, std::set<std::string>{});
  EXPECT_FALSE(forwarded(plan({"GET", list, "root"}, w)).listed_commands);
  World no_metaserver = w;
  no_metaserver.metaserver = false;
  EXPECT_FALSE(forwarded(plan({"GET", list, "carol"}, no_metaserver)).listed_commands);
  // Through a peer hub: this hub cuts it (the owner splices its agent's answer through).
  World away = w;
  away.tunnel = false;
  away.peer_route = true;
  Forward via_peer = forwarded(plan({"GET", list, "carol"}, away));
  EXPECT_EQ(via_peer.via, Forward::Via::kPeerHub);
  EXPECT_EQ(via_peer.listed_commands, (std::set<std::string>{"disk-usage"}));
  // Nothing else is cut.
  EXPECT_FALSE(
      forwarded(plan({"GET", "/clusters/edge-1/api/v1/namespaces/team-a/pods", "alice"}, w))
          .listed_commands);
}

TEST(RequestPlan, AHostServesOnlyItsCommands) {
  const std::string run = "/clusters/edge-1/kubehub/v1/commands/disk-usage";
  World w;
  w.host = true;
  w.review_body = R"({"path": "/var"})";
  EXPECT_EQ(forwarded(plan({"POST", run, "carol"}, w)).head.target,
            "/kubehub/v1/commands/disk-usage");
  EXPECT_EQ(
      forwarded(plan({"GET", "/clusters/edge-1/kubehub/v1/commands", "alice"}, w)).head.target,
      "/kubehub/v1/commands");
  for (const char* path : {"/clusters/edge-1/api/v1/namespaces/team-a/pods",
                           "/clusters/edge-1/api/v1/namespaces/team-b/configmaps/x"}) {
    Reject r = rejected(plan({"GET", path, "alice"}, w));
    EXPECT_EQ(r.code, 404) << path;
    EXPECT_NE(r.message.find("cluster edge-1 is a host: only /kubehub/v1/commands is served"),
              std::string::npos)
        << r.message;
    EXPECT_TRUE(r.served_cluster);
  }
  // Grants still come first: who may not read the cluster learns nothing of what it is.
  EXPECT_EQ(
      rejected(
          plan({"GET", "/clusters/edge-1/apis/apps/v1/namespaces/team-a/deployments", "alice"}, w))
          .code,
      403);
}

TEST(RequestPlan, Refusals) {
  const std::string pods = "/clusters/edge-1/api/v1/namespaces/team-a/pods";
  const std::string secrets = "/clusters/edge-1/api/v1/namespaces/team-a/secrets";
  const std::vector<RefusalCase> cases = {
      {"no token",
       {.target = pods, .token = ""},
       {},
       401,
       "Unauthorized",
       0,
       true,
       "Unauthorized",
       "",
       "missing"},
      {"bad token: the detail goes to the audit line only",
       {.target = pods, .token = "expired"},
       {},
       401,
       "Unauthorized",
       0,
       true,
       "Unauthorized: the token has expired",
       "",
       "invalid"},
      {"banned",
       {.target = pods, .token = "banned"},
       {},
       403,
       "user \"mallory\" is banned",
       0,
       true,
       "user \"mallory\" is banned",
       "",
       "banned"},
      {"an unread body ends the connection",
       {.method = "POST", .target = pods, .token = "", .body_pending = true},
       {},
       401,
       "Unauthorized",
       0,
       false,
       "Unauthorized",
       "",
       "missing"},
      {"not under /clusters/", {.target = "/api/v1/pods"}, {}, 404, ""},
      {"path trick", {.target = "/clusters/edge-1/api/v1/namespaces/%2e%2e/secrets"}, {}, 400, ""},
      {"tenant rate limit",
       {.target = pods},
       {.rate = {false, 7}},
       429,
       "too many requests from tenant \"acme\"; retry in 7s",
       7,
       true,
       "tenant rate limit",
       "rate_limit"},
      {"rate limit before grants",
       {.target = secrets},
       {.rate = {false, 2}},
       429,
       "too many requests from tenant \"acme\"; retry in 2s",
       2,
       true,
       "tenant rate limit",
       "rate_limit"},
      {"grants",
       {.target = secrets},
       {},
       403,
       grantDenial("list", "secrets", "in the namespace \"team-a\""),
       0,
       true,
       grantDenial("list", "secrets", "in the namespace \"team-a\""),
       "grant"},
      {"grants before the tunnel",
       {.target = secrets},
       {.tunnel = false},
       403,
       grantDenial("list", "secrets", "in the namespace \"team-a\""),
       0,
       true,
       grantDenial("list", "secrets", "in the namespace \"team-a\""),
       "grant"},
      {"a name under the reviews goes through the grants",
       {.method = "POST", .target = std::string(kReviews) + "/x"},
       {},
       403,
       "selfsubjectaccessreviews \"x\" is forbidden: User \"alice\" cannot create resource "
       "\"selfsubjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope "
       "of cluster \"edge-1\": no grant of tenant \"acme\" allows it (ask your platform team for "
       "a grant)",
       0,
       true,
       "selfsubjectaccessreviews \"x\" is forbidden: User \"alice\" cannot create resource "
       "\"selfsubjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope "
       "of cluster \"edge-1\": no grant of tenant \"acme\" allows it (ask your platform team for "
       "a grant)",
       "grant"},
      {"cluster not connected",
       {.target = pods},
       {.tunnel = false},
       503,
       "cluster \"edge-1\" is not connected to this hub (its agent is offline or unknown)"},
      {"break-glass: no grants, but a tunnel",
       {.target = secrets, .token = "root"},
       {.tunnel = false},
       503,
       "cluster \"edge-1\" is not connected to this hub (its agent is offline or unknown)"},
      {"all namespaces with namespace grants: only the cache can answer",
       {.target = "/clusters/edge-1/api/v1/pods"},
       {},
       403,
       "pods is forbidden: User \"alice\" cannot list pods across all namespaces of cluster "
       "\"edge-1\"; granted namespaces: team-a, team-b (use -n NAMESPACE)"},
      {"all namespaces, the cache declines",
       {.target = "/clusters/edge-1/api/v1/pods?watch=1"},
       {.cache = declined("parameter x")},
       403,
       "pods is forbidden: User \"alice\" cannot watch pods across all namespaces of cluster "
       "\"edge-1\"; granted namespaces: team-a, team-b (use -n NAMESPACE)"},
      {"namespace grants never reach cluster-scoped types",
       {.target = "/clusters/edge-1/api/v1/nodes"},
       {.cache = served("nodes", false)},
       403,
       "nodes is forbidden: User \"alice\" cannot list nodes across all namespaces of cluster "
       "\"edge-1\"; granted namespaces: none for this cluster-scoped resource (use -n "
       "NAMESPACE)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Planned p = plan(c.request, c.world);
    const Reject r = rejected(p);
    EXPECT_EQ(r.code, c.code);
    if (c.code == 400 || c.code == 404) {
      EXPECT_FALSE(r.message.empty());
      EXPECT_EQ(r.audit_reason, r.message);
      if (!c.message.empty()) {
        EXPECT_EQ(r.message, c.message);
      }
    } else {
      EXPECT_EQ(r.message, c.message);
      EXPECT_EQ(r.audit_reason, c.audit_reason);
    }
    EXPECT_EQ(r.retry_after, c.retry_after);
    EXPECT_EQ(r.keep_alive, c.keep_alive);
    EXPECT_EQ(r.denial ? r.denial : "", c.denial);
    EXPECT_EQ(r.auth_failure ? r.auth_failure : "", c.auth_failure);
    EXPECT_EQ(p.cache_asked, c.name.find("cache") != std::string::npos ||
                                     c.name.find("cluster-scoped") != std::string::npos
                                 ? 1
                                 : 0);
  }
}

TEST(RequestPlan, OnlyRefusalsAfterTheTunnelCheckNameTheCluster) {
  // Metrics label requests by cluster only for clusters served here: user-chosen names are
  // unbounded.
  EXPECT_FALSE(
      rejected(plan({.target = "/clusters/x/api/v1/pods"}, {.tunnel = false})).served_cluster);
  EXPECT_FALSE(rejected(plan({.target = "/clusters/edge-1/api/v1/pods"}, {.rate = {false, 1}}))
                   .served_cluster);
  EXPECT_TRUE(rejected(plan({.target = "/clusters/edge-1/api/v1/pods"}, {})).served_cluster);
  EXPECT_TRUE(planReviewBodyUnreadable().served_cluster);
}

TEST(RequestPlan, BreakGlassBypassesGrantsRateLimitAndQuota) {
  Planned p = plan(
      {.target = "/clusters/edge-1/api/v1/namespaces/kube-system/secrets", .token = "root"}, {});
  EXPECT_FALSE(p.rate_limited);
  const Forward f = forwarded(p);
  EXPECT_FALSE(f.stream_quota);
  EXPECT_EQ(f.head.headers[0], (std::pair<std::string, std::string>{"Impersonate-User", "root"}));
  EXPECT_TRUE(plan({.target = "/clusters/edge-1/api/v1/pods"}, {}).rate_limited);
  EXPECT_TRUE(forwarded(plan({.target = "/clusters/edge-1/api/v1/namespaces/team-a/pods"}, {}))
                  .stream_quota);
}

TEST(RequestPlan, CachedReadChosenOrForwardedWithWhyNot) {
  const std::string pods = "/clusters/edge-1/api/v1/namespaces/team-a/pods";
  {
    Planned p = plan({.target = pods}, {.cache = served("pods", true)});
    auto* serve = std::get_if<ServeFromCache>(&p.plan);
    ASSERT_NE(serve, nullptr);
    EXPECT_NE(serve->decision.store, nullptr);
    EXPECT_FALSE(serve->allow_stale);
    EXPECT_FALSE(serve->otherwise.has_value());
    EXPECT_TRUE(serve->decision.filter.allowed_namespaces.empty());
    EXPECT_TRUE(serve->keep_alive);
  }
  {
    Planned p = plan({.target = pods, .keep_alive = false}, {.cache = served("pods", true)});
    ASSERT_TRUE(std::holds_alternative<ServeFromCache>(p.plan));
    EXPECT_FALSE(std::get<ServeFromCache>(p.plan).keep_alive);
  }
  {
    Planned p = plan({.target = pods}, {.cache = declined("parameter x")});
    EXPECT_EQ(forwarded(p).cache_declined, "parameter x");
    EXPECT_EQ(p.cache_asked, 1);
  }
  {
    Planned p = plan({.target = pods}, {});  // the cluster is not cached
    EXPECT_EQ(forwarded(p).cache_declined, "");
    EXPECT_EQ(p.cache_asked, 1);
  }
  // Only a GET without a body asks the cache.
  for (const auto& method : {"POST", "DELETE", "HEAD"}) {
    SCOPED_TRACE(method);
    Planned p =
        plan({.method = method, .target = "/clusters/edge-1/api/v1/namespaces/x/configmaps"},
             {.cache = served("configmaps", true)});
    forwarded(p);
    EXPECT_EQ(p.cache_asked, 0);
  }
  {
    Planned p = plan({.target = pods, .body_pending = true}, {.cache = served("pods", true)});
    forwarded(p);
    EXPECT_EQ(p.cache_asked, 0);
  }
  // Break-glass reads are cached too.
  EXPECT_TRUE(std::holds_alternative<ServeFromCache>(
      plan({.target = pods, .token = "root"}, {.cache = served("pods", true)}).plan));
}

TEST(RequestPlan, AllNamespacesWithNamespaceGrantsIsServedOnlyByTheCache) {
  Planned p =
      plan({.target = "/clusters/edge-1/api/v1/pods?limit=500"}, {.cache = served("pods", true)});
  auto* serve = std::get_if<ServeFromCache>(&p.plan);
  ASSERT_NE(serve, nullptr);
  EXPECT_EQ(serve->decision.filter.allowed_namespaces,
            (std::vector<std::string>{"team-a", "team-b"}));
  EXPECT_TRUE(serve->allow_stale);
  ASSERT_TRUE(serve->otherwise.has_value());
  EXPECT_EQ(serve->otherwise->code, 403);
  EXPECT_EQ(serve->otherwise->message,
            "pods is forbidden: User \"alice\" cannot list pods across all namespaces of cluster "
            "\"edge-1\"; granted namespaces: team-a, team-b (use -n NAMESPACE)");
  EXPECT_TRUE(serve->otherwise->served_cluster);
  // Granted everywhere: no trimming, and a declined cache forwards.
  Planned cm =
      plan({.target = "/clusters/edge-1/api/v1/configmaps"}, {.cache = served("configmaps", true)});
  ASSERT_TRUE(std::holds_alternative<ServeFromCache>(cm.plan));
  EXPECT_TRUE(std::get<ServeFromCache>(cm.plan).decision.filter.allowed_namespaces.empty());
  EXPECT_FALSE(std::get<ServeFromCache>(cm.plan).otherwise.has_value());
}

TEST(RequestPlan, AccessReviews) {
  const std::string json = "application/json";
  auto review = [&](std::string attrs) {
    return "{\"kind\":\"SelfSubjectAccessReview\",\"apiVersion\":\"authorization.k8s.io/v1\","
           "\"spec\":{\"resourceAttributes\":" +
           attrs + "}}";
  };
  Request post{.method = "POST",
               .target = std::string(kReviews),
               .headers = {{"Content-Type", json}, {"Content-Length", "10"}},
               .body_pending = true};
  {
    // The head alone asks for the body, whoever asks.
    RequestHead head;
    head.method = "POST";
    head.target = kReviews;
    head.body_pending = true;
    auto who = authenticate("alice");
    auto target = std::get<RequestTarget>(planTarget(head, who, true));
    EXPECT_TRUE(target.access_review);
    AuthSnapshot snap = grants();
    PolicyFacts facts;
    facts.auth = &snap;
    facts.tunnel_here = true;
    auto no_cache = [] { return std::optional<cache::CacheDecision>(); };
    RequestPlan p = planRequest(head, *who, target, facts, no_cache);
    ASSERT_TRUE(std::holds_alternative<ReadReviewBody>(p));
    EXPECT_EQ(std::get<ReadReviewBody>(p).limit, 64u * 1024);
  }
  struct Case {
    std::string name;
    std::string body;
    /// Empty: forwarded; else the reason of the hub's denial.
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"allowed: the edge's RBAC answers too",
       review("{\"namespace\":\"team-a\",\"verb\":\"get\",\"resource\":\"pods\"}"), ""},
      {"denied", review("{\"namespace\":\"team-a\",\"verb\":\"get\",\"resource\":\"secrets\"}"),
       "secrets is forbidden: User \\\"alice\\\" cannot get resource \\\"secrets\\\""},
      {"allowed only in some namespaces", review("{\"verb\":\"list\",\"resource\":\"pods\"}"),
       "allowed only in some namespaces"},
      {"a namespace named for a cluster-scoped type is ignored",
       review("{\"namespace\":\"team-a\",\"verb\":\"get\",\"resource\":\"nodes\"}"),
       "at the cluster scope"},
      {"an empty body is refused, not forwarded", "", "\"allowed\":false"},
      {"garbage", "{not json", "\"allowed\":false"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Request r = post;
    r.headers[1].second = std::to_string(c.body.size());
    Planned p = plan(r, {.review_body = c.body});
    if (c.reason.empty()) {
      const Forward f = forwarded(p);
      EXPECT_EQ(f.body, c.body);
      EXPECT_FALSE(f.end_stream);
      EXPECT_FALSE(f.stream_body);
      EXPECT_TRUE(f.refusal_keep_alive);  // the body has been read
      continue;
    }
    auto* answer = std::get_if<AnswerReview>(&p.plan);
    ASSERT_NE(answer, nullptr);
    EXPECT_NE(answer->body.find("\"allowed\":false"), std::string::npos) << answer->body;
    EXPECT_NE(answer->body.find(c.reason), std::string::npos) << answer->body;
    EXPECT_TRUE(answer->keep_alive);
  }
  // Without a body at all, the review is still the hub's to refuse.
  Planned empty = plan({.method = "POST", .target = std::string(kReviews)}, {});
  ASSERT_TRUE(std::holds_alternative<AnswerReview>(empty.plan));
  // Forwarded with its body: Content-Length names what the hub read.
  Request r = post;
  std::string body = review("{\"namespace\":\"team-b\",\"verb\":\"get\",\"resource\":\"pods\"}");
  r.headers[1].second = "999";
  const Forward f = forwarded(plan(r, {.review_body = body}));
  EXPECT_EQ(net::findHeader(f.head.headers, "Content-Length"), std::to_string(body.size()));
  // Break-glass and hubs without a metaserver leave reviews to the edge.
  EXPECT_EQ(forwarded(plan({.method = "POST", .target = std::string(kReviews), .token = "root"},
                           {.review_body = "x"}))
                .body,
            "x");
  EXPECT_EQ(forwarded(plan({.method = "POST", .target = std::string(kReviews)},
                           {.metaserver = false, .review_body = "x"}))
                .body,
            "x");
  Reject unreadable = planReviewBodyUnreadable();
  EXPECT_EQ(unreadable.code, 400);
  EXPECT_EQ(unreadable.message, "the SelfSubjectAccessReview body is unreadable or too large");
  EXPECT_FALSE(unreadable.keep_alive);
}

TEST(RequestPlan, IdentityHeadersFirstAndHeadsThatDoNotFitRefused) {
  Request r{.target = "/clusters/edge-1/api/v1/namespaces/team-a/pods",
            .headers = {{"Authorization", "Bearer t"},
                        {"Impersonate-User", "admin"},
                        {"Impersonate-Group", "system:masters"},
                        {"Accept", "application/json"},
                        {"Connection", "keep-alive"}}};
  const Forward f = forwarded(plan(r, {}));
  const net::HeaderList expected = {{"Impersonate-User", "alice"},
                                    {"Impersonate-Group", "kubehub:tenant:acme"},
                                    {"Impersonate-Group", "kubehub:group:dev"},
                                    {"Impersonate-Group", "system:authenticated"},
                                    {"Accept", "application/json"}};
  EXPECT_EQ(f.head.headers, expected);
  EXPECT_EQ(f.head.method, "GET");
  EXPECT_EQ(f.head.target, "/api/v1/namespaces/team-a/pods");
  EXPECT_EQ(f.dropped_headers, (std::vector<std::string>{"Impersonate-User", "Impersonate-Group"}));
  EXPECT_EQ(f.cluster, "edge-1");
  EXPECT_EQ(f.via, Forward::Via::kTunnel);

  // alice's identity takes 4 of the 256 headers an OPEN carries.
  Request full{.target = "/clusters/edge-1/api/v1/namespaces/team-a/pods?x=1"};
  for (int i = 0; i < 252; ++i) full.headers.emplace_back("X-H-" + std::to_string(i), "v");
  full.headers.emplace_back("Authorization", "Bearer t");  // dropped, so not counted
  EXPECT_EQ(forwarded(plan(full, {})).head.headers.size(), proto::kMaxHeaders);
  full.headers.emplace_back("X-One-Too-Many", "v");
  const Reject refused = rejected(plan(full, {}));
  EXPECT_EQ(refused.code, 431);
  EXPECT_EQ(refused.message,
            "the request has 253 headers; kubehub forwards at most 252 (it adds 4 of its own to "
            "name the user)");
  EXPECT_EQ(refused.audit_reason, "too many request headers");
  EXPECT_TRUE(refused.keep_alive);
  EXPECT_TRUE(refused.served_cluster);
  full.body_pending = true;
  full.method = "PUT";
  EXPECT_FALSE(rejected(plan(full, {})).keep_alive);
}

TEST(RequestPlan, LongLivedUpgradesAndBodies) {
  struct Case {
    std::string name;
    Request request;
    bool long_lived;
    bool upgrade = false;
    bool end_stream = true;
    bool stream_body = false;
    bool expect_continue = false;
    bool is_head = false;
  };
  const std::string ns = "/clusters/edge-1/api/v1/namespaces/team-a";
  const std::vector<Case> cases = {
      {"plain get", {.target = ns + "/pods/web"}, false},
      {"watch=1", {.target = ns + "/pods?watch=1"}, true},
      {"watch=true", {.target = ns + "/pods?watch=true"}, true},
      {"watch=false", {.target = ns + "/pods?watch=false"}, false},
      {"follow=true", {.target = ns + "/pods/web/log?follow=true"}, true},
      {"follow=0", {.target = ns + "/pods/web/log?follow=0"}, false},
      {"/watch/ path", {.target = "/clusters/edge-1/api/v1/watch/namespaces/team-a/pods"}, true},
      {"upgrade",
       {.method = "POST",
        .target = ns + "/pods/web/exec?command=sh",
        .headers = {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"}}},
       true,
       true,
       false},
      {"a body streams",
       {.method = "POST",
        .target = ns + "/configmaps",
        .headers = {{"Content-Length", "5"}},
        .body_pending = true},
       false,
       false,
       false,
       true},
      {"100-continue",
       {.method = "PUT",
        .target = ns + "/configmaps/c",
        .headers = {{"Expect", "100-continue"}, {"Content-Length", "5"}},
        .body_pending = true},
       false,
       false,
       false,
       true,
       true},
      {"HEAD",
       {.method = "HEAD", .target = ns + "/pods/web"},
       false,
       false,
       true,
       false,
       false,
       true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Forward f = forwarded(plan(c.request, {}));
    EXPECT_EQ(f.long_lived, c.long_lived);
    EXPECT_EQ(f.upgrade, c.upgrade);
    EXPECT_EQ(f.end_stream, c.end_stream);
    EXPECT_EQ(f.stream_body, c.stream_body);
    EXPECT_EQ(f.expect_continue, c.expect_continue);
    EXPECT_EQ(f.is_head, c.is_head);
    EXPECT_EQ(f.refusal_keep_alive, !c.stream_body);
    if (c.upgrade) {
      EXPECT_EQ(net::findHeader(f.head.headers, "Upgrade"), "SPDY/3.1");
    }
  }
}

TEST(RequestPlan, StreamsOpenedByWebSocketGetNeedCreateLikeSpdyPosts) {
  // acme may get/list/watch/create pods, pods/log and pods/exec in team-a, nothing more.
  const std::string pod = "/clusters/edge-1/api/v1/namespaces/team-a/pods/web";
  const std::vector<std::pair<std::string, std::string>> ws = {
      {"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"}};
  const std::vector<std::pair<std::string, std::string>> spdy = {{"Connection", "Upgrade"},
                                                                 {"Upgrade", "SPDY/3.1"}};
  for (const auto& [method, headers] : {std::pair{"GET", ws}, std::pair{"POST", spdy}}) {
    SCOPED_TRACE(method);
    Forward exec = forwarded(plan(
        {.method = method, .target = pod + "/exec?command=sh&stdin=true", .headers = headers}, {}));
    EXPECT_TRUE(exec.upgrade);
    for (const std::string sub : {"portforward", "attach"}) {
      Reject r =
          rejected(plan({.method = method, .target = pod + "/" + sub, .headers = headers}, {}));
      EXPECT_EQ(r.code, 403);
      EXPECT_EQ(r.message.substr(0, r.message.find(" in API group")),
                "pods/" + sub +
                    " \"web\" is forbidden: User \"alice\" cannot create resource \"pods/" + sub +
                    "\"");
    }
  }
}

TEST(RequestPlan, StreamQuotaAndOpenRefusals) {
  Principal alice = *authenticate("alice");
  Forward watch;
  watch.cluster = "edge-1";
  watch.long_lived = true;
  Reject r = planStreamQuotaRefusal(watch, alice, {"--max-long-streams-per-user", 16, "user"});
  EXPECT_EQ(r.code, 429);
  EXPECT_EQ(r.retry_after, 1);
  EXPECT_EQ(r.message,
            "too many concurrent long-lived streams (watches, followed logs, exec, attach, "
            "port-forward) of user \"alice\" on cluster \"edge-1\": at most 16 "
            "(--max-long-streams-per-user); close some or retry later");
  EXPECT_EQ(r.audit_reason, "stream quota --max-long-streams-per-user");
  EXPECT_STREQ(r.denial, "stream_quota");
  EXPECT_TRUE(r.keep_alive);

  Forward get;
  get.cluster = "edge-1";
  get.refusal_keep_alive = false;
  r = planStreamQuotaRefusal(get, alice, {"--max-requests-per-tenant", 512, "tenant"});
  EXPECT_EQ(r.message,
            "too many concurrent requests of tenant \"acme\" on cluster \"edge-1\": at most 512 "
            "(--max-requests-per-tenant); close some or retry later");
  EXPECT_FALSE(r.keep_alive);

  struct Case {
    absl::Status why;
    int code;
  };
  for (const auto& c : {Case{absl::ResourceExhaustedError("too many streams"), 429},
                        Case{absl::InvalidArgumentError("header too long"), 431},
                        Case{absl::UnavailableError("the tunnel is closing"), 503}}) {
    Reject open = planOpenRefusal(watch, c.why);
    EXPECT_EQ(open.code, c.code);
    EXPECT_EQ(open.message, "cluster \"edge-1\": " + std::string(c.why.message()));
    EXPECT_EQ(open.retry_after, 0);
    EXPECT_EQ(open.denial, nullptr);
  }
}

}  // namespace
}  // namespace kubehub::hub

namespace kubehub::hub {
namespace {

World elsewhere() {
  World w;
  w.tunnel = false;
  w.peer_route = true;
  w.elsewhere = PolicyFacts::Elsewhere::kHeld;
  w.cache = served("pods", true);
  return w;
}

TEST(RequestPlan, ClusterOnAnotherHubGoesThereAsTheUserSentIt) {
  Request r;
  r.target = "/clusters/edge-1/api/v1/namespaces/team-a/pods?limit=5";
  r.headers = {{"Accept", "application/json"},
               {"Kubehub-Peer-Identity", R"({"user":"root","breakGlass":true})"},
               {"kubehub-peer-whatever", "x"},
               {"Impersonate-User", "root"},
               {"Authorization", "Bearer secret"}};
  Planned p = plan(r, elsewhere());
  Forward f = forwarded(p);
  EXPECT_EQ(p.cache_asked, 0) << "the owner's cache answers, not this hub's";
  EXPECT_EQ(f.via, Forward::Via::kPeerHub);
  EXPECT_EQ(f.cluster, "edge-1");
  EXPECT_EQ(f.head.target, r.target) << "the owner hub plans the user's own target";
  ASSERT_FALSE(f.head.headers.empty());
  EXPECT_EQ(f.head.headers[0].first, "Kubehub-Peer-Identity");
  auto who = decodePeerIdentity(f.head.headers[0].second);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->user, "alice");
  EXPECT_EQ(who->tenant, "acme");
  EXPECT_FALSE(who->break_glass);
  for (size_t i = 1; i < f.head.headers.size(); ++i) {
    const auto& name = f.head.headers[i].first;
    EXPECT_FALSE(net::iequals(name.substr(0, 13), "Kubehub-Peer-")) << name;
    EXPECT_FALSE(net::iequals(name, "Authorization"));
    EXPECT_FALSE(net::iequals(name.substr(0, 12), "Impersonate-")) << name;
  }
  EXPECT_EQ(f.dropped_headers.size(), 3u);
}

TEST(RequestPlan, GrantsAreCheckedBeforeAPeerHubIsAsked) {
  Request r;
  r.target = "/clusters/edge-1/api/v1/namespaces/team-c/pods";
  Reject rej = rejected(plan(r, elsewhere()));
  EXPECT_EQ(rej.code, 403);
}

TEST(RequestPlan, WritesReviewsAndStreamsGoToThePeerHubToo) {
  Request write;
  write.method = "POST";
  write.target = "/clusters/edge-1/api/v1/namespaces/team-a/pods";
  write.body_pending = true;
  Forward w = forwarded(plan(write, elsewhere()));
  EXPECT_EQ(w.via, Forward::Via::kPeerHub);
  EXPECT_TRUE(w.stream_body);
  EXPECT_FALSE(w.end_stream);

  Request review;
  review.method = "POST";
  review.target = std::string(kReviews);
  review.body_pending = true;
  Forward rv = forwarded(plan(review, elsewhere()));
  EXPECT_EQ(rv.via, Forward::Via::kPeerHub) << "the owner answers the review from the grants";

  Request exec;
  exec.target = "/clusters/edge-1/api/v1/namespaces/team-a/pods/p/exec?command=sh";
  exec.headers = {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}};
  Forward e = forwarded(plan(exec, elsewhere()));
  EXPECT_EQ(e.via, Forward::Via::kPeerHub);
  EXPECT_TRUE(e.upgrade);
  EXPECT_TRUE(e.long_lived);
}

TEST(RequestPlan, NoHubHoldsTheTunnel) {
  Request r;
  r.target = "/clusters/edge-1/api/v1/namespaces/team-a/pods";
  World w = elsewhere();
  w.peer_route = false;
  Reject rej = rejected(plan(r, w));
  EXPECT_EQ(rej.code, 503);
  EXPECT_EQ(rej.message,
            "cluster \"edge-1\" is connected to another hub, which this hub cannot reach (it "
            "takes no peer links: --peer-listen)");
  w.elsewhere = PolicyFacts::Elsewhere::kNowhere;
  EXPECT_EQ(rejected(plan(r, w)).message,
            "cluster \"edge-1\" is not connected to any hub (its agent is offline or unknown)");
  w.elsewhere = PolicyFacts::Elsewhere::kUnknown;
  EXPECT_EQ(rejected(plan(r, w)).message,
            "cluster \"edge-1\" is not connected to this hub (its agent is offline or unknown)");
}

}  // namespace
}  // namespace kubehub::hub

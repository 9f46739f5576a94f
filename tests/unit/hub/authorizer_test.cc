#include "hub/auth/authorizer.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "hub/auth/metaserver_sync.h"

namespace kubehub::hub {
namespace {

auth::GrantRule rule(std::vector<std::string> resources, std::vector<std::string> verbs,
                     std::vector<std::string> namespaces, std::vector<std::string> groups = {""}) {
  return auth::GrantRule{std::move(groups), std::move(resources), std::move(verbs),
                         std::move(namespaces)};
}

AuthSnapshot snapshot() {
  auth::Grant team;  // every user of acme on edge-1
  team.name = "team";
  team.tenant = "acme";
  team.cluster_names = {"edge-1"};
  team.rules = {rule({"pods", "pods/log"}, {"get", "list", "watch"}, {"team-a", "team-b"}),
                rule({"configmaps"}, {"*"}, {"*"}),
                rule({"deployments"}, {"get"}, {"*"}, {"apps"})};
  auth::Grant bob;  // bob alone
  bob.name = "bob-secrets";
  bob.tenant = "acme";
  bob.user = "bob";
  bob.cluster_names = {"edge-1"};
  bob.rules = {rule({"secrets"}, {"get"}, {"*"})};
  auth::Grant labelled;  // clusters labelled env=dev
  labelled.name = "dev";
  labelled.tenant = "acme";
  labelled.cluster_selector = "env=dev";
  labelled.rules = {rule({"services"}, {"list"}, {"*"})};
  auth::Grant other;  // another tenant's grant covers nothing of acme's
  other.name = "globex";
  other.tenant = "globex";
  other.cluster_names = {"*"};
  other.rules = {rule({"*"}, {"*"}, {"*"}, {"*"})};

  AuthSnapshot s;
  s.grants = std::make_shared<const std::unordered_map<std::string, std::vector<auth::Grant>>>(
      std::unordered_map<std::string, std::vector<auth::Grant>>{{"acme", {team, bob, labelled}},
                                                                {"globex", {other}}});
  std::unordered_map<std::string, ClusterRecord> clusters;
  clusters["edge-1"] = ClusterRecord{};
  clusters["edge-2"] = ClusterRecord{};
  clusters["edge-dev"] = ClusterRecord{{{"env", "dev"}}, false};
  clusters["edge-off"] = ClusterRecord{{}, true};
  s.clusters = std::make_shared<const std::unordered_map<std::string, ClusterRecord>>(clusters);
  s.revoked = std::make_shared<const std::unordered_map<std::string, int64_t>>();
  s.banned_users = std::make_shared<const std::unordered_set<std::string>>();
  s.banned_tenants = std::make_shared<const std::unordered_set<std::string>>();
  return s;
}

Principal user(std::string name, bool break_glass = false) {
  Principal p;
  p.user = std::move(name);
  p.tenant = break_glass ? "" : "acme";
  p.break_glass = break_glass;
  return p;
}

AccessQuery resource(std::string cluster, std::string verb, std::string resource,
                     std::string ns = "", std::string group = "", std::string name = "",
                     std::string subresource = "") {
  AccessQuery q;
  q.cluster = std::move(cluster);
  q.verb = std::move(verb);
  q.resource = std::move(resource);
  q.namespace_name = std::move(ns);
  q.api_group = std::move(group);
  q.name = std::move(name);
  q.subresource = std::move(subresource);
  return q;
}

AccessQuery path(std::string cluster, std::string verb, std::string p) {
  AccessQuery q;
  q.cluster = std::move(cluster);
  q.verb = std::move(verb);
  q.is_resource_request = false;
  q.path = std::move(p);
  return q;
}

struct Case {
  std::string name;
  Principal who;
  AccessQuery query;
  bool allowed;
  /// For an allowed all-namespaces list: the namespaces it is limited to.
  std::optional<std::vector<std::string>> namespaces = std::nullopt;
  /// For a denial: the whole 403 message.
  std::string message = "";
};

TEST(Authorizer, GrantsDecide) {
  const std::vector<Case> cases = {
      {"namespace granted", user("alice"), resource("edge-1", "get", "pods", "team-a"), true},
      {"namespace not granted", user("alice"), resource("edge-1", "get", "pods", "team-c"), false,
       std::nullopt,
       "pods is forbidden: User \"alice\" cannot get resource \"pods\" in API group \"\" in the "
       "namespace \"team-c\" of cluster \"edge-1\": no grant of tenant \"acme\" allows it (ask "
       "your platform team for a grant)"},
      {"named object in the message", user("alice"),
       resource("edge-1", "delete", "pods", "team-a", "", "web-0"), false, std::nullopt,
       "pods \"web-0\" is forbidden: User \"alice\" cannot delete resource \"pods\" in API group "
       "\"\" in the namespace \"team-a\" of cluster \"edge-1\": no grant of tenant \"acme\" allows "
       "it (ask your platform team for a grant)"},
      {"subresource granted", user("alice"),
       resource("edge-1", "get", "pods", "team-a", "", "w", "log"), true},
      {"subresource not granted", user("alice"),
       resource("edge-1", "create", "pods", "team-a", "", "w", "exec"), false, std::nullopt,
       "pods/exec \"w\" is forbidden: User \"alice\" cannot create resource \"pods/exec\" in API "
       "group \"\" in the namespace \"team-a\" of cluster \"edge-1\": no grant of tenant \"acme\" "
       "allows it (ask your platform team for a grant)"},
      {"all namespaces, some granted", user("alice"), resource("edge-1", "list", "pods"), true,
       std::vector<std::string>{"team-a", "team-b"}},
      {"watch across namespaces, some granted", user("alice"), resource("edge-1", "watch", "pods"),
       true, std::vector<std::string>{"team-a", "team-b"}},
      {"get at cluster scope is no list", user("alice"), resource("edge-1", "get", "pods"), false,
       std::nullopt,
       "pods is forbidden: User \"alice\" cannot get resource \"pods\" in API group \"\" at the "
       "cluster scope of cluster \"edge-1\": no grant of tenant \"acme\" allows it (ask your "
       "platform team for a grant)"},
      {"any namespace covers all", user("alice"), resource("edge-1", "list", "configmaps"), true},
      {"any verb", user("alice"), resource("edge-1", "deletecollection", "configmaps", "x"), true},
      {"API group", user("alice"), resource("edge-1", "get", "deployments", "x", "apps"), true},
      {"API group named in the message", user("alice"),
       resource("edge-1", "update", "deployments", "x", "apps"), false, std::nullopt,
       "deployments is forbidden: User \"alice\" cannot update resource \"deployments\" in API "
       "group \"apps\" in the namespace \"x\" of cluster \"edge-1\": no grant of tenant \"acme\" "
       "allows it (ask your platform team for a grant)"},
      {"a user's own grant", user("bob"), resource("edge-1", "get", "secrets", "x"), true},
      {"not another user's grant", user("alice"), resource("edge-1", "get", "secrets", "x"), false,
       std::nullopt,
       "secrets is forbidden: User \"alice\" cannot get resource \"secrets\" in API group \"\" in "
       "the namespace \"x\" of cluster \"edge-1\": no grant of tenant \"acme\" allows it (ask your "
       "platform team for a grant)"},
      {"cluster not covered", user("alice"), resource("edge-2", "get", "pods", "team-a"), false,
       std::nullopt,
       "pods is forbidden: User \"alice\" cannot get resource \"pods\" in API group \"\" in the "
       "namespace \"team-a\" of cluster \"edge-2\": no grant of tenant \"acme\" allows it (ask "
       "your platform team for a grant)"},
      {"cluster by labels", user("alice"), resource("edge-dev", "list", "services"), true},
      {"disabled cluster", user("alice"), resource("edge-off", "get", "pods", "team-a"), false,
       std::nullopt, "cluster \"edge-off\" is disabled"},
      {"break-glass", user("root", true), resource("edge-off", "delete", "nodes"), true},
      {"discovery with any grant on the cluster", user("alice"),
       path("edge-1", "get", "/apis/apps"), true},
      {"version", user("alice"), path("edge-1", "get", "/version"), true},
      {"openapi", user("alice"), path("edge-1", "get", "/openapi/v3"), true},
      {"discovery needs a grant on the cluster", user("alice"), path("edge-2", "get", "/api"),
       false, std::nullopt,
       "User \"alice\" cannot get path \"/api\" on cluster \"edge-2\": no grant of tenant \"acme\" "
       "covers it"},
      {"other paths refused", user("alice"), path("edge-1", "get", "/healthz"), false, std::nullopt,
       "User \"alice\" cannot get path \"/healthz\" on cluster \"edge-1\": no grant of tenant "
       "\"acme\" covers it"},
      {"discovery is read-only", user("alice"), path("edge-1", "post", "/api"), false, std::nullopt,
       "User \"alice\" cannot post path \"/api\" on cluster \"edge-1\": no grant of tenant "
       "\"acme\" "
       "covers it"},
      {"self access review", user("alice"),
       resource("edge-1", "create", "selfsubjectaccessreviews", "", "authorization.k8s.io"), true},
      {"self rules review", user("alice"),
       resource("edge-1", "create", "selfsubjectrulesreviews", "", "authorization.k8s.io"), true},
      {"self review (who am I)", user("alice"),
       resource("edge-1", "create", "selfsubjectreviews", "", "authentication.k8s.io"), true},
      {"self review needs a grant on the cluster", user("alice"),
       resource("edge-2", "create", "selfsubjectaccessreviews", "", "authorization.k8s.io"), false,
       std::nullopt,
       "selfsubjectaccessreviews is forbidden: User \"alice\" cannot create resource "
       "\"selfsubjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope "
       "of cluster \"edge-2\": no grant of tenant \"acme\" allows it (ask your platform team for "
       "a grant)"},
      {"a name under the reviews is no review", user("alice"),
       resource("edge-1", "create", "selfsubjectaccessreviews", "", "authorization.k8s.io", "x"),
       false, std::nullopt,
       "selfsubjectaccessreviews \"x\" is forbidden: User \"alice\" cannot create resource "
       "\"selfsubjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope "
       "of cluster \"edge-1\": no grant of tenant \"acme\" allows it (ask your platform team for "
       "a grant)"},
      {"a subresource under the reviews is no review", user("alice"),
       resource("edge-1", "create", "selfsubjectaccessreviews", "", "authorization.k8s.io", "x",
                "y"),
       false, std::nullopt,
       "selfsubjectaccessreviews/y \"x\" is forbidden: User \"alice\" cannot create resource "
       "\"selfsubjectaccessreviews/y\" in API group \"authorization.k8s.io\" at the cluster scope "
       "of cluster \"edge-1\": no grant of tenant \"acme\" allows it (ask your platform team for "
       "a grant)"},
  };
  const AuthSnapshot snap = snapshot();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    AccessDecision d = decideAccess(c.who, snap, c.query);
    EXPECT_EQ(d.allowed, c.allowed);
    EXPECT_EQ(d.namespaces, c.namespaces);
    EXPECT_EQ(d.message, c.message);
  }
}

}  // namespace
}  // namespace kubehub::hub

#include "common/auth/grant.h"

#include <gtest/gtest.h>

namespace kubehub::auth {
namespace {

Grant podsReader() {
  Grant g;
  g.name = "pods-read";
  g.tenant = "acme";
  g.cluster_names = {"edge-1"};
  g.cluster_selector = "env=prod";
  g.rules = {GrantRule{{""}, {"pods", "pods/log"}, {"get", "list", "watch"}, {"default", "web"}}};
  return g;
}

AccessRequest req(std::string verb, std::string resource, std::string ns, std::string sub = "") {
  AccessRequest q;
  q.tenant = "acme";
  q.user = "alice";
  q.cluster = "edge-1";
  q.resource = std::move(resource);
  q.subresource = std::move(sub);
  q.verb = std::move(verb);
  q.namespace_name = std::move(ns);
  return q;
}

TEST(Grant, ValidateAcceptsAGoodGrantAndNamesTheFirstProblem) {
  EXPECT_TRUE(validateGrant(podsReader()).ok());
  auto bad = [](auto mutate, std::string_view needle) {
    Grant g = podsReader();
    mutate(g);
    auto s = validateGrant(g);
    EXPECT_FALSE(s.ok()) << needle;
    EXPECT_NE(std::string(s.message()).find(needle), std::string::npos) << s.message();
  };
  bad([](Grant& g) { g.name = "Bad_Name"; }, "DNS label");
  bad([](Grant& g) { g.cluster_names.clear(), g.cluster_selector.clear(); }, "clusters");
  bad([](Grant& g) { g.cluster_names = {"edge_1"}; }, "cluster name");
  bad([](Grant& g) { g.cluster_selector = "env in (prod"; }, "label selector");
  bad([](Grant& g) { g.rules.clear(); }, "at least one rule");
  bad([](Grant& g) { g.rules[0].verbs = {"steal"}; }, "unknown verb");
  bad([](Grant& g) { g.rules[0].resources = {"pods/"}; }, "invalid resource");
  bad([](Grant& g) { g.rules[0].resources = {"Pods"}; }, "invalid resource");
  bad([](Grant& g) { g.rules[0].namespaces = {}; }, "namespaces");
  bad([](Grant& g) { g.rules[0].namespaces = {"kube_system"}; }, "namespace");
  bad([](Grant& g) { g.rules[0].api_groups = {"apps/v1"}; }, "API group");
}

TEST(Grant, CommandsAreAKindOfGrantOfTheirOwn) {
  Grant g = podsReader();
  g.rules.clear();
  g.commands = {"disk-usage", "*"};
  EXPECT_TRUE(validateGrant(g).ok());
  EXPECT_TRUE(grantAllowsCommand(g, "reboot"));  // "*"
  g.commands = {"disk-usage"};
  EXPECT_TRUE(grantAllowsCommand(g, "disk-usage"));
  EXPECT_FALSE(grantAllowsCommand(g, "reboot"));
  EXPECT_FALSE(grantAllowsCommand(podsReader(), "disk-usage"));
  g.commands = {"Disk_Usage"};
  auto s = validateGrant(g);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("command \"Disk_Usage\""), std::string::npos);
  g.commands.clear();
  EXPECT_NE(std::string(validateGrant(g).message()).find("at least one rule or command"),
            std::string::npos);
  // Commands never allow a Kubernetes request.
  g = podsReader();
  g.rules.clear();
  g.commands = {"*"};
  EXPECT_FALSE(authorize({g}, req("get", "pods", "default")).allowed);
}

TEST(Grant, RulesMatchVerbsResourcesSubresourcesAndNamespaces) {
  Grant g = podsReader();
  const GrantRule& r = g.rules[0];
  EXPECT_TRUE(ruleAllows(r, req("get", "pods", "default")));
  EXPECT_TRUE(ruleAllows(r, req("get", "pods", "web", "log")));
  EXPECT_FALSE(ruleAllows(r, req("create", "pods", "default")));
  EXPECT_FALSE(ruleAllows(r, req("get", "pods", "default", "exec")));
  EXPECT_FALSE(ruleAllows(r, req("get", "pods", "kube-system")));
  EXPECT_FALSE(ruleAllows(r, req("list", "pods", "")));  // all namespaces needs "*"
  EXPECT_FALSE(ruleAllows(r, req("get", "secrets", "default")));
  auto apps = req("get", "pods", "default");
  apps.api_group = "apps";
  EXPECT_FALSE(ruleAllows(r, apps));

  GrantRule wide{{"*"}, {"*"}, {"*"}, {"*"}};
  EXPECT_TRUE(ruleAllows(wide, req("delete", "nodes", "")));
  EXPECT_TRUE(ruleAllows(wide, req("create", "pods", "x", "exec")));
  GrantRule subs{{""}, {"pods/*"}, {"create"}, {"*"}};
  EXPECT_TRUE(ruleAllows(subs, req("create", "pods", "x", "exec")));
  EXPECT_FALSE(ruleAllows(subs, req("create", "pods", "x")));
  GrantRule scale{{"apps"}, {"*/scale"}, {"update"}, {"*"}};
  auto q = req("update", "deployments", "x", "scale");
  q.api_group = "apps";
  EXPECT_TRUE(ruleAllows(scale, q));
}

TEST(Grant, ClustersByNameOrSelector) {
  Grant g = podsReader();
  EXPECT_TRUE(grantCoversCluster(g, "edge-1", {}));
  EXPECT_TRUE(grantCoversCluster(g, "edge-2", {{"env", "prod"}}));
  EXPECT_FALSE(grantCoversCluster(g, "edge-2", {{"env", "dev"}}));
  g.cluster_names = {"*"};
  EXPECT_TRUE(grantCoversCluster(g, "anything", {}));
}

TEST(Grant, AuthorizeIsPerTenantAndPerUser) {
  std::vector<Grant> grants = {podsReader()};
  EXPECT_TRUE(authorize(grants, req("list", "pods", "default")).allowed);
  EXPECT_EQ(authorize(grants, req("list", "pods", "default")).grant, "pods-read");
  auto other_tenant = req("list", "pods", "default");
  other_tenant.tenant = "globex";
  auto d = authorize(grants, other_tenant);
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("no grant for cluster"), std::string::npos) << d.reason;
  auto denied = authorize(grants, req("delete", "pods", "default"));
  EXPECT_FALSE(denied.allowed);
  EXPECT_NE(denied.reason.find("delete pods in namespace default"), std::string::npos)
      << denied.reason;

  grants[0].user = "bob";
  EXPECT_FALSE(authorize(grants, req("list", "pods", "default")).allowed);
  auto bob = req("list", "pods", "default");
  bob.user = "bob";
  EXPECT_TRUE(authorize(grants, bob).allowed);
}

}  // namespace
}  // namespace kubehub::auth

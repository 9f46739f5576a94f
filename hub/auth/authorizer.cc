#include "hub/auth/authorizer.h"

#include <algorithm>

#include "common/auth/grant.h"
#include "hub/auth/metaserver_sync.h"

namespace kubehub::hub {

namespace {

std::string qualified(const AccessQuery& q) {
  std::string r = q.resource;
  if (!q.subresource.empty()) r += "/" + q.subresource;
  return r;
}

}  // namespace

AccessDecision decideAccess(const Principal& who, const AuthSnapshot& snap, const AccessQuery& q) {
  AccessDecision d;
  if (who.break_glass) {
    d.allowed = true;
    return d;
  }
  auto cluster = snap.clusters->find(q.cluster);
  if (cluster != snap.clusters->end() && cluster->second.disabled) {
    d.message = "cluster \"" + q.cluster + "\" is disabled";
    return d;
  }
  auth::Labels no_labels;
  const auth::Labels& labels = cluster == snap.clusters->end() ? no_labels : cluster->second.labels;
  auto grants_it = snap.grants->find(who.tenant);
  static const std::vector<auth::Grant> kNone;
  const std::vector<auth::Grant>& grants =
      grants_it == snap.grants->end() ? kNone : grants_it->second;

  if (!q.is_resource_request) {
    // Discovery and version documents: anyone with any grant on the cluster may read them
    // (kubectl needs them for everything); other non-resource paths are refused.
    bool discovery = q.path == "/api" || q.path.starts_with("/api/") || q.path == "/apis" ||
                     q.path.starts_with("/apis/") || q.path == "/version" ||
                     q.path.starts_with("/openapi/");
    if (discovery && q.verb == "get") {
      for (const auto& g : grants) {
        if ((g.user.empty() || g.user == who.user) &&
            auth::grantCoversCluster(g, q.cluster, labels)) {
          d.allowed = true;
          return d;
        }
      }
    }
    d.message = "User \"" + who.user + "\" cannot " + q.verb + " path \"" + q.path +
                "\" on cluster \"" + q.cluster + "\": no grant of tenant \"" + who.tenant +
                "\" covers it";
    return d;
  }

  // Asking who one is and what one may do is everyone's right (system:basic-user in Kubernetes),
  // on any cluster a grant of theirs covers.
  // The collection only: a name or subresource under it is no review (and no RBAC rule of
  // system:basic-user covers one), so those go through the grants like any other request.
  bool self_review =
      q.verb == "create" && q.name.empty() && q.subresource.empty() &&
      ((q.api_group == "authentication.k8s.io" && q.resource == "selfsubjectreviews") ||
       (q.api_group == "authorization.k8s.io" &&
        (q.resource == "selfsubjectaccessreviews" || q.resource == "selfsubjectrulesreviews")));
  if (self_review) {
    for (const auto& g : grants) {
      if ((g.user.empty() || g.user == who.user) &&
          auth::grantCoversCluster(g, q.cluster, labels)) {
        d.allowed = true;
        return d;
      }
    }
  }
  auth::AccessRequest req;
  req.tenant = who.tenant;
  req.user = who.user;
  req.cluster = q.cluster;
  req.cluster_labels = labels;
  req.api_group = q.api_group;
  req.resource = q.resource;
  req.subresource = q.subresource;
  req.verb = q.verb;
  req.namespace_name = q.namespace_name;
  auth::Decision dec = auth::authorize(grants, req);
  if (dec.allowed) {
    d.allowed = true;
    return d;
  }
  // Across all namespaces, someone granted some namespaces may still list/watch them.
  if (q.namespace_name.empty() && (q.verb == "list" || q.verb == "watch")) {
    std::vector<std::string> allowed;
    for (const auto& g : grants) {
      if (!(g.user.empty() || g.user == who.user) ||
          !auth::grantCoversCluster(g, q.cluster, labels))
        continue;
      for (const auto& rule : g.rules) {
        for (const auto& ns : rule.namespaces) {
          auth::AccessRequest one = req;
          one.namespace_name = ns;
          if (ns != "*" && auth::ruleAllows(rule, one) &&
              std::find(allowed.begin(), allowed.end(), ns) == allowed.end()) {
            allowed.push_back(ns);
          }
        }
      }
    }
    if (!allowed.empty()) {
      std::sort(allowed.begin(), allowed.end());
      d.allowed = true;
      d.namespaces = std::move(allowed);
      return d;
    }
  }
  std::string what = qualified(q);
  std::string group = q.api_group.empty() ? "\"\"" : "\"" + q.api_group + "\"";
  d.message = what + (q.name.empty() ? "" : " \"" + q.name + "\"") + " is forbidden: User \"" +
              who.user + "\" cannot " + q.verb + " resource \"" + what + "\" in API group " +
              group +
              (q.namespace_name.empty() ? std::string(" at the cluster scope")
                                        : " in the namespace \"" + q.namespace_name + "\"") +
              " of cluster \"" + q.cluster + "\": no grant of tenant \"" + who.tenant +
              "\" allows it (ask your platform team for a grant)";
  return d;
}

AccessDecision decideCommandAccess(const Principal& who, const AuthSnapshot& snap,
                                   const std::string& cluster, const std::string& command) {
  AccessDecision d;
  if (who.break_glass) {
    d.allowed = true;
    return d;
  }
  auto found = snap.clusters->find(cluster);
  if (found != snap.clusters->end() && found->second.disabled) {
    d.message = "cluster \"" + cluster + "\" is disabled";
    return d;
  }
  auth::Labels no_labels;
  const auth::Labels& labels = found == snap.clusters->end() ? no_labels : found->second.labels;
  auto grants_it = snap.grants->find(who.tenant);
  if (grants_it != snap.grants->end()) {
    for (const auto& g : grants_it->second) {
      if (!(g.user.empty() || g.user == who.user) || !auth::grantCoversCluster(g, cluster, labels))
        continue;
      if (command.empty() || auth::grantAllowsCommand(g, command)) {
        d.allowed = true;
        return d;
      }
    }
  }
  if (command.empty()) {
    d.message = "commands is forbidden: User \"" + who.user +
                "\" cannot list the commands of cluster \"" + cluster +
                "\": no grant of tenant \"" + who.tenant + "\" covers it";
  } else {
    d.message = "command \"" + command + "\" is forbidden: User \"" + who.user +
                "\" cannot run command \"" + command + "\" on cluster \"" + cluster +
                "\": no grant of tenant \"" + who.tenant +
                "\" allows it (ask your platform team for a grant with this command)";
  }
  return d;
}

std::optional<std::set<std::string>> allowedCommands(const Principal& who, const AuthSnapshot& snap,
                                                     const std::string& cluster) {
  if (who.break_glass) return std::nullopt;
  std::set<std::string> names;
  auto found = snap.clusters->find(cluster);
  if (found != snap.clusters->end() && found->second.disabled) return names;
  auth::Labels no_labels;
  const auth::Labels& labels = found == snap.clusters->end() ? no_labels : found->second.labels;
  auto grants_it = snap.grants->find(who.tenant);
  if (grants_it == snap.grants->end()) return names;
  for (const auto& g : grants_it->second) {
    if (!(g.user.empty() || g.user == who.user) || !auth::grantCoversCluster(g, cluster, labels))
      continue;
    for (const auto& c : g.commands) {
      if (c == "*") return std::nullopt;
      names.insert(c);
    }
  }
  return names;
}

}  // namespace kubehub::hub

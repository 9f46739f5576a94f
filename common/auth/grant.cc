#include "common/auth/grant.h"

#include <algorithm>

#include "common/k8s/validation.h"

namespace kubehub::auth {

namespace {

bool contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

bool containsOrStar(const std::vector<std::string>& list, std::string_view v) {
  return contains(list, "*") || contains(list, v);
}

bool isResourceName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

bool isApiGroup(std::string_view s) {
  if (s.empty() || s == "*") return true;
  return isResourceName(s) && s.front() != '.' && s.back() != '.' && s.front() != '-';
}

absl::Status invalid(std::string_view what) {
  return absl::InvalidArgumentError(std::string(what));
}

}  // namespace

const std::vector<std::string_view>& knownVerbs() {
  static const std::vector<std::string_view> verbs = {
      "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy"};
  return verbs;
}

absl::Status validateGrant(const Grant& g) {
  if (!k8s::isDnsLabel(g.name)) {
    return invalid("grant name \"" + g.name +
                   "\" must be a DNS label (lower-case letters, digits "
                   "and '-', at most 63 characters)");
  }
  if (!k8s::isDnsLabel(g.tenant))
    return invalid("grant tenant \"" + g.tenant + "\" is not a valid tenant name");
  if (g.cluster_names.empty() && g.cluster_selector.empty()) {
    return invalid("a grant needs clusters.names and/or clusters.selector");
  }
  for (const auto& c : g.cluster_names) {
    if (c != "*" && !k8s::isDnsLabel(c))
      return invalid("cluster name \"" + c + "\" is not a DNS label");
  }
  if (!g.cluster_selector.empty()) {
    if (g.cluster_selector.size() > 4096) return invalid("the cluster selector is too long");
    auto sel = LabelSelector::parse(g.cluster_selector);
    if (!sel.ok()) {
      return invalid("the cluster selector is not a valid label selector: " +
                     std::string(sel.status().message()));
    }
  }
  if (g.rules.empty() && g.commands.empty())
    return invalid("a grant needs at least one rule or command");
  if (g.commands.size() > 100) return invalid("a grant names at most 100 commands");
  for (const auto& c : g.commands) {
    if (c != "*" && !k8s::isDnsLabel(c))
      return invalid("command \"" + c + "\" is not a command name (a DNS label) or *");
  }
  if (g.rules.size() > 100) return invalid("a grant has at most 100 rules");
  for (size_t i = 0; i < g.rules.size(); ++i) {
    const GrantRule& r = g.rules[i];
    std::string at = "rules[" + std::to_string(i) + "]";
    if (r.api_groups.empty())
      return invalid(at + ".apiGroups must not be empty (\"\" is the core group)");
    if (r.resources.empty()) return invalid(at + ".resources must not be empty");
    if (r.verbs.empty()) return invalid(at + ".verbs must not be empty");
    if (r.namespaces.empty())
      return invalid(at + ".namespaces must not be empty (use \"*\" for all)");
    for (const auto& grp : r.api_groups) {
      if (!isApiGroup(grp)) return invalid(at + ": invalid API group \"" + grp + "\"");
    }
    for (const auto& res : r.resources) {
      if (res == "*") continue;
      size_t slash = res.find('/');
      std::string_view main = std::string_view(res).substr(0, slash);
      std::string_view sub =
          slash == std::string::npos ? "" : std::string_view(res).substr(slash + 1);
      bool ok = (main == "*" || isResourceName(main)) &&
                (slash == std::string::npos || sub == "*" || isResourceName(sub)) &&
                !(main == "*" && slash == std::string::npos);
      if (!ok)
        return invalid(at + ": invalid resource \"" + res +
                       "\" (e.g. pods, pods/log, pods/*, */scale, *)");
    }
    for (const auto& v : r.verbs) {
      if (v != "*" &&
          std::find(knownVerbs().begin(), knownVerbs().end(), v) == knownVerbs().end()) {
        return invalid(
            at + ": unknown verb \"" + v +
            "\" (get, list, watch, create, update, patch, delete, deletecollection, proxy or *)");
      }
    }
    for (const auto& ns : r.namespaces) {
      if (ns != "*" && !k8s::isDnsLabel(ns))
        return invalid(at + ": invalid namespace \"" + ns + "\"");
    }
  }
  return absl::OkStatus();
}

bool grantCoversCluster(const Grant& g, std::string_view cluster, const Labels& labels) {
  if (containsOrStar(g.cluster_names, cluster)) return true;
  if (g.cluster_selector.empty()) return false;
  auto sel = LabelSelector::parse(g.cluster_selector);
  return sel.ok() && sel->matches(labels);
}

bool ruleAllows(const GrantRule& r, const AccessRequest& q) {
  if (!containsOrStar(r.verbs, q.verb)) return false;
  if (!containsOrStar(r.api_groups, q.api_group)) return false;
  bool resource_ok = false;
  for (const auto& res : r.resources) {
    if (res == "*") {
      resource_ok = true;
    } else if (q.subresource.empty()) {
      resource_ok = res == q.resource;
    } else {
      size_t slash = res.find('/');
      if (slash == std::string::npos) continue;
      std::string_view main = std::string_view(res).substr(0, slash);
      std::string_view sub = std::string_view(res).substr(slash + 1);
      resource_ok = (main == "*" || main == q.resource) && (sub == "*" || sub == q.subresource);
    }
    if (resource_ok) break;
  }
  if (!resource_ok) return false;
  if (contains(r.namespaces, "*")) return true;
  return !q.namespace_name.empty() && contains(r.namespaces, q.namespace_name);
}

bool grantAllowsCommand(const Grant& g, std::string_view command) {
  return containsOrStar(g.commands, command);
}

Decision authorize(const std::vector<Grant>& grants, const AccessRequest& q) {
  bool any_cluster = false;
  for (const Grant& g : grants) {
    if (g.tenant != q.tenant || (!g.user.empty() && g.user != q.user)) continue;
    if (!grantCoversCluster(g, q.cluster, q.cluster_labels)) continue;
    any_cluster = true;
    for (const GrantRule& r : g.rules) {
      if (ruleAllows(r, q)) return Decision{true, g.name, ""};
    }
  }
  std::string what = q.verb + " " + (q.api_group.empty() ? "" : q.api_group + "/") + q.resource +
                     (q.subresource.empty() ? "" : "/" + q.subresource) +
                     (q.namespace_name.empty() ? " (all namespaces or cluster-scoped)"
                                               : " in namespace " + q.namespace_name);
  if (!any_cluster) {
    return Decision{false, "",
                    "user \"" + q.user + "\" of tenant \"" + q.tenant +
                        "\" has no grant for cluster \"" + q.cluster + "\""};
  }
  return Decision{false, "",
                  "no grant allows user \"" + q.user + "\" of tenant \"" + q.tenant + "\" to " +
                      what + " in cluster \"" + q.cluster + "\""};
}

}  // namespace kubehub::auth

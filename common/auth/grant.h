#pragma once
/// Grants: which tenant (or which user of it) may use which verbs on which resources in which
/// namespaces of which clusters. Kubernetes-RBAC-like rules with '*' wildcards; clusters picked
/// by name and/or label selector. Pure: the metaserver validates grants with it, hubs evaluate
/// requests with it. Immutable values, safe to share across threads.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/k8s/label_selector.h"

namespace kubehub::auth {

/// Cluster labels; selectors over them are Kubernetes label selectors (common/k8s).
using Labels = k8s::LabelMap;
using k8s::LabelSelector;

struct GrantRule {
  /// "" is the core group; "*" any group.
  std::vector<std::string> api_groups;
  /// "pods", "pods/log", "pods/*" (every subresource), "*/scale", "*" (everything).
  std::vector<std::string> resources;
  /// get list watch create update patch delete deletecollection proxy, or "*".
  std::vector<std::string> verbs;
  /// Namespace names, or "*": any namespace and also cluster-scoped and all-namespace
  /// requests (which a list of names never covers).
  std::vector<std::string> namespaces;
  bool operator==(const GrantRule&) const = default;
};

struct Grant {
  std::string name;
  std::string tenant;
  /// Empty: every user of the tenant.
  std::string user;
  /// Cluster names ("*": every cluster) ...
  std::vector<std::string> cluster_names;
  /// ... or clusters whose labels match this selector (either suffices).
  std::string cluster_selector;
  std::vector<GrantRule> rules;
  /// Native commands (the agents' own, see agent/commands/) its users may run on its clusters:
  /// names, or "*" for every command a cluster offers. A grant has rules, commands or both.
  std::vector<std::string> commands;
  bool operator==(const Grant&) const = default;
};

/// The verbs a rule may name (besides "*").
const std::vector<std::string_view>& knownVerbs();

/// InvalidArgument naming the first problem: names, selector syntax, empty lists, unknown
/// verbs, malformed resources.
absl::Status validateGrant(const Grant& grant);

/// One Kubernetes API request, as the hub sees it.
struct AccessRequest {
  std::string tenant;
  std::string user;
  std::string cluster;
  Labels cluster_labels;
  std::string api_group;    // "" for the core group
  std::string resource;     // "pods"; empty for non-resource requests
  std::string subresource;  // "log", "exec", or empty
  std::string verb;
  std::string namespace_name;  // empty: cluster-scoped or all namespaces
};

bool grantCoversCluster(const Grant& grant, std::string_view cluster, const Labels& labels);
bool ruleAllows(const GrantRule& rule, const AccessRequest& request);

struct Decision {
  bool allowed = false;
  std::string grant;   // the grant that allowed it
  std::string reason;  // why not, for a 403 message
};

/// Allowed when some grant of the request's tenant (for the whole tenant or for the request's
/// user) covers the cluster and has a rule that allows the request. `grants` may contain other
/// tenants' grants; they are ignored.
Decision authorize(const std::vector<Grant>& grants, const AccessRequest& request);

/// Whether the grant names the command (or "*"); the caller checks tenant, user and cluster.
bool grantAllowsCommand(const Grant& grant, std::string_view command);

}  // namespace kubehub::auth

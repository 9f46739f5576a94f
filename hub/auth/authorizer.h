#pragma once
/// Authorisation: whether a tenant's grants (the metaserver's, in an AuthSnapshot) allow a
/// request, and which namespaces an all-namespaces LIST/WATCH may see. Pure: no I/O, no locks;
/// the caller holds the snapshot. Authentication (who is calling) is authenticator.h's.

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "hub/auth/principal.h"

namespace kubehub::hub {

struct AuthSnapshot;

/// Grants decide: is the request allowed, and (for LIST/WATCH across all namespaces by someone
/// granted only some) which namespaces may they see. nullopt = every namespace.
struct AccessDecision {
  bool allowed = false;
  std::string message;  // for the 403 Status, when denied
  std::optional<std::vector<std::string>> namespaces;
};

struct AccessQuery {
  std::string cluster;
  std::string verb;
  std::string api_group;
  std::string resource;
  std::string subresource;
  std::string namespace_name;
  std::string name;
  bool is_resource_request = true;
  std::string path;  // non-resource requests
};

AccessDecision decideAccess(const Principal& who, const AuthSnapshot& snapshot,
                            const AccessQuery& q);

/// Native commands on a cluster: running `command` needs a grant naming it (or "*"); listing
/// (`command` empty) needs any grant of the caller on the cluster.
AccessDecision decideCommandAccess(const Principal& who, const AuthSnapshot& snapshot,
                                   const std::string& cluster, const std::string& command);

/// The command names the caller's grants on `cluster` name (what a listing of its commands
/// keeps); nullopt when every command is allowed (a grant with "*", or break-glass).
std::optional<std::set<std::string>> allowedCommands(const Principal& who,
                                                     const AuthSnapshot& snapshot,
                                                     const std::string& cluster);

}  // namespace kubehub::hub

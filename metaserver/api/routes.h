#pragma once
/// The REST API's route table (method, path pattern, operation id, who may call it) and the
/// matcher. The OpenAPI document (openapi.json) must describe exactly these routes; a unit test
/// holds the two together. Pure and immutable.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::metaserver {

enum class Access {
  kPublic,         // no credentials (any sent along are ignored)
  kAuthenticated,  // any valid token (the handler limits non-admins to their own things)
  kHub,            // a token whose user has the hub or admin role
  kAdmin,          // the admin role (or the bootstrap admin token)
  kBootstrap,      // a cluster's one-time bootstrap token, or admin
};

struct Route {
  std::string_view method;
  std::string_view pattern;  // "/api/v1/clusters/{cluster}"
  std::string_view operation;
  Access access;
  /// Recorded in the audit log (every call that changes something, or issues a credential).
  bool audit;
};

const std::vector<Route>& routeTable();

struct RouteMatch {
  const Route* route = nullptr;
  std::map<std::string, std::string, std::less<>> params;  // percent-decoded
  /// When the path matched but the method did not: the methods it has (for 405's Allow).
  std::vector<std::string> allowed;
};

/// NotFound when no pattern matches the path; a match with route == nullptr and `allowed`
/// set when only the method is wrong.
absl::StatusOr<RouteMatch> matchRoute(std::string_view method, std::string_view path);

}  // namespace kubehub::metaserver

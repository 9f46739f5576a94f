#include "metaserver/api/routes.h"

#include "common/k8s/cluster_path.h"

namespace kubehub::metaserver {

const std::vector<Route>& routeTable() {
  using A = Access;
  static const std::vector<Route> routes = {
      {"GET", "/openapi.json", "getOpenApi", A::kPublic, false},
      {"GET", "/api/v1/whoami", "whoami", A::kAuthenticated, false},

      {"GET", "/api/v1/tenants", "listTenants", A::kAdmin, false},
      {"POST", "/api/v1/tenants", "createTenant", A::kAdmin, true},
      {"GET", "/api/v1/tenants/{tenant}", "getTenant", A::kAdmin, false},
      {"PATCH", "/api/v1/tenants/{tenant}", "updateTenant", A::kAdmin, true},
      {"DELETE", "/api/v1/tenants/{tenant}", "deleteTenant", A::kAdmin, true},

      {"GET", "/api/v1/users", "listUsers", A::kAdmin, false},
      {"POST", "/api/v1/users", "createUser", A::kAdmin, true},
      {"GET", "/api/v1/users/{user}", "getUser", A::kAuthenticated, false},
      {"PATCH", "/api/v1/users/{user}", "updateUser", A::kAdmin, true},
      {"DELETE", "/api/v1/users/{user}", "deleteUser", A::kAdmin, true},
      {"GET", "/api/v1/users/{user}/kubeconfig", "getKubeconfig", A::kAdmin, true},

      {"GET", "/api/v1/clusters", "listClusters", A::kHub, false},
      {"POST", "/api/v1/clusters", "createCluster", A::kAdmin, true},
      {"GET", "/api/v1/clusters/{cluster}", "getCluster", A::kHub, false},
      {"PATCH", "/api/v1/clusters/{cluster}", "updateCluster", A::kAdmin, true},
      {"DELETE", "/api/v1/clusters/{cluster}", "deleteCluster", A::kAdmin, true},
      {"POST", "/api/v1/clusters/{cluster}/bootstrap", "createBootstrapToken", A::kAdmin, true},
      {"POST", "/api/v1/clusters/{cluster}/certificate", "issueAgentCertificate", A::kBootstrap,
       true},
      // No bearer token: the body proves possession of the current certificate's key.
      {"POST", "/api/v1/clusters/{cluster}/certificate/renew", "renewAgentCertificate", A::kPublic,
       true},
      {"PUT", "/api/v1/clusters/{cluster}/connection", "putConnection", A::kHub, true},
      {"DELETE", "/api/v1/clusters/{cluster}/connection", "deleteConnection", A::kHub, true},
      {"GET", "/api/v1/clusters/{cluster}/endpoints", "getEndpoints", A::kHub, false},

      {"GET", "/api/v1/bans", "listBans", A::kHub, false},

      {"GET", "/api/v1/grants", "listGrants", A::kHub, false},
      {"POST", "/api/v1/grants", "createGrant", A::kAdmin, true},
      {"GET", "/api/v1/grants/{grant}", "getGrant", A::kHub, false},
      {"DELETE", "/api/v1/grants/{grant}", "deleteGrant", A::kAdmin, true},

      {"GET", "/api/v1/tokens", "listTokens", A::kAuthenticated, false},
      {"POST", "/api/v1/tokens", "issueToken", A::kAdmin, true},
      {"GET", "/api/v1/tokens/{token}", "getToken", A::kAuthenticated, false},
      {"DELETE", "/api/v1/tokens/{token}", "revokeToken", A::kAuthenticated, true},
      {"GET", "/api/v1/revocations", "listRevocations", A::kPublic, false},
      {"GET", "/api/v1/signing-keys", "getSigningKeys", A::kPublic, false},
      {"POST", "/api/v1/signing-keys/rotate", "rotateSigningKey", A::kAdmin, true},

      {"GET", "/api/v1/ca.crt", "getCaCertificate", A::kPublic, false},

      {"GET", "/api/v1/hubs", "listHubs", A::kHub, false},
      {"GET", "/api/v1/hubs/{hub}", "getHub", A::kHub, false},
      {"PUT", "/api/v1/hubs/{hub}", "heartbeatHub", A::kHub, true},
      {"DELETE", "/api/v1/hubs/{hub}", "deleteHub", A::kHub, true},
      {"POST", "/api/v1/hubs/{hub}/certificate", "issueHubCertificate", A::kHub, true},
      {"POST", "/api/v1/hubs/{hub}/cluster-status", "reportClusterStatus", A::kHub, true},
      {"POST", "/api/v1/hubs/{hub}/drain", "drainHub", A::kAdmin, true},
      {"POST", "/api/v1/hubs/{hub}/undrain", "undrainHub", A::kAdmin, true},
      {"GET", "/api/v1/routes", "getRoutes", A::kHub, false},
      {"GET", "/api/v1/changes", "watchChanges", A::kHub, false},

      {"GET", "/api/v1/audit", "listAudit", A::kAdmin, false},
  };
  return routes;
}

namespace {

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool matchPattern(std::string_view pattern, const std::vector<std::string_view>& path,
                  std::map<std::string, std::string, std::less<>>* params) {
  auto pat = segments(pattern);
  if (pat.size() != path.size()) return false;
  std::map<std::string, std::string, std::less<>> found;
  for (size_t i = 0; i < pat.size(); ++i) {
    if (pat[i].size() > 2 && pat[i].front() == '{' && pat[i].back() == '}') {
      if (path[i].empty()) return false;
      found.emplace(std::string(pat[i].substr(1, pat[i].size() - 2)), k8s::percentDecode(path[i]));
    } else if (pat[i] != path[i]) {
      return false;
    }
  }
  *params = std::move(found);
  return true;
}

}  // namespace

absl::StatusOr<RouteMatch> matchRoute(std::string_view method, std::string_view path) {
  if (path.empty() || path.front() != '/') return absl::NotFoundError("no such route");
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto segs = segments(path);
  RouteMatch m;
  for (const Route& r : routeTable()) {
    std::map<std::string, std::string, std::less<>> params;
    if (!matchPattern(r.pattern, segs, &params)) continue;
    if (r.method == method) {
      m.route = &r;
      m.params = std::move(params);
      m.allowed.clear();
      return m;
    }
    m.allowed.emplace_back(r.method);
  }
  if (m.allowed.empty()) return absl::NotFoundError("no such route");
  return m;
}

}  // namespace kubehub::metaserver

#pragma once
/// The metaserver's REST API: routes a request (routes.h), authenticates its bearer token
/// (bootstrap admin secret, a signed token, or a cluster's bootstrap token), checks the
/// route's access rule, runs the handler against the store, maps errors to the one JSON
/// error shape, and records mutating calls in the audit log (database and log line).
/// Beast-free: handle() is the HttpServer handler. Thread-safe; handlers block on PostgreSQL,
/// so the server runs them on a pool of I/O threads.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/net/http_server.h"
#include "metaserver/api/metrics.h"
#include "metaserver/api/routes.h"
#include "metaserver/api/token_service.h"
#include "metaserver/ca/certificate_authority.h"
#include "metaserver/model/codec.h"
#include "metaserver/store/change_feed.h"
#include "metaserver/store/store.h"

namespace kubehub::metaserver {

/// The longest a bootstrap token lives (asked for, or --bootstrap-ttl): it enrols an agent once
/// and is a bearer secret until then.
inline constexpr int64_t kMaxBootstrapTtlSeconds = 7 * 24 * 3600;

struct ApiOptions {
  std::string issuer = "kubehub-metaserver";
  /// Users' endpoint of the hubs, for kubeconfigs: https://HUB (clusters are under /clusters/).
  std::string hub_url;
  /// PEM CA bundle of the hubs' serving certificates, for kubeconfigs (empty: system roots).
  std::string hub_ca_pem;
  /// This metaserver's own URL, printed in bootstrap instructions.
  std::string public_url;
  /// The bootstrap admin secret (empty: none).
  std::string admin_token;
  int64_t default_token_ttl = 24 * 3600;
  int64_t max_token_ttl = 30 * 24 * 3600;
  int64_t kubeconfig_ttl = 24 * 3600;
  int64_t bootstrap_ttl = 3600;
  int64_t agent_cert_ttl = 365 * 24 * 3600;
  int64_t hub_cert_ttl = 90 * 24 * 3600;
};

/// Who is calling.
struct Principal {
  /// kAgentCertificate: an agent renewing its certificate, proven by the request body (the
  /// route is public as far as bearer tokens go); `user` then holds the cluster.
  enum class Kind { kAnonymous, kBootstrapAdmin, kUser, kBootstrapToken, kAgentCertificate };
  Kind kind = Kind::kAnonymous;
  std::string user;
  std::string tenant;
  std::string token_id;
  std::vector<std::string> roles;
  std::string bootstrap_secret;  // kBootstrapToken only; never logged

  bool admin() const;
  bool hub() const;
  /// For the audit log: "admin(bootstrap)", "user:NAME", "bootstrap-token", "agent:CLUSTER",
  /// "anonymous".
  std::string actor() const;
};

/// A hub's token acts only for the hub named like its user: the registry, cluster connections
/// and hub certificates trust the hub id, so one compromised hub must not speak for another.
/// Admins act for any hub. PermissionDenied naming both hubs otherwise (`hub` is already a
/// valid hub id).
absl::Status checkActsForHub(const Principal& principal, std::string_view hub);

struct Call {
  net::HttpRequest& request;
  const RouteMatch& match;
  Principal principal;
  const std::string& param(std::string_view name) const;
  std::optional<std::string> query(std::string_view name) const;
};

struct Reply {
  int status = 200;
  Json body;
  /// Non-JSON replies (YAML, PEM): the body text and its content type.
  std::string text;
  std::string content_type;
  net::HeaderList headers;
  /// What the audit record should add (names, ids; never a secret).
  std::string audit_detail;
  /// A long poll's answer, written when ready (everything above is then ignored).
  std::shared_ptr<net::HttpDeferred> deferred;
};

class ApiServer {
 public:
  ApiServer(ApiOptions options, std::shared_ptr<Store> store, std::shared_ptr<TokenService> tokens,
            std::shared_ptr<CertificateAuthority> ca, std::shared_ptr<Metrics> metrics);

  net::HttpResponse handle(net::HttpRequest& request);
  /// The change feeds GET /api/v1/changes waits on (without one it answers 503: hubs poll).
  void setChangeFeed(std::shared_ptr<ChangeFeed> feed) { changes_ = std::move(feed); }

  /// Whether an operation id of the route table has a handler (a unit test checks all do).
  static bool hasHandler(std::string_view operation);

 private:
  using Handler = absl::StatusOr<Reply> (ApiServer::*)(Call&);
  static const std::map<std::string_view, Handler, std::less<>>& handlers();

  absl::StatusOr<Principal> authenticate(const net::HttpRequest& request, Access access);
  absl::Status authorize(const Principal& p, Access access);
  void audit(const Call& call, int status, const std::string& detail);

  // Resources (handlers_resources.cc).
  absl::StatusOr<Reply> getOpenApi(Call& c);
  absl::StatusOr<Reply> whoami(Call& c);
  absl::StatusOr<Reply> listTenants(Call& c);
  absl::StatusOr<Reply> createTenant(Call& c);
  absl::StatusOr<Reply> getTenant(Call& c);
  absl::StatusOr<Reply> updateTenant(Call& c);
  absl::StatusOr<Reply> deleteTenant(Call& c);
  absl::StatusOr<Reply> listUsers(Call& c);
  absl::StatusOr<Reply> createUser(Call& c);
  absl::StatusOr<Reply> getUser(Call& c);
  absl::StatusOr<Reply> updateUser(Call& c);
  absl::StatusOr<Reply> deleteUser(Call& c);
  absl::StatusOr<Reply> listBans(Call& c);
  absl::StatusOr<Reply> listClusters(Call& c);
  absl::StatusOr<Reply> createCluster(Call& c);
  absl::StatusOr<Reply> getCluster(Call& c);
  absl::StatusOr<Reply> updateCluster(Call& c);
  absl::StatusOr<Reply> deleteCluster(Call& c);
  absl::StatusOr<Reply> listGrants(Call& c);
  absl::StatusOr<Reply> createGrant(Call& c);
  absl::StatusOr<Reply> getGrant(Call& c);
  absl::StatusOr<Reply> deleteGrant(Call& c);
  absl::StatusOr<Reply> listAudit(Call& c);

  // Credentials (handlers_credentials.cc).
  absl::StatusOr<Reply> listTokens(Call& c);
  absl::StatusOr<Reply> issueToken(Call& c);
  absl::StatusOr<Reply> getToken(Call& c);
  absl::StatusOr<Reply> revokeToken(Call& c);
  absl::StatusOr<Reply> listRevocations(Call& c);
  absl::StatusOr<Reply> getSigningKeys(Call& c);
  absl::StatusOr<Reply> rotateSigningKey(Call& c);
  absl::StatusOr<Reply> getKubeconfig(Call& c);
  absl::StatusOr<Reply> getCaCertificate(Call& c);
  absl::StatusOr<Reply> createBootstrapToken(Call& c);
  absl::StatusOr<Reply> issueAgentCertificate(Call& c);
  absl::StatusOr<Reply> renewAgentCertificate(Call& c);
  absl::StatusOr<Reply> issueHubCertificate(Call& c);

  // Registry (handlers_registry.cc).
  absl::StatusOr<Reply> listHubs(Call& c);
  absl::StatusOr<Reply> getHub(Call& c);
  absl::StatusOr<Reply> heartbeatHub(Call& c);
  absl::StatusOr<Reply> reportClusterStatus(Call& c);
  absl::StatusOr<Reply> deleteHub(Call& c);
  absl::StatusOr<Reply> putConnection(Call& c);
  absl::StatusOr<Reply> deleteConnection(Call& c);
  absl::StatusOr<Reply> getEndpoints(Call& c);
  absl::StatusOr<Reply> getRoutes(Call& c);
  absl::StatusOr<Reply> watchChanges(Call& c);
  absl::StatusOr<Reply> drainHub(Call& c);
  absl::StatusOr<Reply> undrainHub(Call& c);

  ApiOptions options_;
  std::shared_ptr<Store> store_;
  std::shared_ptr<TokenService> tokens_;
  std::shared_ptr<CertificateAuthority> ca_;
  std::shared_ptr<Metrics> metrics_;
  std::shared_ptr<ChangeFeed> changes_;
};

/// Maps a status to its HTTP code (InvalidArgument: 422, or 400 for badRequest()).
int httpStatusFor(const absl::Status& status);

/// What a client is told when a call fails with `status` (HTTP `code`). 500s and 503s carry
/// libpq's text, which names the database's host, port or socket path: clients get a fixed
/// message saying what failed and what to do, and the caller logs the full status.
std::string clientErrorMessage(const absl::Status& status, int code);

/// The body of a request as a JSON object (400 when it is not one; 415 for another media type).
absl::StatusOr<Json> requestJson(const net::HttpRequest& request, bool empty_ok = false);

Reply jsonReply(int status, Json body);

/// The OpenAPI document (openapi.json, compiled in).
const std::string& openApiDocument();

}  // namespace kubehub::metaserver

#include "metaserver/api/api_server.h"

#include <algorithm>
#include <chrono>

#include "common/auth/token.h"
#include "common/auth/tunnel_identity.h"
#include "common/k8s/query.h"
#include "common/k8s/validation.h"
#include "common/log/log.h"

namespace kubehub::metaserver {

// Generated from metaserver/api/openapi.json (embed_files.cmake).
const std::vector<std::pair<std::string, std::string>>& embeddedOpenApi();

const std::string& openApiDocument() { return embeddedOpenApi().front().second; }

bool Principal::admin() const {
  return kind == Kind::kBootstrapAdmin ||
         (kind == Kind::kUser && std::find(roles.begin(), roles.end(), kRoleAdmin) != roles.end());
}

bool Principal::hub() const {
  return admin() ||
         (kind == Kind::kUser && std::find(roles.begin(), roles.end(), kRoleHub) != roles.end());
}

std::string Principal::actor() const {
  switch (kind) {
    case Kind::kBootstrapAdmin:
      return "admin(bootstrap)";
    case Kind::kUser:
      return "user:" + user;
    case Kind::kBootstrapToken:
      return "bootstrap-token";
    case Kind::kAgentCertificate:
      return "agent:" + user;
    case Kind::kAnonymous:
      break;
  }
  return "anonymous";
}

absl::Status checkActsForHub(const Principal& p, std::string_view hub) {
  if (p.admin() || (p.kind == Principal::Kind::kUser && auth::hubUserActsFor(p.user, hub)))
    return absl::OkStatus();
  if (p.kind != Principal::Kind::kUser) {
    return absl::PermissionDeniedError(p.actor() + " may not act for hub \"" + std::string(hub) +
                                       "\" (only that hub's own token or an admin may)");
  }
  return absl::PermissionDeniedError(
      p.actor() + " may only act for its own hub \"" + p.user + "\" or its fleet's hubs \"" +
      p.user + "-*\", not for \"" + std::string(hub) +
      "\" (a hub's token acts only for the hub named like its user, or the hubs named USER-*; "
      "an admin may act for any hub)");
}

const std::string& Call::param(std::string_view name) const {
  static const std::string kEmpty;
  auto it = match.params.find(name);
  return it == match.params.end() ? kEmpty : it->second;
}

std::optional<std::string> Call::query(std::string_view name) const {
  return k8s::queryParam(request.query, name);
}

int httpStatusFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return isBadRequest(s) ? 400 : 422;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kOutOfRange:
      return 416;
    default:
      return 500;
  }
}

std::string clientErrorMessage(const absl::Status& s, int code) {
  if (code == 500) return "internal error (see the metaserver log)";
  if (code == 503) {
    return "database unavailable: the metaserver cannot reach its database right now; retry "
           "later";
  }
  if (code == 415 && s.message() == "unsupported media type") {
    return "send the request body as application/json";
  }
  return std::string(s.message());
}

absl::StatusOr<Json> requestJson(const net::HttpRequest& request, bool empty_ok) {
  if (!request.body.empty()) {
    auto ct = request.header("Content-Type");
    std::string type = ct ? *ct : "";
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (!type.starts_with("application/json") &&
        !type.starts_with("application/merge-patch+json")) {
      return absl::Status(absl::StatusCode::kInvalidArgument, "unsupported media type");
    }
  }
  return parseJsonObject(request.body, empty_ok);
}

Reply jsonReply(int status, Json body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

ApiServer::ApiServer(ApiOptions options, std::shared_ptr<Store> store,
                     std::shared_ptr<TokenService> tokens, std::shared_ptr<CertificateAuthority> ca,
                     std::shared_ptr<Metrics> metrics)
    : options_(std::move(options)),
      store_(std::move(store)),
      tokens_(std::move(tokens)),
      ca_(std::move(ca)),
      metrics_(std::move(metrics)) {}

const std::map<std::string_view, ApiServer::Handler, std::less<>>& ApiServer::handlers() {
  static const std::map<std::string_view, Handler, std::less<>> table = {
      {"getOpenApi", &ApiServer::getOpenApi},
      {"whoami", &ApiServer::whoami},
      {"listTenants", &ApiServer::listTenants},
      {"createTenant", &ApiServer::createTenant},
      {"getTenant", &ApiServer::getTenant},
      {"updateTenant", &ApiServer::updateTenant},
      {"deleteTenant", &ApiServer::deleteTenant},
      {"listUsers", &ApiServer::listUsers},
      {"createUser", &ApiServer::createUser},
      {"getUser", &ApiServer::getUser},
      {"updateUser", &ApiServer::updateUser},
      {"deleteUser", &ApiServer::deleteUser},
      {"listBans", &ApiServer::listBans},
      {"getKubeconfig", &ApiServer::getKubeconfig},
      {"listClusters", &ApiServer::listClusters},
      {"createCluster", &ApiServer::createCluster},
      {"getCluster", &ApiServer::getCluster},
      {"updateCluster", &ApiServer::updateCluster},
      {"deleteCluster", &ApiServer::deleteCluster},
      {"createBootstrapToken", &ApiServer::createBootstrapToken},
      {"issueAgentCertificate", &ApiServer::issueAgentCertificate},
      {"renewAgentCertificate", &ApiServer::renewAgentCertificate},
      {"putConnection", &ApiServer::putConnection},
      {"deleteConnection", &ApiServer::deleteConnection},
      {"getEndpoints", &ApiServer::getEndpoints},
      {"getRoutes", &ApiServer::getRoutes},
      {"watchChanges", &ApiServer::watchChanges},
      {"drainHub", &ApiServer::drainHub},
      {"undrainHub", &ApiServer::undrainHub},
      {"listGrants", &ApiServer::listGrants},
      {"createGrant", &ApiServer::createGrant},
      {"getGrant", &ApiServer::getGrant},
      {"deleteGrant", &ApiServer::deleteGrant},
      {"listTokens", &ApiServer::listTokens},
      {"issueToken", &ApiServer::issueToken},
      {"getToken", &ApiServer::getToken},
      {"revokeToken", &ApiServer::revokeToken},
      {"listRevocations", &ApiServer::listRevocations},
      {"getSigningKeys", &ApiServer::getSigningKeys},
      {"rotateSigningKey", &ApiServer::rotateSigningKey},
      {"getCaCertificate", &ApiServer::getCaCertificate},
      {"listHubs", &ApiServer::listHubs},
      {"getHub", &ApiServer::getHub},
      {"heartbeatHub", &ApiServer::heartbeatHub},
      {"reportClusterStatus", &ApiServer::reportClusterStatus},
      {"deleteHub", &ApiServer::deleteHub},
      {"issueHubCertificate", &ApiServer::issueHubCertificate},
      {"listAudit", &ApiServer::listAudit},
  };
  return table;
}

bool ApiServer::hasHandler(std::string_view operation) { return handlers().contains(operation); }

absl::StatusOr<Principal> ApiServer::authenticate(const net::HttpRequest& req, Access access) {
  Principal p;
  // Public routes are for anyone: credentials sent along anyway (a client that sends its token
  // everywhere, a token that expired or was revoked) are not read, so they cannot be refused.
  if (access == Access::kPublic) return p;
  auto header = req.header("Authorization");
  if (!header) {
    return absl::UnauthenticatedError(
        "this call needs a bearer token (Authorization: Bearer TOKEN)");
  }
  std::string_view value = *header;
  if (value.size() < 7 || !(value.substr(0, 7) == "Bearer " || value.substr(0, 7) == "bearer ")) {
    return absl::UnauthenticatedError("the Authorization header must be \"Bearer TOKEN\"");
  }
  std::string_view secret = value.substr(7);
  while (!secret.empty() && secret.front() == ' ') secret.remove_prefix(1);
  if (!options_.admin_token.empty() && auth::constantTimeEquals(secret, options_.admin_token)) {
    p.kind = Principal::Kind::kBootstrapAdmin;
    return p;
  }
  if (secret.starts_with("khb_")) {
    if (access != Access::kBootstrap) {
      return absl::PermissionDeniedError(
          "a bootstrap token can only be used to request an agent certificate");
    }
    p.kind = Principal::Kind::kBootstrapToken;
    p.bootstrap_secret = std::string(secret);
    return p;
  }
  auto claims = tokens_->verify(secret);
  if (!claims.ok()) return claims.status();
  auto state = store_->credentials().tokenState(claims->id);
  if (!state.ok()) {
    if (state.status().code() == absl::StatusCode::kNotFound) {
      return absl::UnauthenticatedError("token is not known to this metaserver");
    }
    return state.status();
  }
  if (state->revoked) return absl::UnauthenticatedError("token has been revoked");
  if (!state->user_exists) return absl::UnauthenticatedError("the token's user no longer exists");
  // Bans refuse a valid token (403, not 401): the credential is fine, its owner is not allowed.
  if (state->tenant_disabled) {
    return absl::PermissionDeniedError(
        "tenant \"" + claims->tenant +
        "\" is disabled: its users' tokens are refused until an admin enables it");
  }
  if (state->user_disabled) {
    return absl::PermissionDeniedError(
        "user \"" + claims->subject +
        "\" is disabled: its tokens are refused until an admin enables it");
  }
  p.kind = Principal::Kind::kUser;
  p.user = claims->subject;
  p.tenant = claims->tenant;
  p.token_id = claims->id;
  p.roles = state->roles;
  return p;
}

absl::Status ApiServer::authorize(const Principal& p, Access access) {
  switch (access) {
    case Access::kPublic:
    case Access::kAuthenticated:
      return absl::OkStatus();
    case Access::kHub:
      if (p.hub()) return absl::OkStatus();
      return absl::PermissionDeniedError(p.actor() +
                                         " may not do this: it needs the hub or admin role");
    case Access::kAdmin:
      if (p.admin()) return absl::OkStatus();
      return absl::PermissionDeniedError(p.actor() + " may not do this: it needs the admin role");
    case Access::kBootstrap:
      if (p.admin() || p.kind == Principal::Kind::kBootstrapToken) return absl::OkStatus();
      return absl::PermissionDeniedError(
          p.actor() + " may not do this: it needs the cluster's bootstrap token or the admin role");
  }
  return absl::PermissionDeniedError("forbidden");
}

void ApiServer::audit(const Call& call, int status, const std::string& detail) {
  // Valid UTF-8 only: PostgreSQL refuses a text value that is not, and the record would be
  // lost (a path or a name from the request, a detail cut in the middle of a character).
  AuditRecord a;
  a.actor = k8s::validUtf8(call.principal.actor());
  a.action = k8s::validUtf8(call.request.method + " " + std::string(call.match.route->operation));
  a.resource = k8s::validUtf8(call.request.path);
  a.status = status;
  a.detail = k8s::validUtf8(detail, 1000);
  a.peer = k8s::validUtf8(call.request.peer);
  log::info("audit", {{"actor", a.actor},
                      {"action", a.action},
                      {"resource", a.resource},
                      {"status", status},
                      {"detail", a.detail},
                      {"peer", a.peer}});
  if (auto s = store_->audit().insertAudit(a); !s.ok()) {
    metrics_->auditWriteFailed();
    log::warn("audit record not stored", {{"resource", a.resource}, {"error", s.message()}});
  }
}

net::HttpResponse ApiServer::handle(net::HttpRequest& req) {
  auto start = std::chrono::steady_clock::now();
  auto matched = matchRoute(req.method, req.path);
  if (!matched.ok()) {
    metrics_->request("unknown", 404, 0);
    return net::jsonError(404,
                          "no such API path: " + req.path.substr(0, 200) + " (see /openapi.json)");
  }
  if (matched->route == nullptr) {
    std::string allow;
    for (const auto& m : matched->allowed) allow += (allow.empty() ? "" : ", ") + m;
    auto res = net::jsonError(
        405, "method " + req.method + " is not allowed here (allowed: " + allow + ")");
    res.headers.emplace_back("Allow", allow);
    metrics_->request("unknown", 405, 0);
    return res;
  }
  const Route& route = *matched->route;
  Call call{req, *matched, {}};
  absl::StatusOr<Reply> reply;
  auto principal = authenticate(req, route.access);
  auto dropped = k8s::droppedQueryPair(req.query);
  if (!principal.ok()) {
    reply = principal.status();
  } else if (dropped) {
    // Read as Go's url.ParseQuery, such a pair would be ignored: a filter the caller meant
    // would be gone and the answer wider than asked.
    reply = badRequest("malformed query parameter " + k8s::goQuote(dropped->substr(0, 80)) +
                       ": a '%' must start an escape of two hex digits, and ';' is not a "
                       "separator (use '&')");
  } else {
    call.principal = std::move(*principal);
    absl::Status allowed = authorize(call.principal, route.access);
    if (!allowed.ok()) {
      reply = allowed;
    } else {
      reply = (this->*handlers().at(route.operation))(call);
    }
  }
  net::HttpResponse res;
  std::string detail;
  if (reply.ok()) {
    res.status = reply->status;
    if (!reply->content_type.empty()) {
      res.content_type = reply->content_type;
      res.body = std::move(reply->text);
    } else if (reply->status != 204) {
      res.body = reply->body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
    }
    detail = reply->audit_detail;
    for (auto& h : reply->headers) res.headers.push_back(std::move(h));
    res.deferred = std::move(reply->deferred);
  } else {
    const absl::Status& s = reply.status();
    int code = httpStatusFor(s);
    if (s.code() == absl::StatusCode::kInvalidArgument && s.message() == "unsupported media type") {
      code = 415;
    }
    if (code == 500) {
      log::error("request failed",
                 {{"operation", route.operation}, {"path", req.path}, {"error", s.ToString()}});
    } else if (code == 503) {
      log::warn("request failed: database unavailable",
                {{"operation", route.operation}, {"path", req.path}, {"error", s.message()}});
    }
    std::string message = clientErrorMessage(s, code);
    res = net::jsonError(code, message);
    if (code == 401) res.headers.emplace_back("WWW-Authenticate", "Bearer");
    if (code == 503) res.headers.emplace_back("Retry-After", "1");
    detail = message;
  }
  if (route.audit) audit(call, res.status, detail);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_->request(route.operation, res.status, secs);
  return res;
}

}  // namespace kubehub::metaserver

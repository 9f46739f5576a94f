// Tokens, the revocation feed, signing keys, kubeconfigs, the CA, bootstrap tokens and
// certificates.
#include <yaml-cpp/yaml.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "common/auth/token.h"
#include "common/log/log.h"
#include "common/status/status_macros.h"
#include "metaserver/api/api_server.h"
#include "metaserver/api/paging.h"
#include "metaserver/ca/renewal_check.h"

namespace kubehub::metaserver {

namespace {

absl::Status checkTokenId(std::string_view id) {
  bool ok = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
  return ok ? absl::OkStatus()
            : absl::InvalidArgumentError("token id is invalid (base64url characters, at most 64)");
}

absl::StatusOr<int64_t> ttlParam(const Call& c, int64_t fallback, int64_t max) {
  int64_t ttl = fallback;
  if (auto v = c.query("ttl")) {
    auto parsed = parseTtl(Json(*v), "ttl");
    if (!parsed.ok()) return parsed.status();
    ttl = *parsed;
  }
  if (ttl > max) {
    return absl::InvalidArgumentError("ttl of " + std::to_string(ttl) +
                                      "s exceeds the maximum of " + std::to_string(max) + "s");
  }
  return ttl;
}

/// No new credentials for a banned user (their tokens would be refused anyway).
absl::Status refuseBanned(Identity& identity, const UserRecord& user) {
  KH_ASSIGN_OR_RETURN(TenantRecord tenant, identity.getTenant(user.tenant));
  if (tenant.ban.disabled) {
    return absl::FailedPreconditionError(
        "tenant \"" + tenant.name + "\" is disabled: enable it first (kubehubctl tenant enable " +
        tenant.name + ")");
  }
  if (user.ban.disabled) {
    return absl::FailedPreconditionError(
        "user \"" + user.name + "\" is disabled: enable it first (kubehubctl user enable " +
        user.name + ")");
  }
  return absl::OkStatus();
}

}  // namespace

// ---- tokens ----

absl::StatusOr<Reply> ApiServer::listTokens(Call& c) {
  std::string tenant, user;
  if (auto v = c.query("tenant")) {
    KH_RETURN_IF_ERROR(checkDnsLabel("tenant", *v));
    tenant = *v;
  }
  if (auto v = c.query("user")) {
    KH_RETURN_IF_ERROR(checkUserName(*v));
    user = *v;
  }
  if (!c.principal.admin()) {
    if (!user.empty() && user != c.principal.user) {
      return absl::PermissionDeniedError(c.principal.actor() + " may only list its own tokens");
    }
    user = c.principal.user;
    tenant = c.principal.tenant;
  }
  KH_ASSIGN_OR_RETURN(PageQuery page,
                      parsePage(c.query("limit"), c.query("continue"), "tokens", 2));
  KH_ASSIGN_OR_RETURN(auto list, store_->credentials().listTokens(tenant, user, page));
  Json items = Json::array();
  for (const auto& t : list.items) items.push_back(toJson(t));
  return jsonReply(200, pagedItems(std::move(items), "tokens", list.next));
}

absl::StatusOr<Reply> ApiServer::issueToken(Call& c) {
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(TokenRequest rq, decodeTokenRequest(body));
  int64_t ttl = rq.ttl_seconds == 0 ? options_.default_token_ttl : rq.ttl_seconds;
  if (ttl > options_.max_token_ttl) {
    return absl::InvalidArgumentError("ttl of " + std::to_string(ttl) +
                                      "s exceeds the maximum of " +
                                      std::to_string(options_.max_token_ttl) + "s");
  }
  KH_ASSIGN_OR_RETURN(UserRecord user, store_->identity().getUser(rq.user));
  KH_RETURN_IF_ERROR(refuseBanned(store_->identity(), user));
  KH_ASSIGN_OR_RETURN(IssuedToken issued,
                      tokens_->issue(user, ttl, rq.description, c.principal.actor()));
  metrics_->tokenIssued();
  Reply r = jsonReply(201, toJson(issued));
  r.audit_detail =
      "token_id=" + issued.record.id + " user=" + user.name + " ttl=" + std::to_string(ttl);
  return r;
}

absl::StatusOr<Reply> ApiServer::getToken(Call& c) {
  KH_RETURN_IF_ERROR(checkTokenId(c.param("token")));
  KH_ASSIGN_OR_RETURN(TokenRecord t, store_->credentials().getToken(c.param("token")));
  if (!c.principal.admin() && t.user != c.principal.user) {
    return absl::NotFoundError("token \"" + c.param("token") + "\" not found");
  }
  return jsonReply(200, toJson(t));
}

absl::StatusOr<Reply> ApiServer::revokeToken(Call& c) {
  KH_RETURN_IF_ERROR(checkTokenId(c.param("token")));
  if (!c.principal.admin()) {
    auto t = store_->credentials().getToken(c.param("token"));
    if (!t.ok()) return t.status();
    if (t->user != c.principal.user)
      return absl::NotFoundError("token \"" + c.param("token") + "\" not found");
  }
  KH_ASSIGN_OR_RETURN(TokenRecord t, store_->credentials().revokeToken(c.param("token")));
  metrics_->tokenRevoked();
  Reply r = jsonReply(200, toJson(t));
  r.audit_detail = "token_id=" + t.id + " user=" + t.user;
  return r;
}

absl::StatusOr<Reply> ApiServer::listRevocations(Call& c) {
  int64_t since = 0;
  int limit = 1000;
  if (auto v = c.query("since"); v && !v->empty()) {
    if (!absl::SimpleAtoi(*v, &since) || since < 0)
      return absl::InvalidArgumentError("since must be a cursor (an integer >= 0)");
  }
  if (auto v = c.query("limit")) {
    if (!absl::SimpleAtoi(*v, &limit) || limit < 1 || limit > 10000) {
      return absl::InvalidArgumentError("limit must be an integer between 1 and 10000");
    }
  }
  KH_ASSIGN_OR_RETURN(RevocationPage page, store_->credentials().revocationsSince(since, limit));
  return jsonReply(200, toJson(RevocationsAnswer{std::move(page), nowSeconds()}));
}

absl::StatusOr<Reply> ApiServer::getSigningKeys(Call&) { return jsonReply(200, tokens_->jwks()); }

absl::StatusOr<Reply> ApiServer::rotateSigningKey(Call&) {
  KH_ASSIGN_OR_RETURN(std::string kid, tokens_->rotate());
  Reply r = jsonReply(201, Json{{"activeKeyId", kid}});
  r.audit_detail = "kid=" + kid;
  return r;
}

// ---- kubeconfig ----

absl::StatusOr<Reply> ApiServer::getKubeconfig(Call& c) {
  const std::string& name = c.param("user");
  KH_RETURN_IF_ERROR(checkUserName(name));
  auto cluster_name = c.query("cluster");
  if (!cluster_name || cluster_name->empty()) {
    return badRequest("query parameter \"cluster\" is required (GET .../kubeconfig?cluster=NAME)");
  }
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", *cluster_name));
  KH_ASSIGN_OR_RETURN(int64_t ttl, ttlParam(c, options_.kubeconfig_ttl, options_.max_token_ttl));
  if (options_.hub_url.empty()) {
    return absl::UnimplementedError(
        "this metaserver has no --hub-url, so it cannot write kubeconfigs");
  }
  KH_ASSIGN_OR_RETURN(UserRecord user, store_->identity().getUser(name));
  KH_RETURN_IF_ERROR(refuseBanned(store_->identity(), user));
  KH_ASSIGN_OR_RETURN(ClusterRecord cluster, store_->clusters().getCluster(*cluster_name));
  if (cluster.disabled)
    return absl::FailedPreconditionError("cluster \"" + cluster.name + "\" is disabled");
  KH_ASSIGN_OR_RETURN(
      IssuedToken issued,
      tokens_->issue(user, ttl, "kubeconfig for cluster " + cluster.name, c.principal.actor()));
  metrics_->tokenIssued();
  std::string context = user.name + "@" + cluster.name;
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "apiVersion" << YAML::Value << "v1";
  e << YAML::Key << "kind" << YAML::Value << "Config";
  e << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << cluster.name;
  e << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "server" << YAML::Value << options_.hub_url + "/clusters/" + cluster.name;
  if (!options_.hub_ca_pem.empty()) {
    e << YAML::Key << "certificate-authority-data" << YAML::Value
      << absl::Base64Escape(options_.hub_ca_pem);
  }
  e << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  e << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << user.name;
  e << YAML::Key << "user" << YAML::Value << YAML::BeginMap << YAML::Key << "token" << YAML::Value
    << issued.token << YAML::EndMap;
  e << YAML::EndMap << YAML::EndSeq;
  e << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << context;
  e << YAML::Key << "context" << YAML::Value << YAML::BeginMap << YAML::Key << "cluster"
    << YAML::Value << cluster.name << YAML::Key << "user" << YAML::Value << user.name
    << YAML::EndMap;
  e << YAML::EndMap << YAML::EndSeq;
  e << YAML::Key << "current-context" << YAML::Value << context;
  e << YAML::EndMap;
  if (!e.good()) return absl::InternalError(std::string("kubeconfig YAML: ") + e.GetLastError());
  Reply r;
  r.text = "# kubeconfig for user " + user.name + " (tenant " + user.tenant + ") on cluster " +
           cluster.name + "\n# token " + issued.record.id + " expires " +
           formatTime(issued.record.expires_at) + "\n" + e.c_str() + "\n";
  r.content_type = "application/yaml";
  r.headers.emplace_back("X-Kubehub-Token-Id", issued.record.id);
  r.audit_detail = "token_id=" + issued.record.id + " user=" + user.name +
                   " cluster=" + cluster.name + " ttl=" + std::to_string(ttl);
  return r;
}

// ---- CA, bootstrap tokens, certificates ----

absl::StatusOr<Reply> ApiServer::getCaCertificate(Call&) {
  Reply r;
  r.text = ca_->certPem();
  r.content_type = "application/x-pem-file";
  return r;
}

absl::StatusOr<Reply> ApiServer::createBootstrapToken(Call& c) {
  const std::string& cluster = c.param("cluster");
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", cluster));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request, true));
  ObjectReader rd(body, "bootstrap");
  const Json* ttl_json = nullptr;
  KH_RETURN_IF_ERROR(rd.any("ttl", &ttl_json));
  KH_RETURN_IF_ERROR(rd.finish());
  // The default (--bootstrap-ttl) is checked against the same cap at start.
  int64_t ttl = options_.bootstrap_ttl;
  if (ttl_json != nullptr) {
    KH_ASSIGN_OR_RETURN(ttl, parseTtl(*ttl_json, "ttl"));
    if (ttl > kMaxBootstrapTtlSeconds) {
      return absl::InvalidArgumentError("ttl of " + std::to_string(ttl) +
                                        "s exceeds the maximum of " +
                                        std::to_string(kMaxBootstrapTtlSeconds) +
                                        "s: a bootstrap token lives at most 7 days (168h)");
    }
  }
  KH_ASSIGN_OR_RETURN(ClusterRecord cl, store_->clusters().getCluster(cluster));
  if (cl.disabled) return absl::FailedPreconditionError("cluster \"" + cluster + "\" is disabled");
  std::string token = "khb_" + auth::randomToken(32);
  std::string id = auth::randomToken(9);
  int64_t expires = nowSeconds() + ttl;
  KH_RETURN_IF_ERROR(store_->credentials().createBootstrapToken(id, cluster, auth::sha256Hex(token),
                                                                expires, c.principal.actor()));
  Reply r = jsonReply(201, toJson(BootstrapToken{cluster, id, token, expires, ca_->certPem(),
                                                 "/api/v1/clusters/" + cluster + "/certificate",
                                                 options_.public_url, options_.hub_url}));
  r.audit_detail = "cluster=" + cluster + " bootstrap_id=" + id + " ttl=" + std::to_string(ttl);
  return r;
}

absl::StatusOr<Reply> ApiServer::issueAgentCertificate(Call& c) {
  const std::string& cluster = c.param("cluster");
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", cluster));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  ObjectReader rd(body, "certificate request");
  LeafRequest rq;
  KH_RETURN_IF_ERROR(rd.str("csr", &rq.csr_pem, true, 16384));
  KH_RETURN_IF_ERROR(rd.finish());
  bool bootstrap = c.principal.kind == Principal::Kind::kBootstrapToken;
  std::string token_hash = bootstrap ? auth::sha256Hex(c.principal.bootstrap_secret) : "";
  if (bootstrap) {
    KH_ASSIGN_OR_RETURN(bool valid, store_->credentials().bootstrapTokenValid(cluster, token_hash));
    if (!valid) {
      return absl::PermissionDeniedError(
          "bootstrap token is unknown, already used, expired, or for another cluster");
    }
  }
  KH_ASSIGN_OR_RETURN(ClusterRecord cl, store_->clusters().getCluster(cluster));
  if (cl.disabled) return absl::FailedPreconditionError("cluster \"" + cluster + "\" is disabled");
  rq.common_name = cluster;
  rq.role = LeafRole::kAgent;
  rq.ttl_seconds = options_.agent_cert_ttl;
  // Sign first (a bad CSR does not burn the token), then consume the token and record the
  // certificate in one transaction: a failure in between leaves the token for a retry.
  KH_ASSIGN_OR_RETURN(IssuedCertificate cert, ca_->sign(rq));
  CertificateRecord record{cert.serial, "agent", cluster, cert.not_after, c.principal.actor()};
  if (bootstrap) {
    KH_RETURN_IF_ERROR(store_->credentials().consumeBootstrapToken(cluster, token_hash, record));
  } else {
    KH_RETURN_IF_ERROR(store_->pki().recordCertificate(record));
  }
  metrics_->certificateIssued("agent");
  Reply r = jsonReply(
      201, toJson(SignedCertificate{cert.cert_pem, ca_->certPem(), cert.serial, cert.not_after}));
  r.audit_detail = "cluster=" + cluster + " serial=" + cert.serial;
  return r;
}

absl::StatusOr<Reply> ApiServer::renewAgentCertificate(Call& c) {
  const std::string& cluster = c.param("cluster");
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", cluster));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  ObjectReader rd(body, "renewal request");
  RenewalRequest rq;
  rq.cluster = cluster;
  KH_RETURN_IF_ERROR(rd.str("csr", &rq.csr_pem, true, 16384));
  KH_RETURN_IF_ERROR(rd.str("certificate", &rq.certificate_pem, true, 16384));
  KH_RETURN_IF_ERROR(rd.str("proof", &rq.proof, true, 2048));
  KH_RETURN_IF_ERROR(rd.integer("time", &rq.time, true));
  KH_RETURN_IF_ERROR(rd.finish());
  KH_ASSIGN_OR_RETURN(RenewingAgent current, checkRenewal(rq, ca_->certPem(), nowSeconds()));
  // Proven: the audit record names the agent (a failed proof stays "anonymous").
  c.principal = Principal{};
  c.principal.kind = Principal::Kind::kAgentCertificate;
  c.principal.user = cluster;
  KH_ASSIGN_OR_RETURN(ClusterRecord cl, store_->clusters().getCluster(cluster));
  if (cl.disabled) return absl::FailedPreconditionError("cluster \"" + cluster + "\" is disabled");
  LeafRequest leaf;
  leaf.csr_pem = rq.csr_pem;
  leaf.common_name = cluster;
  leaf.role = LeafRole::kAgent;
  leaf.ttl_seconds = options_.agent_cert_ttl;
  KH_ASSIGN_OR_RETURN(IssuedCertificate cert, ca_->sign(leaf));
  KH_RETURN_IF_ERROR(
      store_->pki().recordCertificate({cert.serial, "agent", cluster, cert.not_after,
                                       c.principal.actor() + " renewing " + current.serial}));
  metrics_->certificateIssued("agent-renewal");
  Reply r = jsonReply(
      201, toJson(SignedCertificate{cert.cert_pem, ca_->certPem(), cert.serial, cert.not_after}));
  r.audit_detail =
      "cluster=" + cluster + " serial=" + cert.serial + " previous_serial=" + current.serial;
  return r;
}

absl::StatusOr<Reply> ApiServer::issueHubCertificate(Call& c) {
  const std::string& hub = c.param("hub");
  KH_RETURN_IF_ERROR(checkHubId(hub));
  // Signing for another name would let one compromised hub impersonate every other hub.
  KH_RETURN_IF_ERROR(checkActsForHub(c.principal, hub));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  ObjectReader rd(body, "certificate request");
  LeafRequest rq;
  KH_RETURN_IF_ERROR(rd.str("csr", &rq.csr_pem, true, 16384));
  KH_RETURN_IF_ERROR(rd.strList("dnsNames", &rq.dns_names, false, 32));
  KH_RETURN_IF_ERROR(rd.strList("ipAddresses", &rq.ip_addresses, false, 32));
  KH_RETURN_IF_ERROR(rd.finish());
  rq.common_name = hub;
  rq.role = LeafRole::kHub;
  rq.ttl_seconds = options_.hub_cert_ttl;
  KH_ASSIGN_OR_RETURN(IssuedCertificate cert, ca_->sign(rq));
  KH_RETURN_IF_ERROR(store_->pki().recordCertificate(
      {cert.serial, "hub", hub, cert.not_after, c.principal.actor()}));
  metrics_->certificateIssued("hub");
  Reply r = jsonReply(
      201, toJson(SignedCertificate{cert.cert_pem, ca_->certPem(), cert.serial, cert.not_after}));
  r.audit_detail = "hub=" + hub + " serial=" + cert.serial;
  return r;
}

}  // namespace kubehub::metaserver

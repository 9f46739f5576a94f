// Tenants, users, clusters, grants, the audit log and the OpenAPI document.
#include "absl/strings/numbers.h"
#include "common/status/status_macros.h"
#include "metaserver/api/api_server.h"

namespace kubehub::metaserver {

namespace {

template <typename T>
Json items(const std::vector<T>& records) {
  Json list = Json::array();
  for (const auto& r : records) list.push_back(toJson(r));
  return Json{{"items", list}};
}

absl::Status optionalFilter(const Call& c, std::string_view name, std::string* out, bool dns_label) {
  auto v = c.query(name);
  if (!v) return absl::OkStatus();
  if (dns_label) {
    if (auto s = checkDnsLabel(name, *v); !s.ok()) return s;
  } else if (auto s = checkUserName(*v); !s.ok()) {
    return s;
  }
  *out = *v;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Reply> ApiServer::getOpenApi(Call&) {
  Reply r;
  r.text = openApiDocument();
  r.content_type = "application/json";
  return r;
}

absl::StatusOr<Reply> ApiServer::whoami(Call& c) {
  const Principal& p = c.principal;
  Json j = {{"actor", p.actor()}, {"admin", p.admin()}, {"hub", p.hub()}};
  if (p.kind == Principal::Kind::kUser) {
    j["user"] = p.user;
    j["tenant"] = p.tenant;
    j["roles"] = p.roles;
    j["tokenId"] = p.token_id;
  }
  return jsonReply(200, j);
}

// ---- tenants ----

absl::StatusOr<Reply> ApiServer::listTenants(Call&) {
  KH_ASSIGN_OR_RETURN(auto list, store_->listTenants());
  return jsonReply(200, items(list));
}

absl::StatusOr<Reply> ApiServer::createTenant(Call& c) {
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(TenantRecord t, decodeTenant(body));
  KH_ASSIGN_OR_RETURN(TenantRecord created, store_->createTenant(t));
  Reply r = jsonReply(201, toJson(created));
  r.audit_detail = "tenant=" + created.name;
  return r;
}

absl::StatusOr<Reply> ApiServer::getTenant(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("tenant", c.param("tenant")));
  KH_ASSIGN_OR_RETURN(TenantRecord t, store_->getTenant(c.param("tenant")));
  return jsonReply(200, toJson(t));
}

absl::StatusOr<Reply> ApiServer::deleteTenant(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("tenant", c.param("tenant")));
  KH_RETURN_IF_ERROR(store_->deleteTenant(c.param("tenant")));
  Reply r;
  r.status = 204;
  r.audit_detail = "tenant=" + c.param("tenant");
  return r;
}

// ---- users ----

absl::StatusOr<Reply> ApiServer::listUsers(Call& c) {
  std::string tenant;
  KH_RETURN_IF_ERROR(optionalFilter(c, "tenant", &tenant, true));
  KH_ASSIGN_OR_RETURN(auto list, store_->listUsers(tenant));
  return jsonReply(200, items(list));
}

absl::StatusOr<Reply> ApiServer::createUser(Call& c) {
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(UserRecord u, decodeUser(body));
  KH_ASSIGN_OR_RETURN(UserRecord created, store_->createUser(u));
  Reply r = jsonReply(201, toJson(created));
  r.audit_detail = "user=" + created.name + " tenant=" + created.tenant;
  return r;
}

absl::StatusOr<Reply> ApiServer::getUser(Call& c) {
  const std::string& name = c.param("user");
  KH_RETURN_IF_ERROR(checkUserName(name));
  if (!c.principal.admin() && c.principal.user != name) {
    return absl::PermissionDeniedError(c.principal.actor() + " may only read its own user");
  }
  KH_ASSIGN_OR_RETURN(UserRecord u, store_->getUser(name));
  return jsonReply(200, toJson(u));
}

absl::StatusOr<Reply> ApiServer::deleteUser(Call& c) {
  KH_RETURN_IF_ERROR(checkUserName(c.param("user")));
  KH_RETURN_IF_ERROR(store_->deleteUser(c.param("user")));
  Reply r;
  r.status = 204;
  r.audit_detail = "user=" + c.param("user") + " (tokens revoked, grants deleted)";
  return r;
}

// ---- clusters ----

absl::StatusOr<Reply> ApiServer::listClusters(Call& c) {
  std::optional<auth::LabelSelector> selector;
  if (auto text = c.query("selector")) {
    auto parsed = auth::LabelSelector::parse(*text);
    if (!parsed.ok()) return parsed.status();
    selector = std::move(*parsed);
  }
  KH_ASSIGN_OR_RETURN(auto list, store_->listClusters());
  if (selector) {
    std::erase_if(list, [&](const ClusterRecord& r) { return !selector->matches(r.labels); });
  }
  return jsonReply(200, items(list));
}

absl::StatusOr<Reply> ApiServer::createCluster(Call& c) {
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(ClusterRecord cl, decodeCluster(body));
  KH_ASSIGN_OR_RETURN(ClusterRecord created, store_->createCluster(cl));
  Reply r = jsonReply(201, toJson(created));
  r.audit_detail = "cluster=" + created.name;
  return r;
}

absl::StatusOr<Reply> ApiServer::getCluster(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", c.param("cluster")));
  KH_ASSIGN_OR_RETURN(ClusterRecord cl, store_->getCluster(c.param("cluster")));
  return jsonReply(200, toJson(cl));
}

absl::StatusOr<Reply> ApiServer::updateCluster(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", c.param("cluster")));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(ClusterPatch patch, decodeClusterPatch(body));
  KH_ASSIGN_OR_RETURN(ClusterRecord cl, store_->updateCluster(c.param("cluster"), patch));
  Reply r = jsonReply(200, toJson(cl));
  r.audit_detail = "cluster=" + cl.name + (patch.disabled ? (*patch.disabled ? " disabled" : " enabled") : "");
  return r;
}

absl::StatusOr<Reply> ApiServer::deleteCluster(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", c.param("cluster")));
  KH_RETURN_IF_ERROR(store_->deleteCluster(c.param("cluster")));
  Reply r;
  r.status = 204;
  r.audit_detail = "cluster=" + c.param("cluster");
  return r;
}

// ---- grants ----

absl::StatusOr<Reply> ApiServer::listGrants(Call& c) {
  std::string tenant, user;
  KH_RETURN_IF_ERROR(optionalFilter(c, "tenant", &tenant, true));
  KH_RETURN_IF_ERROR(optionalFilter(c, "user", &user, false));
  KH_ASSIGN_OR_RETURN(auto list, store_->listGrants(tenant, user));
  return jsonReply(200, items(list));
}

absl::StatusOr<Reply> ApiServer::createGrant(Call& c) {
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(auth::Grant g, decodeGrant(body));
  KH_ASSIGN_OR_RETURN(GrantRecord created, store_->createGrant(g));
  Reply r = jsonReply(201, toJson(created));
  r.audit_detail = "grant=" + g.name + " tenant=" + g.tenant + (g.user.empty() ? "" : " user=" + g.user);
  return r;
}

absl::StatusOr<Reply> ApiServer::getGrant(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("grant", c.param("grant")));
  KH_ASSIGN_OR_RETURN(GrantRecord g, store_->getGrant(c.param("grant")));
  return jsonReply(200, toJson(g));
}

absl::StatusOr<Reply> ApiServer::deleteGrant(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("grant", c.param("grant")));
  KH_RETURN_IF_ERROR(store_->deleteGrant(c.param("grant")));
  Reply r;
  r.status = 204;
  r.audit_detail = "grant=" + c.param("grant");
  return r;
}

// ---- audit ----

absl::StatusOr<Reply> ApiServer::listAudit(Call& c) {
  int limit = 100;
  if (auto v = c.query("limit")) {
    if (!absl::SimpleAtoi(*v, &limit) || limit < 1 || limit > 10000) {
      return absl::InvalidArgumentError("limit must be an integer between 1 and 10000");
    }
  }
  KH_ASSIGN_OR_RETURN(auto list, store_->listAudit(limit));
  return jsonReply(200, items(list));
}

}  // namespace kubehub::metaserver

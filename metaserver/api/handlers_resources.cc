// Tenants, users (and their bans), clusters, grants, the audit log and the OpenAPI document.
#include "absl/strings/numbers.h"
#include "common/status/status_macros.h"
#include "metaserver/api/api_server.h"
#include "metaserver/api/paging.h"

namespace kubehub::metaserver {

namespace {

/// The query's `limit` and `continue` for `list`, keyed by one column.
absl::StatusOr<PageQuery> pageOf(const Call& c, std::string_view list, size_t key_size = 1) {
  return parsePage(c.query("limit"), c.query("continue"), list, key_size);
}

template <typename T>
Json items(const Listed<T>& page, std::string_view list) {
  Json items = Json::array();
  for (const auto& r : page.items) items.push_back(toJson(r));
  return pagedItems(std::move(items), list, page.next);
}

absl::Status optionalFilter(const Call& c, std::string_view name, std::string* out,
                            bool dns_label) {
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

std::string banDetail(std::string resource, const BanPatch& patch) {
  if (!patch.disabled) return resource + " enabled";
  return resource + " disabled" + (patch.reason ? " reason=" + Json(*patch.reason).dump() : "");
}

/// An admin may not ban itself: with no bootstrap admin token configured, nobody could lift it.
absl::Status refuseSelfBan(const Principal& p, const BanPatch& patch, bool tenant,
                           const std::string& name) {
  if (!patch.disabled || p.kind != Principal::Kind::kUser) return absl::OkStatus();
  if (tenant && p.tenant == name) {
    return absl::FailedPreconditionError("tenant \"" + name +
                                         "\" is your own tenant: disabling it would lock " +
                                         p.actor() + " out; ask another admin");
  }
  if (!tenant && p.user == name) {
    return absl::FailedPreconditionError("you may not disable your own user (\"" + name +
                                         "\"); ask another admin");
  }
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
  Whoami w{p.actor(), p.admin(), p.hub(), "", "", {}, ""};
  if (p.kind == Principal::Kind::kUser) {
    w.user = p.user;
    w.tenant = p.tenant;
    w.roles = p.roles;
    w.token_id = p.token_id;
  }
  return jsonReply(200, toJson(w));
}

// ---- tenants ----

absl::StatusOr<Reply> ApiServer::listTenants(Call& c) {
  KH_ASSIGN_OR_RETURN(PageQuery page, pageOf(c, "tenants"));
  KH_ASSIGN_OR_RETURN(auto list, store_->identity().listTenants(page));
  return jsonReply(200, items(list, "tenants"));
}

absl::StatusOr<Reply> ApiServer::createTenant(Call& c) {
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(TenantRecord t, decodeTenant(body));
  KH_ASSIGN_OR_RETURN(TenantRecord created, store_->identity().createTenant(t));
  Reply r = jsonReply(201, toJson(created));
  r.audit_detail = "tenant=" + created.name;
  return r;
}

absl::StatusOr<Reply> ApiServer::getTenant(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("tenant", c.param("tenant")));
  KH_ASSIGN_OR_RETURN(TenantRecord t, store_->identity().getTenant(c.param("tenant")));
  return jsonReply(200, toJson(t));
}

absl::StatusOr<Reply> ApiServer::updateTenant(Call& c) {
  const std::string& name = c.param("tenant");
  KH_RETURN_IF_ERROR(checkDnsLabel("tenant", name));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(BanPatch patch, decodeBanPatch(body, "tenant"));
  KH_RETURN_IF_ERROR(refuseSelfBan(c.principal, patch, true, name));
  KH_ASSIGN_OR_RETURN(TenantRecord t, store_->identity().setTenantBan(name, patch));
  Reply r = jsonReply(200, toJson(t));
  r.audit_detail = banDetail("tenant=" + name, patch);
  return r;
}

absl::StatusOr<Reply> ApiServer::deleteTenant(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("tenant", c.param("tenant")));
  KH_RETURN_IF_ERROR(store_->identity().deleteTenant(c.param("tenant")));
  Reply r;
  r.status = 204;
  r.audit_detail = "tenant=" + c.param("tenant");
  return r;
}

// ---- users ----

absl::StatusOr<Reply> ApiServer::listUsers(Call& c) {
  std::string tenant;
  KH_RETURN_IF_ERROR(optionalFilter(c, "tenant", &tenant, true));
  KH_ASSIGN_OR_RETURN(PageQuery page, pageOf(c, "users"));
  KH_ASSIGN_OR_RETURN(auto list, store_->identity().listUsers(tenant, page));
  return jsonReply(200, items(list, "users"));
}

absl::StatusOr<Reply> ApiServer::createUser(Call& c) {
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(UserRecord u, decodeUser(body));
  KH_ASSIGN_OR_RETURN(UserRecord created, store_->identity().createUser(u));
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
  KH_ASSIGN_OR_RETURN(UserRecord u, store_->identity().getUser(name));
  return jsonReply(200, toJson(u));
}

absl::StatusOr<Reply> ApiServer::updateUser(Call& c) {
  const std::string& name = c.param("user");
  KH_RETURN_IF_ERROR(checkUserName(name));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(BanPatch patch, decodeBanPatch(body, "user"));
  KH_RETURN_IF_ERROR(refuseSelfBan(c.principal, patch, false, name));
  KH_ASSIGN_OR_RETURN(UserRecord u, store_->identity().setUserBan(name, patch));
  Reply r = jsonReply(200, toJson(u));
  r.audit_detail = banDetail("user=" + name, patch);
  return r;
}

absl::StatusOr<Reply> ApiServer::listBans(Call&) {
  // Taken before the query: every ban committed before serverTime is in the answer.
  int64_t server_time = nowSeconds();
  KH_ASSIGN_OR_RETURN(BanList bans, store_->identity().bans());
  return jsonReply(200, toJson(bans, server_time));
}

absl::StatusOr<Reply> ApiServer::deleteUser(Call& c) {
  KH_RETURN_IF_ERROR(checkUserName(c.param("user")));
  KH_RETURN_IF_ERROR(store_->identity().deleteUser(c.param("user")));
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
  KH_ASSIGN_OR_RETURN(PageQuery page, pageOf(c, "clusters"));
  KH_ASSIGN_OR_RETURN(auto list, store_->clusters().listClusters(page));
  // A page holds the clusters among `limit` that match: possibly fewer, even none, with a
  // continue token still (as a Kubernetes list with a field selector does).
  if (selector) {
    std::erase_if(list.items, [&](const ClusterRecord& r) { return !selector->matches(r.labels); });
  }
  return jsonReply(200, items(list, "clusters"));
}

absl::StatusOr<Reply> ApiServer::createCluster(Call& c) {
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(ClusterRecord cl, decodeCluster(body));
  KH_ASSIGN_OR_RETURN(ClusterRecord created, store_->clusters().createCluster(cl));
  Reply r = jsonReply(201, toJson(created));
  r.audit_detail = "cluster=" + created.name;
  return r;
}

absl::StatusOr<Reply> ApiServer::getCluster(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", c.param("cluster")));
  KH_ASSIGN_OR_RETURN(ClusterRecord cl, store_->clusters().getCluster(c.param("cluster")));
  return jsonReply(200, toJson(cl));
}

absl::StatusOr<Reply> ApiServer::updateCluster(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", c.param("cluster")));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(ClusterPatch patch, decodeClusterPatch(body));
  KH_ASSIGN_OR_RETURN(ClusterRecord cl,
                      store_->clusters().updateCluster(c.param("cluster"), patch));
  Reply r = jsonReply(200, toJson(cl));
  r.audit_detail =
      "cluster=" + cl.name + (patch.disabled ? (*patch.disabled ? " disabled" : " enabled") : "");
  return r;
}

absl::StatusOr<Reply> ApiServer::deleteCluster(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", c.param("cluster")));
  KH_RETURN_IF_ERROR(store_->clusters().deleteCluster(c.param("cluster")));
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
  KH_ASSIGN_OR_RETURN(PageQuery page, pageOf(c, "grants"));
  KH_ASSIGN_OR_RETURN(auto list, store_->grants().listGrants(tenant, user, page));
  return jsonReply(200, items(list, "grants"));
}

absl::StatusOr<Reply> ApiServer::createGrant(Call& c) {
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(auth::Grant g, decodeGrant(body));
  KH_ASSIGN_OR_RETURN(GrantRecord created, store_->grants().createGrant(g));
  Reply r = jsonReply(201, toJson(created));
  r.audit_detail =
      "grant=" + g.name + " tenant=" + g.tenant + (g.user.empty() ? "" : " user=" + g.user);
  return r;
}

absl::StatusOr<Reply> ApiServer::getGrant(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("grant", c.param("grant")));
  KH_ASSIGN_OR_RETURN(GrantRecord g, store_->grants().getGrant(c.param("grant")));
  return jsonReply(200, toJson(g));
}

absl::StatusOr<Reply> ApiServer::deleteGrant(Call& c) {
  KH_RETURN_IF_ERROR(checkDnsLabel("grant", c.param("grant")));
  KH_RETURN_IF_ERROR(store_->grants().deleteGrant(c.param("grant")));
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
  KH_ASSIGN_OR_RETURN(auto list, store_->audit().listAudit(limit));
  Json entries = Json::array();
  for (const auto& r : list) entries.push_back(toJson(r));
  return jsonReply(200, Json{{"items", std::move(entries)}});
}

}  // namespace kubehub::metaserver

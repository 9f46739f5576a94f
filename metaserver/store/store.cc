#include "metaserver/store/store.h"

#include <nlohmann/json.hpp>

#include "common/log/log.h"
#include "metaserver/model/codec.h"
#include "metaserver/store/migrations.h"

namespace kubehub::metaserver {

namespace {

#define EPOCH(x) "floor(extract(epoch FROM " x "))::bigint"

std::vector<std::string> stringArray(std::string_view text) {
  std::vector<std::string> out;
  Json j = Json::parse(text, nullptr, false);
  if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

auth::Labels stringMap(std::string_view text) {
  auth::Labels out;
  Json j = Json::parse(text, nullptr, false);
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (v.is_string()) out.emplace(k, v.get<std::string>());
    }
  }
  return out;
}

std::string labelsText(const auth::Labels& l) {
  Json j = Json::object();
  for (const auto& [k, v] : l) j[k] = v;
  return j.dump();
}

std::optional<int64_t> optInt(const PgResult& r, int row, int col) {
  if (r.isNull(row, col)) return std::nullopt;
  return r.int64(row, col);
}

absl::Status notFound(std::string_view kind, std::string_view name) {
  return absl::NotFoundError(std::string(kind) + " \"" + std::string(name) + "\" not found");
}

absl::Status exists(std::string_view kind, std::string_view name) {
  return absl::AlreadyExistsError(std::string(kind) + " \"" + std::string(name) +
                                  "\" already exists");
}

/// Rewrites an AlreadyExists from a unique index into a message naming the resource.
absl::Status conflictAs(absl::Status s, std::string_view kind, std::string_view name) {
  if (s.code() == absl::StatusCode::kAlreadyExists) return exists(kind, name);
  return s;
}

std::string secs(std::chrono::seconds s) { return std::to_string(s.count()); }

// The ban columns of users and tenants, last in their column lists.
#define BAN_COLS "disabled, " EPOCH("disabled_at") ", disabled_reason"
Ban banRow(const PgResult& r, int i, int first) {
  return {r.boolean(i, first), optInt(r, i, first + 1), r.str(i, first + 2)};
}

/// Sets a user's or tenant's ban. Re-disabling keeps the original time (and the reason unless a
/// new one is given); enabling clears both.
constexpr const char* kSetBan =
    " SET disabled_reason = CASE WHEN NOT $2::boolean THEN ''"
    "                            WHEN $3::text IS NOT NULL THEN $3::text"
    "                            WHEN disabled THEN disabled_reason ELSE '' END,"
    "     disabled_at = CASE WHEN NOT $2::boolean THEN NULL"
    "                        WHEN disabled THEN disabled_at ELSE now() END,"
    "     disabled = $2::boolean"
    " WHERE name = $1 RETURNING ";

constexpr const char* kTenantCols = "name, description, " EPOCH("created_at") ", " BAN_COLS;
TenantRecord tenantRow(const PgResult& r, int i) {
  return {r.str(i, 0), r.str(i, 1), r.int64(i, 2), banRow(r, i, 3)};
}

// ---- pages ----

/// The LIMIT of a page's query: one row more than the page holds tells whether another follows.
std::string pageLimit(const PageQuery& p) {
  return p.limit > 0 ? std::to_string(p.limit + 1) : "9223372036854775807";
}

std::string pageAfter(const PageQuery& p, size_t i) { return i < p.after.size() ? p.after[i] : ""; }

/// Reads a page's rows with `row`; when the query found one more than the page holds, `next`
/// becomes the sort key (`key`) of the last row kept.
template <class T, class RowFn, class KeyFn>
absl::Status readPage(const PgResult& r, const PageQuery& p, Listed<T>* out, RowFn row, KeyFn key) {
  int rows = r.rows();
  bool more = p.limit > 0 && rows > p.limit;
  if (more) rows = p.limit;
  for (int i = 0; i < rows; ++i) {
    absl::StatusOr<T> item = row(r, i);
    if (!item.ok()) return item.status();
    out->items.push_back(std::move(*item));
  }
  if (more) out->next = key(r, rows - 1);
  return absl::OkStatus();
}

/// The key of lists ordered by their first column (a name or an id).
std::vector<std::string> firstColumnKey(const PgResult& r, int i) { return {r.str(i, 0)}; }

constexpr const char* kUserCols =
    "name, tenant, groups::text, roles::text, description, " EPOCH("created_at") ", " BAN_COLS;
UserRecord userRow(const PgResult& r, int i) {
  return {r.str(i, 0), r.str(i, 1),   stringArray(r.get(i, 2)), stringArray(r.get(i, 3)),
          r.str(i, 4), r.int64(i, 5), banRow(r, i, 6)};
}

// $1: registry TTL in seconds.
constexpr const char* kClusterSelect =
    "SELECT c.name, c.labels::text, c.description, c.disabled, " EPOCH("c.created_at") ","
    " COALESCE((SELECT json_agg(h.id ORDER BY h.id)::text FROM connections k JOIN hubs h ON h.id = k.hub"
    "           WHERE k.cluster = c.name AND h.last_heartbeat > now() - make_interval(secs => $1)), '[]'),"
    " " EPOCH("GREATEST(c.last_seen, c.status_reported_at, (SELECT max(GREATEST(h.last_heartbeat,"
    "   k.last_seen)) FROM connections k JOIN hubs h ON h.id = k.hub WHERE k.cluster = c.name))") ","
    " " EPOCH("(SELECT min(k.connected_at) FROM connections k JOIN hubs h ON h.id = k.hub"
    "   WHERE k.cluster = c.name AND h.last_heartbeat > now() - make_interval(secs => $1))") ","
    " COALESCE(c.status::text, ''), " EPOCH("c.status_reported_at") ", c.status_hub"
    " FROM clusters c";
ClusterRecord clusterRow(const PgResult& r, int i) {
  ClusterRecord c;
  c.name = r.str(i, 0);
  c.labels = stringMap(r.get(i, 1));
  c.description = r.str(i, 2);
  c.disabled = r.boolean(i, 3);
  c.created_at = r.int64(i, 4);
  c.hubs = stringArray(r.get(i, 5));
  c.last_seen = optInt(r, i, 6);
  c.connected_since = optInt(r, i, 7);
  c.report = r.str(i, 8);
  c.reported_at = optInt(r, i, 9);
  c.reported_by = r.str(i, 10);
  return c;
}

constexpr const char* kGrantCols =
    "name, tenant, COALESCE(username, ''), spec::text, " EPOCH("created_at");
absl::StatusOr<GrantRecord> grantRow(const PgResult& r, int i) {
  Json spec = Json::parse(r.get(i, 3), nullptr, false);
  auto g = grantFromSpec(r.str(i, 0), r.str(i, 1), r.str(i, 2), spec);
  if (!g.ok()) return g.status();
  return GrantRecord{std::move(*g), r.int64(i, 4)};
}

constexpr const char* kTokenCols = "id, username, tenant, description, kid, " EPOCH(
    "issued_at") ", " EPOCH("expires_at") ", " EPOCH("revoked_at") ", issued_by";
TokenRecord tokenRow(const PgResult& r, int i) {
  return {r.str(i, 0),   r.str(i, 1),   r.str(i, 2),     r.str(i, 3), r.str(i, 4),
          r.int64(i, 5), r.int64(i, 6), optInt(r, i, 7), r.str(i, 8)};
}

constexpr const char* kHubCols =
    "id, addresses::text, agents, load, version, " EPOCH("registered_at") ", " EPOCH(
        "last_heartbeat") ", last_heartbeat > now() - make_interval(secs => $1), draining, "
                       "drain_reason";
HubRecord hubRow(const PgResult& r, int i) {
  return {r.str(i, 0),   stringMap(r.get(i, 1)), r.int64(i, 2),   r.number(i, 3),  r.str(i, 4),
          r.int64(i, 5), r.int64(i, 6),          r.boolean(i, 7), r.boolean(i, 8), r.str(i, 9)};
}

/// Appends revocations of the user's (or one token's) live tokens to the feed. Must run in a
/// transaction: the advisory lock makes seq order the commit order.
absl::Status publishRevocations(PgConnection& c, std::string_view where, const std::string& arg) {
  if (auto s = c.run("SELECT pg_advisory_xact_lock($1)", {std::to_string(kRevocationLockKey)});
      !s.ok())
    return s;
  std::string sql = "WITH revoked AS (UPDATE tokens SET revoked_at = now() WHERE " +
                    std::string(where) +
                    " AND revoked_at IS NULL RETURNING id, expires_at)"
                    " INSERT INTO revocations (token_id, expires_at) SELECT id, expires_at FROM "
                    "revoked ORDER BY id";
  return c.run(sql, {arg});
}

}  // namespace

std::string signingKeyContext(const std::string& kid) { return "signing_keys/" + kid; }

Store::Store(std::shared_ptr<PgPool> pool, std::chrono::seconds registry_ttl,
             std::shared_ptr<const SecretBox> box)
    : pool_(std::move(pool)),
      registry_ttl_(registry_ttl),
      box_(box ? std::move(box) : SecretBox::plaintext()) {}

// ---- tenants ----

absl::StatusOr<TenantRecord> Store::createTenant(const TenantRecord& t) {
  TenantRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r =
        c.exec(std::string("INSERT INTO tenants (name, description) VALUES ($1, $2) RETURNING ") +
                   kTenantCols,
               {t.name, t.description});
    if (!r.ok()) return conflictAs(r.status(), "tenant", t.name);
    out = tenantRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<Listed<TenantRecord>> Store::listTenants(const PageQuery& page) {
  Listed<TenantRecord> out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    out = {};
    auto r = c.exec(std::string("SELECT ") + kTenantCols +
                        " FROM tenants WHERE ($1 = '' OR name > $1) ORDER BY name LIMIT $2",
                    {pageAfter(page, 0), pageLimit(page)});
    if (!r.ok()) return r.status();
    return readPage<TenantRecord>(
        *r, page, &out, [](const PgResult& r, int i) { return tenantRow(r, i); }, firstColumnKey);
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<TenantRecord> Store::getTenant(const std::string& name) {
  TenantRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(std::string("SELECT ") + kTenantCols + " FROM tenants WHERE name = $1", {name});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("tenant", name);
    out = tenantRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<TenantRecord> Store::setTenantBan(const std::string& name, const BanPatch& ban) {
  TenantRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(std::string("UPDATE tenants") + kSetBan + kTenantCols,
                    {name, ban.disabled ? "true" : "false", ban.reason});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("tenant", name);
    out = tenantRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::deleteTenant(const std::string& name) {
  return pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec("DELETE FROM tenants WHERE name = $1", {name});
    if (!r.ok()) {
      if (r.status().code() == absl::StatusCode::kFailedPrecondition) {
        return absl::FailedPreconditionError("tenant \"" + name +
                                             "\" still has users or grants: delete them first");
      }
      return r.status();
    }
    if (r->affected() == 0) return notFound("tenant", name);
    return absl::OkStatus();
  });
}

// ---- users ----

absl::StatusOr<UserRecord> Store::createUser(const UserRecord& u) {
  UserRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(std::string("INSERT INTO users (name, tenant, groups, roles, description)"
                                " VALUES ($1, $2, $3::jsonb, $4::jsonb, $5) RETURNING ") +
                        kUserCols,
                    {u.name, u.tenant, Json(u.groups).dump(), Json(u.roles).dump(), u.description});
    if (!r.ok()) {
      if (r.status().code() == absl::StatusCode::kFailedPrecondition)
        return notFound("tenant", u.tenant);
      return conflictAs(r.status(), "user", u.name);
    }
    out = userRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<Listed<UserRecord>> Store::listUsers(const std::string& tenant,
                                                    const PageQuery& page) {
  Listed<UserRecord> out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    out = {};
    auto r = c.exec(std::string("SELECT ") + kUserCols +
                        " FROM users WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR name > $2)"
                        " ORDER BY name LIMIT $3",
                    {tenant, pageAfter(page, 0), pageLimit(page)});
    if (!r.ok()) return r.status();
    return readPage<UserRecord>(
        *r, page, &out, [](const PgResult& r, int i) { return userRow(r, i); }, firstColumnKey);
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<UserRecord> Store::getUser(const std::string& name) {
  UserRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(std::string("SELECT ") + kUserCols + " FROM users WHERE name = $1", {name});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("user", name);
    out = userRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<UserRecord> Store::setUserBan(const std::string& name, const BanPatch& ban) {
  UserRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(std::string("UPDATE users") + kSetBan + kUserCols,
                    {name, ban.disabled ? "true" : "false", ban.reason});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("user", name);
    out = userRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<BanList> Store::bans() {
  BanList out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    // One round trip, one snapshot; each branch reads a partial index of the disabled rows
    // (migration 004), so the cost follows the number of bans, not of users.
    auto r = c.exec("SELECT 'user', name, tenant, disabled_reason, " EPOCH("disabled_at")
                    " FROM users WHERE disabled"
                    " UNION ALL SELECT 'tenant', name, '', disabled_reason, " EPOCH("disabled_at")
                    " FROM tenants WHERE disabled"
                    " UNION ALL SELECT 'cluster', name, '', '', NULL FROM clusters WHERE disabled"
                    " ORDER BY 1, 2");
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) {
      std::string_view kind = r->get(i, 0);
      auto& list = kind == "user" ? out.users : kind == "tenant" ? out.tenants : out.clusters;
      list.push_back({r->str(i, 1), r->str(i, 2), r->str(i, 3), optInt(*r, i, 4)});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::deleteUser(const std::string& name) {
  return pool_->transaction([&](PgConnection& c) -> absl::Status {
    if (auto s = publishRevocations(c, "username = $1", name); !s.ok()) return s;
    auto r = c.exec("DELETE FROM users WHERE name = $1", {name});
    if (!r.ok()) return r.status();
    if (r->affected() == 0) return notFound("user", name);
    return absl::OkStatus();
  });
}

// ---- clusters ----

absl::StatusOr<ClusterRecord> Store::createCluster(const ClusterRecord& cl) {
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(
        "INSERT INTO clusters (name, labels, description, disabled) VALUES ($1, $2::jsonb, $3, $4)",
        {cl.name, labelsText(cl.labels), cl.description, cl.disabled ? "true" : "false"});
    if (!r.ok()) return conflictAs(r.status(), "cluster", cl.name);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return getCluster(cl.name);
}

absl::StatusOr<Listed<ClusterRecord>> Store::listClusters(const PageQuery& page) {
  Listed<ClusterRecord> out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    out = {};
    auto r = c.exec(
        std::string(kClusterSelect) + " WHERE ($2 = '' OR c.name > $2) ORDER BY c.name LIMIT $3",
        {secs(registry_ttl_), pageAfter(page, 0), pageLimit(page)});
    if (!r.ok()) return r.status();
    return readPage<ClusterRecord>(
        *r, page, &out, [](const PgResult& r, int i) { return clusterRow(r, i); }, firstColumnKey);
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<ClusterRecord> Store::getCluster(const std::string& name) {
  ClusterRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r =
        c.exec(std::string(kClusterSelect) + " WHERE c.name = $2", {secs(registry_ttl_), name});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("cluster", name);
    out = clusterRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<ClusterRecord> Store::updateCluster(const std::string& name, const ClusterPatch& p) {
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    PgParam labels = p.labels ? PgParam(labelsText(*p.labels)) : std::nullopt;
    PgParam disabled = p.disabled ? PgParam(*p.disabled ? "true" : "false") : std::nullopt;
    auto r = c.exec(
        "UPDATE clusters SET labels = COALESCE($2::jsonb, labels), description = COALESCE($3, "
        "description),"
        " disabled = COALESCE($4::boolean, disabled) WHERE name = $1",
        {name, labels, p.description, disabled});
    if (!r.ok()) return r.status();
    if (r->affected() == 0) return notFound("cluster", name);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return getCluster(name);
}

absl::Status Store::deleteCluster(const std::string& name) {
  return pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec("DELETE FROM clusters WHERE name = $1", {name});
    if (!r.ok()) return r.status();
    if (r->affected() == 0) return notFound("cluster", name);
    return absl::OkStatus();
  });
}

// ---- grants ----

absl::StatusOr<GrantRecord> Store::createGrant(const auth::Grant& g) {
  GrantRecord out;
  absl::Status s = pool_->transaction([&](PgConnection& c) -> absl::Status {
    auto t = c.exec("SELECT 1 FROM tenants WHERE name = $1 FOR SHARE", {g.tenant});
    if (!t.ok()) return t.status();
    if (t->rows() == 0) return notFound("tenant", g.tenant);
    if (!g.user.empty()) {
      auto u = c.exec("SELECT tenant FROM users WHERE name = $1 FOR SHARE", {g.user});
      if (!u.ok()) return u.status();
      if (u->rows() == 0) return notFound("user", g.user);
      if (u->str(0, 0) != g.tenant) {
        return absl::InvalidArgumentError("user \"" + g.user + "\" belongs to tenant \"" +
                                          u->str(0, 0) + "\", not \"" + g.tenant + "\"");
      }
    }
    auto r = c.exec(
        std::string(
            "INSERT INTO grants (name, tenant, username, spec) VALUES ($1, $2, $3, $4::jsonb)"
            " RETURNING ") +
            kGrantCols,
        {g.name, g.tenant, g.user.empty() ? PgParam() : PgParam(g.user), grantSpecJson(g).dump()});
    if (!r.ok()) return conflictAs(r.status(), "grant", g.name);
    auto row = grantRow(*r, 0);
    if (!row.ok()) return row.status();
    out = std::move(*row);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<Listed<GrantRecord>> Store::listGrants(const std::string& tenant,
                                                      const std::string& user,
                                                      const PageQuery& page) {
  Listed<GrantRecord> out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    out = {};
    auto r = c.exec(std::string("SELECT ") + kGrantCols +
                        " FROM grants WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR username = "
                        "$2) AND ($3 = '' OR name > $3) ORDER BY name LIMIT $4",
                    {tenant, user, pageAfter(page, 0), pageLimit(page)});
    if (!r.ok()) return r.status();
    return readPage<GrantRecord>(*r, page, &out, grantRow, firstColumnKey);
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<GrantRecord> Store::getGrant(const std::string& name) {
  GrantRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(std::string("SELECT ") + kGrantCols + " FROM grants WHERE name = $1", {name});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("grant", name);
    auto g = grantRow(*r, 0);
    if (!g.ok()) return g.status();
    out = std::move(*g);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::deleteGrant(const std::string& name) {
  return pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec("DELETE FROM grants WHERE name = $1", {name});
    if (!r.ok()) return r.status();
    if (r->affected() == 0) return notFound("grant", name);
    return absl::OkStatus();
  });
}

// ---- tokens ----

absl::Status Store::insertToken(const TokenRecord& t, const std::string& token_hash) {
  return pool_->run([&](PgConnection& c) -> absl::Status {
    return c.run(
        "INSERT INTO tokens (id, username, tenant, description, token_hash, kid, issued_at, "
        "expires_at, issued_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7), to_timestamp($8), $9)",
        {t.id, t.user, t.tenant, t.description, token_hash, t.kid, std::to_string(t.issued_at),
         std::to_string(t.expires_at), t.issued_by});
  });
}

absl::StatusOr<Listed<TokenRecord>> Store::listTokens(const std::string& tenant,
                                                      const std::string& user,
                                                      const PageQuery& page) {
  Listed<TokenRecord> out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    out = {};
    // Keyed by (issued_at, id); the issue time travels as PostgreSQL's own text (microseconds
    // and offset), so the next page starts exactly after the last row of this one.
    auto r = c.exec(
        std::string("SELECT ") + kTokenCols +
            ", issued_at::text FROM tokens WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR "
            "username = $2) AND ($3 = '' OR (issued_at, id) > (NULLIF($3, '')::timestamptz, $4))"
            " ORDER BY issued_at, id LIMIT $5",
        {tenant, user, pageAfter(page, 0), pageAfter(page, 1), pageLimit(page)});
    if (!r.ok()) return r.status();
    return readPage<TokenRecord>(
        *r, page, &out, [](const PgResult& r, int i) { return tokenRow(r, i); },
        [](const PgResult& r, int i) {
          return std::vector<std::string>{r.str(i, 9), r.str(i, 0)};
        });
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<TokenRecord> Store::getToken(const std::string& id) {
  TokenRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(std::string("SELECT ") + kTokenCols + " FROM tokens WHERE id = $1", {id});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("token", id);
    out = tokenRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<TokenRecord> Store::revokeToken(const std::string& id) {
  TokenRecord out;
  absl::Status s = pool_->transaction([&](PgConnection& c) -> absl::Status {
    if (auto p = publishRevocations(c, "id = $1", id); !p.ok()) return p;
    auto r = c.exec(std::string("SELECT ") + kTokenCols + " FROM tokens WHERE id = $1", {id});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("token", id);
    out = tokenRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<TokenState> Store::tokenState(const std::string& id) {
  TokenState out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(
        "SELECT t.revoked_at IS NOT NULL, u.name IS NOT NULL, COALESCE(u.roles::text, '[]'),"
        " COALESCE(u.disabled, false), COALESCE(n.disabled, false)"
        " FROM tokens t LEFT JOIN users u ON u.name = t.username AND u.tenant = t.tenant"
        " LEFT JOIN tenants n ON n.name = u.tenant WHERE t.id = $1",
        {id});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("token", id);
    out.revoked = r->boolean(0, 0);
    out.user_exists = r->boolean(0, 1);
    out.roles = stringArray(r->get(0, 2));
    out.user_disabled = r->boolean(0, 3);
    out.tenant_disabled = r->boolean(0, 4);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<RevocationPage> Store::revocationsSince(int64_t since, int limit) {
  RevocationPage page;
  page.cursor = since;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec("SELECT seq, token_id, " EPOCH("expires_at") ", " EPOCH("revoked_at") ", expires_at > now()"
                    " FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2",
                    {std::to_string(since), std::to_string(limit)});
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) {
      page.cursor = r->int64(i, 0);
      if (!r->boolean(i, 4)) continue;  // expired tokens are refused anyway
      page.items.push_back({r->int64(i, 0), r->str(i, 1), r->int64(i, 2), r->int64(i, 3)});
    }
    if (r->rows() == 0 && since > 0) {
      // A cursor from the future (the database was restored from a backup): continue from
      // what exists, or the client would never see another revocation.
      auto seq =
          c.exec("SELECT COALESCE(pg_sequence_last_value('revocations_seq_seq'::regclass), 0)");
      if (!seq.ok()) return seq.status();
      if (since > seq->int64(0, 0)) page.cursor = seq->int64(0, 0);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

// ---- signing keys and CA ----

absl::StatusOr<std::vector<SigningKeyRecord>> Store::signingKeys() {
  std::vector<SigningKeyRecord> out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec("SELECT kid, private_key_pem, public_key_pem, active, " EPOCH(
        "created_at") ", " EPOCH("retired_at") " FROM signing_keys ORDER BY created_at, kid");
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) {
      auto private_pem = box_->open(r->str(i, 1), signingKeyContext(r->str(i, 0)));
      if (!private_pem.ok()) return private_pem.status();
      out.push_back({r->str(i, 0), std::move(*private_pem), r->str(i, 2), r->boolean(i, 3),
                     r->int64(i, 4), optInt(*r, i, 5)});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::rotateSigningKey(const SigningKeyRecord& key) {
  auto sealed = box_->seal(key.private_pem, signingKeyContext(key.kid));
  if (!sealed.ok()) return sealed.status();
  return pool_->transaction([&](PgConnection& c) -> absl::Status {
    if (auto s = c.run("UPDATE signing_keys SET active = false, retired_at = now() WHERE active");
        !s.ok())
      return s;
    return c.run(
        "INSERT INTO signing_keys (kid, algorithm, private_key_pem, public_key_pem, active)"
        " VALUES ($1, 'EdDSA', $2, $3, true)",
        {key.kid, *sealed, key.public_pem});
  });
}

absl::StatusOr<std::optional<CaRecord>> Store::loadCa() {
  std::optional<CaRecord> out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec("SELECT cert_pem, key_pem FROM certificate_authority WHERE id = 1");
    if (!r.ok()) return r.status();
    if (r->rows() == 1) {
      auto key = box_->open(r->str(0, 1), kCaKeyContext);
      if (!key.ok()) return key.status();
      out = CaRecord{r->str(0, 0), std::move(*key)};
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::recordCertificate(const CertificateRecord& cert) {
  return pool_->run([&](PgConnection& c) -> absl::Status {
    return c.run(
        "INSERT INTO certificates (serial, kind, subject, not_after, issued_by)"
        " VALUES ($1, $2, $3, to_timestamp($4), $5)",
        {cert.serial, cert.kind, cert.subject, std::to_string(cert.not_after), cert.issued_by});
  });
}

absl::Status Store::createBootstrapToken(const std::string& id, const std::string& cluster,
                                         const std::string& token_hash, int64_t expires_at,
                                         const std::string& created_by) {
  return pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(
        "INSERT INTO bootstrap_tokens (id, cluster, token_hash, expires_at, created_by)"
        " VALUES ($1, $2, $3, to_timestamp($4), $5)",
        {id, cluster, token_hash, std::to_string(expires_at), created_by});
    if (!r.ok() && r.status().code() == absl::StatusCode::kFailedPrecondition)
      return notFound("cluster", cluster);
    return r.ok() ? absl::OkStatus() : r.status();
  });
}

absl::Status Store::consumeBootstrapToken(const std::string& cluster,
                                          const std::string& token_hash) {
  return pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(
        "UPDATE bootstrap_tokens SET used_at = now()"
        " WHERE token_hash = $1 AND cluster = $2 AND used_at IS NULL AND expires_at > now()",
        {token_hash, cluster});
    if (!r.ok()) return r.status();
    if (r->affected() == 0) {
      return absl::PermissionDeniedError(
          "bootstrap token is unknown, already used, expired, or for another cluster");
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> Store::bootstrapTokenValid(const std::string& cluster,
                                                const std::string& token_hash) {
  bool valid = false;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(
        "SELECT 1 FROM bootstrap_tokens WHERE token_hash = $1 AND cluster = $2 AND used_at IS NULL"
        " AND expires_at > now()",
        {token_hash, cluster});
    if (!r.ok()) return r.status();
    valid = r->rows() == 1;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return valid;
}

absl::Status bootstrapSecrets(PgPool& pool,
                              const std::function<absl::StatusOr<SigningKeyRecord>()>& make_key,
                              const std::function<absl::StatusOr<CaRecord>()>& make_ca,
                              bool need_ca, const SecretBox& box) {
  return pool.run([&](PgConnection& c) -> absl::Status {
    if (auto s = c.run("SELECT pg_advisory_lock($1)", {std::to_string(kBootstrapLockKey)}); !s.ok())
      return s;
    auto work = [&]() -> absl::Status {
      auto keys = c.exec("SELECT kid FROM signing_keys WHERE active");
      if (!keys.ok()) return keys.status();
      if (keys->rows() == 0) {
        auto key = make_key();
        if (!key.ok()) return key.status();
        auto sealed = box.seal(key->private_pem, signingKeyContext(key->kid));
        if (!sealed.ok()) return sealed.status();
        if (auto s = c.run(
                "INSERT INTO signing_keys (kid, algorithm, private_key_pem, public_key_pem, active)"
                " VALUES ($1, 'EdDSA', $2, $3, true)",
                {key->kid, *sealed, key->public_pem});
            !s.ok()) {
          return s;
        }
        log::info("generated token signing key", {{"kid", key->kid}});
      }
      if (need_ca) {
        auto ca = c.exec("SELECT 1 FROM certificate_authority WHERE id = 1");
        if (!ca.ok()) return ca.status();
        if (ca->rows() == 0) {
          auto made = make_ca();
          if (!made.ok()) return made.status();
          auto sealed = box.seal(made->key_pem, kCaKeyContext);
          if (!sealed.ok()) return sealed.status();
          if (auto s = c.run(
                  "INSERT INTO certificate_authority (id, cert_pem, key_pem) VALUES (1, $1, $2)",
                  {made->cert_pem, *sealed});
              !s.ok()) {
            return s;
          }
          log::info("generated tunnel certificate authority");
        }
      }
      // Seal again what is stored unsealed or under another key (in one transaction: a
      // replica reading meanwhile sees either state, both of which it can open).
      int resealed = 0;
      auto reseal = [&](const std::string& table, const std::string& id_col,
                        const std::string& key_col,
                        const std::function<std::string(const std::string&)>& context) {
        auto rows = c.exec("SELECT " + id_col + "::text, " + key_col + " FROM " + table);
        if (!rows.ok()) return rows.status();
        for (int i = 0; i < rows->rows(); ++i) {
          std::string id = rows->str(i, 0), stored = rows->str(i, 1);
          if (box.sealedWithPrimary(stored)) continue;
          auto plain = box.open(stored, context(id));
          if (!plain.ok()) return plain.status();
          auto sealed = box.seal(*plain, context(id));
          if (!sealed.ok()) return sealed.status();
          if (auto s = c.run(
                  "UPDATE " + table + " SET " + key_col + " = $1 WHERE " + id_col + "::text = $2",
                  {*sealed, id});
              !s.ok())
            return s;
          ++resealed;
        }
        return absl::OkStatus();
      };
      absl::Status sealed_all = c.transaction([&]() -> absl::Status {
        if (auto s = reseal("signing_keys", "kid", "private_key_pem", signingKeyContext); !s.ok())
          return s;
        return reseal("certificate_authority", "id", "key_pem",
                      [](const std::string&) { return std::string(kCaKeyContext); });
      });
      if (!sealed_all.ok()) return sealed_all;
      if (resealed > 0) {
        log::info(box.encrypts() ? "private keys sealed under the current encryption key"
                                 : "private keys stored unsealed (no --encryption-key-file)",
                  {{"keys", resealed}, {"encryption_key", box.primaryKeyId()}});
      }
      return absl::OkStatus();
    };
    absl::Status s = work();
    if (!c.broken())
      (void)c.run("SELECT pg_advisory_unlock($1)", {std::to_string(kBootstrapLockKey)});
    return s;
  });
}

// ---- registry ----

absl::StatusOr<HubRecord> Store::heartbeatHub(const std::string& id, const auth::Labels& addresses,
                                              int64_t agents, double load,
                                              const std::string& version,
                                              const std::string& instance) {
  HubRecord out;
  absl::Status s = pool_->transaction([&](PgConnection& c) -> absl::Status {
    // A hub that comes back after its registration expired, or as another process (a new
    // instance id), restarted: its old connections are gone; its agents will be recorded
    // again as they reconnect.
    auto prev = c.exec(
        "SELECT last_heartbeat <= now() - make_interval(secs => $2) OR ($3 <> '' AND instance <> "
        "$3) FROM hubs WHERE id = $1 FOR UPDATE",
        {id, secs(registry_ttl_), instance});
    if (!prev.ok()) return prev.status();
    bool restarted = prev->rows() == 1 && prev->boolean(0, 0);
    if (restarted) {
      if (auto d = c.run("DELETE FROM connections WHERE hub = $1", {id}); !d.ok()) return d;
    }
    auto r = c.exec(
        std::string(
            "INSERT INTO hubs (id, addresses, agents, load, version, instance) VALUES ($2, "
            "$3::jsonb, $4, $5, $6, $8)"
            " ON CONFLICT (id) DO UPDATE SET addresses = EXCLUDED.addresses, agents = "
            "EXCLUDED.agents,"
            " load = EXCLUDED.load, version = EXCLUDED.version, last_heartbeat = now(),"
            " instance = CASE WHEN $8 = '' THEN hubs.instance ELSE $8 END,"
            " registered_at = CASE WHEN $7 THEN now() ELSE hubs.registered_at END RETURNING ") +
            kHubCols,
        {secs(registry_ttl_), id, labelsText(addresses), std::to_string(agents),
         std::to_string(load), version, restarted ? "true" : "false", instance});
    if (!r.ok()) return r.status();
    out = hubRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<Listed<HubRecord>> Store::listHubs(bool include_dead, const PageQuery& page) {
  Listed<HubRecord> out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    out = {};
    auto r = c.exec(std::string("SELECT ") + kHubCols +
                        " FROM hubs WHERE ($2 OR last_heartbeat > now() - make_interval(secs => "
                        "$1)) AND ($3 = '' OR id > $3) ORDER BY id LIMIT $4",
                    {secs(registry_ttl_), include_dead ? "true" : "false", pageAfter(page, 0),
                     pageLimit(page)});
    if (!r.ok()) return r.status();
    return readPage<HubRecord>(
        *r, page, &out, [](const PgResult& r, int i) { return hubRow(r, i); }, firstColumnKey);
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<HubRecord> Store::getHub(const std::string& id) {
  HubRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(std::string("SELECT ") + kHubCols + " FROM hubs WHERE id = $2",
                    {secs(registry_ttl_), id});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("hub", id);
    out = hubRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::deleteHub(const std::string& id) {
  return pool_->transaction([&](PgConnection& c) -> absl::Status {
    if (auto s = c.run("UPDATE clusters SET last_seen = now() WHERE name IN"
                       " (SELECT cluster FROM connections WHERE hub = $1)",
                       {id});
        !s.ok()) {
      return s;
    }
    auto r = c.exec("DELETE FROM hubs WHERE id = $1", {id});
    if (!r.ok()) return r.status();
    if (r->affected() == 0) return notFound("hub", id);
    return absl::OkStatus();
  });
}

absl::StatusOr<HubRecord> Store::setHubDraining(const std::string& id, bool draining,
                                                const std::string& reason) {
  HubRecord out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec(std::string("UPDATE hubs SET draining = $3, drain_reason = $4 WHERE id = $2 "
                                "RETURNING ") +
                        kHubCols,
                    {secs(registry_ttl_), id, draining ? "true" : "false", reason});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return notFound("hub", id);
    out = hubRow(*r, 0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::putConnection(const std::string& cluster, const std::string& hub) {
  return pool_->run([&](PgConnection& c) -> absl::Status {
    auto cl = c.exec("SELECT disabled FROM clusters WHERE name = $1", {cluster});
    if (!cl.ok()) return cl.status();
    if (cl->rows() == 0) return notFound("cluster", cluster);
    if (cl->boolean(0, 0)) {
      return absl::FailedPreconditionError("cluster \"" + cluster +
                                           "\" is disabled: its agent must not be served");
    }
    auto r = c.exec(
        "INSERT INTO connections (cluster, hub) VALUES ($1, $2)"
        " ON CONFLICT (cluster, hub) DO UPDATE SET last_seen = now()",
        {cluster, hub});
    if (!r.ok() && r.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::NotFoundError("hub \"" + hub + "\" is not registered: PUT /api/v1/hubs/" + hub +
                                 " first");
    }
    return r.ok() ? absl::OkStatus() : r.status();
  });
}

absl::Status Store::deleteConnection(const std::string& cluster, const std::string& hub) {
  return pool_->transaction([&](PgConnection& c) -> absl::Status {
    auto r = c.exec("DELETE FROM connections WHERE cluster = $1 AND hub = $2", {cluster, hub});
    if (!r.ok()) return r.status();
    if (r->affected() == 0) {
      return absl::NotFoundError("cluster \"" + cluster + "\" has no connection on hub \"" + hub +
                                 "\"");
    }
    return c.run("UPDATE clusters SET last_seen = now() WHERE name = $1", {cluster});
  });
}

absl::StatusOr<std::vector<std::string>> Store::putClusterStatus(
    const std::string& hub, const std::vector<ClusterStatusUpdate>& updates) {
  std::vector<std::string> stored;
  if (updates.empty()) return stored;
  Json rows = Json::array();
  for (const auto& u : updates) {
    Json report = Json::parse(u.report, nullptr, false);
    if (report.is_discarded()) return absl::InvalidArgumentError("a status report is not JSON");
    rows.push_back({{"cluster", u.cluster}, {"report", std::move(report)}});
  }
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    stored.clear();
    // One statement for the whole batch: a hub sends up to hundreds at once.
    auto r = c.exec(
        "UPDATE clusters c SET status = u.report, status_reported_at = now(), status_hub = $1"
        " FROM jsonb_to_recordset($2::jsonb) AS u(cluster text, report jsonb)"
        " WHERE c.name = u.cluster"
        "   AND EXISTS (SELECT 1 FROM connections k WHERE k.cluster = c.name AND k.hub = $1)"
        " RETURNING c.name",
        {hub, rows.dump()});
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) stored.push_back(r->str(i, 0));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return stored;
}

absl::StatusOr<std::vector<EndpointRecord>> Store::endpoints(const std::string& cluster) {
  std::vector<EndpointRecord> out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto cl = c.exec("SELECT 1 FROM clusters WHERE name = $1", {cluster});
    if (!cl.ok()) return cl.status();
    if (cl->rows() == 0) return notFound("cluster", cluster);
    auto r = c.exec("SELECT k.hub, h.addresses::text, " EPOCH("k.connected_at") ", " EPOCH("h.last_heartbeat")
                    " FROM connections k JOIN hubs h ON h.id = k.hub"
                    " WHERE k.cluster = $1 AND h.last_heartbeat > now() - make_interval(secs => $2)"
                    " ORDER BY h.last_heartbeat DESC, k.hub",
                    {cluster, secs(registry_ttl_)});
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) {
      out.push_back({r->str(i, 0), stringMap(r->get(i, 1)), r->int64(i, 2), r->int64(i, 3)});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<RoutingTable> Store::routingTable() {
  RoutingTable out;
  absl::Status s = pool_->transaction([&](PgConnection& c) -> absl::Status {
    // Both reads see one snapshot: a connection never names a hub missing from the list.
    if (auto st = c.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", {}); !st.ok()) return st;
    auto h = c.exec(std::string("SELECT ") + kHubCols +
                        " FROM hubs WHERE last_heartbeat > now() - make_interval(secs => $1)"
                        " ORDER BY id",
                    {secs(registry_ttl_)});
    if (!h.ok()) return h.status();
    for (int i = 0; i < h->rows(); ++i) out.hubs.push_back(hubRow(*h, i));
    auto r = c.exec(
        "SELECT k.cluster, k.hub FROM connections k JOIN hubs h ON h.id = k.hub"
        " WHERE h.last_heartbeat > now() - make_interval(secs => $1)"
        " ORDER BY k.cluster, k.connected_at, k.hub",
        {secs(registry_ttl_)});
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) out.connections.push_back({r->str(i, 0), r->str(i, 1)});
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

// ---- audit ----

absl::Status Store::insertAudit(const AuditRecord& a) {
  return pool_->run([&](PgConnection& c) -> absl::Status {
    return c.run(
        "INSERT INTO audit_log (actor, action, resource, status, detail, peer) VALUES ($1, $2, $3, "
        "$4, $5, $6)",
        {a.actor, a.action, a.resource, std::to_string(a.status), a.detail, a.peer});
  });
}

absl::StatusOr<std::vector<AuditRecord>> Store::listAudit(int limit) {
  std::vector<AuditRecord> out;
  absl::Status s = pool_->run([&](PgConnection& c) -> absl::Status {
    auto r = c.exec("SELECT id, " EPOCH("at") ", actor, action, resource, status, detail, peer FROM audit_log"
                    " ORDER BY id DESC LIMIT $1",
                    {std::to_string(limit)});
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) {
      out.push_back({r->int64(i, 0), r->int64(i, 1), r->str(i, 2), r->str(i, 3), r->str(i, 4),
                     static_cast<int>(r->int64(i, 5)), r->str(i, 6), r->str(i, 7)});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::announceExpiredHubs(std::chrono::seconds window) {
  return pool_->run([&](PgConnection& c) -> absl::Status {
    // A little overlap between calls: announcing one expiry twice costs a hub one 304.
    return c.run(
        "WITH expired AS (SELECT 1 FROM hubs WHERE last_heartbeat <= now() - make_interval(secs "
        "=> $1::float8) AND last_heartbeat > now() - make_interval(secs => $1::float8 + "
        "$2::float8) LIMIT 1), "
        "bumped AS (UPDATE change_feeds SET generation = generation + 1 WHERE feed = 'routes' "
        "AND EXISTS (SELECT 1 FROM expired) RETURNING 1) "
        "SELECT pg_notify('kubehub_changes', 'routes') FROM bumped",
        {secs(registry_ttl_), std::to_string(window.count() + 1)});
  });
}

absl::Status Store::pruneExpired() {
  return pool_->transaction([&](PgConnection& c) -> absl::Status {
    std::string dead = secs(registry_ttl_ * 10);
    for (const char* sql : {
             "UPDATE clusters cl SET last_seen = GREATEST(cl.last_seen, h.last_heartbeat) FROM "
             "connections k"
             " JOIN hubs h ON h.id = k.hub WHERE k.cluster = cl.name AND h.last_heartbeat < now() "
             "- make_interval(secs => $1)",
             "DELETE FROM hubs WHERE last_heartbeat < now() - make_interval(secs => $1)",
         }) {
      if (auto s = c.run(sql, {dead}); !s.ok()) return s;
    }
    for (const char* sql : {
             "DELETE FROM bootstrap_tokens WHERE expires_at < now() - interval '1 day' OR used_at "
             "< now() - interval '1 day'",
             "DELETE FROM revocations WHERE expires_at < now() - interval '1 hour'",
             "DELETE FROM tokens WHERE expires_at < now() - interval '30 days'",
         }) {
      if (auto s = c.run(sql); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

}  // namespace kubehub::metaserver

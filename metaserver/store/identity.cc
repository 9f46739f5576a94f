#include "metaserver/store/identity.h"

#include <nlohmann/json.hpp>

#include "metaserver/store/credentials.h"
#include "metaserver/store/query.h"

namespace kubehub::metaserver {

namespace {

// The ban columns of users and tenants, last in their column lists.
#define KH_BAN_COLS "disabled, " KH_SQL_EPOCH("disabled_at") ", disabled_reason"
Ban banRow(const PgResult& r, int i, int first) {
  return {r.boolean(i, first), sql::optInt(r, i, first + 1), r.str(i, first + 2)};
}

/// Sets a user's or tenant's ban. Re-disabling keeps the original time (and the reason unless a
/// new one is given); enabling clears both.
#define KH_SET_BAN                                                              \
  " SET disabled_reason = CASE WHEN NOT $2::boolean THEN ''"                    \
  "                            WHEN $3::text IS NOT NULL THEN $3::text"         \
  "                            WHEN disabled THEN disabled_reason ELSE '' END," \
  "     disabled_at = CASE WHEN NOT $2::boolean THEN NULL"                      \
  "                        WHEN disabled THEN disabled_at ELSE now() END,"      \
  "     disabled = $2::boolean"                                                 \
  " WHERE name = $1 RETURNING "

#define KH_TENANT_COLS "name, description, " KH_SQL_EPOCH("created_at") ", " KH_BAN_COLS
TenantRecord tenantRow(const PgResult& r, int i) {
  return {r.str(i, 0), r.str(i, 1), r.int64(i, 2), banRow(r, i, 3)};
}

#define KH_USER_COLS                                                     \
  "name, tenant, groups::text, roles::text, description, " KH_SQL_EPOCH( \
      "created_at") ", " KH_BAN_COLS
UserRecord userRow(const PgResult& r, int i) {
  return {r.str(i, 0),
          r.str(i, 1),
          sql::stringArray(r.get(i, 2)),
          sql::stringArray(r.get(i, 3)),
          r.str(i, 4),
          r.int64(i, 5),
          banRow(r, i, 6)};
}

sql::Params banParams(const std::string& name, const BanPatch& ban) {
  return {name, sql::boolean(ban.disabled), ban.reason};
}

}  // namespace

// ---- tenants ----

absl::StatusOr<TenantRecord> Identity::createTenant(const TenantRecord& t) {
  return sql::one(
      pool_, "INSERT INTO tenants (name, description) VALUES ($1, $2) RETURNING " KH_TENANT_COLS,
      {t.name, t.description}, tenantRow, sql::about("tenant", t.name));
}

absl::StatusOr<Listed<TenantRecord>> Identity::listTenants(const PageQuery& page) {
  return sql::page(pool_,
                   "SELECT " KH_TENANT_COLS
                   " FROM tenants WHERE ($1 = '' OR name > $1) ORDER BY name LIMIT $2",
                   {}, page, tenantRow);
}

absl::StatusOr<TenantRecord> Identity::getTenant(const std::string& name) {
  return sql::one(pool_, "SELECT " KH_TENANT_COLS " FROM tenants WHERE name = $1", {name},
                  tenantRow, sql::about("tenant", name));
}

absl::StatusOr<TenantRecord> Identity::setTenantBan(const std::string& name, const BanPatch& ban) {
  return sql::one(pool_, "UPDATE tenants" KH_SET_BAN KH_TENANT_COLS, banParams(name, ban),
                  tenantRow, sql::about("tenant", name));
}

absl::Status Identity::deleteTenant(const std::string& name) {
  return sql::change(
      pool_, "DELETE FROM tenants WHERE name = $1", {name},
      sql::about("tenant", name)
          .ifReferenced(absl::FailedPreconditionError(
              "tenant \"" + name + "\" still has users or grants: delete them first")));
}

// ---- users ----

absl::StatusOr<UserRecord> Identity::createUser(const UserRecord& u) {
  return sql::one(pool_,
                  "INSERT INTO users (name, tenant, groups, roles, description)"
                  " VALUES ($1, $2, $3::jsonb, $4::jsonb, $5) RETURNING " KH_USER_COLS,
                  {u.name, u.tenant, nlohmann::json(u.groups).dump(),
                   nlohmann::json(u.roles).dump(), u.description},
                  userRow,
                  sql::Errors()
                      .ifDuplicate(sql::alreadyExists("user", u.name))
                      .ifReferenced(sql::notFound("tenant", u.tenant)));
}

absl::StatusOr<Listed<UserRecord>> Identity::listUsers(const std::string& tenant,
                                                       const PageQuery& page) {
  return sql::page(pool_,
                   "SELECT " KH_USER_COLS
                   " FROM users WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR name > $2)"
                   " ORDER BY name LIMIT $3",
                   {tenant}, page, userRow);
}

absl::StatusOr<UserRecord> Identity::getUser(const std::string& name) {
  return sql::one(pool_, "SELECT " KH_USER_COLS " FROM users WHERE name = $1", {name}, userRow,
                  sql::about("user", name));
}

absl::StatusOr<UserRecord> Identity::setUserBan(const std::string& name, const BanPatch& ban) {
  return sql::one(pool_, "UPDATE users" KH_SET_BAN KH_USER_COLS, banParams(name, ban), userRow,
                  sql::about("user", name));
}

absl::Status Identity::deleteUser(const std::string& name) {
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::Status {
    // The row first: a token being recorded holds it (Credentials::insertToken) and commits
    // before the revocations below, which then see it; one recorded later finds no user.
    auto locked = sql::one(c, "SELECT 1 FROM users WHERE name = $1 FOR UPDATE", {name},
                           sql::firstText, sql::about("user", name));
    if (!locked.ok()) return locked.status();
    if (auto s = publishRevocations(c, "username = $1", name); !s.ok()) return s;
    return sql::change(c, "DELETE FROM users WHERE name = $1", {name}, sql::about("user", name));
  });
}

absl::StatusOr<BanList> Identity::bans() {
  // One round trip, one snapshot; each branch reads a partial index of the disabled rows
  // (migration 004), so the cost follows the number of bans, not of users.
  auto rows = sql::all(
      pool_,
      "SELECT 'user', name, tenant, disabled_reason, " KH_SQL_EPOCH("disabled_at")
      " FROM users WHERE disabled"
      " UNION ALL SELECT 'tenant', name, '', disabled_reason, " KH_SQL_EPOCH("disabled_at")
      " FROM tenants WHERE disabled"
      " UNION ALL SELECT 'cluster', name, '', '', NULL FROM clusters WHERE disabled"
      " ORDER BY 1, 2",
      {}, [](const PgResult& r, int i) {
        return std::pair(r.str(i, 0), BanList::Entry{r.str(i, 1), r.str(i, 2), r.str(i, 3),
                                                     sql::optInt(r, i, 4)});
      });
  if (!rows.ok()) return rows.status();
  BanList out;
  for (auto& row : *rows) {
    auto& list = row.first == "user"     ? out.users
                 : row.first == "tenant" ? out.tenants
                                         : out.clusters;
    list.push_back(std::move(row.second));
  }
  return out;
}

}  // namespace kubehub::metaserver

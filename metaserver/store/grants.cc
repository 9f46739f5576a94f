#include "metaserver/store/grants.h"

#include "common/status/status_macros.h"
#include "metaserver/model/codec.h"
#include "metaserver/store/query.h"

namespace kubehub::metaserver {

namespace {

#define KH_GRANT_COLS \
  "name, tenant, COALESCE(username, ''), spec::text, " KH_SQL_EPOCH("created_at")
absl::StatusOr<GrantRecord> grantRow(const PgResult& r, int i) {
  Json spec = Json::parse(r.get(i, 3), nullptr, false);
  KH_ASSIGN_OR_RETURN(auth::Grant g, grantFromSpec(r.str(i, 0), r.str(i, 1), r.str(i, 2), spec));
  return GrantRecord{std::move(g), r.int64(i, 4)};
}

}  // namespace

absl::StatusOr<GrantRecord> Grants::createGrant(const auth::Grant& g) {
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::StatusOr<GrantRecord> {
    KH_RETURN_IF_ERROR(sql::one(c, "SELECT 1 FROM tenants WHERE name = $1 FOR SHARE", {g.tenant},
                                sql::firstText, sql::about("tenant", g.tenant))
                           .status());
    if (!g.user.empty()) {
      KH_ASSIGN_OR_RETURN(std::string tenant,
                          sql::one(c, "SELECT tenant FROM users WHERE name = $1 FOR SHARE",
                                   {g.user}, sql::firstText, sql::about("user", g.user)));
      if (tenant != g.tenant) {
        return absl::InvalidArgumentError("user \"" + g.user + "\" belongs to tenant \"" + tenant +
                                          "\", not \"" + g.tenant + "\"");
      }
    }
    return sql::one(
        c,
        "INSERT INTO grants (name, tenant, username, spec) VALUES ($1, $2, $3, $4::jsonb)"
        " RETURNING " KH_GRANT_COLS,
        {g.name, g.tenant, g.user.empty() ? PgParam() : PgParam(g.user), grantSpecJson(g).dump()},
        grantRow, sql::Errors().ifDuplicate(sql::alreadyExists("grant", g.name)));
  });
}

absl::StatusOr<Listed<GrantRecord>> Grants::listGrants(const std::string& tenant,
                                                       const std::string& user,
                                                       const PageQuery& page) {
  return sql::page(pool_,
                   "SELECT " KH_GRANT_COLS
                   " FROM grants WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR username = "
                   "$2) AND ($3 = '' OR name > $3) ORDER BY name LIMIT $4",
                   {tenant, user}, page, grantRow);
}

absl::StatusOr<GrantRecord> Grants::getGrant(const std::string& name) {
  return sql::one(pool_, "SELECT " KH_GRANT_COLS " FROM grants WHERE name = $1", {name}, grantRow,
                  sql::about("grant", name));
}

absl::Status Grants::deleteGrant(const std::string& name) {
  return sql::change(pool_, "DELETE FROM grants WHERE name = $1", {name},
                     sql::about("grant", name));
}

}  // namespace kubehub::metaserver

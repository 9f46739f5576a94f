#include "metaserver/store/credentials.h"

#include <algorithm>

#include "common/status/status_macros.h"
#include "metaserver/store/migrations.h"
#include "metaserver/store/pki.h"
#include "metaserver/store/query.h"

namespace kubehub::metaserver {

namespace {

#define KH_TOKEN_COLS                                                                     \
  "id, username, tenant, description, kid, " KH_SQL_EPOCH("issued_at") ", " KH_SQL_EPOCH( \
      "expires_at") ", " KH_SQL_EPOCH("revoked_at") ", issued_by"
TokenRecord tokenRow(const PgResult& r, int i) {
  return {r.str(i, 0),   r.str(i, 1),   r.str(i, 2),          r.str(i, 3), r.str(i, 4),
          r.int64(i, 5), r.int64(i, 6), sql::optInt(r, i, 7), r.str(i, 8)};
}

TokenState tokenStateRow(const PgResult& r, int i) {
  TokenState out;
  out.revoked = r.boolean(i, 0);
  out.user_exists = r.boolean(i, 1);
  out.roles = sql::stringArray(r.get(i, 2));
  out.user_disabled = r.boolean(i, 3);
  out.tenant_disabled = r.boolean(i, 4);
  return out;
}

}  // namespace

std::string signingKeyContext(const std::string& kid) { return "signing_keys/" + kid; }

absl::Status publishRevocations(PgConnection& c, std::string_view where, const std::string& arg) {
  KH_RETURN_IF_ERROR(
      sql::exec(c, "SELECT pg_advisory_xact_lock($1)", {std::to_string(kRevocationLockKey)}));
  std::string statement = "WITH revoked AS (UPDATE tokens SET revoked_at = now() WHERE " +
                          std::string(where) +
                          " AND revoked_at IS NULL RETURNING id, expires_at)"
                          " INSERT INTO revocations (token_id, expires_at) SELECT id, expires_at "
                          "FROM revoked ORDER BY id";
  return sql::exec(c, statement, {arg});
}

// ---- tokens ----

absl::Status Credentials::insertToken(const TokenRecord& t, const std::string& token_hash) {
  // tokens.username has no foreign key (a token's record outlives its user), so the user's row
  // is held until the token is in: Identity::deleteUser locks the row before it revokes, so a
  // token is either refused here (its user is gone) or committed before and revoked there.
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::Status {
    KH_ASSIGN_OR_RETURN(std::string tenant,
                        sql::one(c, "SELECT tenant FROM users WHERE name = $1 FOR SHARE", {t.user},
                                 sql::firstText, sql::about("user", t.user)));
    if (tenant != t.tenant) {
      return absl::FailedPreconditionError("user \"" + t.user + "\" now belongs to tenant \"" +
                                           tenant + "\", not \"" + t.tenant +
                                           "\": no token was issued; ask again");
    }
    return sql::exec(c,
                     "INSERT INTO tokens (id, username, tenant, description, token_hash, kid, "
                     "issued_at, expires_at, issued_by)"
                     " VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7), to_timestamp($8), $9)",
                     {t.id, t.user, t.tenant, t.description, token_hash, t.kid,
                      sql::number(t.issued_at), sql::number(t.expires_at), t.issued_by});
  });
}

absl::StatusOr<Listed<TokenRecord>> Credentials::listTokens(const std::string& tenant,
                                                            const std::string& user,
                                                            const PageQuery& page) {
  // Keyed by (issued_at, id); the issue time travels as PostgreSQL's own text (microseconds
  // and offset), so the next page starts exactly after the last row of this one.
  return sql::page(
      pool_,
      "SELECT " KH_TOKEN_COLS
      ", issued_at::text FROM tokens WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR "
      "username = $2) AND ($3 = '' OR (issued_at, id) > (NULLIF($3, '')::timestamptz, $4))"
      " ORDER BY issued_at, id LIMIT $5",
      {tenant, user}, page, tokenRow, {9, 0});
}

absl::StatusOr<TokenRecord> Credentials::getToken(const std::string& id) {
  return sql::one(pool_, "SELECT " KH_TOKEN_COLS " FROM tokens WHERE id = $1", {id}, tokenRow,
                  sql::about("token", id));
}

absl::StatusOr<TokenRecord> Credentials::revokeToken(const std::string& id) {
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::StatusOr<TokenRecord> {
    KH_RETURN_IF_ERROR(publishRevocations(c, "id = $1", id));
    return sql::one(c, "SELECT " KH_TOKEN_COLS " FROM tokens WHERE id = $1", {id}, tokenRow,
                    sql::about("token", id));
  });
}

absl::StatusOr<TokenState> Credentials::tokenState(const std::string& id) {
  return sql::one(
      pool_,
      "SELECT t.revoked_at IS NOT NULL, u.name IS NOT NULL, COALESCE(u.roles::text, '[]'),"
      " COALESCE(u.disabled, false), COALESCE(n.disabled, false)"
      " FROM tokens t LEFT JOIN users u ON u.name = t.username AND u.tenant = t.tenant"
      " LEFT JOIN tenants n ON n.name = u.tenant WHERE t.id = $1",
      {id}, tokenStateRow, sql::about("token", id));
}

absl::StatusOr<RevocationPage> Credentials::revocationsSince(int64_t since, int limit) {
  return sql::run(pool_, [&](PgConnection& c) -> absl::StatusOr<RevocationPage> {
    RevocationPage page;
    page.cursor = since;
    KH_ASSIGN_OR_RETURN(
        PgResult r,
        sql::query(c,
                   "SELECT seq, token_id, " KH_SQL_EPOCH("expires_at") ", " KH_SQL_EPOCH(
                       "revoked_at") ", expires_at > now()"
                                     " FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2",
                   {sql::number(since), sql::number(int64_t{limit} + 1)}));
    // One row past the page says whether more follows (a user with thousands of tokens
    // deleted at once): pollers then read on at once instead of a page per poll.
    page.more = r.rows() > limit;
    for (int i = 0; i < std::min(r.rows(), limit); ++i) {
      page.cursor = r.int64(i, 0);
      if (!r.boolean(i, 4)) continue;  // expired tokens are refused anyway
      page.items.push_back({r.int64(i, 0), r.str(i, 1), r.int64(i, 2), r.int64(i, 3)});
    }
    if (r.rows() == 0 && since > 0) {
      // A cursor from the future (the database was restored from a backup): continue from
      // what exists, or the client would never see another revocation.
      KH_ASSIGN_OR_RETURN(
          int64_t seq,
          sql::one(c, "SELECT COALESCE(pg_sequence_last_value('revocations_seq_seq'::regclass), 0)",
                   {}, sql::firstInt));
      if (since > seq) page.cursor = seq;
    }
    return page;
  });
}

// ---- signing keys ----

absl::StatusOr<std::vector<SigningKeyRecord>> Credentials::signingKeys() {
  return sql::all(pool_,
                  "SELECT kid, private_key_pem, public_key_pem, active, " KH_SQL_EPOCH(
                      "created_at") ", " KH_SQL_EPOCH("retired_at") " FROM signing_keys ORDER BY "
                                                                    "created_at, kid",
                  {}, [this](const PgResult& r, int i) -> absl::StatusOr<SigningKeyRecord> {
                    KH_ASSIGN_OR_RETURN(std::string private_pem,
                                        box_.open(r.str(i, 1), signingKeyContext(r.str(i, 0))));
                    return SigningKeyRecord{r.str(i, 0),     std::move(private_pem),
                                            r.str(i, 2),     r.boolean(i, 3),
                                            r.int64(i, 4),   sql::optInt(r, i, 5)};
                  });
}

absl::Status Credentials::rotateSigningKey(const SigningKeyRecord& key) {
  KH_ASSIGN_OR_RETURN(std::string sealed, box_.seal(key.private_pem, signingKeyContext(key.kid)));
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::Status {
    KH_RETURN_IF_ERROR(
        sql::exec(c, "UPDATE signing_keys SET active = false, retired_at = now() WHERE active"));
    return sql::exec(c,
                     "INSERT INTO signing_keys (kid, algorithm, private_key_pem, public_key_pem, "
                     "active) VALUES ($1, 'EdDSA', $2, $3, true)",
                     {key.kid, sealed, key.public_pem});
  });
}

// ---- bootstrap tokens ----

absl::Status Credentials::createBootstrapToken(const std::string& id, const std::string& cluster,
                                               const std::string& token_hash, int64_t expires_at,
                                               const std::string& created_by) {
  return sql::exec(pool_,
                   "INSERT INTO bootstrap_tokens (id, cluster, token_hash, expires_at, created_by)"
                   " VALUES ($1, $2, $3, to_timestamp($4), $5)",
                   {id, cluster, token_hash, sql::number(expires_at), created_by},
                   sql::Errors().ifReferenced(sql::notFound("cluster", cluster)));
}

absl::Status Credentials::consumeBootstrapToken(const std::string& cluster,
                                                const std::string& token_hash,
                                                const CertificateRecord& issued) {
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::Status {
    KH_RETURN_IF_ERROR(sql::change(
        c,
        "UPDATE bootstrap_tokens SET used_at = now()"
        " WHERE token_hash = $1 AND cluster = $2 AND used_at IS NULL AND expires_at > now()",
        {token_hash, cluster},
        sql::Errors().ifMissing(absl::PermissionDeniedError(
            "bootstrap token is unknown, already used, expired, or for another cluster"))));
    return insertCertificate(c, issued);
  });
}

absl::StatusOr<bool> Credentials::bootstrapTokenValid(const std::string& cluster,
                                                      const std::string& token_hash) {
  auto rows = sql::all(pool_,
                       "SELECT 1 FROM bootstrap_tokens WHERE token_hash = $1 AND cluster = $2 AND "
                       "used_at IS NULL AND expires_at > now()",
                       {token_hash, cluster}, sql::firstText);
  if (!rows.ok()) return rows.status();
  return rows->size() == 1;
}

}  // namespace kubehub::metaserver

#include "metaserver/store/pki.h"

#include "common/log/log.h"
#include "common/status/status_macros.h"
#include "metaserver/store/credentials.h"
#include "metaserver/store/migrations.h"
#include "metaserver/store/query.h"

namespace kubehub::metaserver {

absl::StatusOr<std::optional<CaRecord>> Pki::loadCa() {
  return sql::run(pool_, [&](PgConnection& c) -> absl::StatusOr<std::optional<CaRecord>> {
    KH_ASSIGN_OR_RETURN(
        auto stored,
        sql::maybe(c, "SELECT cert_pem, key_pem FROM certificate_authority WHERE id = 1", {},
                   [](const PgResult& r, int i) {
                     return CaRecord{r.str(i, 0), r.str(i, 1)};
                   }));
    if (!stored) return std::nullopt;
    KH_ASSIGN_OR_RETURN(std::string key, box_.open(stored->key_pem, kCaKeyContext));
    return CaRecord{std::move(stored->cert_pem), std::move(key)};
  });
}

absl::Status insertCertificate(PgConnection& c, const CertificateRecord& cert) {
  return sql::exec(
      c,
      "INSERT INTO certificates (serial, kind, subject, not_after, issued_by)"
      " VALUES ($1, $2, $3, to_timestamp($4), $5)",
      {cert.serial, cert.kind, cert.subject, sql::number(cert.not_after), cert.issued_by});
}

absl::Status Pki::recordCertificate(const CertificateRecord& cert) {
  return sql::run(pool_, [&](PgConnection& c) { return insertCertificate(c, cert); });
}

namespace {

/// A signing key when there is no active one.
absl::Status ensureSigningKey(PgConnection& c,
                              const std::function<absl::StatusOr<SigningKeyRecord>()>& make_key,
                              const SecretBox& box) {
  KH_ASSIGN_OR_RETURN(
      auto active, sql::maybe(c, "SELECT kid FROM signing_keys WHERE active", {}, sql::firstText));
  if (active) return absl::OkStatus();
  KH_ASSIGN_OR_RETURN(SigningKeyRecord key, make_key());
  KH_ASSIGN_OR_RETURN(std::string sealed, box.seal(key.private_pem, signingKeyContext(key.kid)));
  KH_RETURN_IF_ERROR(
      sql::exec(c,
                "INSERT INTO signing_keys (kid, algorithm, private_key_pem, public_key_pem, active)"
                " VALUES ($1, 'EdDSA', $2, $3, true)",
                {key.kid, sealed, key.public_pem}));
  log::info("generated token signing key", {{"kid", key.kid}});
  return absl::OkStatus();
}

/// The CA when there is none.
absl::Status ensureCa(PgConnection& c, const std::function<absl::StatusOr<CaRecord>()>& make_ca,
                      const SecretBox& box) {
  KH_ASSIGN_OR_RETURN(auto stored, sql::maybe(c, "SELECT 1 FROM certificate_authority WHERE id = 1",
                                              {}, sql::firstText));
  if (stored) return absl::OkStatus();
  KH_ASSIGN_OR_RETURN(CaRecord made, make_ca());
  KH_ASSIGN_OR_RETURN(std::string sealed, box.seal(made.key_pem, kCaKeyContext));
  KH_RETURN_IF_ERROR(
      sql::exec(c, "INSERT INTO certificate_authority (id, cert_pem, key_pem) VALUES (1, $1, $2)",
                {made.cert_pem, sealed}));
  log::info("generated tunnel certificate authority");
  return absl::OkStatus();
}

/// Seals again the keys in `table` that are stored unsealed or under another key than the
/// box's first; counts them in `resealed`.
absl::Status reseal(PgConnection& c, const SecretBox& box, const std::string& table,
                    const std::string& id_col, const std::string& key_col,
                    const std::function<std::string(const std::string&)>& context, int* resealed) {
  KH_ASSIGN_OR_RETURN(
      auto rows,
      sql::all(c, "SELECT " + id_col + "::text, " + key_col + " FROM " + table, {},
               [](const PgResult& r, int i) { return std::pair(r.str(i, 0), r.str(i, 1)); }));
  for (const auto& row : rows) {
    const std::string& id = row.first;
    if (box.sealedWithPrimary(row.second)) continue;
    KH_ASSIGN_OR_RETURN(std::string plain, box.open(row.second, context(id)));
    KH_ASSIGN_OR_RETURN(std::string sealed, box.seal(plain, context(id)));
    KH_RETURN_IF_ERROR(sql::exec(
        c, "UPDATE " + table + " SET " + key_col + " = $1 WHERE " + id_col + "::text = $2",
        {sealed, id}));
    ++*resealed;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status bootstrapSecrets(PgPool& pool,
                              const std::function<absl::StatusOr<SigningKeyRecord>()>& make_key,
                              const std::function<absl::StatusOr<CaRecord>()>& make_ca,
                              bool need_ca, const SecretBox& box) {
  return sql::run(pool, [&](PgConnection& c) -> absl::Status {
    KH_RETURN_IF_ERROR(
        sql::exec(c, "SELECT pg_advisory_lock($1)", {std::to_string(kBootstrapLockKey)}));
    auto work = [&]() -> absl::Status {
      KH_RETURN_IF_ERROR(ensureSigningKey(c, make_key, box));
      if (need_ca) KH_RETURN_IF_ERROR(ensureCa(c, make_ca, box));
      // Seal again what is stored unsealed or under another key (in one transaction: a
      // replica reading meanwhile sees either state, both of which it can open).
      int resealed = 0;
      KH_RETURN_IF_ERROR(c.transaction([&]() -> absl::Status {
        KH_RETURN_IF_ERROR(
            reseal(c, box, "signing_keys", "kid", "private_key_pem", signingKeyContext, &resealed));
        return reseal(
            c, box, "certificate_authority", "id", "key_pem",
            [](const std::string&) { return std::string(kCaKeyContext); }, &resealed);
      }));
      if (resealed > 0) {
        log::info(box.encrypts() ? "private keys sealed under the current encryption key"
                                 : "private keys stored unsealed (no --encryption-key-file)",
                  {{"keys", resealed}, {"encryption_key", box.primaryKeyId()}});
      }
      return absl::OkStatus();
    };
    absl::Status s = work();
    if (!c.broken()) {
      (void)sql::exec(c, "SELECT pg_advisory_unlock($1)", {std::to_string(kBootstrapLockKey)});
    }
    return s;
  });
}

}  // namespace kubehub::metaserver

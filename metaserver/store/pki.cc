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

absl::Status Pki::recordCertificate(const CertificateRecord& cert) {
  return sql::exec(
      pool_,
      "INSERT INTO certificates (serial, kind, subject, not_after, issued_by)"
      " VALUES ($1, $2, $3, to_timestamp($4), $5)",
      {cert.serial, cert.kind, cert.subject, sql::number(cert.not_after), cert.issued_by});
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

}  // namespace kubehub::metaserver

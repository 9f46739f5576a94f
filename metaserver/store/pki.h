#pragma once
/// The tunnel's certificate authority (its key sealed at rest by a SecretBox) and the record of
/// the certificates it issued; bootstrapSecrets() makes sure the CA and a token signing key
/// exist at start. Thread-safe.

#include <functional>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "metaserver/model/records.h"
#include "metaserver/store/pg.h"
#include "metaserver/store/secret_box.h"

namespace kubehub::metaserver {

class Pki {
 public:
  /// `box` opens the CA's private key.
  Pki(PgPool& pool, const SecretBox& box) : pool_(pool), box_(box) {}

  /// nullopt until bootstrapSecrets() generated one.
  absl::StatusOr<std::optional<CaRecord>> loadCa();
  absl::Status recordCertificate(const CertificateRecord& c);

 private:
  PgPool& pool_;
  const SecretBox& box_;
};

/// Records an issued certificate on `c` (inside a caller's transaction, or alone).
absl::Status insertCertificate(PgConnection& c, const CertificateRecord& cert);

/// Where the sealed CA key is stored: the context it is bound to.
inline constexpr std::string_view kCaKeyContext = "certificate_authority/1";

/// Start-up, under an advisory lock so that replicas starting at once agree: the active
/// signing key (generated when there is none) and the CA (generated when there is none and
/// none is given). `make_key` and `make_ca` generate new material.
/// Private keys stored unsealed, or sealed under another key than `box`'s first, are sealed
/// again under it (a rotation of the envelope key, or encryption configured for the first
/// time); the count is logged.
absl::Status bootstrapSecrets(PgPool& pool,
                              const std::function<absl::StatusOr<SigningKeyRecord>()>& make_key,
                              const std::function<absl::StatusOr<CaRecord>()>& make_ca,
                              bool need_ca, const SecretBox& box);

}  // namespace kubehub::metaserver

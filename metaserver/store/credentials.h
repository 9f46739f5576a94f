#pragma once
/// What proves who a caller is: users' tokens (only their hashes are stored) and the feed of
/// their revocations, the keys that sign them (sealed at rest by a SecretBox), and the
/// one-time bootstrap tokens an agent enrols with. Thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "metaserver/model/records.h"
#include "metaserver/store/page.h"
#include "metaserver/store/pg.h"
#include "metaserver/store/secret_box.h"

namespace kubehub::metaserver {

class Credentials {
 public:
  /// `box` opens and seals the signing keys' private keys.
  Credentials(PgPool& pool, const SecretBox& box) : pool_(pool), box_(box) {}

  // Tokens and their revocation feed.
  /// Records an issued token while holding its user's row: NotFound when the user is gone
  /// (deleted meanwhile), FailedPrecondition when it now belongs to another tenant.
  absl::Status insertToken(const TokenRecord& t, const std::string& token_hash);
  /// In the order they were issued.
  absl::StatusOr<Listed<TokenRecord>> listTokens(const std::string& tenant, const std::string& user,
                                                 const PageQuery& page = {});
  absl::StatusOr<TokenRecord> getToken(const std::string& id);
  /// Revokes (idempotently) and publishes the revocation in the feed.
  absl::StatusOr<TokenRecord> revokeToken(const std::string& id);
  /// NotFound when the token id was never issued.
  absl::StatusOr<TokenState> tokenState(const std::string& id);
  absl::StatusOr<RevocationPage> revocationsSince(int64_t since, int limit);

  // Signing keys.
  absl::StatusOr<std::vector<SigningKeyRecord>> signingKeys();
  /// Makes `key` the active key; the previous one stays published for verification.
  absl::Status rotateSigningKey(const SigningKeyRecord& key);

  // Bootstrap tokens.
  absl::Status createBootstrapToken(const std::string& id, const std::string& cluster,
                                    const std::string& token_hash, int64_t expires_at,
                                    const std::string& created_by);
  /// Marks an unused, unexpired bootstrap token of `cluster` used (PermissionDenied otherwise)
  /// and records the certificate issued with it, in one transaction: the token is used up only
  /// if the certificate is recorded, so a failure in between leaves it for the agent's retry.
  absl::Status consumeBootstrapToken(const std::string& cluster, const std::string& token_hash,
                                     const CertificateRecord& issued);
  /// Whether such a token exists, is unused and unexpired (without consuming it).
  absl::StatusOr<bool> bootstrapTokenValid(const std::string& cluster,
                                           const std::string& token_hash);

 private:
  PgPool& pool_;
  const SecretBox& box_;
};

/// Where a sealed signing key is stored: the context it is bound to.
std::string signingKeyContext(const std::string& kid);

/// Revokes the live tokens `where` selects (`$1` is `arg`) and appends their revocations to the
/// feed. Inside a transaction: its advisory lock makes the feed's order the commit order.
absl::Status publishRevocations(PgConnection& c, std::string_view where, const std::string& arg);

}  // namespace kubehub::metaserver

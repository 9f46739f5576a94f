#pragma once
/// Issues and verifies the signed tokens (common/auth/token.h) with the signing keys kept in
/// PostgreSQL, so every metaserver replica signs with the same active key. Keys are reloaded
/// periodically and when a token names an unknown kid (another replica rotated). Thread-safe.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/auth/token.h"
#include "metaserver/model/codec.h"
#include "metaserver/store/credentials.h"

namespace kubehub::metaserver {

class TokenService {
 public:
  /// `publish_retired_for`: how long a retired key stays published (the longest token TTL).
  TokenService(Credentials& credentials, std::string issuer,
               std::chrono::seconds publish_retired_for);

  /// Loads the keys from the database (at start, then periodically).
  absl::Status reload();

  absl::StatusOr<IssuedToken> issue(const UserRecord& user, int64_t ttl_seconds,
                                    std::string description, std::string issued_by);
  /// Signature, algorithm, issuer and expiry; Unauthenticated with a reason otherwise.
  absl::StatusOr<auth::TokenClaims> verify(std::string_view token);
  /// The published JWK set: the active key and keys retired less than publish_retired_for ago.
  Json jwks();
  /// Generates a new active key; returns its kid.
  absl::StatusOr<std::string> rotate();

  /// A new signing key record (also used for the very first one).
  static absl::StatusOr<SigningKeyRecord> newKey();

 private:
  Credentials& credentials_;
  std::string issuer_;
  std::chrono::seconds publish_retired_for_;
  std::mutex mu_;
  auth::KeySet keys_;
  std::vector<SigningKeyRecord> records_;
  std::string active_kid_;
  std::optional<auth::Ed25519Key> active_key_;
  std::chrono::steady_clock::time_point last_reload_{};
};

int64_t nowSeconds();

}  // namespace kubehub::metaserver

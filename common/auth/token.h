#pragma once
/// Signed bearer tokens: compact JWS (JWT) with alg EdDSA over Ed25519, issued by the
/// metaserver and verified locally by hubs and the metaserver itself. Pure (OpenSSL crypto
/// only, no I/O); every function is thread-safe, and an Ed25519Key may be shared across threads.
/// The format is documented in metaserver/README.md ("Token format").

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace kubehub::auth {

/// The claims kubehub puts into (and requires from) a token.
struct TokenClaims {
  std::string issuer;   // iss
  std::string subject;  // sub: the user name
  std::string tenant;   // tenant
  std::vector<std::string> groups;
  std::string id;          // jti: the token id, used for revocation
  int64_t issued_at = 0;   // iat, seconds since the epoch
  int64_t expires_at = 0;  // exp, seconds since the epoch
};

/// An Ed25519 key pair (or only its public half).
class Ed25519Key {
 public:
  static absl::StatusOr<Ed25519Key> generate();
  static absl::StatusOr<Ed25519Key> fromPrivatePem(std::string_view pem);
  static absl::StatusOr<Ed25519Key> fromPublicPem(std::string_view pem);
  /// From the 32 raw public key bytes (a JWK's "x" after base64url decoding).
  static absl::StatusOr<Ed25519Key> fromRawPublic(std::string_view raw);

  bool hasPrivate() const { return has_private_; }
  std::string privatePem() const;  // empty without a private half
  std::string publicPem() const;
  std::string rawPublic() const;  // 32 bytes

  absl::StatusOr<std::string> sign(std::string_view data) const;
  bool verify(std::string_view data, std::string_view signature) const;

 private:
  std::shared_ptr<EVP_PKEY> key_;
  bool has_private_ = false;
};

/// Signs `claims` into a compact JWS: base64url(header).base64url(claims).base64url(sig),
/// header {"alg":"EdDSA","typ":"JWT","kid":kid}.
absl::StatusOr<std::string> signToken(const TokenClaims& claims, const Ed25519Key& key,
                                      std::string_view kid);

/// The "kid" of a token's header, without verifying anything (to pick the verification key).
/// InvalidArgument when the token is not a well-formed kubehub token.
absl::StatusOr<std::string> peekKeyId(std::string_view token);

/// Verifies signature, algorithm and expiry (with `leeway_seconds` of clock skew) and returns
/// the claims. Unauthenticated with a message that says what was wrong otherwise. Revocation
/// is the caller's business (by claims.id).
absl::StatusOr<TokenClaims> verifyToken(std::string_view token, const Ed25519Key& public_key,
                                        int64_t now_seconds, int64_t leeway_seconds = 0);

/// Public keys by kid, e.g. as published by the metaserver's /api/v1/signing-keys.
class KeySet {
 public:
  void add(std::string kid, Ed25519Key key) {
    keys_.insert_or_assign(std::move(kid), std::move(key));
  }
  const Ed25519Key* find(std::string_view kid) const;
  size_t size() const { return keys_.size(); }
  /// A JWK set {"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid","x"}]}.
  nlohmann::json toJwks() const;
  static absl::StatusOr<KeySet> fromJwks(const nlohmann::json& jwks);

 private:
  std::map<std::string, Ed25519Key, std::less<>> keys_;
};

/// verifyToken with the key the token's kid names; Unauthenticated for an unknown kid.
absl::StatusOr<TokenClaims> verifyToken(std::string_view token, const KeySet& keys,
                                        int64_t now_seconds, int64_t leeway_seconds = 0);

/// Lower-case hex SHA-256 of a secret: what is stored instead of the secret.
std::string sha256Hex(std::string_view data);
/// `bytes` cryptographically random bytes, base64url without padding.
std::string randomToken(size_t bytes);
/// Constant-time comparison for secrets.
bool constantTimeEquals(std::string_view a, std::string_view b);

}  // namespace kubehub::auth

// Fuzzes bearer-token handling: compact JWS verification of the input as a token, of the input
// signed as "header.claims" with the fuzz key (so the claims reader is reached), the JWK set
// reader and the static token file. No crash; claims that verify sign again into a token that
// verifies to the same claims; a token never verifies with a key it was not signed with.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "common/auth/token.h"
#include "hub/auth/token_file.h"

namespace {

using namespace kubehub::auth;

// A key for fuzzing only; it signs nothing anywhere else.
constexpr std::string_view kFuzzKey =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIPMj3yIk6FuUIuBCPF/o/YUdE0qxCI4jHzQzi6XYQkYY\n"
    "-----END PRIVATE KEY-----\n";
constexpr int64_t kNow = 1800000000;

const Ed25519Key& fuzzKey() {
  static const Ed25519Key key = *Ed25519Key::fromPrivatePem(kFuzzKey);
  return key;
}

const Ed25519Key& otherKey() {
  static const Ed25519Key key = *Ed25519Key::generate();
  return key;
}

bool sameClaims(const TokenClaims& a, const TokenClaims& b) {
  return a.issuer == b.issuer && a.subject == b.subject && a.tenant == b.tenant &&
         a.groups == b.groups && a.id == b.id && a.issued_at == b.issued_at &&
         a.expires_at == b.expires_at;
}

void checkVerified(std::string_view token, const absl::StatusOr<TokenClaims>& claims) {
  if (!claims.ok()) return;
  if (verifyToken(token, otherKey(), kNow, 60).ok()) std::abort();
  auto kid = peekKeyId(token);
  if (!kid.ok()) std::abort();
  auto again = signToken(*claims, fuzzKey(), *kid);
  if (!again.ok()) return;  // claims it refuses to sign (e.g. invalid UTF-8)
  auto verified = verifyToken(*again, fuzzKey(), kNow, 60);
  if (!verified.ok() || !sameClaims(*verified, *claims)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)peekKeyId(in);
  checkVerified(in, verifyToken(in, fuzzKey(), kNow, 60));

  auto sig = fuzzKey().sign(in);
  if (sig.ok()) {
    std::string token = std::string(in) + "." + absl::WebSafeBase64Escape(*sig);
    checkVerified(token, verifyToken(token, fuzzKey(), kNow, 60));
    KeySet keys;
    keys.add("fuzz", fuzzKey());
    (void)verifyToken(token, keys, kNow, 0);
  }

  auto jwks = nlohmann::json::parse(in, nullptr, false);
  if (!jwks.is_discarded()) {
    if (auto set = KeySet::fromJwks(jwks); set.ok()) {
      auto back = KeySet::fromJwks(set->toJwks());
      if (!back.ok() || back->size() != set->size()) std::abort();
    }
  }
  if (auto file = kubehub::hub::StaticTokenAuthenticator::parse(in); file.ok()) {
    (void)file->authenticate("token");
  }
  return 0;
}

#include "common/auth/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"

namespace kubehub::auth {

namespace {

using Json = nlohmann::json;

std::shared_ptr<EVP_PKEY> wrap(EVP_PKEY* key) {
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

std::string bioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

std::string b64url(std::string_view data) {
  return absl::WebSafeBase64Escape(absl::string_view(data.data(), data.size()));
}

bool unb64url(std::string_view in, std::string* out) {
  // Strict: the unpadded URL-safe alphabet only.
  for (char c : in) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  if (!absl::WebSafeBase64Unescape(absl::string_view(in.data(), in.size()), out)) return false;
  // Only the canonical encoding: otherwise one token would have several spellings (the last
  // character's unused bits), and hubs cache verdicts by the token's text.
  return b64url(*out) == in;
}

absl::Status malformed(std::string_view why) {
  return absl::UnauthenticatedError("malformed token: " + std::string(why));
}

struct Parts {
  std::string_view header_b64, claims_b64, sig_b64;
  Json header;
};

absl::StatusOr<Parts> split(std::string_view token) {
  if (token.size() > 8192) return malformed("too long");
  size_t a = token.find('.');
  size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
  if (a == std::string_view::npos || b == std::string_view::npos ||
      token.find('.', b + 1) != std::string_view::npos) {
    return malformed("expected three dot-separated parts");
  }
  Parts p;
  p.header_b64 = token.substr(0, a);
  p.claims_b64 = token.substr(a + 1, b - a - 1);
  p.sig_b64 = token.substr(b + 1);
  std::string header;
  if (!unb64url(p.header_b64, &header)) return malformed("header is not base64url");
  p.header = Json::parse(header, nullptr, false);
  if (p.header.is_discarded() || !p.header.is_object())
    return malformed("header is not a JSON object");
  auto alg = p.header.find("alg");
  if (alg == p.header.end() || !alg->is_string() || *alg != "EdDSA") {
    return malformed("algorithm must be EdDSA");
  }
  auto kid = p.header.find("kid");
  if (kid == p.header.end() || !kid->is_string() || kid->get_ref<const std::string&>().empty()) {
    return malformed("header has no key id (kid)");
  }
  if (auto crit = p.header.find("crit"); crit != p.header.end()) {
    return malformed("critical header extensions are not supported");
  }
  return p;
}

}  // namespace

absl::StatusOr<Ed25519Key> Ed25519Key::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) return absl::InternalError("Ed25519 key generation failed");
  Ed25519Key k;
  k.key_ = wrap(key);
  k.has_private_ = true;
  return k;
}

absl::StatusOr<Ed25519Key> Ed25519Key::fromPrivatePem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return absl::InvalidArgumentError("not a PEM private key");
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError("private key is not Ed25519");
  }
  Ed25519Key k;
  k.key_ = wrap(key);
  k.has_private_ = true;
  return k;
}

absl::StatusOr<Ed25519Key> Ed25519Key::fromPublicPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return absl::InvalidArgumentError("not a PEM public key");
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError("public key is not Ed25519");
  }
  Ed25519Key k;
  k.key_ = wrap(key);
  return k;
}

absl::StatusOr<Ed25519Key> Ed25519Key::fromRawPublic(std::string_view raw) {
  if (raw.size() != 32) return absl::InvalidArgumentError("an Ed25519 public key has 32 bytes");
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  if (key == nullptr) return absl::InvalidArgumentError("invalid Ed25519 public key");
  Ed25519Key k;
  k.key_ = wrap(key);
  return k;
}

std::string Ed25519Key::privatePem() const {
  if (!has_private_) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return bioToString(bio);
}

std::string Ed25519Key::publicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key_.get());
  return bioToString(bio);
}

std::string Ed25519Key::rawPublic() const {
  std::string raw(32, '\0');
  size_t len = raw.size();
  EVP_PKEY_get_raw_public_key(key_.get(), reinterpret_cast<unsigned char*>(raw.data()), &len);
  raw.resize(len);
  return raw;
}

absl::StatusOr<std::string> Ed25519Key::sign(std::string_view data) const {
  if (!has_private_) return absl::FailedPreconditionError("signing needs a private key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  size_t len = sig.size();
  bool ok = EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1 &&
            EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return absl::InternalError("Ed25519 signing failed");
  sig.resize(len);
  return sig;
}

bool Ed25519Key::verify(std::string_view data, std::string_view signature) const {
  if (!key_ || signature.size() != 64) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

absl::StatusOr<std::string> signToken(const TokenClaims& c, const Ed25519Key& key,
                                      std::string_view kid) {
  Json header = {{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", std::string(kid)}};
  Json claims = {{"iss", c.issuer},    {"sub", c.subject}, {"tenant", c.tenant},
                 {"groups", c.groups}, {"jti", c.id},      {"iat", c.issued_at},
                 {"exp", c.expires_at}};
  std::string input = b64url(header.dump()) + "." + b64url(claims.dump());
  auto sig = key.sign(input);
  if (!sig.ok()) return sig.status();
  return input + "." + b64url(*sig);
}

absl::StatusOr<std::string> peekKeyId(std::string_view token) {
  auto parts = split(token);
  if (!parts.ok()) return absl::InvalidArgumentError(parts.status().message());
  return parts->header["kid"].get<std::string>();
}

absl::StatusOr<TokenClaims> verifyToken(std::string_view token, const Ed25519Key& public_key,
                                        int64_t now, int64_t leeway) {
  auto parts = split(token);
  if (!parts.ok()) return parts.status();
  std::string sig;
  if (!unb64url(parts->sig_b64, &sig)) return malformed("signature is not base64url");
  std::string_view input = token.substr(0, parts->header_b64.size() + 1 + parts->claims_b64.size());
  if (!public_key.verify(input, sig))
    return absl::UnauthenticatedError("token signature is invalid");
  std::string claims_text;
  if (!unb64url(parts->claims_b64, &claims_text)) return malformed("claims are not base64url");
  Json j = Json::parse(claims_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return malformed("claims are not a JSON object");
  TokenClaims c;
  auto str = [&](const char* name, std::string* out, bool required) -> absl::Status {
    auto it = j.find(name);
    if (it == j.end()) {
      return required ? malformed(std::string("claim ") + name + " is missing") : absl::OkStatus();
    }
    if (!it->is_string()) return malformed(std::string("claim ") + name + " is not a string");
    *out = it->get<std::string>();
    return absl::OkStatus();
  };
  auto num = [&](const char* name, int64_t* out) -> absl::Status {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_integer()) {
      return malformed(std::string("claim ") + name + " is missing or not an integer");
    }
    *out = it->get<int64_t>();
    return absl::OkStatus();
  };
  for (auto s :
       {str("iss", &c.issuer, false), str("sub", &c.subject, true), str("tenant", &c.tenant, true),
        str("jti", &c.id, true), num("iat", &c.issued_at), num("exp", &c.expires_at)}) {
    if (!s.ok()) return s;
  }
  if (auto g = j.find("groups"); g != j.end()) {
    if (!g->is_array()) return malformed("claim groups is not an array");
    for (const auto& v : *g) {
      if (!v.is_string()) return malformed("claim groups has a non-string member");
      c.groups.push_back(v.get<std::string>());
    }
  }
  if (c.subject.empty() || c.id.empty()) return malformed("empty sub or jti");
  if (now >= c.expires_at + leeway) return absl::UnauthenticatedError("token has expired");
  if (c.issued_at > now + leeway + 60)
    return absl::UnauthenticatedError("token is issued in the future");
  return c;
}

const Ed25519Key* KeySet::find(std::string_view kid) const {
  auto it = keys_.find(kid);
  return it == keys_.end() ? nullptr : &it->second;
}

Json KeySet::toJwks() const {
  Json keys = Json::array();
  for (const auto& [kid, key] : keys_) {
    keys.push_back({{"kty", "OKP"},
                    {"crv", "Ed25519"},
                    {"alg", "EdDSA"},
                    {"use", "sig"},
                    {"kid", kid},
                    {"x", b64url(key.rawPublic())}});
  }
  return Json{{"keys", keys}};
}

absl::StatusOr<KeySet> KeySet::fromJwks(const Json& jwks) {
  if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array()) {
    return absl::InvalidArgumentError("a JWK set is an object with a \"keys\" array");
  }
  KeySet set;
  for (const auto& k : jwks["keys"]) {
    // Other key types are skipped; value() would throw on a member of another type.
    if (!k.is_object() || k.find("kty") == k.end() || *k.find("kty") != "OKP" ||
        k.find("crv") == k.end() || *k.find("crv") != "Ed25519") {
      continue;
    }
    if (!k.contains("kid") || !k["kid"].is_string() || !k.contains("x") || !k["x"].is_string()) {
      return absl::InvalidArgumentError("an Ed25519 JWK needs string kid and x");
    }
    std::string raw;
    if (!unb64url(k["x"].get<std::string>(), &raw)) {
      return absl::InvalidArgumentError("JWK x is not base64url");
    }
    auto key = Ed25519Key::fromRawPublic(raw);
    if (!key.ok()) return key.status();
    set.add(k["kid"].get<std::string>(), std::move(*key));
  }
  return set;
}

absl::StatusOr<TokenClaims> verifyToken(std::string_view token, const KeySet& keys, int64_t now,
                                        int64_t leeway) {
  auto parts = split(token);
  if (!parts.ok()) return parts.status();
  const Ed25519Key* key = keys.find(parts->header["kid"].get<std::string>());
  if (key == nullptr) return absl::UnauthenticatedError("token is signed with an unknown key");
  return verifyToken(token, *key, now, leeway);
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof(digest));
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string randomToken(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    // The CSPRNG failing is not something to paper over with a weak secret.
    std::abort();
  }
  return b64url(raw);
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace kubehub::auth

#include "metaserver/api/token_service.h"

#include <ctime>

#include "common/log/log.h"

namespace kubehub::metaserver {

int64_t nowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

TokenService::TokenService(Credentials& credentials, std::string issuer,
                           std::chrono::seconds publish_retired_for)
    : credentials_(credentials),
      issuer_(std::move(issuer)),
      publish_retired_for_(publish_retired_for) {}

absl::StatusOr<SigningKeyRecord> TokenService::newKey() {
  auto key = auth::Ed25519Key::generate();
  if (!key.ok()) return key.status();
  SigningKeyRecord r;
  // The kid is derived from the public key: stable, unique, and says nothing secret.
  r.kid = auth::sha256Hex(key->rawPublic()).substr(0, 16);
  r.private_pem = key->privatePem();
  r.public_pem = key->publicPem();
  r.active = true;
  return r;
}

absl::Status TokenService::reload() {
  auto records = credentials_.signingKeys();
  if (!records.ok()) return records.status();
  auth::KeySet keys;
  std::string active_kid;
  std::optional<auth::Ed25519Key> active;
  for (const auto& r : *records) {
    auto key = auth::Ed25519Key::fromPrivatePem(r.private_pem);
    if (!key.ok()) {
      log::error("stored signing key does not parse",
                 {{"kid", r.kid}, {"error", key.status().message()}});
      continue;
    }
    if (r.active) {
      active_kid = r.kid;
      active = *key;
    }
    keys.add(r.kid, std::move(*key));
  }
  std::lock_guard lk(mu_);
  if (active_kid != active_kid_ && !active_kid_.empty())
    log::info("signing key changed", {{"kid", active_kid}});
  keys_ = std::move(keys);
  records_ = std::move(*records);
  active_kid_ = active_kid;
  active_key_ = std::move(active);
  last_reload_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

absl::StatusOr<IssuedToken> TokenService::issue(const UserRecord& user, int64_t ttl_seconds,
                                                std::string description, std::string issued_by) {
  std::string kid;
  std::optional<auth::Ed25519Key> key;
  {
    std::lock_guard lk(mu_);
    kid = active_kid_;
    key = active_key_;
  }
  if (!key) return absl::UnavailableError("no active signing key loaded yet");
  auth::TokenClaims c;
  c.issuer = issuer_;
  c.subject = user.name;
  c.tenant = user.tenant;
  c.groups = user.groups;
  c.id = auth::randomToken(16);
  c.issued_at = nowSeconds();
  c.expires_at = c.issued_at + ttl_seconds;
  auto token = auth::signToken(c, *key, kid);
  if (!token.ok()) return token.status();
  IssuedToken out;
  out.record = TokenRecord{c.id,        user.name,    user.tenant,  std::move(description), kid,
                           c.issued_at, c.expires_at, std::nullopt, std::move(issued_by)};
  out.token = std::move(*token);
  if (auto s = credentials_.insertToken(out.record, auth::sha256Hex(out.token)); !s.ok()) return s;
  return out;
}

absl::StatusOr<auth::TokenClaims> TokenService::verify(std::string_view token) {
  auto kid = auth::peekKeyId(token);
  if (!kid.ok()) return absl::UnauthenticatedError(kid.status().message());
  bool known;
  {
    std::lock_guard lk(mu_);
    known = keys_.find(*kid) != nullptr;
    // Another replica may have rotated: look again, at most once a second.
    if (!known && std::chrono::steady_clock::now() - last_reload_ < std::chrono::seconds(1)) {
      return absl::UnauthenticatedError("token is signed with an unknown key");
    }
  }
  if (!known) {
    if (auto s = reload(); !s.ok()) return s;
  }
  auth::KeySet keys;
  {
    std::lock_guard lk(mu_);
    keys = keys_;
  }
  auto claims = auth::verifyToken(token, keys, nowSeconds());
  if (!claims.ok()) return claims.status();
  if (claims->issuer != issuer_)
    return absl::UnauthenticatedError("token was issued by another issuer");
  return claims;
}

Json TokenService::jwks() {
  std::lock_guard lk(mu_);
  auth::KeySet published;
  int64_t now = nowSeconds();
  for (const auto& r : records_) {
    if (!r.active && r.retired_at && *r.retired_at + publish_retired_for_.count() < now) continue;
    if (const auth::Ed25519Key* k = keys_.find(r.kid)) published.add(r.kid, *k);
  }
  Json j = published.toJwks();
  j["activeKeyId"] = active_kid_;
  j["issuer"] = issuer_;
  return j;
}

absl::StatusOr<std::string> TokenService::rotate() {
  auto key = newKey();
  if (!key.ok()) return key.status();
  if (auto s = credentials_.rotateSigningKey(*key); !s.ok()) return s;
  if (auto s = reload(); !s.ok()) return s;
  return key->kid;
}

}  // namespace kubehub::metaserver

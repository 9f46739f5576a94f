#include "hub/auth/authenticator.h"

#include <algorithm>

namespace kubehub::hub {

Authenticator::Authenticator(std::shared_ptr<const StaticTokenAuthenticator> static_tokens,
                             std::shared_ptr<MetaserverSync> metaserver, size_t cache_entries)
    : static_tokens_(std::move(static_tokens)),
      metaserver_(std::move(metaserver)),
      cache_entries_(std::max<size_t>(cache_entries, 16)) {}

size_t Authenticator::cachedVerdicts() const {
  std::lock_guard lock(mu_);
  return verified_.size();
}

absl::StatusOr<Principal> Authenticator::authenticate(std::string_view token, int64_t now) {
  if (static_tokens_) {
    if (auto user = static_tokens_->authenticate(token)) {
      Principal p;
      p.user = user->name;
      p.groups = user->groups;
      p.break_glass = true;
      return p;
    }
  }
  if (!metaserver_) return absl::UnauthenticatedError("Unauthorized");
  auto snap = metaserver_->snapshot();
  std::string key = sha256(token);
  std::optional<Principal> principal;
  {
    std::lock_guard lock(mu_);
    auto it = verified_.find(key);
    if (it != verified_.end()) {
      if (it->second.expires_at <= now) {
        verified_.erase(it);
        return absl::UnauthenticatedError("Unauthorized: the token has expired");
      }
      principal = it->second.principal;
    }
  }
  if (principal && metrics_) metrics_->tokenVerification("cached");
  if (!principal) {
    auto kid = auth::peekKeyId(token);
    if (!kid.ok()) return absl::UnauthenticatedError("Unauthorized");
    if (snap->keys->find(*kid) == nullptr) {
      metaserver_->wantKeys();
      return absl::UnauthenticatedError(
          "Unauthorized: the token's signing key is not known (yet) to this hub");
    }
    auto claims = auth::verifyToken(token, *snap->keys, now, 30);
    if (metrics_) metrics_->tokenVerification(claims.ok() ? "verified" : "rejected");
    if (!claims.ok())
      return absl::UnauthenticatedError("Unauthorized: " + std::string(claims.status().message()));
    Principal p;
    p.user = claims->subject;
    p.tenant = claims->tenant;
    p.groups = claims->groups;
    p.token_id = claims->id;
    p.expires_at = claims->expires_at;
    principal = p;
    std::lock_guard lock(mu_);
    if (verified_.size() >= cache_entries_) {
      // Drop expired verdicts first, then an arbitrary tenth: bounded, no per-request LRU cost.
      for (auto it = verified_.begin(); it != verified_.end();) {
        it = it->second.expires_at <= now ? verified_.erase(it) : std::next(it);
      }
      size_t drop = verified_.size() >= cache_entries_ ? cache_entries_ / 10 + 1 : 0;
      for (auto it = verified_.begin(); it != verified_.end() && drop > 0; --drop)
        it = verified_.erase(it);
    }
    verified_.emplace(key, Verdict{p, p.expires_at});
  }
  if (principal->expires_at <= now)
    return absl::UnauthenticatedError("Unauthorized: the token has expired");
  if (snap->revoked->count(principal->token_id) > 0) {
    return absl::UnauthenticatedError("Unauthorized: the token has been revoked");
  }
  if (metrics_ && (snap->banned_tenants->count(principal->tenant) > 0 ||
                   snap->banned_users->count(principal->user) > 0)) {
    metrics_->denial(principal->tenant, "ban");
  }
  if (snap->banned_tenants->count(principal->tenant) > 0) {
    return absl::PermissionDeniedError("tenant \"" + principal->tenant + "\" is banned");
  }
  if (snap->banned_users->count(principal->user) > 0) {
    return absl::PermissionDeniedError("user \"" + principal->user + "\" is banned");
  }
  return *principal;
}

}  // namespace kubehub::hub

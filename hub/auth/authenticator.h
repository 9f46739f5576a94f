#pragma once
/// Who is calling: bearer tokens verified locally. Metaserver tokens (Ed25519 JWTs) are checked
/// once per token (signature ~110 µs) and the verdict remembered by a hash of the token, bounded
/// and until expiry; every request still checks expiry, the revocation set and bans, so a
/// revoked token or banned user stops working as soon as the snapshot says so. Static tokens
/// (--token-file) are break-glass identities that no grant limits. Thread-safe.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "hub/auth/metaserver_sync.h"
#include "hub/auth/principal.h"
#include "hub/auth/token_file.h"
#include "hub/metrics/hub_metrics.h"

namespace kubehub::hub {

class Authenticator {
 public:
  /// Either may be null (no static tokens / no metaserver).
  Authenticator(std::shared_ptr<const StaticTokenAuthenticator> static_tokens,
                std::shared_ptr<MetaserverSync> metaserver, size_t cache_entries = 100000);

  /// Unauthenticated (401) for unknown, malformed, expired or revoked tokens; PermissionDenied
  /// (403) for banned users or tenants. Messages are safe to show (no token material).
  absl::StatusOr<Principal> authenticate(std::string_view token, int64_t now_seconds);

  size_t cachedVerdicts() const;
  void setMetrics(std::shared_ptr<HubMetrics> m) { metrics_ = std::move(m); }

 private:
  struct Verdict {
    Principal principal;
    int64_t expires_at;
  };
  std::shared_ptr<const StaticTokenAuthenticator> static_tokens_;
  std::shared_ptr<MetaserverSync> metaserver_;
  std::shared_ptr<HubMetrics> metrics_;
  const size_t cache_entries_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Verdict> verified_;  // SHA-256(token) -> verdict
};

}  // namespace kubehub::hub

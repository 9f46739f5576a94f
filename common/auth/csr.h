#pragma once
/// Keys and certificate signing requests made where the key is used (agents, hubs), so a
/// private key never leaves the process or machine that owns it; and the renewal schedule of
/// the certificates the metaserver signs for them. Pure; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kubehub::auth {

struct KeyAndCsr {
  std::string key_pem;  // PKCS#8 PEM, unencrypted: keep it like a password
  std::string csr_pem;
};

/// A fresh ECDSA P-256 key and a CSR for it with subject CN=`common_name` (the metaserver sets
/// the rest of the subject and the extensions itself).
absl::StatusOr<KeyAndCsr> makeKeyAndCsr(std::string_view common_name);

/// Validity of a PEM certificate (the first one in `pem`), in seconds since the epoch.
struct Validity {
  int64_t not_before = 0;
  int64_t not_after = 0;
};
absl::StatusOr<Validity> certificateValidity(std::string_view pem);

/// When to renew a certificate valid over `v`: two thirds into its lifetime (cert-manager's and
/// kubelet's habit), so a renewal that fails has a third of the lifetime left to be retried.
int64_t renewalTime(const Validity& v);
/// The same counted from `since` (when the holder got or loaded it) when that is later than
/// notBefore: the metaserver backdates notBefore by five minutes against clock skew, which for a
/// short-lived certificate would put the renewal time in the past at once.
int64_t renewalTime(const Validity& v, int64_t since);

/// Whether `key_pem` is the private key of the certificate `cert_pem`.
bool keyMatchesCertificate(std::string_view cert_pem, std::string_view key_pem);

}  // namespace kubehub::auth

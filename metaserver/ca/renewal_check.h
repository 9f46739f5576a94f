#pragma once
/// Whether an agent may renew its certificate without a bearer token: the request carries the
/// current certificate and a proof signed with its key (common/auth/renewal_proof.h). The
/// certificate must chain to the tunnel CA, be in force, and be an agent certificate for exactly
/// the cluster named in the path; the proof must verify and be recent. Pure OpenSSL, no I/O
/// (the cluster's ban is the handler's to check). Thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kubehub::metaserver {

struct RenewalRequest {
  std::string cluster;          // from the path
  std::string csr_pem;          // the new key's CSR
  std::string certificate_pem;  // the agent's current certificate
  std::string proof;            // base64 signature (auth::signRenewal)
  int64_t time = 0;             // seconds since the epoch, as signed
};

/// The certificate being renewed.
struct RenewingAgent {
  std::string cluster;
  std::string serial;
  int64_t not_after = 0;
};

/// PermissionDenied saying what is wrong (and what to do) for any failed check; `now` is the
/// metaserver's clock in seconds since the epoch.
absl::StatusOr<RenewingAgent> checkRenewal(const RenewalRequest& request,
                                           std::string_view ca_cert_pem, int64_t now);

}  // namespace kubehub::metaserver

#pragma once
/// Proof that an agent holds the key of its current certificate, so the metaserver can renew
/// that certificate without a bearer token and without client-certificate TLS (which a
/// TLS-terminating load balancer or a plain-HTTP metaserver would strip): the agent signs a
/// statement naming its cluster, the new CSR's SHA-256 and the time with its CURRENT key; the
/// metaserver verifies it with the current certificate's public key, after checking that the
/// certificate is its own and the cluster's. The time bounds a replay; the CSR hash binds the
/// proof to one new key. Pure; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kubehub::auth {

/// How far the proof's time may be from the metaserver's clock, either way.
inline constexpr int64_t kRenewalProofMaxSkewSeconds = 300;

/// The bytes signed:
/// "kubehub-agent-renewal-v1\ncluster=NAME\ncsr-sha256=HEX\ntime=SECONDS\n".
std::string renewalStatement(std::string_view cluster, std::string_view csr_pem, int64_t time);

/// Standard base64 of the signature of renewalStatement with the PEM private key `key_pem`
/// (SHA-256 for EC and RSA keys, pure EdDSA for Ed25519).
absl::StatusOr<std::string> signRenewal(std::string_view key_pem, std::string_view cluster,
                                        std::string_view csr_pem, int64_t time);

/// OK when `proof` (standard base64) is the signature of the statement by the key of the PEM
/// certificate `cert_pem`; PermissionDenied otherwise. Checks nothing else about the
/// certificate (chain, role, validity: the metaserver's renewal check does).
absl::Status verifyRenewalSignature(std::string_view cert_pem, std::string_view proof,
                                    std::string_view cluster, std::string_view csr_pem,
                                    int64_t time);

/// Serial of a PEM certificate in lowercase hex of whole bytes ("04", "0d63..."), as the
/// metaserver reports the serials it issues.
absl::StatusOr<std::string> certificateSerial(std::string_view cert_pem);

}  // namespace kubehub::auth

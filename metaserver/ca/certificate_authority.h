#pragma once
/// The tunnel's certificate authority: signs agents' client certificates (CN = cluster name)
/// and hubs' serving certificates from CSRs, so private keys stay with whoever generated them.
/// Both come from this one CA, so each is marked with its role (auth::agentClusterOf holds the
/// rule hubs check). Pure OpenSSL, no I/O. Thread-safe (signing is serialised internally).

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "metaserver/model/records.h"

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace kubehub::metaserver {

/// What a leaf certificate is for.
enum class LeafRole {
  /// A cluster's agent: O=kubehub:agents, clientAuth only; hubs accept it for the tunnel.
  kAgent,
  /// A hub: O=kubehub:hubs, serverAuth and clientAuth; hubs refuse it as an agent's.
  kHub,
};

struct LeafRequest {
  std::string csr_pem;
  /// The subject's CN; the CSR's own CN must be empty or equal to it.
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  /// Decides the subject's O and the extended key usages; the CSR's own are ignored.
  LeafRole role = LeafRole::kAgent;
  int64_t ttl_seconds = 0;
};

struct IssuedCertificate {
  std::string cert_pem;
  std::string serial;  // hex
  int64_t not_after = 0;
};

/// How far before the moment of signing a leaf valid for `ttl_seconds` starts: five minutes of
/// clock skew, but never more than a tenth of its lifetime (so that renewal, two thirds into
/// the validity, stays two thirds into the real lifetime for short-lived certificates).
int64_t leafBackdateSeconds(int64_t ttl_seconds);

class CertificateAuthority {
 public:
  /// A new self-signed CA (ECDSA P-256) valid for `days`.
  static absl::StatusOr<CaRecord> generate(const std::string& common_name, int days);
  /// InvalidArgument when the PEMs do not parse, do not match, or the certificate is no CA.
  static absl::StatusOr<std::shared_ptr<CertificateAuthority>> load(const CaRecord& ca);

  const std::string& certPem() const { return cert_pem_; }
  /// InvalidArgument (422) for a bad CSR: unparseable, bad signature, weak key, wrong CN.
  absl::StatusOr<IssuedCertificate> sign(const LeafRequest& request) const;

  ~CertificateAuthority();

 private:
  CertificateAuthority() = default;
  std::string cert_pem_;
  X509* cert_ = nullptr;
  EVP_PKEY* key_ = nullptr;
  mutable std::mutex mu_;
};

}  // namespace kubehub::metaserver

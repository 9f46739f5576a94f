// Fuzzes what the metaserver and agents read of X.509: CSRs signed by the tunnel CA, and
// certificates (validity, serial, identity, key match, renewal proofs and the renewal check).
// Input that does not start with a PEM line is taken as DER and wrapped, so mutations reach
// the ASN.1 readers. No crash, no leak; a certificate the CA issues names the requested
// cluster, carries the serial reported, and is valid for the requested time.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "common/auth/csr.h"
#include "common/auth/renewal_proof.h"
#include "common/auth/tunnel_identity.h"
#include "metaserver/ca/certificate_authority.h"
#include "metaserver/ca/renewal_check.h"

namespace {

using namespace kubehub;

constexpr int64_t kNow = 1800000000;
constexpr int64_t kTtl = 3600;

const metaserver::CaRecord& caRecord() {
  static const metaserver::CaRecord ca = *metaserver::CertificateAuthority::generate("fuzz-ca", 1);
  return ca;
}

const metaserver::CertificateAuthority& ca() {
  static const std::shared_ptr<metaserver::CertificateAuthority> ca =
      *metaserver::CertificateAuthority::load(caRecord());
  return *ca;
}

const auth::KeyAndCsr& agentKey() {
  static const auth::KeyAndCsr key = *auth::makeKeyAndCsr("fuzz");
  return key;
}

std::string pem(std::string_view label, std::string_view der) {
  return "-----BEGIN " + std::string(label) + "-----\n" +
         absl::Base64Escape(absl::string_view(der.data(), der.size())) + "\n-----END " +
         std::string(label) + "-----\n";
}

void fuzzCsr(const std::string& csr) {
  metaserver::LeafRequest req;
  req.csr_pem = csr;
  req.common_name = "fuzz";
  req.role = metaserver::LeafRole::kAgent;
  req.ttl_seconds = kTtl;
  auto issued = ca().sign(req);
  if (!issued.ok()) return;
  auto identity = auth::certificateIdentityFromPem(issued->cert_pem);
  if (!identity.ok()) std::abort();
  auto cluster = auth::agentClusterOf(*identity);
  if (!cluster.ok() || *cluster != "fuzz") std::abort();
  auto serial = auth::certificateSerial(issued->cert_pem);
  if (!serial.ok() || *serial != issued->serial) std::abort();
  auto validity = auth::certificateValidity(issued->cert_pem);
  if (!validity.ok() || validity->not_after != issued->not_after ||
      validity->not_after - validity->not_before < kTtl) {
    std::abort();
  }
}

void fuzzCertificate(const std::string& cert) {
  (void)auth::certificateValidity(cert);
  (void)auth::certificateSerial(cert);
  if (auto identity = auth::certificateIdentityFromPem(cert); identity.ok()) {
    (void)auth::agentClusterOf(*identity);
    (void)auth::hubIdOf(*identity);
    (void)auth::peerHubOf(*identity);
  }
  (void)auth::keyMatchesCertificate(cert, agentKey().key_pem);
  (void)auth::verifyRenewalSignature(cert, "AAAA", "fuzz", agentKey().csr_pem, kNow);
  metaserver::RenewalRequest renewal{"fuzz", agentKey().csr_pem, cert, "AAAA", kNow};
  if (metaserver::checkRenewal(renewal, caRecord().cert_pem, kNow).ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.starts_with("-----BEGIN")) {
    fuzzCsr(std::string(in));
    fuzzCertificate(std::string(in));
    return 0;
  }
  fuzzCsr(pem("CERTIFICATE REQUEST", in));
  fuzzCertificate(pem("CERTIFICATE", in));
  return 0;
}

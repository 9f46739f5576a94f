#include "common/auth/renewal_proof.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <memory>

#include "absl/strings/escaping.h"
#include "common/auth/openssl_ptr.h"
#include "common/auth/token.h"

namespace kubehub::auth {
namespace {

/// Ed25519/Ed448 sign the message itself; every other key type signs its SHA-256.
const EVP_MD* digestFor(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
}

}  // namespace

std::string renewalStatement(std::string_view cluster, std::string_view csr_pem, int64_t time) {
  return "kubehub-agent-renewal-v1\ncluster=" + std::string(cluster) +
         "\ncsr-sha256=" + sha256Hex(csr_pem) + "\ntime=" + std::to_string(time) + "\n";
}

absl::StatusOr<std::string> signRenewal(std::string_view key_pem, std::string_view cluster,
                                        std::string_view csr_pem, int64_t time) {
  OpenSslPtr<BIO> bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  OpenSslPtr<EVP_PKEY> key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                               : nullptr);
  if (!key) return absl::InvalidArgumentError("the current private key does not parse");
  std::string statement = renewalStatement(cluster, csr_pem, time);
  OpenSslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, digestFor(key.get()), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len,
                     reinterpret_cast<const unsigned char*>(statement.data()),
                     statement.size()) != 1) {
    return absl::InternalError("signing the renewal proof failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(statement.data()),
                     statement.size()) != 1) {
    return absl::InternalError("signing the renewal proof failed");
  }
  sig.resize(len);
  return absl::Base64Escape(absl::string_view(sig.data(), sig.size()));
}

absl::Status verifyRenewalSignature(std::string_view cert_pem, std::string_view proof,
                                    std::string_view cluster, std::string_view csr_pem,
                                    int64_t time) {
  OpenSslPtr<X509> cert = parseCertificatePem(cert_pem);
  if (!cert) return absl::PermissionDeniedError("the current certificate does not parse");
  std::string sig;
  if (proof.empty() || !absl::Base64Unescape(absl::string_view(proof.data(), proof.size()), &sig))
    return absl::PermissionDeniedError("the proof is not base64");
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (key == nullptr) return absl::PermissionDeniedError("the current certificate has no key");
  std::string statement = renewalStatement(cluster, csr_pem, time);
  OpenSslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, digestFor(key), nullptr, key) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(statement.data()),
                       statement.size()) != 1) {
    return absl::PermissionDeniedError(
        "the proof is not signed by the current certificate's key (or signs another cluster, "
        "CSR or time)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> certificateSerial(std::string_view cert_pem) {
  OpenSslPtr<X509> cert = parseCertificatePem(cert_pem);
  if (!cert) return absl::InvalidArgumentError("not a PEM certificate");
  OpenSslPtr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  if (!bn) return absl::InvalidArgumentError("the certificate's serial cannot be read");
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) return absl::InternalError("encoding the serial failed");
  std::string out = hex;
  OPENSSL_free(hex);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace kubehub::auth

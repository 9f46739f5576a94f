#include "common/auth/csr.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <ctime>
#include <memory>

#include "common/auth/openssl_ptr.h"

namespace kubehub::auth {
namespace {

std::string drain(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

int64_t toEpoch(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

absl::StatusOr<KeyAndCsr> makeKeyAndCsr(std::string_view common_name) {
  if (common_name.empty() || common_name.size() > 64) {
    return absl::InvalidArgumentError("a CSR's common name must have 1 to 64 characters");
  }
  OpenSslPtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return absl::InternalError("generating an EC P-256 key failed");
  OpenSslPtr<X509_REQ> req(X509_REQ_new());
  if (!req) return absl::InternalError("allocating a CSR failed");
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_REQ_set_version(req.get(), 0) != 1 || X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    return absl::InternalError("building the CSR failed");
  }
  OpenSslPtr<BIO> key_bio(BIO_new(BIO_s_mem()));
  OpenSslPtr<BIO> csr_bio(BIO_new(BIO_s_mem()));
  if (!key_bio || !csr_bio ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1 ||
      PEM_write_bio_X509_REQ(csr_bio.get(), req.get()) != 1) {
    return absl::InternalError("encoding the key or CSR failed");
  }
  return KeyAndCsr{drain(key_bio.get()), drain(csr_bio.get())};
}

absl::StatusOr<Validity> certificateValidity(std::string_view pem) {
  OpenSslPtr<X509> cert = parseCertificatePem(pem);
  if (!cert) return absl::InvalidArgumentError("not a PEM certificate");
  Validity v{toEpoch(X509_get0_notBefore(cert.get())), toEpoch(X509_get0_notAfter(cert.get()))};
  if (v.not_before == 0 || v.not_after == 0 || v.not_after <= v.not_before) {
    return absl::InvalidArgumentError("the certificate's validity cannot be read");
  }
  return v;
}

int64_t renewalTime(const Validity& v) {
  return v.not_before + (v.not_after - v.not_before) * 2 / 3;
}

int64_t renewalTime(const Validity& v, int64_t since) {
  int64_t start = std::max(v.not_before, std::min(since, v.not_after));
  return start + (v.not_after - start) * 2 / 3;
}

bool keyMatchesCertificate(std::string_view cert_pem, std::string_view key_pem) {
  OpenSslPtr<X509> cert = parseCertificatePem(cert_pem);
  OpenSslPtr<BIO> bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  if (!cert || !bio) return false;
  OpenSslPtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return false;
  return X509_check_private_key(cert.get(), key.get()) == 1;
}

}  // namespace kubehub::auth

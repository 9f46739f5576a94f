#include "metaserver/ca/certificate_authority.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>

#include "common/auth/tunnel_identity.h"
#include "common/k8s/validation.h"

namespace kubehub::metaserver {

namespace {

std::string opensslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

std::string bioString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

bool addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/// A random positive serial of 126 random bits whose hex is always 32 digits (the top byte is
/// never zero: 1 in 128 serials used to print as 30 digits); returns that hex.
std::string setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof(bytes));
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x3f) | 0x40);
  BIGNUM* bn = BN_bin2bn(bytes, sizeof(bytes), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  char* hex = BN_bn2hex(bn);
  std::string out = hex;
  OPENSSL_free(hex);
  BN_free(bn);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const EVP_MD* digestFor(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
}

absl::Status checkLeafKey(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_ED25519) return absl::OkStatus();
  if (id == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t len = 0;
    EVP_PKEY_get_group_name(key, group, sizeof(group), &len);
    std::string g(group, len);
    if (g == "prime256v1" || g == "P-256" || g == "secp384r1" || g == "P-384")
      return absl::OkStatus();
    return absl::InvalidArgumentError("CSR key uses EC curve " + g + "; use P-256 or P-384");
  }
  if (id == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key) >= 2048) return absl::OkStatus();
    return absl::InvalidArgumentError("CSR RSA key is shorter than 2048 bits");
  }
  return absl::InvalidArgumentError(
      "CSR key type is not supported (use ECDSA P-256/P-384, Ed25519 or RSA >= 2048)");
}

bool isIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

absl::StatusOr<CaRecord> CertificateAuthority::generate(const std::string& common_name, int days) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (key == nullptr) return absl::InternalError("CA key generation failed: " + opensslError());
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  setRandomSerial(cert);
  X509_gmtime_adj(X509_getm_notBefore(cert), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert, name);
  bool ok = addExt(cert, cert, NID_basic_constraints, "critical,CA:TRUE") &&
            addExt(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") &&
            addExt(cert, cert, NID_subject_key_identifier, "hash") &&
            X509_sign(cert, key, EVP_sha256()) > 0;
  CaRecord out;
  if (ok) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, cert);
    out.cert_pem = bioString(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    out.key_pem = bioString(b);
  }
  std::string err = ok ? "" : opensslError();
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return absl::InternalError("CA certificate generation failed: " + err);
  return out;
}

absl::StatusOr<std::shared_ptr<CertificateAuthority>> CertificateAuthority::load(
    const CaRecord& ca) {
  std::shared_ptr<CertificateAuthority> out(new CertificateAuthority());
  BIO* b = BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size()));
  out->cert_ = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  if (out->cert_ == nullptr)
    return absl::InvalidArgumentError("CA certificate is not PEM: " + opensslError());
  b = BIO_new_mem_buf(ca.key_pem.data(), static_cast<int>(ca.key_pem.size()));
  out->key_ = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  if (out->key_ == nullptr)
    return absl::InvalidArgumentError("CA key is not a PEM private key: " + opensslError());
  if (X509_check_private_key(out->cert_, out->key_) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("CA key does not match the CA certificate");
  }
  if (X509_check_ca(out->cert_) == 0)
    return absl::InvalidArgumentError("the CA certificate is not a CA (basicConstraints)");
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, out->cert_);
  out->cert_pem_ = bioString(b);
  return out;
}

CertificateAuthority::~CertificateAuthority() {
  X509_free(cert_);
  EVP_PKEY_free(key_);
}

int64_t leafBackdateSeconds(int64_t ttl_seconds) {
  return std::clamp<int64_t>(ttl_seconds / 10, 0, 300);
}

absl::StatusOr<IssuedCertificate> CertificateAuthority::sign(const LeafRequest& rq) const {
  if (rq.csr_pem.empty())
    return absl::InvalidArgumentError("csr is empty: send a PEM certificate signing request");
  if (rq.csr_pem.size() > 16384) return absl::InvalidArgumentError("csr is too large");
  BIO* b = BIO_new_mem_buf(rq.csr_pem.data(), static_cast<int>(rq.csr_pem.size()));
  X509_REQ* req = PEM_read_bio_X509_REQ(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  if (req == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("csr is not a PEM certificate signing request");
  }
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req_guard(req, X509_REQ_free);
  EVP_PKEY* pub = X509_REQ_get_pubkey(req);
  if (pub == nullptr) return absl::InvalidArgumentError("csr has no usable public key");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pub_guard(pub, EVP_PKEY_free);
  if (X509_REQ_verify(req, pub) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("csr signature is invalid");
  }
  if (auto s = checkLeafKey(pub); !s.ok()) return s;
  std::string csr_cn;
  {
    X509_NAME* subj = X509_REQ_get_subject_name(req);
    int idx = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    if (idx >= 0) {
      unsigned char* utf8 = nullptr;
      int len =
          ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)));
      if (len >= 0) {
        csr_cn.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
        OPENSSL_free(utf8);
      }
    }
  }
  if (!csr_cn.empty() && csr_cn != rq.common_name) {
    return absl::InvalidArgumentError("csr common name \"" + csr_cn.substr(0, 80) +
                                      "\" does not match \"" + rq.common_name + "\"");
  }
  std::string sans;
  for (const auto& d : rq.dns_names) {
    std::string host = d.starts_with("*.") ? d.substr(2) : d;
    if (!k8s::isDnsHostname(host))
      return absl::InvalidArgumentError("DNS name \"" + d.substr(0, 80) + "\" is invalid");
    sans += (sans.empty() ? "" : ",") + std::string("DNS:") + d;
  }
  for (const auto& ip : rq.ip_addresses) {
    if (!isIp(ip))
      return absl::InvalidArgumentError("IP address \"" + ip.substr(0, 80) + "\" is invalid");
    sans += (sans.empty() ? "" : ",") + std::string("IP:") + ip;
  }
  if (rq.ttl_seconds <= 0) return absl::InvalidArgumentError("certificate TTL must be positive");

  std::lock_guard lk(mu_);
  X509* cert = X509_new();
  std::unique_ptr<X509, decltype(&X509_free)> cert_guard(cert, X509_free);
  X509_set_version(cert, 2);
  IssuedCertificate out;
  out.serial = setRandomSerial(cert);
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  out.not_after = now + rq.ttl_seconds;
  // Never beyond the CA's own expiry.
  ASN1_TIME* ca_end = X509_getm_notAfter(cert_);
  int day = 0, sec = 0;
  ASN1_TIME_diff(&day, &sec, nullptr, ca_end);
  int64_t ca_left = static_cast<int64_t>(day) * 86400 + sec;
  if (ca_left <= 0) return absl::FailedPreconditionError("the CA certificate has expired");
  int64_t ttl = std::min<int64_t>(rq.ttl_seconds, ca_left);
  out.not_after = now + ttl;
  // Backdated for clocks a little behind ours, but by at most a tenth of the lifetime: holders
  // renew two thirds into notBefore..notAfter, and a short-lived certificate backdated by the
  // full five minutes would be due for renewal the moment it is issued.
  // Both from `now`, the instant not_after was reckoned from: X509_gmtime_adj reads the clock
  // again, and a second ticking over in between recorded a not_after one second off the
  // certificate's (found by csr_fuzz).
  time_t at = static_cast<time_t>(now);
  X509_time_adj(X509_getm_notBefore(cert), -static_cast<long>(leafBackdateSeconds(ttl)), &at);
  X509_time_adj(X509_getm_notAfter(cert), static_cast<long>(ttl), &at);
  X509_set_pubkey(cert, pub);
  // Agents and hubs share this CA, so the role goes into every certificate: the subject's O
  // (what hubs check) and the extended key usages (an agent's cannot serve TLS).
  const bool agent = rq.role == LeafRole::kAgent;
  const std::string organization(agent ? auth::kAgentOrganization : auth::kHubOrganization);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(organization.c_str()), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(rq.common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert_));
  // Hubs keep clientAuth: they may call each other with their certificates.
  std::string eku = agent ? "clientAuth" : "serverAuth,clientAuth";
  std::string ku = "critical,digitalSignature";
  if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) ku += ",keyEncipherment";
  bool ok = addExt(cert, cert_, NID_basic_constraints, "critical,CA:FALSE") &&
            addExt(cert, cert_, NID_key_usage, ku) && addExt(cert, cert_, NID_ext_key_usage, eku) &&
            addExt(cert, cert_, NID_subject_key_identifier, "hash") &&
            addExt(cert, cert_, NID_authority_key_identifier, "keyid:always") &&
            (sans.empty() || addExt(cert, cert_, NID_subject_alt_name, sans)) &&
            X509_sign(cert, key_, digestFor(key_)) > 0;
  if (!ok) return absl::InternalError("signing the certificate failed: " + opensslError());
  BIO* outb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(outb, cert);
  out.cert_pem = bioString(outb);
  return out;
}

}  // namespace kubehub::metaserver

#include "common/auth/tunnel_identity.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

namespace kubehub::auth {

namespace {

std::string entryText(X509_NAME* name, int index) {
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

bool has(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

CertificateIdentity certificateIdentity(X509* cert) {
  CertificateIdentity out;
  if (cert == nullptr) return out;
  if (X509_NAME* subject = X509_get_subject_name(cert); subject != nullptr) {
    int cn = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (cn >= 0) out.common_name = entryText(subject, cn);
    for (int i = X509_NAME_get_index_by_NID(subject, NID_organizationName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(subject, NID_organizationName, i)) {
      out.organizations.push_back(entryText(subject, i));
    }
  }
  // Without an extendedKeyUsage extension a certificate may be used for anything, so it counts
  // as both (and then cannot pass as an agent's, which must be client-only).
  if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0) {
    out.client_auth = out.server_auth = true;
  } else {
    uint32_t xku = X509_get_extended_key_usage(cert);
    out.client_auth = (xku & XKU_SSL_CLIENT) != 0;
    out.server_auth = (xku & XKU_SSL_SERVER) != 0;
  }
  return out;
}

absl::StatusOr<CertificateIdentity> certificateIdentityFromPem(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) {
    ERR_clear_error();
    return absl::InvalidArgumentError("not a PEM certificate");
  }
  return certificateIdentity(cert.get());
}

absl::StatusOr<std::string> agentClusterOf(const CertificateIdentity& id) {
  const std::string subject = "the client certificate (CN \"" + id.common_name + "\")";
  if (has(id.organizations, kHubOrganization)) {
    return absl::PermissionDeniedError(subject +
                                       " is a hub's certificate, not an agent's: agents "
                                       "authenticate with the certificate of their cluster");
  }
  if (!has(id.organizations, kAgentOrganization)) {
    return absl::PermissionDeniedError(
        subject +
        " is not an agent certificate: its subject has no O=" + std::string(kAgentOrganization) +
        " (get one through the cluster's bootstrap token from the metaserver)");
  }
  if (id.server_auth || !id.client_auth) {
    return absl::PermissionDeniedError(
        subject + " is not an agent certificate: its extendedKeyUsage must be clientAuth only");
  }
  if (id.common_name.empty()) {
    return absl::PermissionDeniedError("the client certificate names no cluster (empty CN)");
  }
  return id.common_name;
}

std::optional<std::string> hubIdOf(const CertificateIdentity& id) {
  if (!has(id.organizations, kHubOrganization) || !id.server_auth || id.common_name.empty()) {
    return std::nullopt;
  }
  return id.common_name;
}

std::optional<std::string> peerHubOf(const CertificateIdentity& id) {
  if (!has(id.organizations, kHubOrganization) || has(id.organizations, kAgentOrganization) ||
      !id.client_auth || id.common_name.empty()) {
    return std::nullopt;
  }
  return id.common_name;
}

bool hubUserActsFor(std::string_view user, std::string_view hub_id) {
  if (user.empty() || hub_id.empty()) return false;
  if (hub_id == user) return true;
  return hub_id.size() > user.size() + 1 && hub_id.substr(0, user.size()) == user &&
         hub_id[user.size()] == '-';
}

}  // namespace kubehub::auth

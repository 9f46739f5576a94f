#include "metaserver/ca/renewal_check.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>

#include "common/auth/csr.h"
#include "common/auth/openssl_ptr.h"
#include "common/auth/renewal_proof.h"
#include "common/auth/tunnel_identity.h"
#include "common/status/status_macros.h"
#include "metaserver/model/codec.h"

namespace kubehub::metaserver {
namespace {

using auth::OpenSslPtr;
using auth::parseCertificatePem;

/// X509_verify_cert's error for `cert` against `ca` at `now`; X509_V_OK when it chains.
int verifyChain(X509* cert, X509* ca, int64_t now) {
  OpenSslPtr<X509_STORE> store(X509_STORE_new());
  OpenSslPtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1) {
    return X509_V_ERR_UNSPECIFIED;
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), static_cast<time_t>(now));
  if (X509_verify_cert(ctx.get()) == 1) return X509_V_OK;
  int err = X509_STORE_CTX_get_error(ctx.get());
  return err == X509_V_OK ? X509_V_ERR_UNSPECIFIED : err;
}

}  // namespace

absl::StatusOr<RenewingAgent> checkRenewal(const RenewalRequest& rq, std::string_view ca_cert_pem,
                                           int64_t now) {
  const std::string enrol_again =
      "enrol again with a new bootstrap token (kubehubctl cluster "
      "install " +
      rq.cluster + ")";
  OpenSslPtr<X509> cert = parseCertificatePem(rq.certificate_pem);
  if (!cert) return absl::PermissionDeniedError("the current certificate is not a PEM certificate");
  OpenSslPtr<X509> ca = parseCertificatePem(ca_cert_pem);
  if (!ca) return absl::InternalError("the tunnel CA certificate does not parse");
  switch (int err = verifyChain(cert.get(), ca.get(), now); err) {
    case X509_V_OK:
      break;
    case X509_V_ERR_CERT_HAS_EXPIRED: {
      auto v = auth::certificateValidity(rq.certificate_pem);
      return absl::PermissionDeniedError("the current certificate expired" +
                                         (v.ok() ? " at " + formatTime(v->not_after) : "") +
                                         ", so it cannot renew itself: " + enrol_again);
    }
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return absl::PermissionDeniedError(
          "the current certificate is not valid yet: check the clocks of the agent and the "
          "metaserver");
    default:
      return absl::PermissionDeniedError(
          "the current certificate was not issued by this metaserver's tunnel CA (" +
          std::string(X509_verify_cert_error_string(err)) + "): " + enrol_again);
  }
  auto cluster = auth::agentClusterOf(auth::certificateIdentity(cert.get()));
  if (!cluster.ok()) {
    return absl::PermissionDeniedError("the current certificate cannot renew an agent's: " +
                                       std::string(cluster.status().message()));
  }
  if (*cluster != rq.cluster) {
    return absl::PermissionDeniedError("the current certificate is cluster \"" + *cluster +
                                       "\"'s, not cluster \"" + rq.cluster + "\"'s");
  }
  int64_t skew = now > rq.time ? now - rq.time : rq.time - now;
  if (skew > auth::kRenewalProofMaxSkewSeconds) {
    return absl::PermissionDeniedError(
        "the proof's time is " + std::to_string(skew) +
        "s away from the metaserver's clock (at most " +
        std::to_string(auth::kRenewalProofMaxSkewSeconds) +
        "s allowed): sign it again now, and check the agent's clock");
  }
  KH_RETURN_IF_ERROR(
      auth::verifyRenewalSignature(rq.certificate_pem, rq.proof, rq.cluster, rq.csr_pem, rq.time));
  RenewingAgent out;
  out.cluster = *cluster;
  auto serial = auth::certificateSerial(rq.certificate_pem);
  if (!serial.ok()) return absl::PermissionDeniedError(serial.status().message());
  out.serial = *serial;
  auto validity = auth::certificateValidity(rq.certificate_pem);
  if (validity.ok()) out.not_after = validity->not_after;
  return out;
}

}  // namespace kubehub::metaserver

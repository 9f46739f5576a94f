#pragma once
/// Who a tunnel certificate speaks for. Agents' and hubs' certificates come from the same CA,
/// so the CA marks each with its role (subject O and extended key usage) and the hub's tunnel
/// listener accepts only agent certificates as a cluster's identity. Pure; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

typedef struct x509_st X509;

namespace kubehub::auth {

/// Subject organisation (O) of every agent certificate: CN is then the cluster's name.
inline constexpr std::string_view kAgentOrganization = "kubehub:agents";
/// Subject organisation (O) of every hub certificate: CN is then the hub's id.
inline constexpr std::string_view kHubOrganization = "kubehub:hubs";

/// The parts of a certificate that decide what it may be used for.
struct CertificateIdentity {
  std::string common_name;
  std::vector<std::string> organizations;
  bool client_auth = false;  // extendedKeyUsage lists clientAuth
  bool server_auth = false;  // extendedKeyUsage lists serverAuth
};

/// Reads the identity of `cert` (empty for nullptr).
CertificateIdentity certificateIdentity(X509* cert);
/// The same from a PEM certificate; InvalidArgument when it does not parse.
absl::StatusOr<CertificateIdentity> certificateIdentityFromPem(std::string_view pem);

/// The cluster an agent certificate speaks for (its CN). PermissionDenied, saying why, for
/// anything else: a hub's certificate, a certificate without the agent organisation, one that
/// may also serve TLS, or one without clientAuth.
absl::StatusOr<std::string> agentClusterOf(const CertificateIdentity& identity);

/// The hub a server certificate belongs to when it is marked as a hub's (O=kubehub:hubs, usable
/// for serving TLS, CN not empty): its CN, the hub's id. nullopt for any other certificate (a
/// hub may serve with one that names no hub, e.g. a load balancer's).
std::optional<std::string> hubIdOf(const CertificateIdentity& identity);

/// The hub a client certificate speaks for on a peer link: marked as a hub's (O=kubehub:hubs,
/// not also an agent's), usable by clients, CN not empty. nullopt for any other certificate.
std::optional<std::string> peerHubOf(const CertificateIdentity& identity);

/// Whether a metaserver token of the hub user `user` may act for the hub `hub_id`: the hub named
/// like the user, or a hub of the fleet named like the user, `USER-SUFFIX` (a Deployment's pods
/// are named after it: one token for every replica, each with its own id). Name fleets so that
/// no fleet's name followed by a dash begins another hub's id.
bool hubUserActsFor(std::string_view user, std::string_view hub_id);

}  // namespace kubehub::auth

#pragma once
/// Where an enrolled agent keeps its certificate, key and the tunnel CA between restarts: a
/// directory (files tls.crt, tls.key, ca.crt) or a Secret of type kubernetes.io/tls in the
/// agent's own namespace, read and written through the edge API server with the agent's own
/// credentials. The private key is made by the agent and never leaves the edge: it goes only
/// here. Not thread-safe (the agent's credential manager thread uses it alone).

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "agent/kube/kube_target.h"

namespace kubehub::agent {

struct Credentials {
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;  // the tunnel CA that signed cert_pem (informational for the agent)
};

/// Why `c` cannot be used by the agent of `cluster` at `now` (seconds since the epoch): key
/// and certificate do not match, the certificate has expired (or is not valid yet), or it is not
/// an agent certificate of exactly that cluster. OK when usable.
absl::Status checkCredentials(const Credentials& c, std::string_view cluster, int64_t now);

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  /// The stored credentials; nullopt when none are stored yet (an empty Secret, a missing
  /// file). Unavailable when the store cannot be reached (retry), another error for a store
  /// that exists but cannot be used as is (e.g. forbidden).
  virtual absl::StatusOr<std::optional<Credentials>> load() = 0;
  /// Replaces the stored credentials as a whole: a reader never sees a key of one certificate
  /// next to another certificate.
  virtual absl::Status save(const Credentials& c) = 0;
  /// For logs and errors: "directory /x" or "Secret ns/name".
  virtual std::string describe() const = 0;
};

/// Files tls.crt, tls.key (mode 0600) and ca.crt in `dir`, swapped atomically as a set: each
/// name is a symbolic link into a hidden data directory that a renamed link replaces (the way
/// the kubelet updates Secret volumes). Plain files found there at first (written by hand) are
/// read as well and replaced by links on the first save.
std::unique_ptr<CredentialStore> makeDirectoryStore(std::string dir);

/// The Secret `name` in `ns`, through the API server `target` (GET, then PUT with the
/// resourceVersion read; POST when it does not exist, which needs the create verb the chart
/// does not grant: the chart creates the Secret empty).
absl::StatusOr<std::unique_ptr<CredentialStore>> makeSecretStore(const KubeTarget& target,
                                                                 std::string ns, std::string name);

}  // namespace kubehub::agent

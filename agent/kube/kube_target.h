#pragma once
/// Where and how the agent reaches its edge API server: from a kubeconfig file or from the
/// in-cluster ServiceAccount environment. Pure configuration loading (files only, no network).

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/net/address.h"
#include "common/net/tls.h"

namespace kubehub::agent {

struct KubeTarget {
  net::Url server;
  /// The name to verify in the server's certificate (tls-server-name), default the URL host.
  std::string server_name;
  net::ClientTlsOptions tls;
  std::string token;
  /// A token file re-read periodically (projected ServiceAccount tokens rotate).
  std::string token_file;
  /// Human description for logs: "kubeconfig /path (context x)" or "in-cluster".
  std::string source;
};

/// Loads `path`, using `context` or the current context. Relative file references are resolved
/// against the kubeconfig's directory. Exec and auth-provider plugins are refused with a clear
/// error (the agent has no plugin runtime).
absl::StatusOr<KubeTarget> loadKubeconfig(const std::string& path, const std::string& context);
absl::StatusOr<KubeTarget> parseKubeconfig(std::string_view yaml, const std::string& base_dir,
                                           const std::string& context, const std::string& source);

/// KUBERNETES_SERVICE_HOST/PORT plus the ServiceAccount files under `sa_dir`
/// (default /var/run/secrets/kubernetes.io/serviceaccount).
absl::StatusOr<KubeTarget> loadInCluster(
    const std::function<std::optional<std::string>(const char*)>& getenv,
    const std::string& sa_dir);

/// The bearer token to send, re-reading a token file at most once a minute. Thread-safe.
class TokenSource {
 public:
  explicit TokenSource(const KubeTarget& target) : token_(target.token), file_(target.token_file) {}
  std::string token();

 private:
  std::mutex mu_;
  std::string token_;
  std::string file_;
  std::chrono::steady_clock::time_point read_at_{};
};

}  // namespace kubehub::agent

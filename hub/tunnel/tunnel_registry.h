#pragma once
/// Which agent tunnel serves which cluster on this hub. Thread-safe.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/tunnel/mux.h"
#include "proto/cluster_status.h"
#include "proto/discovery_report.h"

namespace kubehub::hub {

struct ClusterTunnel {
  std::string cluster;
  std::shared_ptr<tunnel::Mux> mux;
  std::string agent_version;
  std::string peer;
  std::chrono::system_clock::time_point connected_at;
  /// The agent's discovery report (JSON), empty until it arrives.
  std::string discovery;
  /// "resource" / "resource.group" names of the cluster-scoped types in that report.
  std::shared_ptr<const std::set<std::string>> cluster_scoped;
  size_t discovered_types = 0;
  /// The agent process and its connection (HELLO instance/connection; "" and -1 if unsent).
  std::string agent_instance{};
  int agent_connection = -1;
  /// The agent's last cluster status report through this tunnel; null until one arrives.
  std::shared_ptr<const proto::ClusterStatusReport> status{};
  std::chrono::system_clock::time_point status_at{};
  /// proto::kKindHost when the agent said in HELLO that it fronts a bare host (no discovery,
  /// no API server); proto::kKindKubernetes otherwise.
  std::string kind{proto::kKindKubernetes};
};

class TunnelRegistry {
 public:
  /// Registers a tunnel; returns the one it replaces (the caller closes it), if any.
  std::shared_ptr<tunnel::Mux> attach(ClusterTunnel tunnel);
  /// Removes the cluster's entry if it still belongs to `mux`.
  void detach(const std::string& cluster, const tunnel::Mux* mux);
  std::shared_ptr<tunnel::Mux> find(std::string_view cluster) const;
  /// The agent instance and connection of the cluster's tunnel here, if one is attached.
  std::optional<std::pair<std::string, int>> agentOf(std::string_view cluster) const;
  void setDiscovery(const std::string& cluster, const tunnel::Mux* mux, std::string discovery,
                    const proto::DiscoveryReport& report);
  /// Keeps the tunnel's latest status report (if `mux` still serves the cluster here).
  void setStatus(const std::string& cluster, const tunnel::Mux* mux,
                 proto::ClusterStatusReport report);
  /// setStatus, but only while the tunnel's report is still `expected` (a refresh of an older
  /// report must not replace a newer one that arrived meanwhile); true if it was replaced.
  bool replaceStatus(const std::string& cluster, const tunnel::Mux* mux,
                     const std::shared_ptr<const proto::ClusterStatusReport>& expected,
                     proto::ClusterStatusReport report);
  std::vector<ClusterTunnel> snapshot() const;
  /// Whether a type is namespaced on the cluster, per its discovery report; nullopt if unknown.
  std::optional<bool> namespaced(const std::string& cluster, const std::string& group,
                                 const std::string& resource) const;
  /// Whether the cluster's tunnel here is a host agent's (kind host).
  bool isHost(std::string_view cluster) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, ClusterTunnel> tunnels_;
};

}  // namespace kubehub::hub

#include "hub/tunnel/tunnel_registry.h"

#include <nlohmann/json.hpp>

namespace kubehub::hub {

std::shared_ptr<tunnel::Mux> TunnelRegistry::attach(ClusterTunnel tunnel) {
  std::lock_guard lock(mu_);
  auto& slot = tunnels_[tunnel.cluster];
  std::shared_ptr<tunnel::Mux> previous = std::move(slot.mux);
  slot = std::move(tunnel);
  return previous;
}

void TunnelRegistry::detach(const std::string& cluster, const tunnel::Mux* mux) {
  std::lock_guard lock(mu_);
  auto it = tunnels_.find(cluster);
  if (it != tunnels_.end() && it->second.mux.get() == mux) tunnels_.erase(it);
}

std::shared_ptr<tunnel::Mux> TunnelRegistry::find(std::string_view cluster) const {
  std::lock_guard lock(mu_);
  auto it = tunnels_.find(std::string(cluster));
  if (it == tunnels_.end()) return nullptr;
  return it->second.mux;
}

std::optional<std::pair<std::string, int>> TunnelRegistry::agentOf(std::string_view cluster) const {
  std::lock_guard lock(mu_);
  auto it = tunnels_.find(std::string(cluster));
  if (it == tunnels_.end()) return std::nullopt;
  return std::make_pair(it->second.agent_instance, it->second.agent_connection);
}

void TunnelRegistry::setDiscovery(const std::string& cluster, const tunnel::Mux* mux,
                                  std::string discovery, const proto::DiscoveryReport& report) {
  auto scoped = std::make_shared<std::set<std::string>>();
  const size_t types = report.listed;
  for (const proto::DiscoveredType& r : report.resources) {
    if (r.namespaced) continue;
    scoped->insert(r.group.empty() ? r.resource : r.resource + "." + r.group);
  }
  std::lock_guard lock(mu_);
  auto it = tunnels_.find(cluster);
  if (it != tunnels_.end() && it->second.mux.get() == mux) {
    it->second.discovery = std::move(discovery);
    it->second.cluster_scoped = std::move(scoped);
    it->second.discovered_types = types;
  }
}

void TunnelRegistry::setStatus(const std::string& cluster, const tunnel::Mux* mux,
                               proto::ClusterStatusReport report) {
  auto shared = std::make_shared<const proto::ClusterStatusReport>(std::move(report));
  std::lock_guard lock(mu_);
  auto it = tunnels_.find(cluster);
  if (it != tunnels_.end() && it->second.mux.get() == mux) {
    it->second.status = std::move(shared);
    it->second.status_at = std::chrono::system_clock::now();
  }
}

bool TunnelRegistry::replaceStatus(
    const std::string& cluster, const tunnel::Mux* mux,
    const std::shared_ptr<const proto::ClusterStatusReport>& expected,
    proto::ClusterStatusReport report) {
  auto shared = std::make_shared<const proto::ClusterStatusReport>(std::move(report));
  std::lock_guard lock(mu_);
  auto it = tunnels_.find(cluster);
  if (it == tunnels_.end() || it->second.mux.get() != mux || it->second.status != expected)
    return false;
  it->second.status = std::move(shared);
  return true;
}

std::optional<bool> TunnelRegistry::namespaced(const std::string& cluster, const std::string& group,
                                               const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = tunnels_.find(cluster);
  if (it == tunnels_.end() || !it->second.cluster_scoped) return std::nullopt;
  return it->second.cluster_scoped->count(group.empty() ? resource : resource + "." + group) == 0;
}

std::vector<ClusterTunnel> TunnelRegistry::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<ClusterTunnel> out;
  out.reserve(tunnels_.size());
  for (const auto& [name, t] : tunnels_) out.push_back(t);
  return out;
}

bool TunnelRegistry::isHost(std::string_view cluster) const {
  std::lock_guard lock(mu_);
  auto it = tunnels_.find(std::string(cluster));
  return it != tunnels_.end() && it->second.kind == proto::kKindHost;
}

size_t TunnelRegistry::size() const {
  std::lock_guard lock(mu_);
  return tunnels_.size();
}

}  // namespace kubehub::hub

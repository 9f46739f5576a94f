#include "hub/tunnel/tunnel_registry.h"

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

void TunnelRegistry::setDiscovery(const std::string& cluster, const tunnel::Mux* mux,
                                  std::string discovery) {
  std::lock_guard lock(mu_);
  auto it = tunnels_.find(cluster);
  if (it != tunnels_.end() && it->second.mux.get() == mux) it->second.discovery = std::move(discovery);
}

std::vector<ClusterTunnel> TunnelRegistry::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<ClusterTunnel> out;
  out.reserve(tunnels_.size());
  for (const auto& [name, t] : tunnels_) out.push_back(t);
  return out;
}

size_t TunnelRegistry::size() const {
  std::lock_guard lock(mu_);
  return tunnels_.size();
}

}  // namespace kubehub::hub

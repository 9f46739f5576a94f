#include "hub/peer/routing_table.h"

#include <algorithm>

namespace kubehub::hub {

bool operator==(const HubRoute& a, const HubRoute& b) {
  return a.id == b.id && a.peer == b.peer && a.tunnel == b.tunnel && a.draining == b.draining;
}

bool RoutingTable::operator==(const RoutingTable& o) const {
  return loaded == o.loaded && hubs == o.hubs && clusters == o.clusters;
}

std::vector<const HubRoute*> RoutingTable::owners(std::string_view cluster,
                                                  std::string_view self) const {
  std::vector<const HubRoute*> out;
  auto it = clusters.find(cluster);
  if (it == clusters.end()) return out;
  // Newest tunnel first: during a move the new one is where the cluster is going.
  for (auto id_it = it->second.rbegin(); id_it != it->second.rend(); ++id_it) {
    const std::string& id = *id_it;
    if (id == self) continue;
    auto h = hubs.find(id);
    if (h == hubs.end() || h->second.peer.empty()) continue;
    out.push_back(&h->second);
  }
  std::stable_partition(out.begin(), out.end(), [](const HubRoute* h) { return !h->draining; });
  return out;
}

absl::StatusOr<RoutingTable> parseRoutingTable(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("hubs") || !j["hubs"].is_array() || !j.contains("routes") ||
      !j["routes"].is_array()) {
    return absl::InvalidArgumentError("routing table: expected an object with hubs and routes");
  }
  RoutingTable t;
  t.loaded = true;
  for (const auto& h : j["hubs"]) {
    if (!h.is_object() || !h.contains("id") || !h["id"].is_string()) continue;
    HubRoute r;
    r.id = h["id"].get<std::string>();
    if (h.contains("addresses") && h["addresses"].is_object()) {
      const auto& a = h["addresses"];
      if (a.contains("peer") && a["peer"].is_string()) r.peer = a["peer"].get<std::string>();
      if (a.contains("tunnel") && a["tunnel"].is_string())
        r.tunnel = a["tunnel"].get<std::string>();
    }
    if (h.contains("draining") && h["draining"].is_boolean())
      r.draining = h["draining"].get<bool>();
    t.hubs.emplace(r.id, std::move(r));
  }
  for (const auto& c : j["routes"]) {
    if (!c.is_object() || !c.contains("cluster") || !c["cluster"].is_string() ||
        !c.contains("hubs") || !c["hubs"].is_array()) {
      continue;
    }
    std::vector<std::string> held;
    for (const auto& h : c["hubs"]) {
      if (h.is_string() && t.hubs.contains(h.get<std::string>()))
        held.push_back(h.get<std::string>());
    }
    if (!held.empty()) t.clusters[c["cluster"].get<std::string>()] = std::move(held);
  }
  return t;
}

}  // namespace kubehub::hub

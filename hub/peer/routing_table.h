#pragma once
/// Which hubs of the fleet hold which clusters' tunnels, as the metaserver's registry says
/// (GET /api/v1/routes), and where each hub takes peer links. Built by auth/metaserver_sync.cc
/// several times a second; readers hold an immutable snapshot. Pure; thread-compatible values.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::hub {

struct HubRoute {
  std::string id;
  /// wss://HOST:PORT/peer, or empty: the hub takes no peer links.
  std::string peer;
  /// wss://HOST:PORT/tunnel: where agents reach it.
  std::string tunnel;
  /// An admin drained it: its agents move away; requests go to other owners first.
  bool draining = false;
};

struct RoutingTable {
  /// Live hubs by id.
  std::map<std::string, HubRoute, std::less<>> hubs;
  /// Cluster -> the live hubs holding its tunnel, oldest tunnel first.
  std::map<std::string, std::vector<std::string>, std::less<>> clusters;
  bool loaded = false;

  /// Hubs other than `self` that hold the cluster's tunnel and take peer links, in the order to
  /// try them: newest tunnel first (during a move, where the cluster is going), draining hubs
  /// last. Empty when none does.
  std::vector<const HubRoute*> owners(std::string_view cluster, std::string_view self) const;
  bool operator==(const RoutingTable&) const;
};

bool operator==(const HubRoute& a, const HubRoute& b);

/// Reads the metaserver's answer. Entries that do not parse are skipped (a newer metaserver may
/// add fields); InvalidArgument when the shape is wrong altogether.
absl::StatusOr<RoutingTable> parseRoutingTable(const nlohmann::json& j);

}  // namespace kubehub::hub

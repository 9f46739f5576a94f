#pragma once
/// The agent's `discovery.response` control message (proto/PROTOCOL.md) as the hub reads it:
/// the edge's resource types and version. The message comes from the agent and the agent
/// relays what the edge serves, so nothing in it is trusted: a member of the wrong type skips
/// its entry instead of failing the tunnel. Pure; thread-safe.
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/control.h"

namespace kubehub::proto {

struct DiscoveredType {
  std::string group;
  std::string version;
  std::string resource;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> verbs;
  bool hasVerb(std::string_view verb) const;
};

struct DiscoveryReport {
  /// The usable entries, in the order listed.
  std::vector<DiscoveredType> resources;
  /// How many entries `resources` listed, usable or not.
  size_t listed = 0;
  /// serverVersion.gitVersion, empty when absent.
  std::string server_version;
};

/// What a parsed `discovery.response` (proto/control.h, whose parser checks the envelope and
/// its bounds) says the edge serves. An entry that is not an object, or whose group, version,
/// resource, kind, namespaced or verbs has the wrong type, is left out; verbs that are not
/// strings are ignored.
DiscoveryReport discoveryReport(const DiscoveryResponse& response);

/// parseDiscoveryResponse, then discoveryReport: the hub's one way to read the message.
absl::StatusOr<DiscoveryReport> parseDiscoveryReport(std::string_view message);

}  // namespace kubehub::proto

#pragma once
/// The control messages of "Control messages" in proto/PROTOCOL.md, one struct each: what the
/// hub and the agent send on stream 0 (CONTROL frames) besides the handshake. Encoders write
/// the bytes protocol 1 has always carried (proto/testdata/control_*.bin); parsers read a whole
/// message strictly, within bounds, and say what is wrong. The `status` report has its own file
/// (proto/cluster_status.h). Pure; thread-safe.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::proto {

inline constexpr std::string_view kControlDiscoveryRequest = "discovery.request";
inline constexpr std::string_view kControlDiscoveryResponse = "discovery.response";
inline constexpr std::string_view kControlDiscoveryError = "discovery.error";
inline constexpr std::string_view kControlHubs = "hubs";
inline constexpr std::string_view kControlMove = "move";
inline constexpr std::string_view kControlLeaving = "leaving";
inline constexpr std::string_view kControlStatus = "status";

/// Messages other than `hubs` and `discovery.response` are small: longer ones are refused
/// before they are parsed.
inline constexpr size_t kMaxSmallControlMessage = 64 * 1024;
/// Free text (a discovery error, a move's reason, where a leaving agent went): encoders cut it
/// to this (at a UTF-8 character boundary), parsers refuse more.
inline constexpr size_t kMaxControlText = 4096;
/// A hub's id: printable ASCII without spaces.
inline constexpr size_t kMaxHubIdLength = 253;
inline constexpr size_t kMaxAnnouncedHubs = 1000;
inline constexpr size_t kMaxTunnelUrlLength = 2048;
inline constexpr size_t kMaxMoveTargets = 16;

/// The `type` of a control message, to dispatch on: InvalidArgument when the message is over
/// kMaxControlMessage bytes, not a JSON object, or its type is not a string.
absl::StatusOr<std::string> controlType(std::string_view message);

/// True for 1 to kMaxHubIdLength printable ASCII characters without spaces.
bool isHubId(std::string_view id);

/// hub → agent, right after WELCOME (not to host agents).
struct DiscoveryRequest {
  int64_t id = 0;
  bool operator==(const DiscoveryRequest&) const = default;
};
std::string encodeDiscoveryRequest(const DiscoveryRequest& request);
/// `id` may be absent (0); when present it is a non-negative integer.
absl::StatusOr<DiscoveryRequest> parseDiscoveryRequest(std::string_view message);

/// agent → hub: what the API server serves. The parts are passed through as the API server
/// and the agent's discovery wrote them; the hub reads `resources` with
/// proto/discovery_report.h.
struct DiscoveryResponse {
  int64_t id = 0;
  /// The API server's /version document (an object; {} when it did not answer).
  nlohmann::json server_version = nlohmann::json::object();
  /// One object per resource type (agent/discovery/resource_list.h toJson).
  nlohmann::json resources = nlohmann::json::array();
  std::vector<std::string> failed_group_versions;
  bool operator==(const DiscoveryResponse&) const = default;
};
std::string encodeDiscoveryResponse(const DiscoveryResponse& response);
/// At most kMaxControlMessage bytes; `resources` an array, `serverVersion` an object (absent:
/// {}), `failedGroupVersions` an array of strings (absent: none), `id` as in a request.
absl::StatusOr<DiscoveryResponse> parseDiscoveryResponse(std::string_view message);

/// agent → hub: discovery failed (or the agent fronts a host).
struct DiscoveryError {
  int64_t id = 0;
  std::string message;
  bool operator==(const DiscoveryError&) const = default;
};
std::string encodeDiscoveryError(const DiscoveryError& error);
absl::StatusOr<DiscoveryError> parseDiscoveryError(std::string_view message);

/// One hub of the fleet: its id (what its WELCOME names) and a tunnel URL that reaches it.
struct AnnouncedHub {
  std::string id;
  std::string url;
  bool operator==(const AnnouncedHub&) const = default;
};

/// hub → agent: the fleet's hubs (each message replaces the previous list).
struct Hubs {
  std::vector<AnnouncedHub> hubs;
  /// Entries the parser skipped, and why (for debug logs); never encoded.
  std::vector<std::string> skipped;
};
std::string encodeHubs(const Hubs& hubs);
/// Refused (InvalidArgument) when `hubs` is missing, not an array or longer than
/// kMaxAnnouncedHubs. An entry is skipped when it is not an object, its `id` is not a hub id, or
/// its `url` is not a string of at most kMaxTunnelUrlLength bytes (the agent checks the URL
/// itself: agent/dialer/hubs_message.h). Unknown fields are ignored.
absl::StatusOr<Hubs> parseHubs(std::string_view message);

/// hub → agent: take this tunnel to another hub, make-before-break.
struct Move {
  std::string reason;
  /// Hub ids to try first (the least loaded), at most kMaxMoveTargets.
  std::vector<std::string> to;
  /// Go only to a hub in `to`, or stay (a rebalancing move: any other hub may hold as many
  /// tunnels as the sender). Absent: false.
  bool only = false;
  bool operator==(const Move&) const = default;
};
std::string encodeMove(const Move& move);
/// `reason` may be absent (empty); `to` may be absent (none) and lists hub ids; `only` may be
/// absent (false) and is a boolean.
absl::StatusOr<Move> parseMove(std::string_view message);

/// agent → hub: the agent's new tunnel (to hub `to`) is up; send nothing new on this one.
struct Leaving {
  /// The new hub's id, or "url:" and the address that reached a hub that named no id.
  std::string to;
  bool operator==(const Leaving&) const = default;
};
std::string encodeLeaving(const Leaving& leaving);
/// `to` may be absent (empty).
absl::StatusOr<Leaving> parseLeaving(std::string_view message);

}  // namespace kubehub::proto

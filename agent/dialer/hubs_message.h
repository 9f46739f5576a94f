#pragma once
/// The hubs' tunnel addresses as the agent handles them: the canonical form of a tunnel URL
/// (so that `--hub-url` and the fleet's announcements compare equal) and the parser of the
/// `hubs` control message (proto/PROTOCOL.md). Pure; thread-safe.

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::agent {

/// Bounds on what a hub may announce: the message is refused beyond kMaxAnnouncedHubs entries,
/// an entry is skipped beyond the lengths.
inline constexpr size_t kMaxAnnouncedHubs = 1000;
inline constexpr size_t kMaxTunnelUrlLength = 2048;
inline constexpr size_t kMaxHubIdLength = 253;

/// Checks a tunnel URL and returns it in canonical form, `wss://HOST:PORT/PATH`: lower-case
/// host, explicit port, the default path `/tunnel` when none is given. Only `wss://` is
/// accepted: the agent never sends its identity in clear text.
absl::StatusOr<std::string> canonicalTunnelUrl(std::string_view text);

/// One hub of the fleet: its id (what its WELCOME names) and a URL that reaches it.
struct AnnouncedHub {
  std::string id;
  std::string url;  // canonical
  bool operator==(const AnnouncedHub&) const = default;
};

struct HubsMessage {
  std::vector<AnnouncedHub> hubs;
  /// Why each skipped entry was skipped (for debug logs).
  std::vector<std::string> skipped;
};

/// Parses `{"type":"hubs","hubs":[{"id":"...","url":"wss://..."}, ...]}`. The message as a whole
/// is refused (InvalidArgument) when `hubs` is missing, not an array or longer than
/// kMaxAnnouncedHubs; an entry that is not an object with a valid `id` and `url`, or repeats a
/// URL listed before, is skipped. Unknown fields are ignored.
absl::StatusOr<HubsMessage> parseHubsMessage(const nlohmann::json& message);

}  // namespace kubehub::agent

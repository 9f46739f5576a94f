#pragma once
/// The hubs' tunnel addresses as the agent handles them: the canonical form of a tunnel URL
/// (so that `--hub-url` and the fleet's announcements compare equal) and the parser of the
/// `hubs` control message (proto/PROTOCOL.md). Pure; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/control.h"

namespace kubehub::agent {

/// Bounds on what a hub may announce: the message is refused beyond kMaxAnnouncedHubs entries,
/// an entry is skipped beyond the lengths (proto/control.h).
using proto::kMaxAnnouncedHubs;
using proto::kMaxHubIdLength;
using proto::kMaxTunnelUrlLength;

/// Checks a tunnel URL and returns it in canonical form, `wss://HOST:PORT/PATH`: lower-case
/// host, explicit port, the default path `/tunnel` when none is given. Only `wss://` is
/// accepted: the agent never sends its identity in clear text.
absl::StatusOr<std::string> canonicalTunnelUrl(std::string_view text);

/// One hub of the fleet: its id (what its WELCOME names) and a URL that reaches it (canonical
/// once parseHubsMessage returns it).
using AnnouncedHub = proto::AnnouncedHub;
/// The hubs with canonical URLs, and why each skipped entry was skipped (for debug logs).
using HubsMessage = proto::Hubs;

/// Parses `{"type":"hubs","hubs":[{"id":"...","url":"wss://..."}, ...]}` (proto::parseHubs) and
/// brings each URL to canonical form. The message as a whole is refused (InvalidArgument) when
/// `hubs` is missing, not an array or longer than kMaxAnnouncedHubs; an entry that is not an
/// object with a valid `id` and `url`, or repeats a URL listed before, is skipped. Unknown fields
/// are ignored.
absl::StatusOr<HubsMessage> parseHubsMessage(std::string_view message);

}  // namespace kubehub::agent

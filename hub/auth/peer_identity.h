#pragma once
/// Who a request forwarded between hubs comes from. The entry hub authenticates the user and
/// puts the verdict in one header of the stream's OPEN; the owner hub believes it only because
/// the stream arrived on a peer link whose client certificate is a hub's (peer_server.cc).
/// The user's endpoint never reads the header, and every hub drops a user's copy of it
/// (common/net/http_headers.cc: any Kubehub-Peer-* is a credential). Pure.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "hub/auth/principal.h"

namespace kubehub::hub {

inline constexpr std::string_view kPeerIdentityHeader = "Kubehub-Peer-Identity";
/// On a 503 from the owner hub: "stale" when it no longer holds the cluster's tunnel, so the
/// entry hub may try another owner.
inline constexpr std::string_view kPeerRouteHeader = "Kubehub-Route";

/// The header's value (compact JSON).
std::string encodePeerIdentity(const Principal& who);
/// InvalidArgument naming the problem when the value is not one encodePeerIdentity makes.
absl::StatusOr<Principal> decodePeerIdentity(std::string_view value);

}  // namespace kubehub::hub

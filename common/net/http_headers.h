#pragma once
/// HTTP header rules shared by the hub and the agent: which headers are hop-by-hop (never
/// forwarded), which a user may not send on, case-insensitive lookup.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kubehub::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

bool iequals(std::string_view a, std::string_view b);
/// True when a comma-separated header value contains `token` (case-insensitive).
bool headerHasToken(std::string_view value, std::string_view token);
std::optional<std::string> findHeader(const HeaderList& headers, std::string_view name);

/// Connection-specific headers (RFC 9110 section 7.6.1) plus those named in `Connection`.
bool isHopByHop(std::string_view name);

/// True for a WebSocket/SPDY upgrade request or response (Connection: upgrade + Upgrade).
bool isUpgrade(const HeaderList& headers);

/// The request headers the hub forwards through the tunnel: hop-by-hop headers, the user's
/// credentials (Authorization), any Impersonate-* and any Kubehub-Peer-* header are dropped; an
/// upgrade keeps its Connection/Upgrade pair. `removed` (optional) receives the names dropped for
/// security.
HeaderList forwardableRequestHeaders(const HeaderList& in, std::vector<std::string>* removed);

/// The response headers passed back to the user (hop-by-hop dropped, upgrade kept).
HeaderList forwardableResponseHeaders(const HeaderList& in, int status);

}  // namespace kubehub::net

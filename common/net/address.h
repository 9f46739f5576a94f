#pragma once
/// HOST:PORT parsing for listener and dial flags.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace kubehub::net {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string str() const;
};

/// Accepts "host:port", "[v6]:port" and ":port" (all interfaces). Port 0 means "pick one".
absl::StatusOr<HostPort> parseHostPort(std::string_view text);

/// Splits an https URL into host, port (default 443) and base path.
struct Url {
  std::string scheme;
  std::string host;
  uint16_t port = 0;
  std::string path;  // without trailing '/', possibly empty
};
absl::StatusOr<Url> parseUrl(std::string_view text);

}  // namespace kubehub::net
